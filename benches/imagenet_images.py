"""Synthetic ILSVRC-2012-format images for `just bench-data imagenet` (there is no ImageNet here, and its licence
does not allow shipping any): full-size photographic JPEGs at ImageNet's typical sizes, in the layout both tfkd's
imagenet source and torchvision's ImageFolder read.

    imagenet_images.py OUT [N=2000] [--classes 10] [--seed 0]

Writes OUT/train/<wnid>/<wnid>_<k>.JPEG (N images, round-robin over the classes), OUT/val/<wnid>/
ILSVRC2012_val_<k>.JPEG (N/20, at least one per class: val sorted by class) and OUT/synthetic.json, which says
how they were made and which `tfkd bench data --source imagenet` copies into its report. Deterministic for a seed.

Each image is a random crop (25-100% of the area, aspect 3:4-4:3) of one of the real photographs committed in
crates/tfkd-datasets/tests/fixtures/imagenet_transforms/ (CC0 / public domain: its README), mirrored half the time,
resized (Lanczos) to a size drawn from a fixed distribution shaped like ILSVRC-2012 train's: 70% with a long side
of 500 px (aspect 4:3, 3:2, 5:4, 16:9 or 1:1; landscape 3 times in 4), 20% smaller (long side 250-499), 10%
larger (long side 500-1200, log-uniform); then a per-channel gain (0.85-1.15) and Gaussian grain (sigma 6, as
sensor noise) so the files carry a photograph's entropy rather than an upscaled crop's smoothness, and saved as
RGB baseline JPEG, quality 95, 4:2:0 (Pillow's default subsampling, as most ILSVRC files have). Grain and quality
are chosen so the files come out near ILSVRC-2012 train's size (about 3.6 bits/pixel, 90 kB mean here; the real set
averages about 110 kB: 138 GB over 1.28 M images), since entropy decoding takes time in proportion to the bytes.
"""
import argparse
import json
import pathlib

import numpy as np
import PIL
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent
PHOTOS = ROOT / "crates/tfkd-datasets/tests/fixtures/imagenet_transforms"
# The committed photographs (not the tiny or odd-format ones), each converted to RGB.
SOURCES = ["coffee_500x375.jpg", "chelsea_375x500.jpg", "rocket_500x333.jpg", "camera_gray_333x250.jpg",
           "astronaut_180x120.jpg"]
# ILSVRC-2012's first wnids, as names only.
WNIDS = ["n01440764", "n01443537", "n01484850", "n01491361", "n01494475", "n01496331", "n01498041", "n01514668",
         "n01514859", "n01518878", "n01530575", "n01531178", "n01532829", "n01534433", "n01537544", "n01558993"]
ASPECTS = [(4 / 3, 0.55), (3 / 2, 0.25), (5 / 4, 0.08), (16 / 9, 0.05), (1.0, 0.07)]
QUALITY = 95
GRAIN = 6.0


def draw_size(rng):
    """(width, height) from the ILSVRC-like distribution."""
    u = rng.random()
    if u < 0.70:
        long = 500
    elif u < 0.90:
        long = int(rng.integers(250, 500))
    else:
        long = int(round(np.exp(rng.uniform(np.log(500), np.log(1200)))))
    aspects, weights = zip(*ASPECTS)
    aspect = aspects[rng.choice(len(aspects), p=np.array(weights) / sum(weights))]
    short = max(1, int(round(long / aspect)))
    return (long, short) if rng.random() < 0.75 else (short, long)


def make(photo, size, rng):
    """One image of `size` (w, h) cut from `photo`."""
    w, h = photo.size
    area = w * h * rng.uniform(0.25, 1.0)
    ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    cw, ch = min(w, int(round(np.sqrt(area * ratio)))), min(h, int(round(np.sqrt(area / ratio))))
    left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = photo.crop((left, top, left + cw, top + ch))
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    px = np.asarray(img.resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    px = px * rng.uniform(0.85, 1.15, size=3) + rng.normal(0.0, GRAIN, size=px.shape)
    return Image.fromarray(np.clip(np.rint(px), 0, 255).astype(np.uint8), "RGB")


def write(path, img):
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG", quality=QUALITY)
    return path.stat().st_size


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=pathlib.Path)
    ap.add_argument("n", type=int, nargs="?", default=2000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not 1 <= args.classes <= len(WNIDS) or args.n < args.classes:
        raise SystemExit(f"need 1 <= classes <= {len(WNIDS)} and n >= classes")
    rng = np.random.default_rng(args.seed)
    photos = [Image.open(PHOTOS / name).convert("RGB") for name in SOURCES]
    wnids = WNIDS[:args.classes]
    stats = {"bytes": 0, "pixels": 0}
    sizes = []

    def one(path):
        size = draw_size(rng)
        stats["bytes"] += write(path, make(photos[rng.integers(len(photos))], size, rng))
        stats["pixels"] += size[0] * size[1]
        sizes.append(size)

    for k in range(args.n):
        wnid = wnids[k % len(wnids)]
        one(args.out / "train" / wnid / f"{wnid}_{k}.JPEG")
    n_val = max(args.n // 20, len(wnids))
    for k in range(n_val):
        wnid = wnids[k % len(wnids)]
        one(args.out / "val" / wnid / f"ILSVRC2012_val_{k + 1:08d}.JPEG")
    total = args.n + n_val
    about = {
        "generator": "benches/imagenet_images.py",
        "description": f"synthetic ILSVRC-format JPEGs: random crops of {len(SOURCES)} real photographs "
                       "(tests/fixtures/imagenet_transforms, CC0/public domain), mirrored at random, resized to "
                       "ILSVRC-like sizes (70% long side 500 px, 20% 250-499, 10% 500-1200), per-channel gain, "
                       f"Gaussian grain sigma {GRAIN:g}, RGB baseline JPEG quality {QUALITY}, 4:2:0",
        "sources": SOURCES,
        "seed": args.seed,
        "classes": len(wnids),
        "train": args.n,
        "val": n_val,
        "pillow": PIL.__version__,
        "mean_bytes": stats["bytes"] / total,
        "mean_pixels": stats["pixels"] / total,
        "mean_bits_per_pixel": 8 * stats["bytes"] / stats["pixels"],
        "largest": max(sizes, key=lambda s: s[0] * s[1]),
        "smallest": min(sizes, key=lambda s: s[0] * s[1]),
    }
    (args.out / "synthetic.json").write_text(json.dumps(about, indent=2) + "\n")
    print(json.dumps(about))


if __name__ == "__main__":
    main()
