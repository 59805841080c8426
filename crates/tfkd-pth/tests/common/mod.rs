//! Shared by the integration tests: the fixtures folder and the comparison against what torch read back
//! (the `.json` files `tests/fixtures/make_fixtures.py` writes with real torch).

#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use tfkd_pth::{DType, StateDict};

/// `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// The cases `make_fixtures.py` saves in both formats.
pub const CASES: [&str; 6] = ["dtypes", "views", "module", "keep_vars", "checkpoint", "net"];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Asserts that `sd` is what torch read from the file described by `json` (names in order, dtype, shape,
/// values, bytes, and the checkpoint key).
pub fn assert_matches(sd: &StateDict, json: &Path, what: &str) {
    let text = std::fs::read_to_string(json).unwrap_or_else(|e| panic!("{}: {e}", json.display()));
    let want: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", json.display()));
    assert_eq!(sd.from_key.as_deref(), want["from_key"].as_str(), "{what}: from_key");
    let tensors = want["tensors"].as_array().expect("tensors");
    let names: Vec<&str> = tensors.iter().map(|t| t["name"].as_str().expect("name")).collect();
    assert_eq!(sd.names().collect::<Vec<_>>(), names, "{what}: names");
    for (t, (name, got)) in tensors.iter().zip(&sd.tensors) {
        let ctx = format!("{what}: {name}");
        assert_eq!(
            got.dtype,
            DType::from_torch_name(t["dtype"].as_str().expect("dtype")).expect("known dtype"),
            "{ctx}"
        );
        let shape: Vec<usize> =
            t["shape"].as_array().expect("shape").iter().map(|s| s.as_u64().expect("dim") as usize).collect();
        assert_eq!(got.shape, shape, "{ctx}: shape");
        assert_eq!(hex(&got.data), t["hex"].as_str().expect("hex"), "{ctx}: bytes");
        let values = t["values"].as_array().expect("values");
        if got.dtype.is_float() {
            let want: Vec<f64> = values.iter().map(|v| v.as_f64().expect("float")).collect();
            assert_eq!(got.to_f64_vec().expect("float tensor"), want, "{ctx}: values");
        } else if got.dtype == DType::Bool {
            let want: Vec<i64> = values.iter().map(|v| i64::from(v.as_bool().expect("bool"))).collect();
            assert_eq!(got.to_i64_vec().expect("bool tensor"), want, "{ctx}: values");
        } else {
            let want: Vec<i64> = values.iter().map(|v| v.as_i64().expect("int")).collect();
            assert_eq!(got.to_i64_vec().expect("int tensor"), want, "{ctx}: values");
        }
    }
}
