"""Make the figures of docs/scores.md from the bundled NIST tracing (run from the repository root).

    python docs/make_score_figures.py

Shifts a perfect prediction (the tracing itself) by 0..6 px and scores each shift with BCE,
top-hat (k = 3, 5), the normalized Gaussian (sigma = 1, 3) and the tolerant F, with a blank
prediction as the reference line: the report's central finding on real data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from napari_graintrace.core.io import read_trace, write_image
from napari_graintrace.core.scoring import overlays, scores
from napari_graintrace.data import NIST_TRACE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _common import print_machine
from docs_text import replace_block

OUT = Path(__file__).parent / "images"
SHIFTS = range(7)


def shifted(trace: np.ndarray, pixels: int) -> np.ndarray:
    pred = np.zeros(trace.shape, np.float32)
    pred[:, pixels:] = trace[:, : trace.shape[1] - pixels]
    return pred


def table(trace: np.ndarray) -> dict[str, list[float]]:
    metrics = {
        "BCE": lambda p: scores.bce(p, trace),
        "top-hat k=3": lambda p: scores.tophat_loss(p, trace, 3),
        "top-hat k=5": lambda p: scores.tophat_loss(p, trace, 5),
        "Gaussian s=1": lambda p: scores.gaussian_loss(p, trace, 1.0, 15),
        "Gaussian s=3": lambda p: scores.gaussian_loss(p, trace, 3.0, 15),
        "tolerant F s=1": lambda p: scores.tolerant_prf(p, trace, 1.0, 15)[2],
    }
    blank = np.zeros(trace.shape, np.float32)
    rows = {name: [fn(shifted(trace, s)) for s in SHIFTS] + [fn(blank)] for name, fn in metrics.items()}
    return rows


def main() -> None:
    print_machine()
    OUT.mkdir(exist_ok=True)
    trace = read_trace(NIST_TRACE)[0]
    rows = table(trace)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    groups = (["BCE"], ["top-hat k=3", "top-hat k=5", "Gaussian s=1", "Gaussian s=3"], ["tolerant F s=1"])
    titles = ("BCE (lower is better)", "tolerant losses (lower is better)", "tolerant F (higher is better)")
    for ax, names, title in zip(axes, groups, titles, strict=True):
        for i, name in enumerate(names):
            values = rows[name]
            (line,) = ax.plot(list(SHIFTS), values[:-1], "o-", label=name)
            ax.axhline(values[-1], color=line.get_color(), ls="--", lw=1,
                       label="blank prediction" if i == 0 else None)
        ax.set(xlabel="shift of a perfect prediction (px)", title=title)
        ax.legend(fontsize=8)
    fig.suptitle("NIST steel tracing (3-5 px lines): scores of the perfect tracing shifted sideways")
    fig.savefig(OUT / "shift_vs_loss.png", dpi=110)

    header = "| shift (px) | " + " | ".join(name.replace(" s=", " σ=") for name in rows) + " |"
    lines = [header, "|" + "---|" * (len(rows) + 1)]
    for i, label in enumerate([*map(str, SHIFTS), "blank"]):
        lines.append(f"| {label} | " + " | ".join(f"{rows[name][i]:.4f}" for name in rows) + " |")
    (OUT / "shift_vs_loss.md").write_text("\n".join(lines) + "\n")
    replace_block("docs/scores.md", "shift-table", "\n".join(lines))

    crop = (slice(150, 406), slice(250, 506))
    pred = shifted(trace, 3)[crop]
    part = trace[crop]
    reward = scores.gaussian_reward(part, 3.0, 15)
    pictures = {
        "bce_overlay.png": overlays.bce_overlay(pred, part),
        "tophat_reward.png": overlays.reward_rgb(scores.tophat_reward(part, 3)),
        "gaussian_reward.png": overlays.reward_rgb(reward),
        "gaussian_composite.png": overlays.composite_rgb(pred, reward),
    }
    for name, picture in pictures.items():
        write_image(OUT / name, picture, overwrite=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
