"""Make the boundary-benchmark and BCE-anatomy parts of docs/scores.md (run from the repository root).

    python docs/make_boundary_figures.py

1. The cases of docs/make_score_figures.py (the NIST tracing as a perfect prediction, shifted by
   0..6 px; a blank map) plus a thickness case (the tracing's skeleton drawn 1..15 px wide), scored
   with the boundary F (default 3 px, and the BSDS rule) next to the Gaussian loss and the tolerant F.
2. BCE in parts on a real prediction: the demo checkpoint's map of the NIST micrograph, as computed
   (float, what ``predict --format tiff`` writes) and rounded to 8 bits (the lab's PNG).
3. The BSDS picture of that prediction (matched white, false positives blue, misses red).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from skimage.morphology import disk, skeletonize

from napari_graintrace.core.io import (
    read_micrograph,
    read_trace,
    to_unit_float,
    unit_float_to_uint8,
    write_image,
    write_text,
)
from napari_graintrace.core.model import load_checkpoint, predict
from napari_graintrace.core.scoring import boundary, boundary_match_rgb, scores
from napari_graintrace.data import DEMO_CHECKPOINTS, NIST_MICROGRAPH, NIST_TRACE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _common import print_machine
from docs_text import replace_block

OUT = Path(__file__).parent / "images"
SCORES_MD = "docs/scores.md"


def shifted(trace: np.ndarray, pixels: int) -> np.ndarray:
    pred = np.zeros(trace.shape, np.float32)
    pred[:, pixels:] = trace[:, : trace.shape[1] - pixels]
    return pred


def drawn(skeleton: np.ndarray, width: int) -> np.ndarray:
    """The skeleton drawn ``width`` px wide (a disk of that diameter), as a 0/1 prediction."""
    from scipy import ndimage as ndi

    if width <= 1:
        return skeleton.astype(np.float32)
    return ndi.binary_dilation(skeleton, disk(width // 2)).astype(np.float32)


def case_table(trace: np.ndarray) -> str:
    skeleton = skeletonize(trace)
    cases = [(f"shift {s} px", shifted(trace, s)) for s in range(7)]
    cases += [(f"skeleton {w} px wide", drawn(skeleton, w)) for w in (1, 3, 5, 9, 15)]
    cases.append(("blank", np.zeros(trace.shape, np.float32)))
    default = boundary.BoundaryScorer(trace)
    bsds = boundary.BoundaryScorer(trace, "bsds")
    header = (f"| prediction | boundary P / R / F ({default.max_distance:g} px, default) | boundary F "
              f"({bsds.max_distance:.1f} px, bsds) | Gaussian loss σ=3 | tolerant P / R / F σ=1 |")
    lines = [header, "|---|---|---|---|---|"]
    for name, pred in cases:
        p, r, f = default.prf(pred)
        tp, tr, tf = scores.tolerant_prf(pred, trace, 1.0, 15)
        lines.append(f"| {name} | {p:.3f} / {r:.3f} / **{f:.3f}** | {bsds.prf(pred)[2]:.3f} | "
                     f"{scores.gaussian_loss(pred, trace, 3.0, 15):.4f} | {tp:.3f} / {tr:.3f} / **{tf:.3f}** |")
    return "\n".join(lines) + "\n"


def bce_anatomy(pred: np.ndarray, trace: np.ndarray) -> str:
    eight_bit = to_unit_float(unit_float_to_uint8(pred))
    header = ("| map | BCE | missed (red) | false (blue) | share at the clamp | trace pixels at p = 0 "
              "| background pixels at p = 1 |")
    lines = [header, "|---|---|---|---|---|---|---|"]
    rows = {}
    counts = {}
    for name, p in (("float (`--format tiff`)", pred), ("8-bit PNG (`--format png8`, the lab's)", eight_bit)):
        missed, false, clamped = scores.bce_parts(p, trace)
        zeros, ones = int(np.count_nonzero(trace & (p == 0))), int(np.count_nonzero(~trace & (p == 1)))
        rows[name] = (missed, false, 100.0 * zeros / p.size, 100.0 * ones / p.size)  # each costs 100 / N
        counts[name] = (zeros, clamped)
        lines.append(f"| {name} | {missed + false:.4f} | {missed:.4f} | {false:.4f} | {100 * clamped:.1f} % | "
                     f"{zeros} | {ones} |")
    fig, ax = plt.subplots(figsize=(7.5, 3.0), constrained_layout=True)
    for i, (missed, false, missed_clamped, false_clamped) in enumerate(rows.values()):
        ax.barh(i, missed, color="#d62728", label="missed trace (red)" if i == 0 else None)
        ax.barh(i, false, left=missed, color="#1f77b4", label="false boundary (blue)" if i == 0 else None)
        for left, width in ((0.0, missed_clamped), (missed, false_clamped)):
            if width:
                ax.barh(i, width, left=left, fill=False, hatch="//", edgecolor="black",
                        label="at the log clamp (p = 0 on trace, 1 on background)")
    ax.set_yticks(range(len(rows)), [name.split(" (")[0] for name in rows])
    ax.set_xlabel("BCE")
    ax.set_title("BCE in parts: demo checkpoint (demo_59) on the NIST micrograph")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3, frameon=False)
    fig.savefig(OUT / "bce_parts.png", dpi=110)
    zeros, clamped = counts["8-bit PNG (`--format png8`, the lab's)"]
    prose = (f"An 8-bit map (the lab's PNG) rounds every p < 1/510 to exactly 0: on the demo prediction {zeros} trace\n"
             f"pixels the network was sure were background land on the clamp and carry {100 * clamped:.1f} % of the\n"
             "BCE, which the float map (`graintrace predict --format tiff`, or `png16`) does not have:\n")
    return prose + "\n" + "\n".join(lines) + "\n"


def main() -> None:
    print_machine()
    OUT.mkdir(exist_ok=True)
    trace = read_trace(NIST_TRACE)[0]
    table = case_table(trace)
    model = load_checkpoint(DEMO_CHECKPOINTS / "demo_59.pth")
    pred = predict(model, read_micrograph(NIST_MICROGRAPH), resolution=None, precision="fp32", device="cpu")
    anatomy = bce_anatomy(pred, trace)
    match = boundary.boundary_match(pred, trace, 0.5)
    p, r, f = match.prf()
    ods_f, ods_t = boundary.boundary_ods(pred, trace)
    bsds_f = boundary.boundary_prf(pred, trace, 0.5, "bsds")[2]
    crop = (slice(150, 406), slice(250, 506))
    picture = np.repeat(np.repeat(boundary_match_rgb(match)[crop], 2, axis=0), 2, axis=1)  # 2x: 1-px lines stay visible
    write_image(OUT / "boundary_match.png", picture, overwrite=True)
    summary = (f"On the whole map (600 x 800, distance {match.max_distance:.1f} px): at 0.5 {match.n_matched} pairs of "
               f"{match.n_predicted} predicted / {match.n_true} true boundary pixels, P {p:.3f} R {r:.3f} F {f:.3f} "
               f"({bsds_f:.3f} with `bsds`). Over the thresholds 0.01 ... 0.99 (`boundary_ods`): best F {ods_f:.3f} "
               f"at {ods_t:.2f}.\n")
    write_text(OUT / "boundary_cases.md", table + "\n" + anatomy + "\n" + summary, overwrite=True)
    replace_block(SCORES_MD, "boundary-cases", table)
    replace_block(SCORES_MD, "boundary-demo", summary)
    replace_block(SCORES_MD, "bce-parts", anatomy)
    print(table, anatomy, summary, sep="\n")


if __name__ == "__main__":
    main()
