"""The tuning table of docs/grains.md: the lab's defaults against Tune on soft maps of the NIST tracing.

    python docs/make_grains_table.py

Rows: the NIST tracing blurred by a Gaussian (sigma 1.5, 2, 3; normalised to a maximum of 1), and the
last demo checkpoint's map of the NIST micrograph (native, fp32: what the Grains screenshots show).
Each map is segmented at the lab's defaults and tuned (``grains.tune``) against the tracing's grains;
the table and the CPU time are written into docs/grains.md (a few seconds of CPU per row).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from napari_graintrace.core import grains
from napari_graintrace.core.model import load_checkpoint
from napari_graintrace.core.model import predict
from napari_graintrace.core.io import read_micrograph, read_trace
from napari_graintrace.data import DEMO_CHECKPOINTS, NIST_MICROGRAPH, NIST_TRACE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _common import machine, print_machine
from docs_text import replace_block

BLURS = (1.5, 2.0, 3.0)
DEMO_EPOCH = "demo_59.pth"


def blurred(trace: np.ndarray, sigma: float) -> np.ndarray:
    """The tracing as a soft map: Gaussian-blurred, maximum 1."""
    soft = ndi.gaussian_filter(trace.astype(np.float64), sigma)
    return (soft / soft.max()).astype(np.float32)


def demo_map() -> np.ndarray:
    """The last demo epoch's map of the NIST micrograph, native size, fp32 (any CPU gives the same)."""
    model = load_checkpoint(DEMO_CHECKPOINTS / DEMO_EPOCH)
    return predict(model, read_micrograph(NIST_MICROGRAPH), resolution=None, precision="fp32", device="cpu")


def maps(trace: np.ndarray) -> dict[str, np.ndarray]:
    out = {f"blur sigma {sigma:g}": blurred(trace, sigma) for sigma in BLURS}
    out["demo U-Net (epoch 59, screenshots)"] = demo_map()
    return out


def main() -> None:
    print_machine()
    trace = read_trace(NIST_TRACE)[0]
    truth = grains.trace_labels(trace)
    true_count = grains.stats(truth)["grains"]
    header = ("| map | lab defaults: grains, grain F1 | tuned: grains, grain F1 | tuned parameters (high, low, "
              "dilations, min area, prune) | settings tried |")
    lines = [header, "|---|---|---|---|---|"]
    seconds = []
    for name, pred in maps(trace).items():
        labels = grains.segment(pred)
        before = grains.compare(labels, truth)
        start = time.process_time()
        result = grains.tune(pred, truth)
        seconds.append(time.process_time() - start)
        o = result.options
        lines.append(f"| {name} | {grains.stats(labels)['grains']}, {before['grain_f1']:.3f} | "
                     f"{result.scores['grains']}, {result.scores['grain_f1']:.3f} | "
                     f"{o.high:.4g}, {o.low:.4g}, {o.dilations}, {o.min_area}, {o.prune} | {result.evaluated} |")
        print(lines[-1], f"({seconds[-1]:.1f} s CPU)")
    intro = (f"On soft maps of the perfect NIST tracing (the tracing blurred by a Gaussian, normalised to 1), "
             f"{true_count} true\ninterior grains; Tune took {min(seconds):.1f}-{max(seconds):.1f} s of CPU per map "
             f"({machine()}):\n")
    replace_block("docs/grains.md", "grains-tuned", intro + "\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
