//! Whether other processes used the CPUs while tfkd measured something: a throughput probe taken on a busy
//! machine reads slow, and cached as if it were not it would skew every later estimate on that machine. Linux's CPU accounting
//! (`/proc/stat` for the machine, `/proc/self/stat` for this process) tells the two apart; elsewhere nothing is
//! known and a measurement counts as taken on a quiet machine.

/// The share of all CPUs' time others may take during a measurement before it counts as taken under load.
pub const BUSY_SHARE: f64 = 0.25;

/// CPU time so far, in clock ticks: the machine's busy and total time over all CPUs, and this process's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    busy: u64,
    total: u64,
    own: u64,
}

impl CpuTimes {
    /// The counters now; `None` where the system does not expose them.
    #[must_use]
    pub fn now() -> Option<Self> {
        let machine = std::fs::read_to_string("/proc/stat").ok()?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        let (busy, total) = machine_ticks(&machine)?;
        Some(CpuTimes { busy, total, own: own_ticks(&own)? })
    }

    /// The share of all CPUs' time since `self` that other processes took (the hypervisor's steal included);
    /// `None` when the counters cannot be read or too little time has passed to tell.
    #[must_use]
    pub fn others_share_since(&self) -> Option<f64> {
        let now = CpuTimes::now()?;
        let total = now.total.checked_sub(self.total).filter(|&t| t > 0)?;
        let busy = now.busy.saturating_sub(self.busy);
        let own = now.own.saturating_sub(self.own);
        Some(busy.saturating_sub(own) as f64 / total as f64)
    }
}

/// The share of the CPUs others take now, sampled over a fifth of a second, when it exceeds [`BUSY_SHARE`].
#[must_use]
pub fn busy_now() -> Option<f64> {
    let start = CpuTimes::now();
    std::thread::sleep(std::time::Duration::from_millis(200));
    under_load_since(start)
}

/// The share of the CPUs others took since `start`, when it exceeds [`BUSY_SHARE`].
#[must_use]
pub fn under_load_since(start: Option<CpuTimes>) -> Option<f64> {
    start?.others_share_since().filter(|&share| share > BUSY_SHARE)
}

/// Busy and total ticks of all CPUs from `/proc/stat`'s first line
/// (`cpu user nice system idle iowait irq softirq steal …`; guest time is already inside user).
fn machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().next()?;
    let mut fields = line.split_whitespace();
    (fields.next()? == "cpu").then_some(())?;
    let v: Vec<u64> = fields.take(8).map(str::parse).collect::<Result<_, _>>().ok()?;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = v.try_into().ok()?;
    let busy = user + nice + system + irq + softirq + steal;
    Some((busy, busy + idle + iowait))
}

/// This process's user + system ticks from `/proc/self/stat` (fields 14 and 15; the command name, field 2, is
/// in parentheses and may hold spaces, so fields are counted after its closing one).
fn own_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kernels_counters() {
        let stat = "cpu  8696414 965284 1245327 3131500 136470 0 19792 27465 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        let busy = 8_696_414 + 965_284 + 1_245_327 + 19_792 + 27_465;
        assert_eq!(machine_ticks(stat), Some((busy, busy + 3_131_500 + 136_470)));
        assert_eq!(machine_ticks("intr 1 2 3"), None);
        assert_eq!(machine_ticks("cpu 1 2 3"), None, "too few fields");
        let own = "4242 (tfkd (a) b) R 1 4242 4242 0 -1 4194560 100 0 0 0 731 58 0 0 20 0 3 0 1 2 3";
        assert_eq!(own_ticks(own), Some(731 + 58));
        assert_eq!(own_ticks("4242 (tfkd) R 1"), None);
    }

    /// A busy child process on a machine of any size shows up as others' share; this process's own work
    /// does not.
    #[test]
    fn tells_others_work_from_its_own() {
        let Some(start) = CpuTimes::now() else { return };
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let mut child = std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1000));
        child.kill().unwrap();
        child.wait().unwrap();
        let share = start.others_share_since().unwrap();
        assert!(share >= 0.6 / cores as f64, "a spinning child took {share:.2} of {cores} CPUs");

        let start = CpuTimes::now().unwrap();
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed().as_millis() < 1000 {
            x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
        }
        let now = CpuTimes::now().unwrap();
        assert!(now.own - start.own >= 50, "1 s of this process's own work counted as its own");
    }
}
