//! Every fixture torch wrote reads back to exactly what torch itself read from it.

mod common;

use common::{assert_matches, fixture, CASES};
use tfkd_pth::{read, FormatProblem, PthError};

#[test]
fn zip_and_legacy_files_read_as_torch_reads_them() {
    for case in CASES {
        for format in ["zip", "legacy"] {
            let path = fixture(&format!("{case}.{format}.pth"));
            let sd = read(&path).unwrap_or_else(|e| panic!("{}", tfkd_io::chain(&e)));
            assert_matches(&sd, &fixture(&format!("{case}.json")), &format!("{case}.{format}"));
        }
    }
}

#[test]
fn big_endian_archives_are_byte_swapped() {
    let sd = read(&fixture("dtypes.big-endian.pth")).expect("big-endian copy");
    assert_matches(&sd, &fixture("dtypes.json"), "dtypes.big-endian");
}

#[test]
fn buffers_torch_saved_read_back() {
    for name in ["one", "many", "dtypes", "empty"] {
        let sd = read(&fixture(&format!("written/{name}.pth"))).expect(name);
        assert_matches(&sd, &fixture(&format!("written/{name}.json")), name);
    }
}

#[test]
fn tar_format_is_refused_with_a_reason() {
    let path = fixture("tar-format.pth");
    let err = read(&path).unwrap_err();
    assert!(matches!(&err, PthError::Format { source: FormatProblem::TarFormat, .. }), "{err:?}");
    let msg = tfkd_io::chain(&err);
    assert!(msg.contains("tar-format.pth") && msg.contains("torch < 0.1.10"), "{msg}");
}

#[test]
fn missing_file_names_it() {
    let err = read(&fixture("no-such.pth")).unwrap_err();
    assert!(matches!(err, PthError::Read { .. }));
    assert!(tfkd_io::chain(&err).contains("no-such.pth"));
}

#[test]
fn strip_prefix_undoes_data_parallel() {
    let mut sd = read(&fixture("checkpoint.zip.pth")).expect("checkpoint");
    let n = sd.len();
    assert_eq!(sd.strip_prefix("module."), Ok(n));
    let plain = read(&fixture("module.zip.pth")).expect("module");
    assert_eq!(sd.names().collect::<Vec<_>>(), plain.names().collect::<Vec<_>>());
}

#[test]
fn unknown_dtypes_and_pickled_modules_are_refused_by_name() {
    for (file, global) in [
        ("refused-complex.zip.pth", "torch.ComplexFloatStorage"),
        ("refused-module.zip.pth", "torch.nn.modules.container.Sequential"),
    ] {
        let err = read(&fixture(file)).unwrap_err();
        let msg = tfkd_io::chain(&err);
        assert!(matches!(err, PthError::Pickle { .. }), "{file}: {msg}");
        assert!(msg.contains(file) && msg.contains(&format!("'{global}'")), "{file}: {msg}");
    }
}
