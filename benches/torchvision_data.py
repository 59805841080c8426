"""Reference for `just bench-data`: the official code's CIFAR training pipeline in torchvision.

Same images as tfkd's benchmark (the bundled cifar10-jpeg archive, decoded once into memory as the
official code's torchvision CIFAR dataset holds them), same transforms as the official
data_loader.py: RandomCrop(32, padding=4) -> RandomHorizontalFlip -> RandomRotation(15) ->
ToTensor -> Normalize, through a shuffling DataLoader with 2 workers and batch 128.
Prints one JSON line: {"img_per_s": ...}.
"""
import io
import json
import sys
import tarfile
import time

import numpy as np
import torch
from PIL import Image
from torchvision import transforms


def load_images(archive, limit=None):
    """The archive's training images (the first `limit`) as one uint8 N x 32 x 32 x 3 array, and their class
    indices (class folders numbered in order of first appearance)."""
    images, labels, classes = [], [], {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if member.isfile() and member.name.startswith("train/") and member.name.endswith(".jpg"):
                with Image.open(io.BytesIO(tar.extractfile(member).read())) as im:
                    images.append(np.asarray(im.convert("RGB")))
                labels.append(classes.setdefault(member.name.split("/")[1], len(classes)))
                if len(images) == limit:
                    break
    return np.stack(images), labels


def official_transform():
    """The official data_loader.py's CIFAR training transforms."""
    return transforms.Compose([
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.RandomRotation(15),
        transforms.ToTensor(),
        transforms.Normalize((0.5070751592371323, 0.48654887331495095, 0.4409178433670343),
                             (0.2673342858792401, 0.2564384629170883, 0.27615047132568404)),
    ])


class InMemory(torch.utils.data.Dataset):
    def __init__(self, array, labels, transform):
        self.array, self.labels, self.transform = array, labels, transform

    def __len__(self):
        return len(self.array)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.array[i])), self.labels[i]


def main():
    archive, limit = sys.argv[1], int(sys.argv[2])
    array, labels = load_images(archive, limit)
    loader = torch.utils.data.DataLoader(InMemory(array, labels, official_transform()), batch_size=128, shuffle=True,
                                         num_workers=2)
    for i, _ in enumerate(loader):  # warm-up: worker start-up is not counted
        if i == 1:
            break
    start = time.perf_counter()
    n = sum(x.shape[0] for x, _ in loader)
    print(json.dumps({"img_per_s": n / (time.perf_counter() - start), "images": n}))


if __name__ == "__main__":
    main()
