//! Which libtorch this process runs on, and turning CUDA on when that libtorch has it.
//!
//! The binary links `libtorch_cpu` (found through the rpath set at build time, or through
//! `LD_LIBRARY_PATH`, which wins). `libtorch_cuda.so` is not linked: rustc's `--as-needed` would drop it
//! anyway, and on the slim CPU install its own dependencies (cuDNN, cuBLAS) are absent. Instead
//! [`enable_cuda`] loads it with `dlopen` next to the libtorch actually loaded; its static
//! initialisers register the CUDA backend, so one binary built on a CPU machine uses the GPU of a
//! machine whose libtorch has CUDA.

use std::{
    ffi::CString,
    path::{Path, PathBuf},
};

/// The folder holding the `libtorch_cpu.so` mapped into this process, read from `/proc/self/maps`.
#[must_use]
pub fn loaded_lib_dir() -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| path.ends_with("/libtorch_cpu.so"))
        .and_then(|path| Path::new(path).parent().map(Path::to_path_buf))
}

/// The libtorch folder the binary was built against (its rpath).
#[must_use]
pub fn build_lib_dir() -> Option<&'static str> {
    option_env!("TFKD_LIBTORCH_LIB")
}

/// The version of the libtorch in `lib_dir`, e.g. `2.11.0+cu130`, read from the PyTorch install beside it.
#[must_use]
pub fn version(lib_dir: &Path) -> Option<String> {
    // PyPI wheels: torch/lib/libtorch_cpu.so and torch/version.py; libtorch zips: libtorch/build-version.
    let root = lib_dir.parent()?;
    if let Ok(text) = std::fs::read_to_string(root.join("version.py")) {
        return text.lines().find_map(|line| {
            line.strip_prefix("__version__ = ").map(|v| v.trim().trim_matches('\'').trim_matches('"').to_string())
        });
    }
    std::fs::read_to_string(root.join("build-version")).ok().map(|v| v.trim().to_string())
}

/// Outcome of [`enable_cuda`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CudaLoad {
    /// `libtorch_cuda.so` is loaded: CUDA devices are usable if the driver sees any.
    Loaded(PathBuf),
    /// The libtorch in use has no `libtorch_cuda.so` (a CPU-only build).
    Absent,
    /// It exists but could not be loaded, e.g. on the slim install whose cuDNN/cuBLAS are missing.
    Failed(String),
}

/// Loads `libtorch_cuda.so` from the folder of the loaded libtorch, so tch sees CUDA.
pub fn enable_cuda() -> CudaLoad {
    let Some(dir) = loaded_lib_dir() else { return CudaLoad::Absent };
    let path = dir.join("libtorch_cuda.so");
    if !path.exists() {
        return CudaLoad::Absent;
    }
    let Ok(c_path) = CString::new(path.as_os_str().as_encoded_bytes()) else { return CudaLoad::Absent };
    // SAFETY: dlopen with a valid NUL-terminated path; the handle is deliberately never closed, since
    // the CUDA backend registered by the library must stay alive for the whole process.
    let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if handle.is_null() {
        // SAFETY: dlerror returns null or a valid C string owned by libc.
        let msg = unsafe {
            let e = libc::dlerror();
            if e.is_null() {
                "unknown dlopen error".to_string()
            } else {
                std::ffi::CStr::from_ptr(e).to_string_lossy().into_owned()
            }
        };
        return CudaLoad::Failed(msg);
    }
    CudaLoad::Loaded(path)
}
