//! Channel scaling for CPU budgets: `width = 1` is the paper's model; smaller widths shrink every layer.

/// Scales a channel count `c` by `width` and rounds to the nearest positive multiple of `multiple`.
///
/// `multiple` keeps structural constraints valid: 2 for ShuffleNetV2's channel split, the
/// cardinality for ResNeXt's groups. At `width = 1` every count is returned unchanged (the paper's
/// counts are already valid).
#[must_use]
pub fn scale(c: i64, width: f64, multiple: i64) -> i64 {
    if width == 1.0 {
        return c;
    }
    let units = (c as f64 * width / multiple as f64).round() as i64;
    units.max(1) * multiple
}

#[cfg(test)]
mod tests {
    use super::scale;

    #[test]
    fn identity_at_full_width() {
        for c in [3, 16, 24, 116, 1024] {
            assert_eq!(scale(c, 1.0, 2), c);
        }
    }

    #[test]
    fn rounds_to_multiples_and_never_vanishes() {
        assert_eq!(scale(116, 0.25, 2), 30);
        assert_eq!(scale(116, 0.125, 2), 14);
        assert_eq!(scale(16, 0.01, 1), 1);
        assert_eq!(scale(512, 0.125, 8), 64);
        assert_eq!(scale(24, 0.01, 8), 8);
    }
}
