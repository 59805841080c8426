//! The ImageNet transforms against torchvision + Pillow on real photographs:
//! `fixtures/torchvision_imagenet_transforms.py` re-encoded five public-domain / CC0 photographs at
//! ImageNet-like sizes (4:2:0, 4:4:4, progressive, small, grayscale, CMYK JPEGs, a PNG named `.JPEG`, a 16-bit
//! PNG), stored PIL's decode of each, and applied `F.resized_crop` (RandomResizedCrop with fixed windows),
//! `F.resize`, `F.center_crop` and `F.hflip` to the PIL images, as the official ImageNet pipeline does.
//!
//! * Given PIL's decoded pixels, tfkd's resampling must give torchvision's outputs exactly.
//! * tfkd's decoder must give PIL's decode exactly (it is libjpeg-turbo, Pillow's decoder), so the whole path
//!   from the file's bytes is exact too (the requirement is ±1; the maximum and mean difference are printed).
//! * ToTensor → Normalize: the f32 tensor's bytes must hash as torch's do.
//! * RandomResizedCrop's sampling: torchvision's own `get_params`, fed scripted random numbers, must choose the
//!   windows tfkd chooses from the same numbers; tfkd's seeded draws stay inside the image, keep to the
//!   scale/ratio bounds, fall back for extreme aspect ratios and depend on (seed, epoch, sample) only.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tfkd_datasets::{
    decode::{decode_rgb, decode_rgb_window},
    resample::Rect,
    transform::{
        draws, needed, output_size, resized_crop_params, transform_rgb, transform_rgb_u8, transform_window,
        transform_window_u8, Draw, Uniforms,
    },
    Augment, Normalize, Op, RgbImage,
};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/imagenet_transforms")
}

fn fixture() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("imagenet_transforms.json")).unwrap()).unwrap()
}

/// A fixture PNG (recognised by its content: one is named `.JPEG`), as RGB (a grey one replicated).
fn png(name: &str) -> RgbImage {
    decode_rgb(&source_bytes(name), Path::new(name)).unwrap()
}

fn source_bytes(file: &str) -> Vec<u8> {
    std::fs::read(dir().join(file)).unwrap()
}

fn decoded_by_pil(f: &Value, file: &str) -> RgbImage {
    let source = f["sources"].as_array().unwrap().iter().find(|s| s["file"] == file).unwrap();
    png(source["decoded"].as_str().unwrap())
}

fn draw_of(v: &Value) -> Draw {
    match v {
        Value::String(s) if s == "resize" => Draw::Resize,
        Value::String(s) if s == "center_crop" => Draw::CenterCrop,
        Value::Object(o) if o.contains_key("flip") => Draw::Flip(o["flip"].as_bool().unwrap()),
        Value::Object(o) if o.contains_key("resized_crop") => {
            let c: Vec<usize> = serde_json::from_value(o["resized_crop"].clone()).unwrap();
            Draw::ResizedCrop { crop: Rect { top: c[0], left: c[1], height: c[2], width: c[3] }, fallback: false }
        }
        other => panic!("unknown draw {other}"),
    }
}

fn case_ops(case: &Value) -> (Vec<Op>, Vec<Draw>) {
    let ops: Vec<Op> = serde_json::from_value(case["ops"].clone()).unwrap();
    (ops, case["draws"].as_array().unwrap().iter().map(draw_of).collect())
}

/// (number of differing values, maximum and mean absolute difference).
fn diff(got: &RgbImage, want: &RgbImage) -> (usize, u8, f64) {
    assert_eq!(got.size(), want.size());
    let d: Vec<u8> = got.as_raw().iter().zip(want.as_raw()).map(|(a, b)| a.abs_diff(*b)).collect();
    let mean = d.iter().map(|&v| f64::from(v)).sum::<f64>() / d.len() as f64;
    (d.iter().filter(|&&v| v != 0).count(), d.iter().copied().max().unwrap_or(0), mean)
}

#[test]
fn decoder_gives_pils_pixels() {
    let f = fixture();
    let mut checked = Vec::new();
    for source in f["sources"].as_array().unwrap() {
        let file = source["file"].as_str().unwrap();
        let got = decode_rgb(&source_bytes(file), Path::new(file)).unwrap();
        let want = png(source["decoded"].as_str().unwrap());
        let (wrong, max, mean) = diff(&got, &want);
        println!("{file} ({}): max |Δ| {max}, mean {mean:.5}", source["encoding"].as_str().unwrap());
        assert_eq!(wrong, 0, "{file}: {wrong} values differ from PIL's decode (max {max}, mean {mean})");
        checked.push(source["pil_mode"].as_str().unwrap().to_string());
    }
    for mode in ["RGB", "L", "CMYK", "I;16"] {
        assert!(checked.iter().any(|m| m == mode), "no {mode} source");
    }
}

