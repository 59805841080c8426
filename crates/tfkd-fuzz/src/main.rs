//! `tfkd-fuzz [TARGET|all] [--seconds N]`: fuzzes tfkd's parsers for a time budget and reports executions and
//! findings per target (`just fuzz`).
//!
//! A supervisor runs each target in a child process that mutates seeds and feeds them to the parser, writing
//! each input to `current` before it runs it and a line after. The child caps its own address space, so an
//! input that makes a parser allocate without bound ends it; the supervisor kills a child that takes longer
//! than the per-input bound on one input. A child that dies or hangs leaves its input in `current`, which the
//! supervisor keeps under the found folder with what happened, then starts a new child with the next seed;
//! property violations (an error naming no file, a damaged cache not rebuilt) the child keeps itself.

use std::{
    collections::BTreeSet,
    io::{BufRead as _, Read as _},
    path::{Path, PathBuf},
    process::{Child, Command, ExitCode, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::Parser;
use sha2::{Digest as _, Sha256};
use tfkd_fuzz::{mutate, repo, Harness, Rng, Target};

#[derive(Parser)]
#[command(name = "tfkd-fuzz", about = "Fuzz tfkd's parsers of untrusted input for a time budget")]
struct Cli {
    /// A target, or `all` (the budget shared between them).
    #[arg(default_value = "all")]
    target: String,
    /// Time budget in seconds, for all the targets together.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// The longest one input may take, seconds; a slower one is a hang.
    #[arg(long, default_value_t = 10)]
    per_input_seconds: u64,
    /// Memory a child may take beyond what it holds after start-up, MiB.
    #[arg(long, default_value_t = 2048)]
    memory_mib: u64,
    /// First seed of the mutations (each restarted child takes the next).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where findings are kept, per target.
    #[arg(long, default_value = "fuzz/found")]
    found: PathBuf,
    /// Internal: run as the child of one target until `--until` (unix seconds).
    #[arg(long, hide = true)]
    child: bool,
    /// Internal: the child's deadline, unix seconds.
    #[arg(long, hide = true, default_value_t = 0)]
    until: u64,
    /// Internal: the child's scratch folder.
    #[arg(long, hide = true)]
    work: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = if cli.child { child(&cli) } else { supervise(&cli) };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {}", tfkd_io::chain(e.as_ref()));
            ExitCode::from(2)
        }
    }
}

fn targets(name: &str) -> anyhow::Result<Vec<Target>> {
    if name == "all" {
        return Ok(Target::ALL.to_vec());
    }
    let known: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
    let target = Target::ALL.into_iter().find(|t| t.name() == name);
    Ok(vec![target.with_context(|| format!("no fuzz target '{name}'; targets: all, {}", known.join(", ")))?])
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Keeps `input` as `<kind>-<sha256 prefix>` under `dir` with a `.txt` saying what happened; returns its path.
fn keep(dir: &Path, kind: &str, input: &[u8], what: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let hash = Sha256::digest(input);
    let name: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let path = dir.join(format!("{kind}-{name}"));
    std::fs::write(&path, input).with_context(|| format!("writing {}", path.display()))?;
    std::fs::write(path.with_extension("txt"), format!("{what}\n"))?;
    Ok(path)
}

/// Caps this process's address space at what it maps now plus `extra_mib`: an input that makes a parser
/// allocate without bound fails its allocation and ends the child, never the machine.
fn cap_memory(extra_mib: u64) -> anyhow::Result<()> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmSize in /proc/self/status")?;
    let limit = (kib * 1024).saturating_add(extra_mib << 20);
    let rlimit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
    // SAFETY: setrlimit reads the struct it is given; RLIMIT_AS only lowers this process's own limit.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &rlimit) };
    anyhow::ensure!(rc == 0, "setrlimit(RLIMIT_AS): {}", std::io::Error::last_os_error());
    Ok(())
}

/// The child: mutates seeds of one target and runs them until its deadline; writes each input to
/// `work/current` first and prints `ok` after, keeps property violations under the found folder.
fn child(cli: &Cli) -> anyhow::Result<bool> {
    let [target] = targets(&cli.target)?[..] else { anyhow::bail!("a child runs one target") };
    let work = cli.work.clone().context("--work is required with --child")?;
    let mut harness = Harness::new(target, &repo(), &work.join("scratch"))?;
    let seeds = harness.seeds()?;
    cap_memory(cli.memory_mib)?;
    let mut rng = Rng::new(cli.seed);
    let current = work.join("current");
    let mut seen = BTreeSet::new();
    let mut out = std::io::stdout().lock();
    // Every seed as it is first, then mutations.
    let mut next = 0usize;
    while unix_now() < cli.until {
        let input = if next < seeds.len() {
            seeds[next].clone()
        } else {
            let (a, b) = (rng.below(seeds.len()), rng.below(seeds.len()));
            mutate(&mut rng, &seeds[a], &seeds[b], target.is_text())
        };
        next += 1;
        std::fs::write(&current, &input).context("writing the current input")?;
        if let Err(violation) = harness.run(&input) {
            let signature: String = violation.0.chars().take(60).collect();
            if seen.insert(signature) {
                let kept = keep(&cli.found.join(target.name()), "violation", &input, &violation.0)?;
                std::io::Write::write_all(&mut out, format!("violation {}\n", kept.display()).as_bytes())?;
            }
        }
        std::io::Write::write_all(&mut out, b"ok\n")?;
    }
    Ok(true)
}

