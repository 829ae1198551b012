"""Make the two shipped demo runs, the report's comparison, with ``graintrace train`` on the bundled NIST pair.

    python benchmarks/make_demo_checkpoints.py            # writes src/napari_graintrace/data/demo_checkpoints/
    python benchmarks/make_demo_checkpoints.py --epochs 3 --out /tmp/demo   # a quick trial

The data are those of ``benchmarks/report_experiments.py`` (its ``prepare``): the left 600 columns
of the NIST pair (the right quarter, columns 600-799, is held out), the tracing made as imprecise
as a hand tracing (a smooth random displacement of about 1-2 px), cut into 36 grid crops of
96 x 96 (``original``), and the same plus 25 aligned crops from ``graintrace crop`` merged with
``graintrace merge`` (``with_crops``). Both train with the same settings and seed; the files are
written as ``RUN/demo_EPOCH.pth``. The models are small (base width 4, same architecture and keys
as the lab's width-64 U-Net) and are demo models only: they have seen one steel micrograph.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from report_experiments import CROP, TRAIN_COLUMNS, prepare, run_cli

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from napari_graintrace.data import NIST_MICROGRAPH, NIST_TRACE

RUNS = ("original", "with_crops")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "napari_graintrace" / "data" / "demo_checkpoints")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--save-every", type=int, default=10)
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        datasets = prepare(Path(tmp), print, RUNS)
        for run in RUNS:
            checkpoints = Path(tmp) / "checkpoints" / run
            start = time.perf_counter()
            run_cli(["train", datasets[run], "-o", checkpoints, "--name", "demo", "--epochs", args.epochs,
                     "--width", args.width, "--save-every", args.save_every, "--size", CROP,
                     "--batch-size", args.batch_size, "--lr", args.lr, "--device", "cpu", "--seed", 0])
            print(f"{run}: trained in {time.perf_counter() - start:.0f} s")
            out = args.out / run
            out.mkdir(parents=True, exist_ok=True)
            for old in out.glob("demo_*.pth"):
                old.unlink()
            for path in sorted(checkpoints.glob("demo_*.pth")):
                shutil.copy2(path, out / path.name)
    for run in RUNS:
        print(f"\n{run}:")
        report(args.out / run)
    return 0


def report(folder: Path) -> None:
    """Scores of each epoch at native size on the whole micrograph and on the held-out quarter."""
    from napari_graintrace.core.io import read_micrograph, read_trace
    from napari_graintrace.core.model import find_checkpoints, load_checkpoint, predict
    from napari_graintrace.core.scoring import bce, gaussian_loss, tolerant_prf

    image, (trace, _) = read_micrograph(NIST_MICROGRAPH), read_trace(NIST_TRACE)
    held = np.s_[:, TRAIN_COLUMNS:]
    print("| file | size | BCE, whole | Gaussian, whole | BCE, held-out | Gaussian, held-out | "
          "tolerant F σ=1, held-out |\n|---|---|---|---|---|---|---|")
    for item in find_checkpoints(folder):
        pred = predict(load_checkpoint(item.path), image, resolution=None, precision="fp32")
        print(f"| {item.path.name} | {item.path.stat().st_size / 1e6:.2f} MB | {bce(pred, trace):.4f} | "
              f"{gaussian_loss(pred, trace):.4f} | {bce(pred[held], trace[held]):.4f} | "
              f"{gaussian_loss(pred[held], trace[held]):.4f} | {tolerant_prf(pred[held], trace[held], 1.0)[2]:.3f} |")


if __name__ == "__main__":
    sys.exit(main())
