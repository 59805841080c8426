//! The writer reproduces torch.save byte for byte, and everything it writes reads back unchanged.

mod common;

use common::{fixture, CASES};
use tfkd_pth::{read, to_bytes, write, DType, PthError, RawTensor, StateDict, TensorError, WriteProblem};

#[test]
fn writes_the_bytes_torch_save_writes() {
    // written/*.pth are torch.save(state_dict, io.BytesIO()) from torch 2.11 (make_fixtures.py): one tensor
    // (SETITEM), 40 tensors (memo indices past 255, the name set's rehashes), every dtype, no tensors.
    for name in ["one", "many", "dtypes", "empty"] {
        let path = fixture(&format!("written/{name}.pth"));
        let torch_bytes = std::fs::read(&path).expect("fixture");
        let sd = read(&path).expect("read");
        let ours = to_bytes(&sd).expect("to_bytes");
        if ours != torch_bytes {
            let at =
                ours.iter().zip(&torch_bytes).position(|(a, b)| a != b).unwrap_or(ours.len().min(torch_bytes.len()));
            panic!(
                "{name}: differs from torch.save at byte {at} (ours {} bytes, torch {})",
                ours.len(),
                torch_bytes.len()
            );
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out.pth");
        write(&out, &sd).expect("write");
        assert_eq!(std::fs::read(&out).expect("written file"), torch_bytes, "{name}: write() ≠ to_bytes()");
    }
}

#[test]
fn round_trips_every_fixture() {
    let dir = tempfile::tempdir().expect("tempdir");
    for case in CASES {
        for format in ["zip", "legacy"] {
            let sd = read(&fixture(&format!("{case}.{format}.pth"))).expect("fixture");
            let out = dir.path().join(format!("{case}.{format}.pth"));
            write(&out, &sd).expect("write");
            let back = read(&out).expect("read back");
            assert_eq!(back.tensors, sd.tensors, "{case}.{format}");
            assert_eq!(back.from_key, None, "{case}.{format}: written alone");
        }
    }
}

#[test]
fn refuses_what_a_dict_cannot_hold() {
    let t = RawTensor::from_f32(vec![2], &[1.0, 2.0]).expect("tensor");
    let dup = StateDict::new(vec![("w".into(), t.clone()), ("w".into(), t.clone())]);
    assert_eq!(to_bytes(&dup), Err(WriteProblem::DuplicateName("w".into())));
    let short = RawTensor { dtype: DType::F32, shape: vec![3], data: vec![0; 8] };
    let bad = StateDict::new(vec![("w".into(), short)]);
    assert!(matches!(
        to_bytes(&bad),
        Err(WriteProblem::Tensor { source: TensorError::Length { expected: Some(12), actual: 8, .. }, .. })
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.pth");
    let err = write(&path, &bad).unwrap_err();
    assert!(matches!(err, PthError::Unwritable { .. }));
    assert!(tfkd_io::chain(&err).contains("bad.pth"), "{}", tfkd_io::chain(&err));
    assert!(!path.exists(), "nothing is written on error");
}
