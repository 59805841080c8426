//! torchvision weights in and out: `.pth` state dicts (read and written by `tfkd-pth`, no Python) under
//! torchvision's names, so torchvision-pretrained teachers load into tfkd (docs/paper.md §4.4) and tfkd's
//! students load into `torchvision.models.<name>()` with `load_state_dict(strict=True)`.
//!
//! Loading is strict, as `load_state_dict(strict=True)`: every variable of the model must be in the file with
//! its shape, and every key of the file must be a variable, except the `num_batches_tracked` buffers of the
//! model's BatchNorms (tch has none, see [`super`]), which are skipped. A `module.` prefix (`nn.DataParallel`)
//! is stripped. Everything is checked before anything is copied, so a refused file leaves the model as it was.
//!
//! Exports write every variable plus a 0-d int64 `num_batches_tracked` = 0 for every BatchNorm (PyTorch reads
//! it only when `momentum` is None, which torchvision never sets). A fused array exports member by member:
//! [`export_weights`] of [`crate::member::weights`].

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use tch::{nn, Device, Kind, Tensor};
use tfkd_pth::{DType, RawTensor, StateDict};

use super::NUM_BATCHES_TRACKED;

/// The prefix `nn.DataParallel` puts before every key.
const MODULE_PREFIX: &str = "module.";

/// Why torchvision weights could not be loaded or exported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WeightsError {
    /// The file could not be read or written as a `.pth` state dict (the error names the file).
    #[error(transparent)]
    Pth(#[from] tfkd_pth::PthError),
    /// The file's tensors are not the model's variables.
    #[error("{}: {problem}", path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        #[source]
        problem: Mismatch,
    },
    /// libtorch failed on one tensor.
    #[error("{}: tensor '{name}'", path.display())]
    Torch {
        /// The file.
        path: PathBuf,
        /// The tensor's key.
        name: String,
        /// What libtorch said.
        #[source]
        source: tch::TchError,
    },
}

/// How a state dict and a model's variables disagree.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// Keys missing from the file and keys the model does not have (both sorted).
    #[error("{}{}", missing_text(missing), unexpected_text(unexpected))]
    Keys {
        /// Variables of the model the file lacks.
        missing: Vec<String>,
        /// Keys of the file that are no variable of the model (nor a BatchNorm's `num_batches_tracked`).
        unexpected: Vec<String>,
    },
    /// Tensors whose shape is not the variable's (sorted by name).
    #[error("shapes differ: {}", shapes_text(.0))]
    Shapes(Vec<ShapeMismatch>),
    /// A tensor whose elements cannot fill a floating-point variable (e.g. an integer dtype).
    #[error("tensor '{name}': {source}")]
    Data {
        /// The tensor's key.
        name: String,
        /// What `tfkd-pth` said.
        #[source]
        source: tfkd_pth::TensorError,
    },
    /// Stripping the `module.` prefix would give two tensors one name.
    #[error("stripping the 'module.' prefix: {0}")]
    Prefix(#[source] tfkd_pth::TensorError),
    /// A variable of a kind a `.pth` export does not write (only floating-point variables are exported).
    #[error("variable '{name}' has kind {kind:?}; only floating-point variables are exported")]
    Kind {
        /// The variable's name.
        name: String,
        /// Its kind.
        kind: Kind,
    },
}

/// One tensor whose shape in the file is not the model's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeMismatch {
    /// The key.
    pub name: String,
    /// Its shape in the file.
    pub file: Vec<usize>,
    /// The model variable's shape.
    pub model: Vec<i64>,
}

/// Up to 8 names, then how many more.
fn names_text(names: &[String]) -> String {
    let mut out = names.iter().take(8).map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
    if names.len() > 8 {
        out += &format!(" and {} more", names.len() - 8);
    }
    out
}

fn missing_text(missing: &[String]) -> String {
    match missing.len() {
        0 => String::new(),
        n => format!("{n} variable(s) of the model are not in the file: {}", names_text(missing)),
    }
}

