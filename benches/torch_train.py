"""Reference for tfkd's training benchmarks: the official code's training step in PyTorch.

Two modes, each printing JSON to stdout:

  steps  DEVICE SECONDS        forward + backward + SGD step on a fixed random batch of 128 (32x32, K = 10),
                               like `tfkd bench models`; one row per model (CIFAR ResNet-18 at widths 1 and
                               1/8, built here as the official models/resnet.py builds it).
  epoch  DEVICE ARCHIVE        one training epoch of the official loop on the bundled cifar10-jpeg archive:
                               torchvision transforms of the official data_loader.py (RandomCrop(32, 4) ->
                               HorizontalFlip -> RandomRotation(15) -> ToTensor -> Normalize), DataLoader
                               with batch 128, shuffle and WORKERS workers (env, default 8), SGD(0.1, 0.9, 5e-4),
                               cross-entropy; ResNet-18 at width 1. Reports images/s after the first batch.

The parameter count is asserted against tfkd's (11,173,962 for K = 10), so both sides time the same network.
"""
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


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
        planes = [max(1, round(p * width)) for p in (64, 128, 256, 512)]
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


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def steps(device, seconds):
    rows = []
    for width in (1.0, 0.125):
        torch.manual_seed(0)
        net = ResNet18(10, width).to(device)
        params = sum(p.numel() for p in net.parameters())
        if width == 1.0:
            assert params == 11_173_962, params
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
        rows.append({"model": "resnet18", "width": width, "params": params,
                     "train_img_per_s": n * 128 / (time.perf_counter() - start), "steps": n})
    return rows


def epoch(device, archive):
    from torchvision_data import InMemory, load_images, official_transform

    images, labels = load_images(archive)
    workers = int(os.environ.get("WORKERS", "8"))
    loader = torch.utils.data.DataLoader(InMemory(images, labels, official_transform()), batch_size=128, shuffle=True,
                                         num_workers=workers, pin_memory=device.type == "cuda")
    torch.manual_seed(0)
    net = ResNet18(10).to(device)
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
    return {"model": "resnet18", "width": 1.0, "images": n, "workers": workers,
            "epoch_img_per_s": n / (time.perf_counter() - start)}


def main():
    mode, device = sys.argv[1], torch.device(sys.argv[2])
    if mode == "steps":
        print(json.dumps(steps(device, float(sys.argv[3]))))
    elif mode == "epoch":
        print(json.dumps(epoch(device, sys.argv[3])))
    else:
        sys.exit(f"unknown mode {mode}: expected steps or epoch")


if __name__ == "__main__":
    main()
