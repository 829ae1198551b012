"""Make the shipped demo checkpoint series with ``graintrace train`` on the bundled NIST pair.

    python benchmarks/make_demo_checkpoints.py            # writes src/napari_graintrace/data/demo_checkpoints/
    python benchmarks/make_demo_checkpoints.py --epochs 3 --out /tmp/demo   # a quick trial

The right quarter of the NIST micrograph (columns 600-799 of 800) is held out: training crops
come only from the left 600 x 600, so the demo and sweep can show scores on pixels the models
never saw. Crops are cut with overlap from the micrograph and its tracing into a temporary
``image/`` + ``label/`` folder (the lab's convention); ``graintrace train`` adds random flips.
The models are small (base width 6, same architecture and keys as the lab's width-64 U-Net) and
are demo models only: they have seen one steel micrograph.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from napari_graintrace.cli import main as graintrace  # noqa: E402
from napari_graintrace.core.io import read_image, write_image  # noqa: E402
from napari_graintrace.data import NIST_MICROGRAPH, NIST_TRACE  # noqa: E402

TRAIN_COLUMNS = 600  # columns [0, 600) train; [600, 800) are held out


def cut_crops(folder: Path, crop: int, stride: int) -> int:
    """Aligned crops of the left 600 columns into folder/image and folder/label; returns the count."""
    image, trace = read_image(NIST_MICROGRAPH), read_image(NIST_TRACE)
    image, trace = image[:, :TRAIN_COLUMNS], trace[:, :TRAIN_COLUMNS]
    height, width = image.shape

    def starts(length: int) -> list[int]:
        out = list(range(0, length - crop + 1, stride))
        return out if out[-1] == length - crop else [*out, length - crop]

    count = 0
    for top in starts(height):
        for left in starts(width):
            count += 1
            box = np.s_[top : top + crop, left : left + crop]
            write_image(folder / "image" / f"steel_{count:03d}.png", image[box])
            write_image(folder / "label" / f"steel_{count:03d}.png", trace[box])
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "napari_graintrace" / "data" / "demo_checkpoints")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--save-every", type=int, default=10)
    parser.add_argument("--width", type=int, default=6)
    parser.add_argument("--crop", type=int, default=160)
    parser.add_argument("--stride", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        dataset, checkpoints = Path(tmp) / "dataset", Path(tmp) / "checkpoints"
        n = cut_crops(dataset, args.crop, args.stride)
        print(f"{n} aligned {args.crop} x {args.crop} crops of the left {TRAIN_COLUMNS} columns (stride {args.stride})")
        start = time.perf_counter()
        code = graintrace([
            "train", str(dataset), "-o", str(checkpoints), "--name", "demo", "--epochs", str(args.epochs),
            "--width", str(args.width), "--save-every", str(args.save_every), "--size", str(args.crop),
            "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--device", "cpu",
        ])
        if code:
            return code
        print(f"trained in {time.perf_counter() - start:.0f} s")
        args.out.mkdir(parents=True, exist_ok=True)
        for old in args.out.glob("demo_*.pth"):
            old.unlink()
        for path in sorted(checkpoints.glob("demo_*.pth")):
            shutil.copy2(path, args.out / path.name)
    report(args.out)
    return 0


def report(folder: Path) -> None:
    """Scores of each epoch at native size on the whole micrograph and on the held-out quarter."""
    from napari_graintrace.core.checkpoints import find_checkpoints, load_checkpoint
    from napari_graintrace.core.inference import predict
    from napari_graintrace.core.io import read_micrograph, read_trace
    from napari_graintrace.core.scores import bce, gaussian_loss

    image, (trace, _) = read_micrograph(NIST_MICROGRAPH), read_trace(NIST_TRACE)
    held = np.s_[:, TRAIN_COLUMNS:]
    print(f"{'file':<14} {'size':>8} {'BCE all':>8} {'Gauss all':>10} {'BCE held-out':>13} {'Gauss held-out':>15}")
    for item in find_checkpoints(folder):
        pred = predict(load_checkpoint(item.path), image, resolution=None, precision="fp32")
        print(f"{item.path.name:<14} {item.path.stat().st_size / 1e6:6.2f}MB {bce(pred, trace):8.4f} "
              f"{gaussian_loss(pred, trace):10.4f} {bce(pred[held], trace[held]):13.4f} "
              f"{gaussian_loss(pred[held], trace[held]):15.4f}")


if __name__ == "__main__":
    sys.exit(main())
