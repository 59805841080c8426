//! Input validation shared by every loss: shapes, labels, finiteness and hyper-parameter ranges.

use std::cell::Cell;

use tch::{Kind, Tensor};

use crate::error::{LossError, Result};

thread_local! {
    static VALUE_CHECKS: Cell<bool> = const { Cell::new(true) };
}

/// Runs `f` with the data-dependent input checks (finite logits, labels in `0..K`) on or off; shape and
/// kind checks always run. Each value check reads a result back from the device, which on a GPU waits for
/// all queued work: a training loop that checks its loss itself every few batches turns them off there.
pub fn with_value_checks<T>(on: bool, f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            VALUE_CHECKS.set(self.0);
        }
    }
    let _restore = Restore(VALUE_CHECKS.replace(on));
    f()
}

/// Checks that `logits` is a finite N×K matrix and returns `(N, K)`.
pub(crate) fn logits(what: &'static str, logits: &Tensor) -> Result<(i64, i64)> {
    let shape = logits.size();
    let [n, k] = shape[..] else {
        return Err(LossError::NotMatrix { what, shape });
    };
    finite(what, logits)?;
    Ok((n, k))
}

/// Checks that a teacher tensor has the student's shape and is finite.
pub(crate) fn teacher(teacher: &Tensor, n: i64, k: i64) -> Result<()> {
    let (tn, tk) = logits("teacher logits", teacher)?;
    if (tn, tk) != (n, k) {
        return Err(LossError::ShapeMismatch { what: "teacher logits", got: vec![tn, tk], expected: vec![n, k] });
    }
    Ok(())
}

/// Checks that `labels` is an integer vector of length N with every entry in `0..K`.
pub(crate) fn labels(labels: &Tensor, n: i64, k: i64) -> Result<()> {
    let kind = labels.kind();
    if !matches!(kind, Kind::Int64 | Kind::Int | Kind::Int16 | Kind::Int8 | Kind::Uint8) {
        return Err(LossError::LabelKind { kind: format!("{kind:?}") });
    }
    if labels.size() != [n] {
        return Err(LossError::ShapeMismatch { what: "labels", got: labels.size(), expected: vec![n] });
    }
    if n == 0 || !VALUE_CHECKS.get() {
        return Ok(());
    }
    let lo = labels.f_min()?.f_int64_value(&[])?;
    let hi = labels.f_max()?.f_int64_value(&[])?;
    for label in [lo, hi] {
        if !(0..k).contains(&label) {
            return Err(LossError::LabelOutOfRange { label, classes: k });
        }
    }
    Ok(())
}

fn finite(what: &'static str, t: &Tensor) -> Result<()> {
    if VALUE_CHECKS.get() && t.numel() > 0 && !bool::try_from(t.f_isfinite()?.f_all()?)? {
        return Err(LossError::NonFinite { what });
    }
    Ok(())
}

/// A probability or mixing weight: finite and in `[0, 1]`.
pub(crate) fn unit_interval(name: &'static str, value: f64) -> Result<()> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(LossError::InvalidParameter { name, value, rule: "must lie in [0, 1]" })
    }
}

/// A temperature: finite and strictly positive.
pub(crate) fn positive(name: &'static str, value: f64) -> Result<()> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(LossError::InvalidParameter { name, value, rule: "must be finite and > 0" })
    }
}

/// A loss weight: finite and non-negative.
pub(crate) fn non_negative(name: &'static str, value: f64) -> Result<()> {
    if value >= 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(LossError::InvalidParameter { name, value, rule: "must be finite and >= 0" })
    }
}

/// Spreading mass over "the other classes" needs at least two classes.
pub(crate) fn at_least_two_classes(k: i64) -> Result<()> {
    if k >= 2 {
        Ok(())
    } else {
        Err(LossError::InvalidParameter { name: "classes", value: k as f64, rule: "must be >= 2" })
    }
}
