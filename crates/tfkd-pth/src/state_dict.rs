//! A state dict: named tensors in the file's order, and where in the file they were found.

use std::collections::HashSet;

use crate::{RawTensor, TensorError};

/// The keys of a checkpoint dict that may hold the state dict, in the order they are tried.
///
/// The official Tf-KD code saves `{'epoch', 'state_dict', 'optim_dict'}`; other common layouts use `model`,
/// `model_state_dict` or `net`.
pub const CHECKPOINT_KEYS: [&str; 4] = ["state_dict", "model", "model_state_dict", "net"];

/// Named tensors, in the order the file's dict holds them (`model.state_dict()` order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateDict {
    /// `(key, tensor)` pairs; keys exactly as saved (a `module.` prefix from `nn.DataParallel` is kept).
    pub tensors: Vec<(String, RawTensor)>,
    /// The checkpoint key the tensors came from (`Some("state_dict")`), or `None` if the file's top-level
    /// object was the state dict itself. Ignored when writing.
    pub from_key: Option<String>,
}

impl StateDict {
    /// A state dict of these tensors (`from_key` unset).
    #[must_use]
    pub fn new(tensors: Vec<(String, RawTensor)>) -> StateDict {
        StateDict { tensors, from_key: None }
    }

    /// The tensor named `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&RawTensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|(n, _)| n.as_str())
    }

    /// The number of tensors.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there are no tensors.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Removes `prefix` from every name that starts with it (e.g. `module.` that `nn.DataParallel` adds) and
    /// returns how many names changed. Names without the prefix are kept; if the result would hold one name
    /// twice, nothing changes and the clash is an error.
    pub fn strip_prefix(&mut self, prefix: &str) -> Result<usize, TensorError> {
        let renamed: Vec<String> =
            self.tensors.iter().map(|(n, _)| n.strip_prefix(prefix).unwrap_or(n).to_string()).collect();
        let mut seen = HashSet::new();
        if let Some(clash) = renamed.iter().find(|n| !seen.insert(n.as_str())) {
            return Err(TensorError::NameClash(clash.clone()));
        }
        let mut changed = 0;
        for ((name, _), new) in self.tensors.iter_mut().zip(renamed) {
            if *name != new {
                *name = new;
                changed += 1;
            }
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    fn t() -> RawTensor {
        RawTensor { dtype: DType::U8, shape: vec![], data: vec![0] }
    }

    #[test]
    fn strip_prefix_renames_and_refuses_clashes() {
        let mut sd = StateDict::new(vec![("module.a".into(), t()), ("b".into(), t())]);
        assert_eq!(sd.strip_prefix("module."), Ok(1));
        assert_eq!(sd.names().collect::<Vec<_>>(), ["a", "b"]);
        let mut clash = StateDict::new(vec![("module.a".into(), t()), ("a".into(), t())]);
        assert_eq!(clash.strip_prefix("module."), Err(TensorError::NameClash("a".into())));
        assert_eq!(clash.names().collect::<Vec<_>>(), ["module.a", "a"]);
    }
}
