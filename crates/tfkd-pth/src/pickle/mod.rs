//! Python pickles: a reader that rebuilds what `torch.save` writes without running any code, and a writer
//! that emits exactly what `torch.save` emits for a state dict.

pub(crate) mod calls;
pub(crate) mod emit;
pub(crate) mod op;
pub(crate) mod value;
pub(crate) mod vm;
