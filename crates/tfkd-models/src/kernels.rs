//! Which CPU convolution kernels libtorch uses: oneDNN's JIT-compiled ones (its default: fast, chosen by the
//! CPU's instruction set and cache sizes) or ATen's own (im2col + matrix product; per group for grouped
//! convolutions, so a fused array's members run exactly the operations they run alone). tch has no switch for
//! it, so libtorch's own `at::Context::setUserEnabledMkldnn` is declared here by its C++ symbol, as
//! `at::globalContext()` is.

use std::ffi::c_void;

mod ffi {
    use std::ffi::c_void;

    extern "C" {
        /// `at::Context& at::globalContext()`.
        #[link_name = "_ZN2at13globalContextEv"]
        pub fn global_context() -> *mut c_void;
        /// `void at::Context::setUserEnabledMkldnn(bool)`.
        #[link_name = "_ZN2at7Context20setUserEnabledMkldnnEb"]
        pub fn set_user_enabled_mkldnn(context: *mut c_void, enabled: bool);
        /// `bool at::Context::userEnabledMkldnn() const`.
        #[link_name = "_ZNK2at7Context17userEnabledMkldnnEv"]
        pub fn user_enabled_mkldnn(context: *const c_void) -> bool;
    }
}

/// Whether libtorch may use oneDNN (MKL-DNN) kernels on the CPU (`torch.backends.mkldnn.enabled`).
#[must_use]
pub fn onednn() -> bool {
    // SAFETY: libtorch's global context lives for the whole process; the getter only reads a flag.
    unsafe { ffi::user_enabled_mkldnn(ffi::global_context() as *const c_void) }
}

/// Lets libtorch use oneDNN kernels on the CPU, or not (a process-wide setting, as in PyTorch).
pub fn set_onednn(enabled: bool) {
    // SAFETY: libtorch's global context lives for the whole process; the setter only writes a flag.
    unsafe { ffi::set_user_enabled_mkldnn(ffi::global_context(), enabled) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_switch_reaches_libtorch() {
        assert!(super::onednn(), "libtorch enables oneDNN by default");
        super::set_onednn(false);
        assert!(!super::onednn());
        super::set_onednn(true);
        assert!(super::onednn());
    }
}