/// The loader decodes only the window RandomResizedCrop reads: every window must hold the whole decode's pixels
/// there, for every kind of file (chroma upsampling reads beyond a window's edge), and so must the tensors.
#[test]
fn decoded_windows_are_parts_of_the_whole_decode() {
    let f = fixture();
    let norm = Normalize::imagenet_official();
    let ops = Augment::imagenet_official().ops;
    let (mut windows, mut encodings) = (0, Vec::new());
    for source in f["sources"].as_array().unwrap() {
        let file = source["file"].as_str().unwrap();
        let bytes = source_bytes(file);
        let whole = decode_rgb(&bytes, Path::new(file)).unwrap();
        let size @ [h, w] = [whole.height() as usize, whole.width() as usize];
        let at = |top, left, height, width| Rect { top, left, height, width };
        // The whole image, its corners, thin strips through it, and the windows RandomResizedCrop draws.
        let mut rects = vec![Rect::full(size), at(0, 0, 1, 1), at(h - 1, w - 1, 1, 1), at(0, w - 1, h, 1)];
        rects.extend([at(h / 3, 0, 1, w), at(h / 2, w / 3, 17, 9), at(h - 5, 1, 5, w - 1), at(7.min(h - 1), 3, 1, 1)]);
        for i in 0..40 {
            let d = imagenet_draws(size, 11, 0, i);
            rects.push(needed(&ops, &d, size));
            let win = decode_rgb_window(&bytes, Path::new(file), |s| Ok(needed(&ops, &d, s))).unwrap();
            let (mut a, mut b) = (vec![0f32; 3 * 224 * 224], vec![0f32; 3 * 224 * 224]);
            transform_rgb(&whole, &ops, &d, &norm, &mut a).unwrap();
            transform_window(&win, &ops, &d, &norm, &mut b).unwrap();
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{file}: draws {d:?}");
            assert_eq!(transform_window_u8(&win, &ops, &d).unwrap(), transform_rgb_u8(&whole, &ops, &d).unwrap());
        }
        for want in rects {
            let win = decode_rgb_window(&bytes, Path::new(file), |s| {
                assert_eq!(s, size);
                Ok(want)
            })
            .unwrap();
            assert_eq!((win.rect, win.size), (want, size));
            for y in 0..want.height {
                let from = ((want.top + y) * w + want.left) * 3;
                let row = &win.pixels[y * want.width * 3..(y + 1) * want.width * 3];
                assert!(row == &whole.as_raw()[from..from + want.width * 3], "{file}: row {y} of {want:?}");
            }
            windows += 1;
        }
        encodings.push(source["encoding"].as_str().unwrap().to_string());
    }
    for kind in ["4:2:0", "4:2:2", "4:4:4", "progressive", "grayscale", "CMYK", "PNG"] {
        assert!(encodings.iter().any(|e| e.contains(kind)), "no {kind} source in {encodings:?}");
    }
    assert!(windows > 400, "{windows}");
    // A window outside the image is an error, and so is the caller's own.
    let bytes = source_bytes("coffee_500x375.jpg");
    assert!(decode_rgb_window(&bytes, Path::new("x"), |_| Ok(at_least_outside())).is_err());
    let err = decode_rgb_window(&bytes, Path::new("x"), |_| Err(tfkd_datasets::DataError::Invalid("mine".into())));
    assert_eq!(err.unwrap_err().to_string(), tfkd_datasets::DataError::Invalid("mine".into()).to_string());
}

fn at_least_outside() -> Rect {
    Rect { top: 370, left: 0, height: 6, width: 10 }
}

#[test]
fn resampling_gives_torchvisions_pixels_from_pils_decode() {
    let f = fixture();
    let mut checked = 0;
    for case in f["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (ops, draws) = case_ops(case);
        let src = decoded_by_pil(&f, case["source"].as_str().unwrap());
        let got = transform_rgb_u8(&src, &ops, &draws).unwrap();
        let want = png(case["output"].as_str().unwrap());
        assert_eq!(
            output_size(&ops, [src.height() as usize, src.width() as usize]).unwrap(),
            [want.height() as usize, want.width() as usize]
        );
        let (wrong, max, mean) = diff(&got, &want);
        assert_eq!(wrong, 0, "{name}: {wrong} values differ from torchvision's (max {max}, mean {mean:.4})");
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} cases");
}