fn unexpected_text(unexpected: &[String]) -> String {
    match unexpected.len() {
        0 => String::new(),
        n => format!("; {n} key(s) of the file are not variables of the model: {}", names_text(unexpected)),
    }
}

fn shapes_text(shapes: &[ShapeMismatch]) -> String {
    let parts: Vec<String> = shapes
        .iter()
        .take(8)
        .map(|s| format!("'{}' is {:?} in the file, {:?} in the model", s.name, s.file, s.model))
        .collect();
    let more = if shapes.len() > 8 { format!(" and {} more", shapes.len() - 8) } else { String::new() };
    format!("{}{more}", parts.join("; "))
}

/// What [`load_torchvision`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// Variables filled (all of the model's).
    pub loaded: usize,
    /// `num_batches_tracked` buffers of the file skipped (tch's BatchNorm has none).
    pub skipped_num_batches_tracked: usize,
    /// Keys that lost a `module.` prefix.
    pub stripped_module_prefix: usize,
    /// Tensors converted to the variable's kind (e.g. float16 weights into float32 variables).
    pub converted: usize,
    /// The checkpoint key the state dict came from (`state_dict`, …), `None` for a bare state dict.
    pub from_key: Option<String>,
}

/// The name's BatchNorm prefix if it is a `<bn>.num_batches_tracked` key.
fn batch_norm_of(name: &str) -> Option<&str> {
    name.strip_suffix(NUM_BATCHES_TRACKED)?.strip_suffix('.')
}

/// The file's tensors matched to the model's variables, by key, and the `num_batches_tracked` skipped.
type Matched<'a> = (Vec<(&'a str, &'a RawTensor)>, usize);

/// The file's tensors for the model's variables, after the strict key and shape checks.
fn matched<'a>(sd: &'a StateDict, vars: &HashMap<String, Tensor>) -> Result<Matched<'a>, Mismatch> {
    let (mut found, mut skipped, mut unexpected) = (Vec::new(), 0, Vec::new());
    for (name, raw) in &sd.tensors {
        if vars.contains_key(name) {
            found.push((name.as_str(), raw));
        } else if batch_norm_of(name).is_some_and(|bn| vars.contains_key(&format!("{bn}.running_mean"))) {
            skipped += 1;
        } else {
            unexpected.push(name.clone());
        }
    }
    let present: BTreeSet<&str> = found.iter().map(|(n, _)| *n).collect();
    let mut missing: Vec<String> = vars.keys().filter(|k| !present.contains(k.as_str())).cloned().collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        missing.sort();
        unexpected.sort();
        return Err(Mismatch::Keys { missing, unexpected });
    }
    let mut shapes: Vec<ShapeMismatch> = found
        .iter()
        .filter_map(|(name, raw)| {
            let model = vars[*name].size();
            let same = model.len() == raw.shape.len() && model.iter().zip(&raw.shape).all(|(&m, &f)| m as usize == f);
            (!same).then(|| ShapeMismatch { name: name.to_string(), file: raw.shape.clone(), model })
        })
        .collect();
    if !shapes.is_empty() {
        shapes.sort_by(|a, b| a.name.cmp(&b.name));
        return Err(Mismatch::Shapes(shapes));
    }
    Ok((found, skipped))
}

/// A CPU tensor of the raw tensor's values: float64 as f64, every other floating dtype as f32 (exactly).
fn to_tensor(name: &str, raw: &RawTensor) -> Result<Tensor, Mismatch> {
    let data = |source| Mismatch::Data { name: name.to_string(), source };
    let shape: Vec<i64> = raw.shape.iter().map(|&d| d as i64).collect();
    let flat = if raw.dtype == DType::F64 {
        Tensor::from_slice(&raw.to_f64_vec().map_err(data)?)
    } else {
        Tensor::from_slice(&raw.to_f32_vec().map_err(data)?)
    };
    Ok(flat.reshape(shape.as_slice()))
}

