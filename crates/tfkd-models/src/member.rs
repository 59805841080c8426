//! Members of a fused array as single models: their initial weights, their slices of the fused variables,
//! and their checkpoints.
//!
//! Every variable of an `m`-member network has `m` times the single model's first dimension, member by
//! member (see [`crate::layers`]), under the single model's name. So member `a` of a variable of first
//! dimension `m·d` is rows `[a·d, (a+1)·d)`, and a member saves to (and loads from) exactly the
//! `.safetensors` file a single run of the same model writes.

use std::path::Path;

use tch::{nn, Device, Tensor};

use crate::{Arch, BuildError, CheckpointError, ModelConfig, Network};

/// A member's variables as a single model has them: (name, tensor) sorted by name.
pub type Weights = Vec<(String, Tensor)>;

/// The initial weights of a single `arch` model drawn after `tch::manual_seed(seed)`, on the CPU, so they are
/// the same on every device and whether the model trains alone or as a member of an array.
pub fn init(arch: Arch, config: ModelConfig, seed: i64) -> Result<Weights, BuildError> {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    Network::build(&vs, arch, config.with_members(1))?;
    let mut vars: Weights = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(vars)
}

fn slice(fused: &Tensor, member: i64, members: i64) -> Tensor {
    let rows = fused.size()[0] / members;
    fused.narrow(0, member * rows, rows)
}

/// Member `member` of `members` of a fused VarStore: views into its variables, under the single model's names.
#[must_use]
pub fn weights(vs: &nn::VarStore, member: i64, members: i64) -> Weights {
    let mut vars: Weights = vs.variables().into_iter().map(|(k, v)| (k, slice(&v, member, members))).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// Why a single model's weights do not fit a member of a fused model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FitError {
    /// Another number of tensors than the model has variables.
    #[error("{given} tensors for a model of {expected} variables")]
    Count {
        /// Tensors given.
        given: usize,
        /// The model's variables.
        expected: usize,
    },
    /// A tensor the model has no variable for.
    #[error("unknown variable {0}")]
    Unknown(String),
    /// A tensor of another shape than its variable's.
    #[error("{name}: shape {got:?}, expected {expected:?}")]
    Shape {
        /// The variable.
        name: String,
        /// The tensor's shape.
        got: Vec<i64>,
        /// The variable's (one member's) shape.
        expected: Vec<i64>,
    },
    /// libtorch could not copy it.
    #[error("{name}")]
    Torch {
        /// The variable.
        name: String,
        /// What libtorch said.
        source: tch::TchError,
    },
}

/// Copies a single model's `weights` into member `member` of `members` of a fused VarStore; every variable
/// must be present with the single model's shape.
///
/// # Errors
/// A [`FitError`] naming the first tensor that does not fit.
pub fn set_weights(vs: &nn::VarStore, member: i64, members: i64, weights: &[(String, Tensor)]) -> Result<(), FitError> {
    let vars = vs.variables();
    if weights.len() != vars.len() {
        return Err(FitError::Count { given: weights.len(), expected: vars.len() });
    }
    for (name, src) in weights {
        let dst = vars.get(name).ok_or_else(|| FitError::Unknown(name.clone()))?;
        let mut part = slice(dst, member, members);
        if part.size() != src.size() {
            return Err(FitError::Shape { name: name.clone(), got: src.size(), expected: part.size() });
        }
        tch::no_grad(|| part.f_copy_(src)).map_err(|source| FitError::Torch { name: name.clone(), source })?;
    }
    Ok(())
}

/// Writes member `member` to `path` as a single model's `.safetensors` file.
pub fn save(vs: &nn::VarStore, member: i64, members: i64, path: &Path) -> Result<(), CheckpointError> {
    let named: Vec<(String, Tensor)> =
        weights(vs, member, members).into_iter().map(|(k, v)| (k, v.contiguous())).collect();
    Tensor::write_safetensors(&named, path)
        .map_err(|source| CheckpointError::Torch { path: path.to_path_buf(), source })
}

/// Loads a single model's `.safetensors` file into member `member` of a fused VarStore.
pub fn load(vs: &nn::VarStore, member: i64, members: i64, path: &Path) -> Result<(), CheckpointError> {
    let tensors =
        Tensor::read_safetensors(path).map_err(|source| CheckpointError::Torch { path: path.to_path_buf(), source })?;
    set_weights(vs, member, members, &tensors)
        .map_err(|source| CheckpointError::Fit { path: path.to_path_buf(), source })
}

/// Stacks each member's images along channels: `m` batches of N×C×H×W into N×(m·C)×H×W.
pub fn stack_inputs(batches: &[Tensor]) -> Tensor {
    if batches.len() == 1 {
        return batches[0].shallow_clone();
    }
    Tensor::cat(batches, 1)
}

/// Member `member`'s logits (N×K) from an array's N×(m·K) output.
pub fn logits(fused: &Tensor, member: i64, members: i64) -> Tensor {
    if members == 1 {
        return fused.shallow_clone();
    }
    let (n, mk) = fused.size2().expect("N×(m·K) logits");
    fused.view([n, members, mk / members]).select(1, member)
}
