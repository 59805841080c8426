//! What the operating system says about CPU use: this process's CPU seconds and the whole machine's busy time
//! (so a benchmark can say how many cores it kept busy and how many other work took).

/// CPU seconds (user and system) this process has used so far; NaN if the system does not say.
#[must_use]
pub fn cpu_seconds() -> f64 {
    // SAFETY: `rusage` is plain integers, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes only into the struct it is handed, which lives through the call.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return f64::NAN;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Busy and total jiffies of all CPUs together, and the number of CPUs, from `/proc/stat`; `None` without it.
#[must_use]
pub fn machine_jiffies() -> Option<(u64, u64, usize)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    let cpus =
        stat.lines().filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit)).count();
    Some((total.saturating_sub(idle), total, cpus))
}

/// Cores other processes kept busy since `before` (from [`machine_jiffies`]), this process having kept `ours`.
#[must_use]
pub fn others_busy(before: Option<(u64, u64, usize)>, ours: f64) -> Option<f64> {
    let ((b0, t0, cpus), (b1, t1, _)) = (before?, machine_jiffies()?);
    let busy = b1.saturating_sub(b0) as f64 / t1.saturating_sub(t0).max(1) as f64 * cpus as f64;
    Some((busy - ours).max(0.0))
}
