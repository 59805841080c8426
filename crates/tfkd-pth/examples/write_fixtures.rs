//! Writes state dicts with `tfkd_pth::write` for real torch to check: `cargo run -p tfkd-pth --example
//! write_fixtures -- DIR`, then `.venv-bench/bin/python crates/tfkd-pth/tests/fixtures/check_written.py DIR`.
//!
//! Each `NAME.pth` gets a `NAME.json` beside it with what torch must read: names in order, dtype, shape,
//! and either the values and bytes (small tensors) or a CRC-32 of the bytes (`resnet18.pth`, a
//! torchvision ResNet-18 state dict that check_written.py also loads into `torchvision.models.resnet18()`).

use std::path::{Path, PathBuf};

use serde_json::{json, Value as Json};
use tfkd_pth::{write, DType, RawTensor, StateDict};

fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: write_fixtures DIR");
        std::process::exit(2);
    };
    if let Err(e) = run(&dir) {
        eprintln!("write_fixtures: {e}");
        std::process::exit(1);
    }
}

fn run(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let many: Vec<(String, RawTensor)> = (0..1001)
        .map(|i| {
            Ok((format!("block{i}.scale"), RawTensor::from_f32(vec![i % 3 + 1], &vec![i as f32 / 8.0; i % 3 + 1])?))
        })
        .collect::<Result<_, tfkd_pth::TensorError>>()?;
    let sets = [
        ("dtypes", dtypes()?, true),
        ("one", vec![("fc.bias".to_string(), RawTensor::from_f32(vec![3], &[0.5, -1.0, 2.0])?)], true),
        ("many", many, true),
        ("empty", Vec::new(), true),
        ("resnet18", resnet18()?, false),
    ];
    for (name, tensors, with_values) in sets {
        let sd = StateDict::new(tensors);
        let path = dir.join(format!("{name}.pth"));
        write(&path, &sd)?;
        let desc: Vec<Json> = sd.tensors.iter().map(|(n, t)| describe(n, t, with_values)).collect::<Result<_, _>>()?;
        std::fs::write(dir.join(format!("{name}.json")), serde_json::to_string_pretty(&json!({ "tensors": desc }))?)?;
        println!("wrote {} ({} tensors)", path.display(), sd.len());
    }
    Ok(())
}

fn bytes<const N: usize>(values: impl IntoIterator<Item = [u8; N]>) -> Vec<u8> {
    values.into_iter().flatten().collect()
}

/// Every dtype, edge values included, a 0-d tensor and an empty one.
fn dtypes() -> Result<Vec<(String, RawTensor)>, tfkd_pth::TensorError> {
    let f32s = [0.0f32, -0.0, 1.5, f32::MAX, f32::MIN_POSITIVE, 1e-45, -7.25];
    let t = |dtype, shape: Vec<usize>, data: Vec<u8>| RawTensor::new(dtype, shape, data);
    Ok(vec![
        ("f32".into(), t(DType::F32, vec![7], bytes(f32s.map(f32::to_le_bytes)))?),
        ("f64".into(), t(DType::F64, vec![2, 2], bytes([1.0 / 3.0, -1e300, 5e-324, 2.0f64].map(f64::to_le_bytes)))?),
        // 1, -2, 65504, smallest subnormal (binary16 bit patterns)
        ("f16".into(), t(DType::F16, vec![4], bytes([0x3c00u16, 0xc000, 0x7bff, 0x0001].map(u16::to_le_bytes)))?),
        // 1, -3, 3.140625 (bfloat16 bit patterns)
        ("bf16".into(), t(DType::BF16, vec![3], bytes([0x3f80u16, 0xc040, 0x4049].map(u16::to_le_bytes)))?),
        ("i64".into(), t(DType::I64, vec![3], bytes([i64::MIN, i64::MAX, -1].map(i64::to_le_bytes)))?),
        ("i32".into(), t(DType::I32, vec![3], bytes([i32::MIN, i32::MAX, 7].map(i32::to_le_bytes)))?),
        ("i16".into(), t(DType::I16, vec![3], bytes([i16::MIN, i16::MAX, -5].map(i16::to_le_bytes)))?),
        ("i8".into(), t(DType::I8, vec![3], bytes([i8::MIN, i8::MAX, 0].map(i8::to_le_bytes)))?),
        ("u8".into(), t(DType::U8, vec![2, 2], vec![0, 255, 128, 7])?),
        ("bool".into(), t(DType::Bool, vec![3], vec![1, 0, 1])?),
        ("bn.num_batches_tracked".into(), RawTensor::from_i64(vec![], &[12345])?),
        ("empty.weight".into(), t(DType::F32, vec![0, 3], Vec::new())?),
        (
            "big.weight".into(),
            t(DType::F32, vec![2, 3, 4, 5], bytes((0..120).map(|i| (i as f32 * 0.25).to_le_bytes())))?,
        ),
    ])
}

