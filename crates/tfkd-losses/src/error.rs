//! The one error type of this crate.

/// Why a loss could not be computed: bad shapes, labels or hyper-parameters, or a libtorch failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LossError {
    /// Logits must be a 2-D `N×K` tensor.
    #[error("{what} must be a 2-D N×K tensor, got shape {shape:?}")]
    NotMatrix {
        /// Which input ("student logits", "teacher logits").
        what: &'static str,
        /// The shape that was passed.
        shape: Vec<i64>,
    },
    /// Teacher and student logits (or labels and logits) disagree in shape.
    #[error("shape mismatch: {what} has shape {got:?}, expected {expected:?}")]
    ShapeMismatch {
        /// Which input is wrong.
        what: &'static str,
        /// The shape it has.
        got: Vec<i64>,
        /// The shape it must have.
        expected: Vec<i64>,
    },
    /// A label is negative or not below the number of classes.
    #[error("label {label} out of range for {classes} classes (labels must lie in 0..{classes})")]
    LabelOutOfRange {
        /// The offending label.
        label: i64,
        /// K, the number of classes.
        classes: i64,
    },
    /// Labels must be an integer tensor.
    #[error("labels must be an integer tensor, got {kind}")]
    LabelKind {
        /// The kind that was passed, e.g. `Float`.
        kind: String,
    },
    /// NaN or ±inf in an input.
    #[error("{what} contain non-finite values (NaN or inf)")]
    NonFinite {
        /// Which input ("student logits", "teacher logits").
        what: &'static str,
    },
    /// A hyper-parameter lies outside its allowed range.
    #[error("{name} = {value} is invalid: {rule}")]
    InvalidParameter {
        /// Parameter name as it appears in specs (`alpha`, `temperature`, …).
        name: &'static str,
        /// The value given.
        value: f64,
        /// The rule it breaks, e.g. "must lie in [0, 1]".
        rule: &'static str,
    },
    /// A loss that needs teacher logits was called without them.
    #[error("{loss} needs teacher logits, none were given")]
    MissingTeacher {
        /// The loss name.
        loss: &'static str,
    },
    /// libtorch refused an operation.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Result alias of this crate.
pub type Result<T, E = LossError> = std::result::Result<T, E>;
