//! `tfkd doctor`: what libtorch, devices, threads and folders this installation uses.

use std::path::PathBuf;

use serde::Serialize;

use crate::libtorch::{self, CudaLoad};

/// Everything `tfkd doctor` reports.
#[derive(Debug, Serialize)]
pub struct Report {
    tfkd_version: &'static str,
    libtorch_version: Option<String>,
    libtorch_loaded_from: Option<PathBuf>,
    /// The rpath's folder with links resolved (the venv's `libtorch` link), comparable with `libtorch_loaded_from`.
    libtorch_built_against: Option<PathBuf>,
    libtorch_cuda: String,
    cuda_available: bool,
    cuda_devices: i64,
    cudnn_available: bool,
    cudnn_version: Option<i64>,
    mkl: bool,
    openmp: bool,
    threads: i32,
    numerics: String,
    allocator: String,
    cpu: Option<String>,
    cpu_isa: Vec<String>,
    venv: Option<String>,
    cache_dir: PathBuf,
}

/// Gathers the report; `cuda` is what start-up's [`libtorch::enable_cuda`] returned, `kept` what its
/// [`crate::allocator::keep_freed_memory`] set.
pub fn report(cuda: &CudaLoad, kept: crate::allocator::Kept) -> Report {
    let loaded = libtorch::loaded_lib_dir();
    let cudnn = tch::Cuda::cudnn_is_available();
    Report {
        tfkd_version: env!("CARGO_PKG_VERSION"),
        libtorch_version: loaded.as_deref().and_then(libtorch::version),
        libtorch_loaded_from: loaded,
        libtorch_built_against: libtorch::build_lib_dir()
            .map(|dir| std::fs::canonicalize(dir).unwrap_or_else(|_| PathBuf::from(dir))),
        libtorch_cuda: match cuda {
            CudaLoad::Loaded(path) => format!("loaded {}", path.display()),
            CudaLoad::Absent => "not in this libtorch (CPU-only build)".into(),
            CudaLoad::Failed(why) => format!("present but not loadable (slim CPU install?): {why}"),
        },
        cuda_available: tch::Cuda::is_available(),
        cuda_devices: tch::Cuda::device_count(),
        cudnn_available: cudnn,
        cudnn_version: cudnn.then(tch::utils::version_cudnn),
        mkl: tch::utils::has_mkl(),
        openmp: tch::utils::has_openmp(),
        threads: tch::get_num_threads(),
        numerics: match crate::numerics::describe() {
            native if native == "native" => format!("native (MKL branch {})", crate::numerics::mkl_branch()),
            pinned => pinned,
        },
        allocator: kept.describe(),
        cpu: tfkd_trainers::provenance::cpu().0,
        cpu_isa: tfkd_trainers::provenance::cpu().1,
        venv: std::env::var("TFKD_VENV").ok(),
        cache_dir: tfkd_io::paths::cache_dir(),
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let or_unknown = |o: Option<String>| o.unwrap_or_else(|| "unknown".into());
        writeln!(f, "tfkd               {}", self.tfkd_version)?;
        writeln!(f, "libtorch           {}", or_unknown(self.libtorch_version.clone()))?;
        writeln!(
            f,
            "  loaded from      {}",
            or_unknown(self.libtorch_loaded_from.as_ref().map(|p| p.display().to_string()))
        )?;
        writeln!(
            f,
            "  built against    {}",
            or_unknown(self.libtorch_built_against.as_ref().map(|p| p.display().to_string()))
        )?;
        writeln!(f, "  libtorch_cuda    {}", self.libtorch_cuda)?;
        writeln!(f, "CUDA available     {} ({} device(s))", self.cuda_available, self.cuda_devices)?;
        writeln!(
            f,
            "cuDNN              {}",
            self.cudnn_version.map_or("no".to_string(), |v| format!("yes, version {v}"))
        )?;
        writeln!(f, "MKL / OpenMP       {} / {}", self.mkl, self.openmp)?;
        writeln!(f, "threads            {}", self.threads)?;
        writeln!(f, "CPU                {} [{}]", self.cpu.as_deref().unwrap_or("unknown"), self.cpu_isa.join(" "))?;
        writeln!(f, "numerics           {}", self.numerics)?;
        writeln!(f, "allocator          {}", self.allocator)?;
        writeln!(
            f,
            "venv               {}",
            self.venv.as_deref().unwrap_or("(TFKD_VENV unset: not run through just)")
        )?;
        write!(f, "cache              {}", self.cache_dir.display())
    }
}
