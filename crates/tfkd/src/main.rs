//! The `tfkd` command: parses arguments, calls the library (`tfkd-commands`), prints what it returns.

mod args;
mod progress;

use std::{
    process::ExitCode,
    sync::{atomic::AtomicBool, Arc},
    time::Instant,
};

use anyhow::Result;
use args::{BenchCommand, Cli, Command, DataCommand, RunArgs};
use clap::Parser as _;
use tfkd_bench as bench;
use tfkd_commands::{allocator::Kept, libtorch::CudaLoad, report, status, target};
use tfkd_spec::Experiment;

fn main() -> ExitCode {
    // Before any thread exists: freed tensor buffers stay in the heap instead of being unmapped each step.
    let kept = tfkd_commands::allocator::keep_freed_memory();
    let interrupt = tfkd_commands::signals::install();
    let cli = Cli::parse();
    if let Err(err) = tfkd_io::paths::check() {
        eprintln!("error: {err}");
        return ExitCode::FAILURE;
    }
    // The numerics mode must be in the environment before libtorch dispatches its first kernel.
    match tfkd_commands::numerics::mode_for(spec_of(&cli.command)) {
        Ok(mode) => tfkd_commands::numerics::apply(mode),
        Err(err) => {
            eprintln!("error: {}", tfkd_io::chain(err.as_ref()));
            return ExitCode::FAILURE;
        }
    }
    let cuda = tfkd_commands::libtorch::enable_cuda();
    progress::data_bars();
    match run(cli, &cuda, kept, interrupt) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", tfkd_io::chain(err.as_ref()));
            if err.downcast_ref::<tfkd_commands::Interrupted>().is_some() {
                ExitCode::from(tfkd_commands::INTERRUPTED_EXIT)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The spec whose runs' numerics a command applies: `run`, `reproduce`, the worker, and `check` (which trains
/// nothing, but its estimate may time the runs' kernels, which must be theirs).
fn spec_of(command: &Command) -> Option<(std::path::PathBuf, String, Vec<String>)> {
    match command {
        Command::Run { spec: target, args } | Command::Reproduce { target, args } => {
            first_spec(target).map(|p| (p, args.profile.clone(), args.sets.clone()))
        }
        Command::TrainOne(args) => Some((args.spec.clone(), args.profile.clone(), args.sets.clone())),
        Command::Check { spec, profile, sets } => first_spec(spec).map(|p| (p, profile.clone(), sets.clone())),
        _ => None,
    }
}

/// The spec of the first target a name stands for (an alias's targets share their profiles' numerics).
fn first_spec(name: &str) -> Option<std::path::PathBuf> {
    target::targets(name).first().and_then(|t| target::spec_path(t).ok())
}

fn print_json_or(json: bool, value: &impl serde::Serialize, text: impl FnOnce() -> String) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", text());
    }
    Ok(())
}

