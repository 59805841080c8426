//! bf16 mixed precision on CUDA: libtorch's autocast with bfloat16 as its CUDA dtype.
//!
//! Weights, gradients, momentum and the loss stay in fp32; convolutions and matrix products run in
//! bfloat16. bf16 has fp32's exponent range, so no loss scaling is needed. tch only toggles autocast
//! (whose CUDA dtype defaults to fp16), so the dtype is set through libtorch's own
//! `at::autocast::set_autocast_dtype`, declared here by its C++ symbol.

mod ffi {
    extern "C" {
        /// `void at::autocast::set_autocast_dtype(c10::DeviceType, c10::ScalarType)`; both enums are `int8_t`.
        #[link_name = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE"]
        pub fn set_autocast_dtype(device_type: i8, dtype: i8);
        /// `c10::ScalarType at::autocast::get_autocast_dtype(c10::DeviceType)`.
        #[link_name = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE"]
        pub fn get_autocast_dtype(device_type: i8) -> i8;
    }
}

/// `c10::DeviceType::CUDA`.
const CUDA: i8 = 1;
/// `c10::ScalarType::BFloat16`.
const BFLOAT16: i8 = 15;

/// The scalar type autocast uses on CUDA, as libtorch's `c10::ScalarType` code (5 = Half, 15 = BFloat16).
#[must_use]
pub fn cuda_dtype() -> i8 {
    // SAFETY: a plain getter of a global setting; the enum is passed as its int8_t representation.
    unsafe { ffi::get_autocast_dtype(CUDA) }
}

/// Runs `f` under bf16 autocast when `enabled` (CUDA only: tch's autocast does nothing without a GPU).
pub fn bf16<T>(enabled: bool, f: impl FnOnce() -> T) -> T {
    if !enabled {
        return f();
    }
    // SAFETY: a plain setter of a global setting; both enums are passed as their int8_t representation.
    unsafe { ffi::set_autocast_dtype(CUDA, BFLOAT16) };
    tch::autocast(true, f)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sets_bfloat16_as_the_cuda_autocast_dtype() {
        // Checks the symbol and the enum codes against the libtorch actually linked (works without a GPU).
        assert_eq!(super::cuda_dtype(), 5, "libtorch's default CUDA autocast dtype is Half");
        super::bf16(true, || ());
        assert_eq!(super::cuda_dtype(), super::BFLOAT16);
    }
}
