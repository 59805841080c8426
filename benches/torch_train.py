"""Reference for tfkd's training benchmarks: the official code's training step in PyTorch.

Three modes, each printing JSON to stdout:

  steps  DEVICE SECONDS [MODELS]
                               forward + backward + SGD step on a fixed random batch of 128 (32x32, K = 10),
                               like `tfkd bench models`; one row per model and width (widths 1 and 1/8; MODELS
                               comma-separated, default resnet18; built as the official model files build them).
  epoch  DEVICE ARCHIVE        one training epoch of the official loop on the bundled cifar10-jpeg archive:
                               torchvision transforms of the official data_loader.py (RandomCrop(32, 4) ->
                               HorizontalFlip -> RandomRotation(15) -> ToTensor -> Normalize), DataLoader
                               with batch 128, shuffle and WORKERS workers (env, default 8), SGD(0.1, 0.9, 5e-4),
                               cross-entropy; ResNet-18 at width 1. Reports images/s after the first batch.
  timed  DEVICE ARCHIVE MODEL WIDTH BATCH SECONDS
                               the same official loop for MODEL (resnet18, mobilenetv2 or shufflenetv2) at
                               WIDTH with batch BATCH (the input of `tfkd bench array --reference`): the first 2
                               batches are warm-up, then batches are timed until SECONDS have passed (at least
                               3). One JSON line {"model", "width", "batch", "img_per_s", "images", "seconds",
                               "workers", "torch_threads", "device", "load_seconds", "images_in_memory"}.
                               Decoding all 50,000 JPEGs takes ~10 s on one core, so only the first IMAGES
                               (env, default 10000; at most 50000) training images are decoded into memory, as
                               the official torchvision CIFAR dataset holds them; the loader then cycles over
                               them, reshuffled each pass (persistent workers). The archive is class-ordered,
                               so a prefix holds few classes: irrelevant to the timing. load_seconds (reading
                               and decoding) is not part of img_per_s.

Environment: WORKERS (DataLoader workers, default 8); TORCH_THREADS (torch.set_num_threads; unset: torch's
default); IMAGES (timed only, see above).

Models follow the official model/ files (resnet.py: kuangliu's; mobilenetv2.py, shufflenetv2.py: weiaicunzai's
pytorch-cifar100), with channels scaled by `width` exactly as tfkd's crates/tfkd-models/src/width.rs does. Each
model's parameter count for K = 10 is asserted against tfkd's (EXPECTED_PARAMS), so both sides time the same
network.
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# Parameter counts for K = 10, from tfkd's own models: `source scripts/env.sh && target/debug/tfkd models --classes 10
# --width 1 --json` (and `--width 0.125`). At width 1 they equal docs/paper.md section 5's official counts for K = 100
# minus 90 rows of the classifier (e.g. MobileNetV2 2,369,380 - 90 * 1281 = 2,254,090).
EXPECTED_PARAMS = {
    ("resnet18", 1.0): 11_173_962,
    ("resnet18", 0.125): 176_402,
    ("mobilenetv2", 1.0): 2_254_090,
    ("mobilenetv2", 0.125): 49_272,
    ("shufflenetv2", 1.0): 1_268_646,
    ("shufflenetv2", 0.125): 26_472,
}


def scale(c, width, multiple=1):
    """tfkd's width::scale: c * width rounded (half away from zero, like Rust's f64::round) to the nearest positive
    multiple of `multiple`; exactly c at width 1."""
    if width == 1.0:
        return c
    return max(1, math.floor(c * width / multiple + 0.5)) * multiple


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, classes=10, width=1.0):
        super().__init__()
        planes = [scale(p, width) for p in (64, 128, 256, 512)]
        self.conv1 = nn.Conv2d(3, planes[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes[0])
        layers, cin = [], planes[0]
        for i, p in enumerate(planes):
            for s in (1 if i == 0 else 2, 1):
                layers.append(BasicBlock(cin, p, s))
                cin = p
        self.layers = nn.Sequential(*layers)
        self.linear = nn.Linear(cin, classes)

    def forward(self, x):
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


class LinearBottleNeck(nn.Module):
    """The official mobilenetv2.py block: 1x1 expand, 3x3 depthwise, 1x1 project, all convs with bias."""

    def __init__(self, cin, cout, stride, t):
        super().__init__()
        mid = cin * t
        self.residual = nn.Sequential(
            nn.Conv2d(cin, mid, 1), nn.BatchNorm2d(mid), nn.ReLU6(inplace=True),
            nn.Conv2d(mid, mid, 3, stride=stride, padding=1, groups=mid), nn.BatchNorm2d(mid), nn.ReLU6(inplace=True),
            nn.Conv2d(mid, cout, 1), nn.BatchNorm2d(cout))
        self.add_input = stride == 1 and cin == cout

    def forward(self, x):
        residual = self.residual(x)
        if self.add_input:
            residual += x
        return residual


class MobileNetV2(nn.Module):
    """The official mobilenetv2.py (weiaicunzai): 1x1 stem with padding 1 (34x34 out), ReLU6, 1x1-conv classifier.
    Every channel count scaled by tfkd's scale(c, width, 1)."""

    def __init__(self, classes=10, width=1.0):
        super().__init__()
        w = lambda c: scale(c, width, 1)  # noqa: E731
        stem = w(32)
        self.pre = nn.Sequential(nn.Conv2d(3, stem, 1, padding=1), nn.BatchNorm2d(stem), nn.ReLU6(inplace=True))
        blocks, cin = [], stem
        for repeat, out, stride, t in ((1, 16, 1, 1), (2, 24, 2, 6), (3, 32, 2, 6), (4, 64, 2, 6), (3, 96, 1, 6),
                                       (3, 160, 1, 6), (1, 320, 1, 6)):
            for i in range(repeat):
                blocks.append(LinearBottleNeck(cin, w(out), stride if i == 0 else 1, t))
                cin = w(out)
        self.stages = nn.Sequential(*blocks)
        last = w(1280)
        self.conv1 = nn.Sequential(nn.Conv2d(cin, last, 1), nn.BatchNorm2d(last), nn.ReLU6(inplace=True))
        self.conv2 = nn.Conv2d(last, classes, 1)

    def forward(self, x):
        x = self.conv1(self.stages(self.pre(x)))
        return torch.flatten(self.conv2(F.adaptive_avg_pool2d(x, 1)), 1)


