"""Reference for `just bench-data imagenet`: the official ImageNet training input pipeline in torchvision.

    torchvision_imagenet_data.py FOLDER IMAGES [--workers 2] [--batch 256]

Reads FOLDER/train (ILSVRC layout, train/<wnid>/*.JPEG) with torchvision.datasets.ImageFolder — Pillow decode,
`convert('RGB')` — and the transforms of pytorch/examples' imagenet/main.py: RandomResizedCrop(224) ->
RandomHorizontalFlip -> ToTensor -> Normalize(ImageNet mean/std), through a shuffling DataLoader with `--workers`
worker processes (persistent, so their start-up is not timed) and batch `--batch`. Uses the first IMAGES images in
ImageFolder's order (class, then file name), which is the order tfkd's imagenet source lists them in.

The files are read once before timing (the page cache warm, as for tfkd). Also times each stage on one core over
up to 200 of the images: read, decode, crop+resize+flip, ToTensor+Normalize; and the CPU seconds the main
process and the workers used in the timed epoch (/proc), as cores kept busy, and the cores other processes kept
busy meanwhile (/proc/stat's busy CPU less ours). Prints one JSON object.
"""
import argparse
import io
import json
import os
import time

import PIL
import torch
import torchvision
from PIL import Image, features
from torchvision import datasets, transforms

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def crop_flip():
    return transforms.Compose([transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip()])


def to_tensor():
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])


def stages(paths):
    """Milliseconds per image of each stage, on this process's one core."""
    crop, tensor = crop_flip(), to_tensor()
    totals = {"read": 0.0, "decode": 0.0, "crop_resize_flip": 0.0, "to_tensor_normalize": 0.0}
    for path in paths:
        t0 = time.perf_counter()
        with open(path, "rb") as f:
            data = f.read()
        t1 = time.perf_counter()
        img = Image.open(io.BytesIO(data)).convert("RGB")
        t2 = time.perf_counter()
        img = crop(img)
        t3 = time.perf_counter()
        tensor(img)
        t4 = time.perf_counter()
        for key, dt in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            totals[key] += dt
    return {k: 1000 * v / len(paths) for k, v in totals.items()}


def cpu_seconds(pids):
    """CPU seconds (user and system) the processes `pids` have used so far, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def machine_jiffies():
    """Busy and total jiffies of all CPUs together, and the number of CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        lines = f.read().splitlines()
    v = [int(x) for x in lines[0].split()[1:]]
    total, idle = sum(v[:8]), v[3] + v[4]
    cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    return total - idle, total, cpus


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("images", type=int)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    train = datasets.ImageFolder(os.path.join(args.folder, "train"),
                                 transforms.Compose([crop_flip(), to_tensor()]))
    n = min(args.images, len(train))
    subset = torch.utils.data.Subset(train, range(n))
    paths = [train.samples[i][0] for i in range(n)]
    for path in paths:  # warm the page cache
        with open(path, "rb") as f:
            f.read()
    torch.set_num_threads(1)  # as in DataLoader workers
    torch.manual_seed(0)
    per_stage = stages(paths[:: max(1, n // 200)][:200])
    loader = torch.utils.data.DataLoader(subset, batch_size=args.batch, shuffle=True, num_workers=args.workers,
                                         persistent_workers=args.workers > 0)
    next(iter(loader))  # warm-up: workers started, imports done
    it = iter(loader)  # persistent workers: resets them, dispatches the first batches
    pids = [os.getpid()] + [w.pid for w in getattr(it, "_workers", [])]
    start, cpu, machine = time.perf_counter(), cpu_seconds(pids), machine_jiffies()
    count = sum(x.shape[0] for x, _ in it)
    seconds = time.perf_counter() - start
    cores_busy = (cpu_seconds(pids) - cpu) / seconds
    (b0, t0, cpus), (b1, t1, _) = machine, machine_jiffies()
    other_cores_busy = max(0.0, (b1 - b0) / max(1, t1 - t0) * cpus - cores_busy)
    print(json.dumps({
        "pipeline": "torchvision",
        "img_per_s": count / seconds,
        "img_per_s_per_core": count / seconds / max(1, args.workers),
        "images": count,
        "seconds": seconds,
        "cores_busy": cores_busy,
        "other_cores_busy": other_cores_busy,
        "workers": args.workers,
        "batch": args.batch,
        "persistent_workers": args.workers > 0,
        "stages_ms": per_stage,
        "stage_images": len(paths[:: max(1, n // 200)][:200]),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pillow": PIL.__version__,
        "libjpeg": features.version("libjpeg_turbo") or features.version_codec("jpg"),
        "libjpeg_turbo": bool(features.check_feature("libjpeg_turbo")),
    }))


if __name__ == "__main__":
    main()
