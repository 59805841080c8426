//! Saving and loading weights (safetensors) and running a frozen teacher.

use std::path::{Path, PathBuf};

use tch::{nn, Device, Tensor};

use crate::{Arch, BuildError, ModelConfig, Network};

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The model could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// libtorch failed to read or write the file, or its tensors do not fit the model.
    #[error("checkpoint {}", path.display())]
    Torch {
        /// The file.
        path: PathBuf,
        /// What libtorch said.
        source: tch::TchError,
    },
    /// A torchvision `.pth` file could not be loaded (see [`crate::torchvision::weights`]).
    #[error(transparent)]
    Torchvision(#[from] crate::torchvision::WeightsError),
    /// The file's tensors are not the model's variables (or do not fit a member of a fused model).
    #[error("checkpoint {}", path.display())]
    Fit {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        source: crate::member::FitError,
    },
}

/// Saves every variable of `vs` (weights and BN running statistics) to a `.safetensors` file.
pub fn save(vs: &nn::VarStore, path: &Path) -> Result<(), CheckpointError> {
    vs.save(path).map_err(|source| CheckpointError::Torch { path: path.to_path_buf(), source })
}

/// Loads a `.safetensors` file into `vs`; every variable must be present with its shape.
pub fn load(vs: &mut nn::VarStore, path: &Path) -> Result<(), CheckpointError> {
    vs.load(path).map_err(|source| CheckpointError::Torch { path: path.to_path_buf(), source })
}

/// A frozen model used only for its logits: eval mode, no gradients, its own VarStore.
#[derive(Debug)]
pub struct Teacher {
    vs: nn::VarStore,
    net: Network,
}

impl Teacher {
    /// Builds `arch` on `device`, loads its weights from `path` and freezes them.
    pub fn load(path: &Path, arch: Arch, config: ModelConfig, device: Device) -> Result<Self, CheckpointError> {
        let mut vs = nn::VarStore::new(device);
        let net = Network::build(&vs, arch, config)?;
        load(&mut vs, path)?;
        vs.freeze();
        Ok(Teacher { vs, net })
    }

    /// Builds `arch` on `device`, fills it from a torchvision `.pth` state dict (e.g. torchvision's pretrained
    /// `resnet18-f37072fd.pth`; strict, see [`crate::torchvision::load_torchvision`]) and freezes it: the
    /// ImageNet teachers of docs/paper.md §4.4.
    pub fn load_torchvision(
        path: &Path,
        arch: Arch,
        config: ModelConfig,
        device: Device,
    ) -> Result<Self, CheckpointError> {
        let mut vs = nn::VarStore::new(device);
        let net = Network::build(&vs, arch, config)?;
        crate::torchvision::load_torchvision(&mut vs, path)?;
        vs.freeze();
        Ok(Teacher { vs, net })
    }

    /// Builds `arch` as an array of `paths.len()` members on `device`, member `a` loaded from `paths[a]`, frozen:
    /// several teachers of one architecture evaluated in one pass (see [`crate::member`]).
    pub fn load_members(
        paths: &[&Path],
        arch: Arch,
        config: ModelConfig,
        device: Device,
    ) -> Result<Self, CheckpointError> {
        let members = paths.len() as i64;
        let mut vs = nn::VarStore::new(device);
        let net = Network::build(&vs, arch, config.with_members(members))?;
        for (a, path) in paths.iter().enumerate() {
            crate::member::load(&vs, a as i64, members, path)?;
        }
        vs.freeze();
        Ok(Teacher { vs, net })
    }

    /// Teacher logits for a batch: eval-mode BatchNorm and dropout, computed under `no_grad`.
    pub fn logits(&self, xs: &Tensor) -> Tensor {
        tch::no_grad(|| self.net.forward(xs, false))
    }

    /// The network.
    #[must_use]
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// The teacher's variables.
    #[must_use]
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }
}
