//! Build-script helper shared by every tfkd crate that links libtorch.
//!
//! torch-sys links libtorch dynamically but leaves no rpath, so binaries and test executables would
//! need `LD_LIBRARY_PATH`. A crate that depends on `torch-sys` directly receives the library folder
//! as `DEP_TCH_LIBTORCH_LIB` in its build script; [`libtorch_rpath`] turns it into an rpath link
//! argument for all of that crate's binaries, tests, examples and benchmarks.

/// Emits `-Wl,-rpath,<libtorch lib dir>` for every linked target of the calling crate.
///
/// Call it from the `build.rs` of a crate that lists `torch-sys` as a direct dependency; other
/// crates do not see `DEP_TCH_LIBTORCH_LIB` and get a build warning instead.
pub fn libtorch_rpath() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    match std::env::var("DEP_TCH_LIBTORCH_LIB") {
        Ok(dir) => {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
            println!("cargo:rustc-env=TFKD_LIBTORCH_LIB={dir}");
        }
        Err(_) => println!(
            "cargo:warning=DEP_TCH_LIBTORCH_LIB is unset: add torch-sys as a direct dependency to get an rpath"
        ),
    }
}
