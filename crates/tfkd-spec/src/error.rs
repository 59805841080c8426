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

/// serde_yaml's message for `e`, without its trailing " at line L column C" (the location is given in front),
/// and in plain words where its own are a parser's: a tab (YAML indents with spaces only) and an integer too
/// large for 64 bits. `text` is the YAML that was parsed.
pub(crate) fn yaml_message(e: &serde_yaml::Error, text: &str) -> String {
    let message = e.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message);
    let at = e.location().and_then(|l| text.get(l.index()..)).and_then(|rest| rest.chars().next());
    if message.contains("cannot start any token") && (at == Some('\t') || (at.is_none() && text.contains('\t'))) {
        return "a tab character: YAML indents with spaces only; replace the tab with spaces".into();
    }
    // "train.epochs: invalid type: integer `99999999999999999999` as u128, expected …": the key stays.
    for kind in ["invalid type: integer `", "invalid value: integer `"] {
        let Some((key, rest)) = message.split_once(kind) else { continue };
        if let Some((n, _)) = rest.split_once("` as u128") {
            return format!("{key}the integer {n} is too large: numbers here fit in 64 bits (at most {})", u64::MAX);
        }
        if let Some((n, _)) = rest.split_once("` as i128") {
            return format!("{key}the integer {n} is too small: numbers here fit in 64 bits (at least {})", i64::MIN);
        }
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::yaml_message;

    fn message(text: &str) -> String {
        let e = serde_yaml::from_str::<serde_yaml::Value>(text).expect_err(text);
        yaml_message(&e, text)
    }

    #[test]
    fn a_tab_is_named_as_a_tab() {
        assert!(
            message("train:\n\tepochs: 3\n").starts_with("a tab character"),
            "{}",
            message("train:\n\tepochs: 3\n")
        );
        assert!(message("\t").starts_with("a tab character"));
    }

    #[test]
    fn an_integer_past_64_bits_is_named_with_its_limit() {
        let limit = format!(
            "the integer 99999999999999999999 is too large: numbers here fit in 64 bits (at most {})",
            u64::MAX
        );
        assert_eq!(message("train:\n  epochs: 99999999999999999999\n"), format!("train.epochs: {limit}"));
        assert_eq!(message("99999999999999999999"), limit);
        assert!(message("-99999999999999999999").contains("too small"), "{}", message("-99999999999999999999"));
    }

    #[test]
    fn other_messages_lose_only_their_location() {
        assert_eq!(message("a: [1, 2"), message("a: [1, 2").split(" at line ").next().unwrap());
        assert!(!message("a: [1, 2").contains(" at line "));
    }
}
