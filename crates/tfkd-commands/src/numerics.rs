//! How CPU kernels are chosen: `native` (libtorch picks the widest instruction set the CPU offers) or
//! `portable` (every kernel family pinned to one common instruction set, so another x86-64 CPU with AVX2
//! computes the same bits). The choice must reach libtorch through the environment before its first kernel,
//! so the binary applies it before anything else; specs name it (`train.numerics`) and it is recorded with
//! every run.

use std::{collections::BTreeSet, path::PathBuf};

use tfkd_spec::names::Numerics;

/// The variables that pin libtorch's CPU kernels (each checked to be honoured by the linked libtorch, with
/// the exact spelling it needs; see the README): ATen's own kernels (batch norm, reductions, the optimiser) to
/// AVX2, oneDNN's convolutions to AVX2, MKL's matrix products to its COMPATIBLE branch (the one branch MKL
/// documents as giving the same results on Intel and AMD CPUs; its AVX2 branch silently falls back to
/// CPU-dependent dispatch on AMD), oneDNN's fp32 math to strict fp32 (BF16 or ANY would send fp32
/// convolutions to AMX/bf16 on CPUs that have it), and MKL/OpenMP to fixed thread counts.
pub const PORTABLE: &[(&str, &str)] = &[
    ("ATEN_CPU_CAPABILITY", "avx2"),
    ("ONEDNN_MAX_CPU_ISA", "AVX2"),
    ("MKL_CBWR", "COMPATIBLE"),
    ("ONEDNN_DEFAULT_FPMATH_MODE", "STRICT"),
    ("MKL_DYNAMIC", "FALSE"),
    ("OMP_DYNAMIC", "FALSE"),
];

/// Sets the environment for `mode` (before libtorch starts).
pub fn apply(mode: Numerics) {
    if mode == Numerics::Portable {
        for (k, v) in PORTABLE {
            // Before any other thread exists: main calls this first.
            std::env::set_var(k, v);
        }
    }
}

mod ffi {
    extern "C" {
        /// MKL's service behind `mkl_cbwr_get(MKL_CBWR_BRANCH)`, exported by libtorch_cpu: the branch MKL runs.
        pub fn mkl_serv_cbwr_get(option: std::ffi::c_int) -> std::ffi::c_int;
    }
}

/// The code branch MKL actually runs, as MKL names it: what `MKL_CBWR` asked for, or `AUTO`/`OFF` when it was
/// not set or ignored (MKL falls back silently, e.g. `AVX2` on an AMD CPU).
#[must_use]
pub fn mkl_branch() -> String {
    // SAFETY: a read-only query of MKL's global setting; 1 is MKL_CBWR_BRANCH.
    let code = unsafe { ffi::mkl_serv_cbwr_get(1) };
    // MKL's MKL_CBWR_* codes (mkl_service.h).
    match code {
        1 => "OFF".into(),
        2 => "AUTO".into(),
        3 => "COMPATIBLE".into(),
        4 => "SSE2".into(),
        8 => "SSE4_2".into(),
        9 => "AVX".into(),
        10 => "AVX2".into(),
        12 => "AVX512".into(),
        other => format!("code {other}"),
    }
}

/// The mode of this process as recorded in provenance: `native`, or `portable-avx2 (VAR=value, …; MKL branch
/// …)`, with the MKL branch read back from MKL itself.
#[must_use]
pub fn describe() -> String {
    let set: Vec<String> = PORTABLE
        .iter()
        .filter(|(k, v)| std::env::var(k).as_deref() == Ok(v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if set.len() == PORTABLE.len() {
        format!("portable-avx2 ({}; MKL branch {})", set.join(", "), mkl_branch())
    } else {
        "native".into()
    }
}

/// The numerics mode a command applies: the one its spec's runs ask for (`train.numerics`) when it trains
/// or times runs (`spec` is then its path, profile and overrides), else `TFKD_NUMERICS` (default native).
/// A target whose runs disagree is refused; a spec that does not resolve is left to the command itself to
/// report, with its locations.
pub fn mode_for(spec: Option<(PathBuf, String, Vec<String>)>) -> anyhow::Result<Numerics> {
    Ok(match spec {
        Some((path, profile, sets)) => match tfkd_spec::load(&path, &profile, &sets) {
            Ok(exp) => {
                let modes: BTreeSet<Numerics> = exp.runs.iter().map(|r| r.train.numerics).collect();
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
        None => match std::env::var("TFKD_NUMERICS") {
            Ok(v) => v.parse().map_err(|e| anyhow::anyhow!("TFKD_NUMERICS={v}: {e}"))?,
            Err(_) => Numerics::Native,
        },
    })
}
