"""Small made-up inputs shared by the tests: a training dataset and a checkpoint series."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from napari_graintrace.core.model import UNet


def tiny_dataset(root: Path, count: int, size: int = 32) -> Path:
    """The lab's `image/` + `label/` layout: bright vertical lines on noise, traced white-on-black."""
    rng = np.random.default_rng(0)
    for folder in ("image", "label"):
        (root / folder).mkdir(parents=True)
    for i in range(count):
        label = np.zeros((size, size), np.uint8)
        label[:, rng.integers(2, size - 2, 3)] = 255
        image = np.clip(rng.normal(60, 20, (size, size)) + (label > 0) * 120, 0, 255).astype(np.uint8)
        Image.fromarray(image).save(root / "image" / f"crop_{i}.png")
        Image.fromarray(label).save(root / "label" / f"crop_{i}.png")
    return root


def tiny_series(folder: Path, epochs: Iterable[int], base_width: int = 4) -> Path:
    """`tiny_EPOCH.pth` files of randomly initialised U-Nets (seeded by epoch): the lab's format, small."""
    folder.mkdir(parents=True, exist_ok=True)
    for epoch in epochs:
        torch.manual_seed(epoch)
        torch.save(UNet(base_width=base_width).state_dict(), folder / f"tiny_{epoch}.pth")
    return folder