/// A torchvision ResNet-18 state dict (names, order and shapes of `torchvision.models.resnet18()`), filled
/// with deterministic values (BatchNorm variances positive).
fn resnet18() -> Result<Vec<(String, RawTensor)>, tfkd_pth::TensorError> {
    let mut out = Vec::new();
    let mut seed = 0u64;
    let mut conv = |out: &mut Vec<(String, RawTensor)>, name: String, shape: Vec<usize>| {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|i| ((seed as usize + i * 7919) % 2001) as f32 / 1000.0 - 1.0).collect();
        seed += 1;
        RawTensor::from_f32(shape, &values).map(|t| out.push((name, t)))
    };
    let bn = |out: &mut Vec<(String, RawTensor)>, p: &str, c: usize| -> Result<(), tfkd_pth::TensorError> {
        for (suffix, base) in [("weight", 1.0f32), ("bias", 0.0), ("running_mean", 0.1), ("running_var", 0.9)] {
            let values: Vec<f32> = (0..c).map(|i| base + (i % 7) as f32 / 64.0).collect();
            out.push((format!("{p}.{suffix}"), RawTensor::from_f32(vec![c], &values)?));
        }
        out.push((format!("{p}.num_batches_tracked"), RawTensor::from_i64(vec![], &[0])?));
        Ok(())
    };
    conv(&mut out, "conv1.weight".into(), vec![64, 3, 7, 7])?;
    bn(&mut out, "bn1", 64)?;
    let mut inp = 64;
    for (layer, width) in [(1, 64), (2, 128), (3, 256), (4, 512)] {
        for block in 0..2 {
            let p = format!("layer{layer}.{block}");
            let cin = if block == 0 { inp } else { width };
            conv(&mut out, format!("{p}.conv1.weight"), vec![width, cin, 3, 3])?;
            bn(&mut out, &format!("{p}.bn1"), width)?;
            conv(&mut out, format!("{p}.conv2.weight"), vec![width, width, 3, 3])?;
            bn(&mut out, &format!("{p}.bn2"), width)?;
            if block == 0 && layer > 1 {
                conv(&mut out, format!("{p}.downsample.0.weight"), vec![width, cin, 1, 1])?;
                bn(&mut out, &format!("{p}.downsample.1"), width)?;
            }
        }
        inp = width;
    }
    conv(&mut out, "fc.weight".into(), vec![1000, 512])?;
    conv(&mut out, "fc.bias".into(), vec![1000])?;
    Ok(out)
}

fn describe(name: &str, t: &RawTensor, with_values: bool) -> Result<Json, tfkd_pth::TensorError> {
    let mut d = json!({ "name": name, "dtype": t.dtype.torch_name(), "shape": t.shape });
    if with_values {
        let values: Json = if t.dtype.is_float() {
            t.to_f64_vec()?.into()
        } else if t.dtype == DType::Bool {
            t.data.iter().map(|&b| b != 0).collect::<Vec<_>>().into()
        } else {
            t.to_i64_vec()?.into()
        };
        d["values"] = values;
        d["hex"] = t.data.iter().map(|b| format!("{b:02x}")).collect::<String>().into();
    } else {
        d["crc32"] = crc32fast::hash(&t.data).into();
    }
    Ok(d)
}
