//! PyTorch `torch.save` state-dict files, read and written in pure Rust (no libtorch, no Python).
//!
//! tfkd takes teachers from the checkpoints users have — torchvision's published weights
//! (`resnet18-f37072fd.pth`, zip format; `resnet18-5c106cde.pth`, legacy format) and checkpoints of the
//! official Tf-KD code (`best.pth.tar`, `{'epoch', 'state_dict', 'optim_dict'}`; docs/paper.md §4.3) — and
//! exports students that `torchvision.models.resnet18().load_state_dict(torch.load(p))` accepts. libtorch
//! cannot read Python's pickled state dicts, hence this crate.
//!
//! * [`read`]: the zip format (torch >= 1.6) and the legacy format; the tar format of torch < 0.1.10 is
//!   refused with a message. The pickle is interpreted by a small stack machine that knows the handful of
//!   globals torch uses for tensors (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`, …, the
//!   storage classes) and refuses every other one by name: nothing is imported or run. Storage offsets and
//!   strides are honoured (transposed, sliced, expanded and storage-sharing tensors come out right), and
//!   big-endian zip archives are byte-swapped.
//! * [`write`]: the zip format, byte for byte what `torch.save(state_dict, buffer)` writes in torch 2.11
//!   (tests compare against files torch wrote), so `torch.load` with `weights_only=True` and with
//!   `mmap=True` takes it.
//!
//! Malformed input is an error naming the file and the problem, never a panic or an out-of-bounds read.

mod archive;
mod dtype;
mod error;
mod legacy;
mod pickle;
mod read;
mod rebuild;
mod source;
mod state_dict;
mod stdhash;
mod tensor;
mod write;
mod zip_write;

pub use dtype::{DType, ALL_DTYPES};
pub use error::{
    FormatProblem, LayoutProblem, PickleError, PickleProblem, PthError, TensorError, ViewProblem, WriteProblem,
};
pub use read::{from_bytes, read};
pub use rebuild::MAX_EXPANSION;
pub use state_dict::{StateDict, CHECKPOINT_KEYS};
pub use tensor::{bf16_to_f32, contiguous_strides, f16_to_f32, RawTensor};
pub use write::{to_bytes, write};
