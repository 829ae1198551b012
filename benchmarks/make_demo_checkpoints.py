"""Make the two shipped demo runs with ``graintrace train`` on the bundled NIST pair.

    python benchmarks/make_demo_checkpoints.py            # writes src/napari_graintrace/data/demo_checkpoints/
    python benchmarks/make_demo_checkpoints.py --runs with_crops   # only that run
    python benchmarks/make_demo_checkpoints.py --epochs 3 --out /tmp/demo   # a quick trial

Two runs, the report's comparison: ``original/`` is trained on grid crops of the pair;
``with_crops/`` on the same plus aligned crops cut with ``graintrace crop`` from boxes offset by
half a stride (merged with ``graintrace merge``), same settings and seed otherwise.

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

from napari_graintrace.cli import main as graintrace
from napari_graintrace.core.io import read_image, write_image
from napari_graintrace.data import NIST_MICROGRAPH, NIST_TRACE

TRAIN_COLUMNS = 600  # columns [0, 600) train; [600, 800) are held out
RUNS = ("original", "with_crops")


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


def offset_boxes(crop: int, stride: int) -> dict:
    """Boxes half a stride off the grid of :func:`cut_crops`, in the left 600 columns (boxes.json form)."""
    height, width = read_image(NIST_MICROGRAPH)[:, :TRAIN_COLUMNS].shape
    tops = range(stride // 2, height - crop + 1, stride)
    lefts = range(stride // 2, width - crop + 1, stride)
    boxes = [{"index": i + 1, "top": t, "left": c, "bottom": t + crop, "right": c + crop}
             for i, (t, c) in enumerate((t, c) for t in tops for c in lefts)]
    return {"name": "steel", "source_shape": [height, width], "boxes": boxes}


def add_aligned_crops(tmp: Path, original: Path, crop: int, stride: int) -> tuple[Path, int]:
    """``graintrace crop`` with the offset boxes, merged with the original set by ``graintrace merge``."""
    import json

    left = tmp / "left"
    write_image(left / "steel_micrograph.png", read_image(NIST_MICROGRAPH)[:, :TRAIN_COLUMNS])
    write_image(left / "steel_trace.png", read_image(NIST_TRACE)[:, :TRAIN_COLUMNS])
    boxes = offset_boxes(crop, stride)
    (left / "boxes.json").write_text(json.dumps(boxes, indent=2) + "\n")
    for argv in (["crop", "--boxes", left / "boxes.json", "--images", left / "steel_micrograph.png", "--trace",
                  left / "steel_trace.png", "--name", "steel", "--out", tmp / "crops"],
                 ["merge", original, tmp / "crops" / "steel_validation", "-o", tmp / "with_crops"]):
        if graintrace([str(a) for a in argv]):
            raise SystemExit(f"graintrace {argv[0]} failed")
    return tmp / "with_crops", len(boxes["boxes"])


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
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        datasets = {"original": tmp / "dataset"}
        n = cut_crops(datasets["original"], args.crop, args.stride)
        print(f"original: {n} aligned {args.crop} x {args.crop} crops of the left {TRAIN_COLUMNS} columns "
              f"(stride {args.stride})")
        datasets["with_crops"], extra = add_aligned_crops(tmp, datasets["original"], args.crop, args.stride)
        print(f"with_crops: those + {extra} aligned crops from `graintrace crop` (boxes offset by {args.stride // 2})")
        for run in args.runs:
            checkpoints = tmp / "checkpoints" / run
            start = time.perf_counter()
            code = graintrace([
                "train", str(datasets[run]), "-o", str(checkpoints), "--name", "demo", "--epochs", str(args.epochs),
                "--width", str(args.width), "--save-every", str(args.save_every), "--size", str(args.crop),
                "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--device", "cpu",
            ])
            if code:
                return code
            print(f"{run}: trained in {time.perf_counter() - start:.0f} s")
            out = args.out / run
            out.mkdir(parents=True, exist_ok=True)
            for old in out.glob("demo_*.pth"):
                old.unlink()
            for path in sorted(checkpoints.glob("demo_*.pth")):
                shutil.copy2(path, out / path.name)
    for run in args.runs:
        print(f"\n{run}:")
        report(args.out / run)
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