#[test]
fn full_path_from_the_files_bytes_is_within_one() {
    let f = fixture();
    let (mut max, mut sum, mut n) = (0u8, 0.0, 0usize);
    for case in f["cases"].as_array().unwrap() {
        let file = case["source"].as_str().unwrap();
        let (ops, draws) = case_ops(case);
        let img = decode_rgb(&source_bytes(file), Path::new(file)).unwrap();
        let got = transform_rgb_u8(&img, &ops, &draws).unwrap();
        let want = png(case["output"].as_str().unwrap());
        let (_, m, mean) = diff(&got, &want);
        assert!(m <= 1, "{}: max |Δ| {m} > 1", case["name"]);
        max = max.max(m);
        sum += mean * want.as_raw().len() as f64;
        n += want.as_raw().len();
    }
    println!("JPEG bytes → tfkd → pixels vs torchvision: max |Δ| {max}, mean {:.6} over {n} values", sum / n as f64);
}

#[test]
fn normalised_tensors_hash_as_torchs() {
    let f = fixture();
    let norm = Normalize::imagenet_official();
    let stats = &f["normalize"];
    assert_eq!(serde_json::from_value::<Vec<f32>>(stats["mean"].clone()).unwrap(), norm.mean);
    assert_eq!(serde_json::from_value::<Vec<f32>>(stats["std"].clone()).unwrap(), norm.std);
    let mut checked = 0;
    for case in f["cases"].as_array().unwrap() {
        let Some(want) = case["normalized_sha256"].as_str() else { continue };
        let (ops, draws) = case_ops(case);
        let src = decode_rgb(&source_bytes(case["source"].as_str().unwrap()), Path::new("x")).unwrap();
        let [h, w] = output_size(&ops, [src.height() as usize, src.width() as usize]).unwrap();
        let mut out = vec![0f32; 3 * h * w];
        transform_rgb(&src, &ops, &draws, &norm, &mut out).unwrap();
        let bytes: Vec<u8> = out.iter().flat_map(|v| v.to_le_bytes()).collect();
        let got: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(got, want, "{}: the normalised tensor differs from torch's", case["name"]);
        checked += 1;
    }
    assert_eq!(checked, 2);
}

/// The random numbers a fixture case scripted, counted as they are used.
struct Scripted<'a> {
    bits: &'a [u32],
    fracs: &'a [f64],
    used_bits: usize,
    used_fracs: usize,
}

impl Uniforms for Scripted<'_> {
    fn bits24(&mut self) -> u32 {
        self.used_bits += 1;
        self.bits[self.used_bits - 1]
    }

    fn below(&mut self, n: u64) -> u64 {
        self.used_fracs += 1;
        (self.fracs[self.used_fracs - 1] * n as f64).floor() as u64
    }
}

#[test]
fn resized_crop_params_are_torchvisions_get_params() {
    let f = fixture();
    let (mut fallbacks, mut retried) = (0, 0);
    for case in f["get_params"].as_array().unwrap() {
        let num = |k: &str| case[k].as_u64().unwrap() as usize;
        let pair = |k: &str| serde_json::from_value::<[f64; 2]>(case[k].clone()).unwrap();
        let bits: Vec<u32> = serde_json::from_value(case["bits"].clone()).unwrap();
        let fracs: Vec<f64> = serde_json::from_value(case["fracs"].clone()).unwrap();
        let mut u = Scripted { bits: &bits, fracs: &fracs, used_bits: 0, used_fracs: 0 };
        let (crop, fallback) = resized_crop_params([num("height"), num("width")], pair("scale"), pair("ratio"), &mut u);
        let want: Vec<usize> = serde_json::from_value(case["crop"].clone()).unwrap();
        assert_eq!([crop.top, crop.left, crop.height, crop.width], want[..], "{case}");
        assert_eq!((u.used_bits, u.used_fracs), (num("bits_used"), num("fracs_used")), "{case}");
        assert_eq!(fallback, u.used_fracs == 0);
        fallbacks += usize::from(fallback);
        retried += usize::from(!fallback && u.used_bits > 2);
    }
    assert!(fallbacks >= 3 && retried >= 1, "fallbacks {fallbacks}, retried {retried}");
}

fn imagenet_draws(hw: [usize; 2], seed: u64, epoch: u64, index: u64) -> Vec<Draw> {
    draws(&Augment::imagenet_official().ops, hw, seed, epoch, index).unwrap()
}