/// The kind a dtype loads as without conversion.
fn kind_of(dtype: DType) -> Option<Kind> {
    match dtype {
        DType::F32 => Some(Kind::Float),
        DType::F64 => Some(Kind::Double),
        DType::F16 => Some(Kind::Half),
        DType::BF16 => Some(Kind::BFloat16),
        _ => None,
    }
}

/// The current name of a key of torchvision's pre-0.4 DenseNet checkpoints (the pretrained
/// `densenet121-a639ec97.pth` among them): `….denselayerN.norm.1.weight` → `….denselayerN.norm1.weight`, as
/// torchvision's own `_load_state_dict` renames them; `None` for every other key.
fn densenet_legacy_name(name: &str) -> Option<String> {
    let parts: Vec<&str> = name.split('.').collect();
    let n = parts.len();
    if n < 4 {
        return None;
    }
    let layer = parts[n - 4].strip_prefix("denselayer")?;
    let fits = !layer.is_empty()
        && layer.bytes().all(|b| b.is_ascii_digit())
        && ["norm", "relu", "conv"].contains(&parts[n - 3])
        && ["1", "2"].contains(&parts[n - 2])
        && ["weight", "bias", "running_mean", "running_var"].contains(&parts[n - 1]);
    fits.then(|| format!("{}.{}{}.{}", parts[..n - 3].join("."), parts[n - 3], parts[n - 2], parts[n - 1]))
}

/// Fills a model built in `vs` (one member, `Arch::Torchvision` or any model with the file's names) from
/// a torchvision `.pth` state dict or checkpoint; strict, as the module docs say.
pub fn load_torchvision(vs: &mut nn::VarStore, path: &Path) -> Result<LoadReport, WeightsError> {
    let mismatch = |problem| WeightsError::Mismatch { path: path.to_path_buf(), problem };
    let mut sd = tfkd_pth::read(path)?;
    let stripped = sd.strip_prefix(MODULE_PREFIX).map_err(|e| mismatch(Mismatch::Prefix(e)))?;
    let vars = vs.variables();
    for (name, _) in &mut sd.tensors {
        if let Some(new) = densenet_legacy_name(name).filter(|new| vars.contains_key(new)) {
            *name = new;
        }
    }
    let (found, skipped) = matched(&sd, &vars).map_err(mismatch)?;
    let tensors: Vec<(&str, Tensor)> = found
        .iter()
        .map(|(name, raw)| Ok((*name, to_tensor(name, raw)?)))
        .collect::<Result<_, Mismatch>>()
        .map_err(mismatch)?;
    let mut converted = 0;
    for ((name, src), (_, raw)) in tensors.iter().zip(&found) {
        let mut dst = vars[*name].shallow_clone();
        converted += usize::from(kind_of(raw.dtype) != Some(dst.kind()));
        let src = src.to_kind(dst.kind()).to_device(dst.device());
        tch::no_grad(|| dst.f_copy_(&src)).map_err(|source| WeightsError::Torch {
            path: path.to_path_buf(),
            name: name.to_string(),
            source,
        })?;
    }
    Ok(LoadReport {
        loaded: tensors.len(),
        skipped_num_batches_tracked: skipped,
        stripped_module_prefix: stripped,
        converted,
        from_key: sd.from_key.clone(),
    })
}

/// Writes the variables of `vs` (a single model) as a torchvision `.pth` state dict; returns the number of
/// tensors written (variables plus one `num_batches_tracked` per BatchNorm).
pub fn export_torchvision(vs: &nn::VarStore, path: &Path) -> Result<usize, WeightsError> {
    let weights: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    export_weights(&weights, path)
}

