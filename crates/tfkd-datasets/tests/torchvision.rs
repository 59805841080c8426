//! tfkd's augmentation ops against torchvision's on real images: `fixtures/torchvision_augment.py` decoded
//! six cifar10-jpeg images with PIL, applied `F.crop(F.pad(img, 4), top, left, 32, 32)` (RandomCrop with fixed
//! offsets), `F.hflip` and `F.rotate(img, angle, NEAREST | BILINEAR)` to PIL images as the official pipeline
//! does, and stored inputs and outputs. Every op must give torchvision's pixels exactly: tfkd reproduces
//! Pillow's fixed-point nearest rotation and its bilinear blend rather than approximating them.

use std::path::Path;

use tfkd_datasets::{
    augment::{apply, Draw},
    Interpolation, Normalize,
};

fn fixture() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torchvision_augment.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bytes(v: &serde_json::Value) -> Vec<u8> {
    v.as_array().unwrap().iter().map(|p| p.as_u64().unwrap() as u8).collect()
}

/// HWC (the fixture's layout) to CHW (tfkd's) and back.
fn to_chw(hwc: &[u8]) -> Vec<u8> {
    (0..3).flat_map(|c| (0..1024).map(move |p| hwc[p * 3 + c])).collect()
}

#[test]
fn crop_flip_and_rotation_give_torchvisions_pixels() {
    let f = fixture();
    let images: Vec<Vec<u8>> = f["images"].as_array().unwrap().iter().map(|i| to_chw(&bytes(&i["pixels"]))).collect();
    // Output = pixel value: mean 0, std 1/255.
    let identity = Normalize { mean: vec![0.0; 3], std: vec![1.0 / 255.0; 3] };
    let mut checked = 0;
    for case in f["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let d = &case["draw"];
        let draw = match case["op"].as_str().unwrap() {
            "crop" => Draw::Crop {
                top: d["top"].as_u64().unwrap() as usize,
                left: d["left"].as_u64().unwrap() as usize,
                padding: d["padding"].as_u64().unwrap() as usize,
            },
            "flip" => Draw::Flip(d["flip"].as_bool().unwrap()),
            "rotate" => Draw::Rotate(d["angle"].as_f64().unwrap()),
            other => panic!("unknown op {other}"),
        };
        let interpolation = match case["interpolation"].as_str() {
            Some("bilinear") => Interpolation::Bilinear,
            _ => Interpolation::Nearest,
        };
        let src = &images[case["image"].as_u64().unwrap() as usize];
        let mut out = vec![0f32; src.len()];
        apply(src, [3, 32, 32], &[draw], interpolation, &identity, &mut out);
        let got: Vec<u8> = out.iter().map(|v| v.round() as u8).collect();
        let want = to_chw(&bytes(&case["output"]));
        let wrong: Vec<usize> = (0..want.len()).filter(|&i| got[i] != want[i]).collect();
        assert!(
            wrong.is_empty(),
            "{name}: {} of {} values differ from torchvision's, first at {:?} (got {}, want {})",
            wrong.len(),
            want.len(),
            wrong.first(),
            got[wrong[0]],
            want[wrong[0]]
        );
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} cases");
}