def channel_shuffle(x, groups):
    n, c, h, w = x.size()
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous().view(n, -1, h, w)


class ShuffleUnit(nn.Module):
    """The official shufflenetv2.py unit: channel split (stride 1, same width) or two strided branches."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.split = stride == 1 and cin == cout
        if not self.split:
            self.residual = nn.Sequential(
                nn.Conv2d(cin, cin, 1), nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
                nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin), nn.BatchNorm2d(cin),
                nn.Conv2d(cin, cout // 2, 1), nn.BatchNorm2d(cout // 2), nn.ReLU(inplace=True))
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin), nn.BatchNorm2d(cin),
                nn.Conv2d(cin, cout // 2, 1), nn.BatchNorm2d(cout // 2), nn.ReLU(inplace=True))
        else:
            half = cin // 2
            self.shortcut = nn.Sequential()
            self.residual = nn.Sequential(
                nn.Conv2d(half, half, 1), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
                nn.Conv2d(half, half, 3, stride=stride, padding=1, groups=half), nn.BatchNorm2d(half),
                nn.Conv2d(half, half, 1), nn.BatchNorm2d(half), nn.ReLU(inplace=True))

    def forward(self, x):
        if self.split:
            shortcut, residual = torch.split(x, x.size(1) // 2, dim=1)
        else:
            shortcut, residual = x, x
        return channel_shuffle(torch.cat([self.shortcut(shortcut), self.residual(residual)], dim=1), 2)


class ShuffleNetV2(nn.Module):
    """The official shufflenetv2.py (weiaicunzai, ratio 1): 3x3 stem + BN with no ReLU and no max-pool, all convs with
    bias. Stem and stage widths scaled by tfkd's scale(c, width, 2) (even, for the split), conv5 by scale(c, width, 1)."""

    def __init__(self, classes=10, width=1.0):
        super().__init__()
        stem = scale(24, width, 2)
        self.pre = nn.Sequential(nn.Conv2d(3, stem, 3, padding=1), nn.BatchNorm2d(stem))
        units, cin = [], stem
        for out, repeat in ((116, 3), (232, 7), (464, 3)):
            out = scale(out, width, 2)
            units.append(ShuffleUnit(cin, out, 2))
            units += [ShuffleUnit(out, out, 1) for _ in range(repeat)]
            cin = out
        self.stages = nn.Sequential(*units)
        last = scale(1024, width, 1)
        self.conv5 = nn.Sequential(nn.Conv2d(cin, last, 1), nn.BatchNorm2d(last), nn.ReLU(inplace=True))
        self.fc = nn.Linear(last, classes)

    def forward(self, x):
        x = self.conv5(self.stages(self.pre(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


MODELS = {"resnet18": ResNet18, "mobilenetv2": MobileNetV2, "shufflenetv2": ShuffleNetV2}


def build(name, width, classes=10):
    """The model, its parameter count asserted against tfkd's where EXPECTED_PARAMS has it."""
    net = MODELS[name](classes, width)
    params = sum(p.numel() for p in net.parameters())
    expected = EXPECTED_PARAMS.get((name, width)) if classes == 10 else None
    assert expected is None or params == expected, f"{name} width {width}: {params} parameters, tfkd has {expected}"
    return net, params


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def steps(device, seconds, models=("resnet18",)):
    rows = []
    for width, model in ((w, m) for w in (1.0, 0.125) for m in models):
        torch.manual_seed(0)
        net, params = build(model, width)
        net = net.to(device)
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        x = torch.randn(128, 3, 32, 32, device=device)
        y = torch.randint(10, (128,), device=device)

        def step():
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()

        for _ in range(5 if device.type == "cuda" else 1):
            step()
        sync(device)
        start, n = time.perf_counter(), 0
        max_steps = 2000 if device.type == "cuda" else 20
        while n < 2 or (time.perf_counter() - start < seconds and n < max_steps):
            step()
            n += 1
            if n % 10 == 0:
                sync(device)
        sync(device)
        rows.append({"model": model, "width": width, "params": params,
                     "train_img_per_s": n * 128 / (time.perf_counter() - start), "steps": n})
    return rows


def epoch(device, archive):
    from torchvision_data import InMemory, load_images, official_transform

    images, labels = load_images(archive, min(50_000, int(os.environ.get("IMAGES", "50000"))))
    workers = int(os.environ.get("WORKERS", "8"))
    loader = torch.utils.data.DataLoader(InMemory(images, labels, official_transform()), batch_size=128, shuffle=True,
                                         num_workers=workers, pin_memory=device.type == "cuda")
    torch.manual_seed(0)
    width = float(os.environ.get("WIDTH", "1.0"))
    net = build("resnet18", width)[0].to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    net.train()
    start, n = None, 0
    for i, (x, y) in enumerate(loader):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
        if i == 0:
            sync(device)
            start = time.perf_counter()
        else:
            n += x.shape[0]
    sync(device)
    return {"model": "resnet18", "width": width, "images": n, "workers": workers,
            "epoch_img_per_s": n / (time.perf_counter() - start)}


def timed(device, archive, model, width, batch, seconds):
    from torchvision_data import InMemory, load_images, official_transform

    if model not in MODELS:
        sys.exit(f"unknown model {model}: expected one of {', '.join(MODELS)}")
    torch.manual_seed(0)
    net = build(model, width)[0].to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    net.train()

    start = time.perf_counter()
    images, labels = load_images(archive, min(50_000, int(os.environ.get("IMAGES", "10000"))))
    load_seconds = time.perf_counter() - start
    workers = int(os.environ.get("WORKERS", "8"))
    loader = torch.utils.data.DataLoader(InMemory(images, labels, official_transform()), batch_size=batch,
                                         shuffle=True, num_workers=workers, pin_memory=device.type == "cuda",
                                         persistent_workers=workers > 0)

    def batches():  # pass after pass over the images in memory, reshuffled each time
        while True:
            yield from loader

    warmup, n, timed_batches, start = 2, 0, 0, None
    for i, (x, y) in enumerate(batches()):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
        if i + 1 == warmup:
            sync(device)
            start = time.perf_counter()
        elif i + 1 > warmup:
            n += x.shape[0]
            timed_batches += 1
            if timed_batches >= 3 and time.perf_counter() - start >= seconds:
                break
    sync(device)
    elapsed = time.perf_counter() - start
    return {"model": model, "width": width, "batch": batch, "img_per_s": n / elapsed, "images": n,
            "seconds": elapsed, "workers": workers, "torch_threads": torch.get_num_threads(), "device": str(device),
            "load_seconds": load_seconds, "images_in_memory": len(images)}


def main():
    mode, device = sys.argv[1], torch.device(sys.argv[2])
    if "TORCH_THREADS" in os.environ:
        torch.set_num_threads(int(os.environ["TORCH_THREADS"]))
    if mode == "steps":
        models = sys.argv[4].split(",") if len(sys.argv) > 4 else ["resnet18"]
        print(json.dumps(steps(device, float(sys.argv[3]), models)))
    elif mode == "epoch":
        print(json.dumps(epoch(device, sys.argv[3])))
    elif mode == "timed":
        if len(sys.argv) != 8:
            sys.exit("usage: torch_train.py timed DEVICE ARCHIVE MODEL WIDTH BATCH SECONDS")
        archive, model, width, batch, seconds = sys.argv[3:]
        print(json.dumps(timed(device, archive, model, float(width), int(batch), float(seconds))))
    else:
        sys.exit(f"unknown mode {mode}: expected steps, epoch or timed")


if __name__ == "__main__":
    main()