/// Findings and executions of one target.
#[derive(Default)]
struct Tally {
    executions: u64,
    seconds: f64,
    found: Vec<String>,
}

/// What a child said or did.
enum Heard {
    Line(String),
    Closed,
}

fn spawn(cli: &Cli, target: Target, seed: u64, work: &Path, until: u64) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("locating tfkd-fuzz")?;
    Command::new(exe)
        .args([target.name(), "--child", "--seed", &seed.to_string(), "--until", &until.to_string()])
        .arg("--memory-mib")
        .arg(cli.memory_mib.to_string())
        .arg("--found")
        .arg(&cli.found)
        .arg("--work")
        .arg(work)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting a fuzz child")
}

/// Fuzzes one target until `deadline`, restarting its child after each crash or hang.
fn fuzz_target(cli: &Cli, target: Target, deadline: Instant, seed: &mut u64) -> anyhow::Result<Tally> {
    let start = Instant::now();
    let work = std::env::temp_dir().join(format!("tfkd-fuzz-{}-{}", std::process::id(), target.name()));
    let mut tally = Tally::default();
    let mut signatures = BTreeSet::new();
    while Instant::now() < deadline {
        let until = unix_now() + deadline.saturating_duration_since(Instant::now()).as_secs().max(1);
        let mut child = spawn(cli, target, *seed, &work, until)?;
        *seed += 1;
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().context("child stdout")?;
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(Heard::Line(line));
            }
            let _ = tx.send(Heard::Closed);
        });
        let mut stderr = child.stderr.take().context("child stderr")?;
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        // The first input waits for the harness to start (fixtures copied, a dataset indexed).
        let mut bound = Duration::from_secs(cli.per_input_seconds + 60);
        let hung = loop {
            match rx.recv_timeout(bound) {
                Ok(Heard::Line(line)) if line == "ok" => tally.executions += 1,
                Ok(Heard::Line(line)) => tally.found.push(line),
                Ok(Heard::Closed) => break false,
                Err(_) => break true,
            }
            bound = Duration::from_secs(cli.per_input_seconds);
        };
        if hung {
            let _ = child.kill();
        }
        let status = child.wait().context("waiting for a fuzz child")?;
        let stderr = errors.join().unwrap_or_default();
        if status.code() == Some(2) {
            anyhow::bail!("the {} harness failed: {}", target.name(), tail(&stderr));
        }
        if hung || !status.success() {
            let what = if hung {
                format!("hang: one input ran past {} s", cli.per_input_seconds)
            } else {
                format!("crash: {status}\n{}", tail(&stderr))
            };
            let input = std::fs::read(work.join("current")).unwrap_or_default();
            let signature = what.lines().take(2).collect::<Vec<_>>().join(" ");
            if signatures.insert(signature) {
                let kind = if hung { "hang" } else { "crash" };
                let kept = keep(&cli.found.join(target.name()), kind, &input, &what)?;
                tally.found.push(format!("{kind} {}", kept.display()));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    tally.seconds = start.elapsed().as_secs_f64();
    Ok(tally)
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(12)..].join("\n")
}

fn supervise(cli: &Cli) -> anyhow::Result<bool> {
    let targets = targets(&cli.target)?;
    let share = Duration::from_secs_f64(cli.seconds as f64 / targets.len() as f64);
    let mut seed = cli.seed;
    let mut clean = true;
    println!("{:<14} {:>10} {:>9} {:>8}  findings", "target", "executions", "exec/s", "seconds");
    for target in targets {
        let tally = fuzz_target(cli, target, Instant::now() + share, &mut seed)?;
        let rate = tally.executions as f64 / tally.seconds.max(1e-9);
        println!(
            "{:<14} {:>10} {:>9.0} {:>8.1}  {}",
            target.name(),
            tally.executions,
            rate,
            tally.seconds,
            if tally.found.is_empty() { "none".to_string() } else { tally.found.len().to_string() }
        );
        for f in &tally.found {
            println!("  {f}");
        }
        clean &= tally.found.is_empty();
    }
    Ok(clean)
}
