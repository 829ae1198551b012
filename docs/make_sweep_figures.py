"""The demo runs' figures: docs/sweep.md (the sweep command's printout, its plot, the held-out table) and the
score table of src/napari_graintrace/data/demo_checkpoints/README.md. Run from the repository root:

    python docs/make_sweep_figures.py

Every shipped demo checkpoint predicts the NIST micrograph at native size in fp32 (the same on every
CPU); scores on the whole pair and on the held-out right quarter (columns 600-799). About a minute of CPU.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
import tempfile
from pathlib import Path

from napari_graintrace.cli import main as graintrace
from napari_graintrace.core.model import find_checkpoints, load_checkpoint
from napari_graintrace.core.model import predict
from napari_graintrace.core.io import read_micrograph, read_trace
from napari_graintrace.core.scoring import bce, gaussian_loss, tolerant_prf
from napari_graintrace.data import DEMO_RUNS, HELD_OUT_COLUMNS, NIST_MICROGRAPH, NIST_TRACE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _common import print_machine
from docs_text import ROOT, replace_block  # tests/, put on the path by _common

DEMO_README = "src/napari_graintrace/data/demo_checkpoints/README.md"
SWEEP_ARGS = ["sweep", "original=src/napari_graintrace/data/demo_checkpoints/original",
              "with_crops=src/napari_graintrace/data/demo_checkpoints/with_crops",
              "--image", "src/napari_graintrace/data/nist_steel/steel_micrograph.png",
              "--trace", "src/napari_graintrace/data/nist_steel/steel_trace.png",
              "-o", "demo.csv", "--plot", "sweep_demo.png", "--resolution", "native",
              "--best", "gaussian", "--best", "tolerant_f:sigma=1", "--best", "bce"]


def demo_scores() -> dict[tuple[str, str], tuple[float, ...]]:
    """(run, file) -> BCE and Gaussian on the whole pair and held out, tolerant F sigma=1 held out."""
    image, trace = read_micrograph(NIST_MICROGRAPH), read_trace(NIST_TRACE)[0]
    held = (slice(None), HELD_OUT_COLUMNS)
    out = {}
    for run, folder in DEMO_RUNS.items():
        for item in find_checkpoints(folder):
            pred = predict(load_checkpoint(item.path), image, resolution=None, precision="fp32", device="cpu")
            out[run, item.path.name] = (bce(pred, trace), gaussian_loss(pred, trace), bce(pred[held], trace[held]),
                                        gaussian_loss(pred[held], trace[held]),
                                        tolerant_prf(pred[held], trace[held], 1.0)[2])
    return out


def sweep_printout(folder: Path) -> str:
    """What the sweep command in docs/sweep.md prints, run from the repository root (outputs in ``folder``)."""
    args = [a if a not in ("demo.csv", "sweep_demo.png") else str(folder / a) for a in SWEEP_ARGS]
    out = io.StringIO()
    with contextlib.chdir(ROOT), contextlib.redirect_stdout(out):
        code = graintrace([*args, "--cache", str(folder / "cache")])
    if code:
        raise SystemExit(f"graintrace sweep failed (exit {code})")
    return "\n".join(line for line in out.getvalue().splitlines() if line.startswith(("best ", "  "))).strip("\n")


def main() -> None:
    print_machine()
    scores = demo_scores()
    header = ("| run | file | BCE, whole | Gaussian, whole | BCE, held-out | Gaussian, held-out | "
              "tolerant F σ=1, held-out |")
    lines = [header, "|---|---|---|---|---|---|---|"]
    for (run, name), (b, g, bh, gh, fh) in scores.items():
        lines.append(f"| {run} | {name} | {b:.4f} | {g:.4f} | {bh:.4f} | {gh:.4f} | {fh:.3f} |")
    replace_block(DEMO_README, "demo-scores", "\n".join(lines))
    held = ["| run | BCE | Gaussian σ=3 | tolerant F σ=1 |", "|---|---|---|---|"]
    for run, folder in DEMO_RUNS.items():
        last = find_checkpoints(folder)[-1]
        _, _, bh, gh, fh = scores[run, last.path.name]
        held.append(f"| {run}, epoch {last.epoch} | {bh:.4f} | {gh:.4f} | {fh:.3f} |")
    replace_block("docs/sweep.md", "sweep-held-out", "\n".join(held))
    with tempfile.TemporaryDirectory() as folder:
        printout = sweep_printout(Path(folder))
        shutil.copy2(Path(folder) / "sweep_demo.png", ROOT / "docs" / "images" / "sweep_demo.png")
    print(printout)
    replace_block("docs/sweep.md", "sweep-best", f"```text\n{printout}\n```")


if __name__ == "__main__":
    main()
