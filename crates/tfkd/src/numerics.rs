//! How CPU kernels are chosen: `native` (libtorch picks the widest instruction set the CPU offers) or
//! `portable` (every kernel family pinned to one common instruction set, so another x86-64 CPU with that set
//! computes the same bits). The choice must reach libtorch through the environment before its first kernel,
//! so `main` applies it before anything else; specs name it (`train.numerics`) and it is recorded with
//! every run.

use tfkd_spec::names::Numerics;

use crate::Command;

/// The variables that pin libtorch's CPU kernels to AVX2 (each verified to be honoured by this libtorch;
/// see the README): ATen's own kernels, oneDNN's (convolutions) and MKL's (matrix products).
pub const PORTABLE: &[(&str, &str)] =
    &[("ATEN_CPU_CAPABILITY", "avx2"), ("ONEDNN_MAX_CPU_ISA", "AVX2"), ("MKL_CBWR", "AVX2,STRICT")];

/// Sets the environment for `mode` (before libtorch starts).
pub fn apply(mode: Numerics) {
    if mode == Numerics::Portable {
        for (k, v) in PORTABLE {
            // Before any other thread exists: main calls this first.
            std::env::set_var(k, v);
        }
    }
}

/// The mode of this process as recorded in provenance: `native`, or `portable-avx2 (VAR=value, …)`.
#[must_use]
pub fn describe() -> String {
    let set: Vec<String> = PORTABLE
        .iter()
        .filter(|(k, v)| std::env::var(k).as_deref() == Ok(v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if set.len() == PORTABLE.len() {
        format!("portable-avx2 ({})", set.join(", "))
    } else {
        "native".into()
    }
}

/// Applies the numerics mode a command's runs ask for: the spec's `train.numerics` for `run`, `reproduce` and
/// the worker, `TFKD_NUMERICS=portable` for the rest. A target whose runs disagree is refused.
pub fn apply_for(command: &Command) -> anyhow::Result<()> {
    let spec = match command {
        Command::Run { spec, args } => {
            Some((crate::experiment::spec_path(spec)?, args.profile.clone(), args.sets.clone()))
        }
        Command::Reproduce { target, args } => {
            Some((crate::experiment::spec_path(target)?, args.profile.clone(), args.sets.clone()))
        }
        Command::TrainOne(args) => Some((args.spec.clone(), args.profile.clone(), args.sets.clone())),
        _ => None,
    };
    let mode = match spec {
        // A spec that does not resolve is reported by the command itself, with its locations.
        Some((path, profile, sets)) => match tfkd_spec::load(&path, &profile, &sets) {
            Ok(exp) => {
                let modes: std::collections::BTreeSet<Numerics> = exp.runs.iter().map(|r| r.train.numerics).collect();
                if modes.len() > 1 {
                    anyhow::bail!(
                        "{}: its runs ask for different numerics modes ({modes:?}); one process runs one",
                        path.display()
                    );
                }
                modes.into_iter().next().unwrap_or_default()
            }
            Err(_) => Numerics::Native,
        },
        None => match std::env::var("TFKD_NUMERICS").as_deref() {
            Ok("portable") => Numerics::Portable,
            _ => Numerics::Native,
        },
    };
    apply(mode);
    Ok(())
}
