//! Spec errors: each names the file and, where the YAML parser knows it, the line and column.

use std::path::PathBuf;

/// One problem found in a spec.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The file could not be read.
    #[error("{}: {message}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// YAML syntax, an unknown key or a wrong type, with its location.
    #[error("{}:{line}:{column}: {message}", file.display())]
    Parse {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, including the allowed keys for unknown ones.
        message: String,
    },
    /// A value that parses but is not allowed, named by its path in the resolved spec.
    #[error("{}: {path}: {message}", file.display())]
    Invalid {
        /// The spec file.
        file: PathBuf,
        /// Where, e.g. `runs[rekd-resnet18].method.alpha` or `profiles.quick`.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// All problems of a spec, reported together.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct SpecErrors(pub Vec<SpecError>);

impl From<SpecError> for SpecErrors {
    fn from(e: SpecError) -> Self {
        SpecErrors(vec![e])
    }
}