fn run(cli: Cli, cuda: &CudaLoad, kept: Kept, interrupt: Arc<AtomicBool>) -> Result<ExitCode> {
    match cli.command {
        Command::Doctor { json } => {
            let report = tfkd_commands::doctor::report(cuda, kept);
            print_json_or(json, &report, || format!("{report}\n"))?;
        }
        Command::Export { run, out, json } => {
            let done = tfkd_commands::export::export(&tfkd_io::paths::cache_dir(), &run, out)?;
            print_json_or(json, &done, || format!("{done}\n"))?;
        }
        Command::Models { classes, imagenet, width, json } => {
            let zoo = if imagenet { bench::zoo::Zoo::Imagenet } else { bench::zoo::Zoo::Cifar };
            let classes = classes.unwrap_or(zoo.default_classes());
            let rows = bench::zoo::list(zoo, classes, width)?;
            print_json_or(json, &rows, || bench::zoo::render(&rows, classes, width))?;
        }
        Command::Data { command: DataCommand::Inspect { source, json } } => {
            let report = tfkd_commands::data::inspect(source)?;
            print_json_or(json, &report, || report.to_string())?;
            if report.failures() > 0 {
                anyhow::bail!("{} sampled image(s) failed to decode (FAILED above): replace them", report.failures());
            }
        }
        Command::Data { command: DataCommand::Fetch { name } } => {
            let dest = tfkd_commands::data::fetch(&name)?;
            println!("{name} is in {}", dest.display());
        }
        Command::Bench { command } => run_bench(command, interrupt)?,
        Command::TrainOne(args) => return tfkd_commands::worker::train_one(&args.job(), interrupt),
        Command::Run { spec, args } => {
            let exp = selected(&spec, &args)?;
            if let Some(ran) = train(&exp, &args, interrupt)? {
                report_trained(&exp, &ran, false)?;
                eprintln!("index: {}", report::write_index()?.display());
            }
        }
        Command::Reproduce { target, args } => {
            for t in target::targets(&target) {
                reproduce(&target, &t, &args, Arc::clone(&interrupt))?;
            }
        }
        Command::Report { target, profile, metric } => run_report(target, &profile, metric)?,
        Command::New { name, force } => {
            let path = tfkd_commands::new::new(&name, std::path::Path::new("."), force)?;
            println!(
                "wrote {}: edit its runs and claims, then `tfkd run {} --profile smoke`",
                path.display(),
                path.display()
            );
        }
        Command::Check { spec, profile, sets } => {
            for t in target::targets(&spec) {
                let exp = tfkd_commands::spec::load(&target::spec_path(&t)?, &profile, &sets)?;
                print!("{}", tfkd_commands::check::check(&exp, Arc::clone(&interrupt))?);
            }
        }
        Command::Status { target: None, .. } => println!("{}", status::status()?),
        Command::Status { target: Some(name), profile } => {
            for t in target::targets(&name) {
                print!(
                    "{}",
                    status::target_status(&tfkd_commands::spec::load(&target::spec_path(&t)?, &profile, &[])?)?
                );
            }
        }
        Command::Clean { failed, damaged, temp } => {
            println!("{}", status::clean(status::Clean { failed, damaged, temp })?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The target's spec resolved, with only the runs `--only` names (and their teachers).
fn selected(target: &str, args: &RunArgs) -> Result<Experiment> {
    let mut exp = tfkd_commands::spec::load(&target::spec_path(target)?, &args.profile, &args.sets)?;
    target::select(&mut exp, &args.only)?;
    Ok(exp)
}

/// Trains with progress bars (one line per epoch with `--quiet`).
fn train(exp: &Experiment, args: &RunArgs, interrupt: Arc<AtomicBool>) -> Result<Option<tfkd_commands::train::Ran>> {
    let mut progress = progress::Progress::new(exp.runs.len(), &format!("{} [{}]", exp.name, exp.profile), args.quiet);
    tfkd_commands::train::train(exp, &args.options(), interrupt, &mut progress)
}

/// Reproduces `target`, one of the targets the name the user gave (`asked`, e.g. an alias) stands for.
fn reproduce(asked: &str, target: &str, args: &RunArgs, interrupt: Arc<AtomicBool>) -> Result<()> {
    let start = Instant::now();
    if let Ok(a) = target::aliases() {
        if let Some(names) = a.targets_of(asked) {
            let verified = if a.verified { "verified against the paper's full text" } else { "not verified" };
            eprintln!("{asked} = {} (table numbering {verified})", names.join(", "));
        }
    }
    let exp = selected(target, args)?;
    let Some(ran) = train(&exp, args, interrupt)? else { return Ok(()) };
    report_trained(&exp, &ran, true)?;
    println!("index: {}", report::write_index()?.display());
    eprintln!("{target} [{}] finished in {:.1} min", exp.profile, start.elapsed().as_secs_f64() / 60.0);
    Ok(())
}

/// Reports a target after training it: its table (the paper's, or its entries and its own claims), figures
/// and verdicts; `show` prints the table too (reproduce does, run only says where it is).
fn report_trained(exp: &Experiment, ran: &tfkd_commands::train::Ran, show: bool) -> Result<()> {
    report::store_teacher_curve(exp, &ran.plan)?;
    let (rep, dir) = report::report(exp, tfkd_report::Metric::BestTest, &mut progress::Lines)?;
    if show {
        println!("{}", rep.markdown);
    }
    let verdicts = report::verdict_lines(&rep);
    if !verdicts.is_empty() {
        println!("verdicts:\n{verdicts}");
    }
    println!("table and figures written to {}", dir.display());
    Ok(())
}

fn run_report(target: Option<String>, profile: &str, metric: tfkd_report::Metric) -> Result<()> {
    let all = target.is_none();
    let asked = target.clone().unwrap_or_default();
    let targets: Vec<String> = match target {
        Some(t) => target::targets(&t),
        None => {
            let mut seen = std::collections::BTreeSet::new();
            let aliased = target::aliases()?.aliases.into_values().flat_map(|t| t.names());
            aliased.chain(report::extra_targets()).filter(|t| seen.insert(t.clone())).collect()
        }
    };
    for t in targets {
        // Named as asked: `table3: rekd-tiny-imagenet → …`.
        let shown = if all { t.clone() } else { asked.clone() };
        let path = target::spec_path(&t)?;
        if all && !target::load(&path, "paper", &[]).is_ok_and(|e| e.profiles.iter().any(|p| p == profile)) {
            println!("{shown}: no profile {profile}; skipped");
            continue;
        }
        let exp = tfkd_commands::spec::load(&path, profile, &[])?;
        if target::results_dir(&exp).has_runs() {
            let (_, dir) = report::report(&exp, metric, &mut progress::Lines)?;
            println!("{shown}: {} → {}", exp.name, dir.display());
        } else {
            println!("{shown}: {} has no records for profile {profile}; skipped", exp.name);
        }
    }
    if all {
        println!("index: {}", report::write_index()?.display());
    }
    Ok(())
}

fn run_bench(command: BenchCommand, interrupt: Arc<AtomicBool>) -> Result<()> {
    match command {
        BenchCommand::Data { images, batch, reference, source, path, workers, out } => {
            // Two benchmarks, chosen by the source they measure.
            match source {
                tfkd_datasets::SourceName::Imagenet => {
                    return bench_data_imagenet(images, batch, reference, path, workers, out, interrupt)
                }
                tfkd_datasets::SourceName::Cifar10Jpeg if path.is_none() && out.is_none() => {}
                _ => anyhow::bail!(
                    "tfkd bench data measures cifar10-jpeg, or imagenet with --source imagenet [--path --out]"
                ),
            }
            let reference = match reference {
                Some(r) => Some(r.parse::<f64>().map_err(|_| anyhow::anyhow!("--reference {r}: expected images/s"))?),
                None => None,
            };
            let batch = batch.unwrap_or(128);
            let ours = bench::data::data(images, batch)?;
            println!(
                "tfkd CPU pipeline: {ours:.0} augmented images/s ({images} images, batch {batch}, {} threads)",
                rayon::current_num_threads()
            );
            if let Some(reference) = reference {
                println!(
                    "reference:         {reference:.0} images/s\nratio tfkd / reference: {:.2}x",
                    ours / reference
                );
            }
        }
        BenchCommand::Models { widths, models, batch, seconds, out, device, reference } => {
            let ctx = tfkd_commands::context::context(device, interrupt)?;
            let reference = match reference {
                Some(path) => bench::reference::read_step_reference(&path)?,
                None => (Vec::new(), String::new()),
            };
            let archs: Vec<tfkd_models::Arch> = if models.is_empty() {
                tfkd_models::Arch::ALL.to_vec()
            } else {
                models.iter().map(|m| m.parse()).collect::<Result<_, _>>()?
            };
            let report =
                bench::models::models((&archs, &widths), batch, seconds, &ctx, reference, &mut progress::Lines)?;
            print!("{}", bench::publish(&report, report.markdown(), out.as_deref())?);
        }
        BenchCommand::Array {
            models,
            widths,
            batch,
            arrays,
            packed,
            seconds,
            device,
            out,
            reference,
            worker_start_at,
        } => {
            let ctx = tfkd_commands::context::context(device, interrupt)?;
            let archs = models.iter().map(|m| m.parse()).collect::<Result<_, _>>()?;
            let device = device.to_string();
            let spec = bench::array::ArrayBench { archs, widths, batch, arrays, packed, seconds, device };
            if let Some(at) = worker_start_at {
                println!("{}", serde_json::to_string(&spec.worker(at, &ctx)?)?);
            } else {
                let report = spec.run(&ctx, reference.as_deref(), &mut progress::Lines)?;
                print!("{}", bench::publish(&report, report.markdown(), out.as_deref())?);
            }
        }
    }
    Ok(())
}

/// `tfkd bench data --source imagenet`: tfkd's ImageNet pipeline on the folder `path`, beside the torchvision
/// reference's JSON (`benches/torchvision_imagenet_data.py`); the report goes to `out.{md,json}` too if given.
fn bench_data_imagenet(
    images: usize,
    batch: Option<usize>,
    reference: Option<String>,
    path: Option<std::path::PathBuf>,
    workers: usize,
    out: Option<std::path::PathBuf>,
    interrupt: Arc<AtomicBool>,
) -> Result<()> {
    let reference =
        reference.map(|file| bench::reference::read_torchvision_data(std::path::Path::new(&file))).transpose()?;
    let ctx = tfkd_commands::context::context(tfkd_spec::names::DeviceChoice::Cpu, interrupt)?;
    let folder = path.unwrap_or_else(|| {
        tfkd_datasets::default_location(tfkd_datasets::SourceName::Imagenet, &tfkd_io::paths::data_dir())
    });
    let spec =
        bench::imagenet::ImagenetDataBench { folder, images, batch: batch.unwrap_or(256), workers: workers.max(1) };
    let provenance = tfkd_trainers::provenance::capture(&ctx.libtorch, &ctx.device_name, &ctx.numerics);
    let report = spec.run(provenance, reference)?;
    print!("{}", bench::publish(&report, report.markdown(), out.as_deref())?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        super::args::Cli::command().debug_assert();
    }

    /// The worker's command line, as the parent and Slurm's scripts write it ([`tfkd_commands::worker::WorkerJob::args`]),
    /// parses back into the same job — with and without the optional parts.
    #[test]
    fn the_worker_command_line_round_trips() {
        use clap::Parser as _;
        let full = tfkd_commands::worker::WorkerJob {
            spec: "experiments/x y.yaml".into(),
            run_ids: vec!["aa".into(), "bb".into()],
            profile: "quick".into(),
            sets: vec!["train.epochs=2".into(), "executor.slurm.partition=gpu".into()],
            device: tfkd_spec::names::DeviceChoice::Cuda(1),
            threads: Some(4),
            no_batch_events: true,
        };
        let bare = tfkd_commands::worker::WorkerJob {
            run_ids: vec!["cc".into()],
            sets: Vec::new(),
            threads: None,
            no_batch_events: false,
            ..full.clone()
        };
        for job in [full, bare] {
            let cli = super::args::Cli::try_parse_from(std::iter::once("tfkd".to_string()).chain(job.args())).unwrap();
            let super::args::Command::TrainOne(parsed) = cli.command else { panic!("not train-one: {:?}", job.args()) };
            assert_eq!(parsed.job(), job);
        }
    }
}