#[test]
fn random_resized_crop_draws_stay_in_bounds_and_are_seeded() {
    let [(smin, smax), (rmin, rmax)] = [(0.08, 1.0), (0.75, 4.0 / 3.0)];
    let mut small_and_large = [false; 2];
    let mut flips = [0usize; 2];
    for hw @ [h, w] in [[375, 500], [500, 375], [64, 64], [120, 180], [333, 250]] {
        for i in 0..300 {
            let d = imagenet_draws(hw, 7, 3, i);
            assert_eq!(d, imagenet_draws(hw, 7, 3, i));
            let Draw::ResizedCrop { crop, fallback } = d[0] else { panic!("{d:?}") };
            assert!(crop.fits(hw), "{crop:?} outside {hw:?}");
            let Draw::Flip(flip) = d[1] else { panic!("{d:?}") };
            flips[usize::from(flip)] += 1;
            if fallback {
                continue;
            }
            // w = round(√(A·a)), h = round(√(A/a)) for A in the scale range and a in the ratio range.
            let (ch, cw, area) = (crop.height as f64, crop.width as f64, (h * w) as f64);
            assert!((cw - 0.5) * (ch - 0.5) <= smax * area && (cw + 0.5) * (ch + 0.5) >= smin * area, "{crop:?}");
            assert!((cw - 0.5) / (ch + 0.5) <= rmax && (cw + 0.5) / (ch - 0.5) >= rmin, "{crop:?}");
            let fraction = cw * ch / area;
            small_and_large[0] |= fraction < 0.2;
            small_and_large[1] |= fraction > 0.8;
        }
    }
    assert_eq!(small_and_large, [true, true]);
    assert!(flips[0] > 600 && flips[1] > 600, "{flips:?}");
    // Seeds, epochs and samples each change the draws.
    let a = imagenet_draws([375, 500], 1, 0, 0);
    for other in
        [imagenet_draws([375, 500], 2, 0, 0), imagenet_draws([375, 500], 1, 1, 0), imagenet_draws([375, 500], 1, 0, 1)]
    {
        assert_ne!(a, other);
    }
    // Nothing of aspect 3/4..4/3 and area ≥ 8% fits a 20×1000 strip: the fallback, clamped to the ratio range.
    for i in 0..20 {
        let Draw::ResizedCrop { crop, fallback } = imagenet_draws([20, 1000], 0, 0, i)[0] else { panic!() };
        assert!(fallback);
        assert_eq!(crop, Rect { top: 0, left: 486, height: 20, width: 27 });
        let Draw::ResizedCrop { crop, fallback } = imagenet_draws([1000, 20], 0, 0, i)[0] else { panic!() };
        assert!(fallback);
        assert_eq!(crop, Rect { top: 486, left: 0, height: 27, width: 20 });
    }
}

#[test]
fn the_presets_run_end_to_end() {
    let f = fixture();
    let img = decoded_by_pil(&f, "rocket_500x333.jpg");
    let norm = Normalize::imagenet_official();
    let mut out = vec![0f32; 3 * 224 * 224];
    for i in 0..4 {
        let ops = Augment::imagenet_official().ops;
        transform_rgb(&img, &ops, &imagenet_draws([333, 500], 5, 0, i), &norm, &mut out).unwrap();
        assert!(out.iter().all(|v| v.is_finite() && v.abs() < 3.0));
    }
    let eval = Augment::evaluation(tfkd_names::AugmentPreset::Imagenet).ops;
    assert_eq!(output_size(&eval, [333, 500]).unwrap(), [224, 224]);
    let d = draws(&eval, [333, 500], 5, 0, 0).unwrap();
    transform_rgb(&img, &eval, &d, &norm, &mut out).unwrap();
    assert!(transform_rgb(&img, &eval, &d, &norm, &mut out[1..]).is_err());
}

#[test]
fn undecodable_bytes_are_errors_naming_the_file() {
    let name = Path::new("train/n01440764/bad.JPEG");
    let jpeg = source_bytes("coffee_500x375.jpg");
    for bytes in [&b"GIF89a not an image"[..], &jpeg[..3], &jpeg[..200], &[0xff, 0xd8, 0xff, 0xe0, 0, 2, 0, 0][..]] {
        let err = decode_rgb(bytes, name).expect_err("must not decode").to_string();
        assert!(err.contains("train/n01440764/bad.JPEG"), "{err}");
    }
    let png_bytes = source_bytes("chelsea_png_as.JPEG");
    assert!(decode_rgb(&png_bytes[..100], name).is_err());
    // A truncated JPEG is refused even when the window asked for lies in the part that is there.
    let top = Rect { top: 0, left: 0, height: 16, width: 64 };
    let err = decode_rgb_window(&jpeg[..jpeg.len() * 7 / 10], name, |_| Ok(top)).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");
    assert!(decode_rgb_window(&jpeg, name, |_| Ok(top)).is_ok());
}
