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

/// Copies a single model's `weights` into member `member` of `members` of a fused VarStore; every variable
/// must be present with the single model's shape.
pub fn set_weights(vs: &nn::VarStore, member: i64, members: i64, weights: &[(String, Tensor)]) -> Result<(), String> {
    let vars = vs.variables();
    if weights.len() != vars.len() {
        return Err(format!("{} tensors for a model of {} variables", weights.len(), vars.len()));
    }
    for (name, src) in weights {
        let dst = vars.get(name).ok_or_else(|| format!("unknown variable {name}"))?;
        let mut part = slice(dst, member, members);
        if part.size() != src.size() {
            return Err(format!("{name}: shape {:?}, expected {:?}", src.size(), part.size()));
        }
        tch::no_grad(|| part.f_copy_(src)).map_err(|e| format!("{name}: {e}"))?;
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
        .map_err(|detail| CheckpointError::Mismatch { path: path.to_path_buf(), detail })
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
