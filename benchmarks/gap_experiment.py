"""The gap experiment (docs/grains.md): pixel scores against grain scores as gaps are cut into the NIST tracing.

A "prediction" is the NIST tracing as a soft map (p = 0.95 on the painted boundaries, 0.05 elsewhere,
so BCE is not dominated by its log clamp). N gaps are cut into it at random boundary pixels away from
junctions: discs of diameter W px set to the background value. For each N the map is scored with the
pixel scores (BCE, top-hat k=3, normalized Gaussian sigma=3) and turned into grains with the lab's
post-processing at its defaults (3 dilations close gaps narrower than about 6 px), then compared with
the true grains (grain count, VI merge, grain F1). Prints the table and writes
docs/images/grains_gaps.png.

    python benchmarks/gap_experiment.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from _common import print_machine
from scipy import ndimage as ndi

from napari_graintrace.core import grains
from napari_graintrace.core.io import read_trace
from napari_graintrace.core.scoring import scores
from napari_graintrace.data import NIST_TRACE

OUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "grains_gaps.png"
COUNTS = (0, 10, 20, 40, 60, 80)
TABLE_COUNTS = (0, 20, 40, 80)  # the rows docs/grains.md shows (9-px gaps)
WIDTHS = (3, 9)  # gap diameters in px: closed by the lab's dilations / not closed


def gap_centres(trace: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` boundary pixels on the skeleton, away from junctions, edges and each other."""
    skeleton = grains.trace_labels(trace) == 0
    neighbours = ndi.convolve(skeleton.astype(np.uint8), np.ones((3, 3), np.uint8), mode="constant") - 1
    junction_zone = ndi.binary_dilation(skeleton & (neighbours >= 3), iterations=8)
    candidates = np.argwhere(skeleton & ~junction_zone)
    candidates = candidates[(candidates.min(axis=1) > 10) & (candidates[:, 0] < trace.shape[0] - 10)
                            & (candidates[:, 1] < trace.shape[1] - 10)]
    rng = np.random.default_rng(seed)
    chosen: list[np.ndarray] = []
    for index in rng.permutation(len(candidates)):
        point = candidates[index]
        if all(np.abs(point - other).max() > 25 for other in chosen):
            chosen.append(point)
            if len(chosen) == count:
                break
    return np.array(chosen).reshape(-1, 2)


def cut(trace: np.ndarray, centres: np.ndarray, width: int) -> np.ndarray:
    """The tracing with a gap ``width`` px long (along the line, all across it) at each centre.

    A painted pixel belongs to the gap when the skeleton pixel nearest to it lies within width / 2
    of the centre: the 3-5 px wide line is cleared across its whole width, over ``width`` px.
    """
    skeleton = grains.trace_labels(trace) == 0
    _, (near_r, near_c) = ndi.distance_transform_edt(~skeleton, return_indices=True)
    out = trace.copy()
    for r, c in centres:
        out &= ~(np.hypot(near_r - r, near_c - c) <= width / 2)
    return out


def soft(trace: np.ndarray) -> np.ndarray:
    return np.where(trace, 0.95, 0.05).astype(np.float32)


def main() -> None:
    print_machine()
    trace = read_trace(NIST_TRACE)[0]
    truth = grains.trace_labels(trace)
    centres = gap_centres(trace, max(COUNTS))
    print(f"NIST tracing {trace.shape[0]} x {trace.shape[1]}: {grains.stats(truth)['grains']} interior grains "
          f"({len(np.unique(truth)) - 1} with edge grains); gaps at {len(centres)} places")
    results: dict[int, list[dict]] = {}
    header = (f"{'gap px':>6} {'gaps':>5} {'BCE':>8} {'top-hat':>9} {'Gaussian':>9} {'grains':>7} "
              f"{'VI merge':>9} {'VI split':>9} {'grain F1':>9}")
    print(header)
    for width in WIDTHS:
        rows = []
        for count in COUNTS:
            pred = soft(cut(trace, centres[:count], width))
            labels = grains.segment(pred)
            row = {"gaps": count, "bce": scores.bce(pred, trace), "tophat": scores.tophat_loss(pred, trace, 3),
                   "gaussian": scores.gaussian_loss(pred, trace, 3.0, 15), **grains.stats(labels),
                   **grains.compare(labels, truth)}
            rows.append(row)
            print(f"{width:>6} {count:>5} {row['bce']:8.4f} {row['tophat']:9.4f} {row['gaussian']:9.4f} "
                  f"{row['grains']:7d} {row['vi_merge']:9.4f} {row['vi_split']:9.4f} {row['grain_f1']:9.3f}")
        results[width] = rows
    plot(results)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from docs_text import replace_block

    replace_block("docs/grains.md", "gap-table", table(results[WIDTHS[1]]))


def table(rows: list[dict]) -> str:
    """docs/grains.md's table: the 9-px rows, pixel losses with their change from no gaps."""
    first = rows[0]
    header = (f"| gaps ({WIDTHS[1]} px) | BCE | Gaussian loss (sigma 3) | interior grains (of {first['grains_truth']}) "
              "| VI merge | grain F1 |")
    lines = [header, "|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        if row["gaps"] not in TABLE_COUNTS:
            continue
        change = {key: 100 * (row[key] - first[key]) / abs(first[key]) for key in ("bce", "gaussian")}
        bce = f"{row['bce']:.4f}" + (f" ({change['bce']:+.0f} %)" if row["gaps"] else "")
        gaussian = f"{row['gaussian']:.4f}" + (f" ({change['gaussian']:+.1f} %)" if row["gaps"] else "")
        lines.append(f"| {row['gaps']} | {bce} | {gaussian} | {row['grains']} | {row['vi_merge']:.3f} | "
                     f"{row['grain_f1']:.3f} |")
    return "\n".join(lines)


def relative(rows: list[dict], key: str) -> np.ndarray:
    values = np.array([row[key] for row in rows])
    return 100 * (values - values[0]) / abs(values[0])


def plot(results: dict[int, list[dict]]) -> None:
    figure, (pixel_ax, grain_ax) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    styles = {WIDTHS[0]: "--", WIDTHS[1]: "-"}
    for width, rows in results.items():
        gaps = [row["gaps"] for row in rows]
        style = styles[width]
        pixel_ax.plot(gaps, relative(rows, "bce"), "o" + style, color="tab:gray", label=f"BCE, {width}-px gaps")
        pixel_ax.plot(gaps, relative(rows, "gaussian"), "s" + style, color="tab:blue",
                      label=f"Gaussian loss, {width}-px gaps")
        truth = rows[0]["grains_truth"]
        grain_ax.plot(gaps, [100 * row["grains"] / truth for row in rows], "o" + style, color="tab:green",
                      label=f"grains found (% of true), {width}-px gaps")
        grain_ax.plot(gaps, [100 * row["grain_f1"] for row in rows], "s" + style, color="tab:red",
                      label=f"grain F1 (%), {width}-px gaps")
    pixel_ax.set(title="pixel losses rise by a few per cent", xlabel="gaps cut into the NIST tracing",
                 ylabel="change from the gap-free map (%)", ylim=(-5, 30))
    grain_ax.set(title="grains merge: count and grain F1 fall", xlabel="gaps cut into the NIST tracing", ylabel="%", ylim=(0, 105))
    pixel_ax.axhline(0, color="k", lw=0.5)
    pixel_ax.legend(fontsize=7)
    grain_ax.legend(fontsize=7, loc="lower left")
    figure.suptitle("Gaps in a perfect tracing (p = 0.95 on it, 0.05 off), grains by the lab's post-processing",
                    fontsize=10)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(OUT, dpi=110)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