/// Orders keys as a module tree: components compared as numbers where both are numbers, and within one
/// module torchvision's order of a BatchNorm's tensors (weight, bias, running_mean, running_var, …).
fn module_order(a: &str, b: &str) -> Ordering {
    let rank = |leaf: &str| {
        ["weight", "bias", "running_mean", "running_var", NUM_BATCHES_TRACKED].iter().position(|&l| l == leaf)
    };
    let (pa, la) = a.rsplit_once('.').unwrap_or(("", a));
    let (pb, lb) = b.rsplit_once('.').unwrap_or(("", b));
    let components = |p: &'_ str| p.split('.').map(|c| (c.parse::<u64>().ok(), c.to_string())).collect::<Vec<_>>();
    components(pa).cmp(&components(pb)).then_with(|| rank(la).cmp(&rank(lb))).then_with(|| la.cmp(lb))
}

/// A variable's elements as a raw little-endian tensor: float32 and float64 as they are, float16 and
/// bfloat16 widened to float32 (exactly).
fn to_raw(name: &str, t: &Tensor) -> Result<RawTensor, Mismatch> {
    let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    let flat = t.detach().to_device(Device::Cpu).contiguous().reshape([-1]);
    let kind_error = || Mismatch::Kind { name: name.to_string(), kind: t.kind() };
    let bytes: Vec<u8> = match t.kind() {
        Kind::Double => {
            let v = Vec::<f64>::try_from(&flat).map_err(|_| kind_error())?;
            return RawTensor::new(DType::F64, shape, v.iter().flat_map(|x| x.to_le_bytes()).collect())
                .map_err(|source| Mismatch::Data { name: name.to_string(), source });
        }
        Kind::Float | Kind::Half | Kind::BFloat16 => {
            let v = Vec::<f32>::try_from(&flat.to_kind(Kind::Float)).map_err(|_| kind_error())?;
            v.iter().flat_map(|x| x.to_le_bytes()).collect()
        }
        _ => return Err(kind_error()),
    };
    RawTensor::new(DType::F32, shape, bytes).map_err(|source| Mismatch::Data { name: name.to_string(), source })
}

/// Writes named tensors of one model (e.g. [`crate::member::weights`] of a fused array) as a torchvision
/// `.pth` state dict, adding `num_batches_tracked` for every BatchNorm (every `<bn>.running_mean`).
pub fn export_weights(weights: &[(String, Tensor)], path: &Path) -> Result<usize, WeightsError> {
    let mismatch = |problem| WeightsError::Mismatch { path: path.to_path_buf(), problem };
    let mut tensors = Vec::with_capacity(weights.len() * 5 / 4);
    for (name, t) in weights {
        tensors.push((name.clone(), to_raw(name, t).map_err(mismatch)?));
        if let Some(bn) = name.strip_suffix(".running_mean") {
            let counter = RawTensor::from_i64(vec![], &[0])
                .map_err(|source| mismatch(Mismatch::Data { name: format!("{bn}.{NUM_BATCHES_TRACKED}"), source }))?;
            tensors.push((format!("{bn}.{NUM_BATCHES_TRACKED}"), counter));
        }
    }
    tensors.sort_by(|(a, _), (b, _)| module_order(a, b));
    let count = tensors.len();
    tfkd_pth::write(path, &StateDict::new(tensors))?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    #[test]
    fn old_densenet_keys_get_their_current_names() {
        let f = super::densenet_legacy_name;
        assert_eq!(
            f("features.denseblock1.denselayer1.norm.1.weight").as_deref(),
            Some("features.denseblock1.denselayer1.norm1.weight")
        );
        assert_eq!(
            f("features.denseblock4.denselayer16.conv.2.weight").as_deref(),
            Some("features.denseblock4.denselayer16.conv2.weight")
        );
        assert_eq!(f("features.denseblock1.denselayer1.norm1.weight"), None);
        assert_eq!(f("features.norm5.weight"), None);
        assert_eq!(f("features.transition1.norm.running_mean"), None);
    }
}
