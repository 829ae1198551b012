"""The loop, measured: draft a tracing of an area the demo model never saw, correct it, fine-tune on it.

    nice -n 10 python benchmarks/loop_experiment.py              # 3 seeds x 3 label sets, a few CPU minutes
    nice -n 10 python benchmarks/loop_experiment.py --write-docs # also the table in docs/loop.md

The shipped demo model (``original/demo_59``, base width 4) was trained on the left 600 columns of the
NIST pair; the right quarter (columns 600-799) is held out. This splits that quarter in two:

- **new area** (rows 0-299): the demo model predicts it; ``core.draft.draft_tracing`` drafts a tracing
  from that map with no truth; ``core.draft.correct`` (the oracle, using the "Correct tracing" widget's
  own edits) corrects the draft into the true tracing and counts the clicks;
- **evaluation area** (rows 300-599): never trained on by anything here; the held-out scores.

Three label sets of the new area, each a 1-px tracing drawn 3 px wide, are cut into the same 12 crops of
96 x 96 and fine-tune ``demo_59`` (``train --init``: fresh Adam, lr 1e-3, batch 2, EPOCHS epochs, BCE):
``truth`` (the true tracing: the ceiling), ``corrected`` (the oracle's result: what the loop gives) and
``draft`` (uncorrected: the floor). Each is trained with three seeds (order, flips, dropout). Scores on the
evaluation area at native size: tolerant F (sigma 3, window 15), boundary F (threshold 0.5, 3 px) and grain
F1 (the lab's post-processing, IoU > 0.5). Clicks per point of F: the oracle's clicks / (100 x the mean
tolerant-F gain of ``corrected`` over the model before fine-tuning).

One torch thread, niced; CPU seconds are reported with the CPU model (wall time is inflated by other work).
Results: ``benchmarks/loop_results.csv`` (one row per training, plus the model before); ``--write-docs``
writes the summary table into docs/loop.md between its ``loop-table`` markers.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import cpu_model, print_machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from napari_graintrace.core import grains  # noqa: E402
from napari_graintrace.core.draft import correct, draft_tracing, scratch_clicks, thicken, truth_skeleton  # noqa: E402
from napari_graintrace.core.io import read_micrograph, read_trace, write_image  # noqa: E402
from napari_graintrace.core.model import find_checkpoints, load_checkpoint, predict, train_steps  # noqa: E402
from napari_graintrace.core.options import TrainOptions  # noqa: E402
from napari_graintrace.core.scoring import boundary_prf, tolerant_prf  # noqa: E402
from napari_graintrace.core.steps import run_steps  # noqa: E402
from napari_graintrace.data import DEMO_CHECKPOINTS, HELD_OUT_COLUMNS, NIST_MICROGRAPH, NIST_TRACE  # noqa: E402

START = DEMO_CHECKPOINTS / "demo_59.pth"
NEW_ROWS, EVAL_ROWS = slice(0, 300), slice(300, 600)
CROP, THICKNESS = 96, 3
CORNERS = [(top, left) for top in (0, 68, 136, 204) for left in (0, 52, 104)]  # 12 crops of the 300 x 200 area
LABELS = ("truth", "corrected", "draft")
METRICS = ("tolerant_f", "boundary_f", "grain_f1")
RESULTS = ROOT / "benchmarks" / "loop_results.csv"


def scores(model, image: np.ndarray, trace: np.ndarray) -> dict[str, float]:
    """The held-out scores of one model on the evaluation area."""
    pred = predict(model, image, resolution=None, precision="fp32")
    true_labels = grains.trace_labels(trace)
    return {"tolerant_f": tolerant_prf(pred, trace, sigma=3.0, window=15)[2],
            "boundary_f": boundary_prf(pred, trace)[2],
            "grain_f1": float(grains.compare(grains.segment(pred), true_labels)["grain_f1"])}


def write_dataset(root: Path, image: np.ndarray, tracing: np.ndarray) -> Path:
    """12 crops of the new area and of ``tracing`` (1 px, drawn THICKNESS wide) in the lab's layout."""
    label = thicken(tracing, THICKNESS)
    for k, (top, left) in enumerate(CORNERS):
        window = np.s_[top : top + CROP, left : left + CROP]
        write_image(root / "image" / f"new_{k:02d}.png", np.round(image[window] * 255).astype(np.uint8))
        write_image(root / "label" / f"new_{k:02d}.png", label[window].astype(np.uint8) * 255)
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--work", type=Path, help="keep the datasets and checkpoints here (default: a temp folder)")
    parser.add_argument("--write-docs", action="store_true", help="write the summary table into docs/loop.md")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    print_machine()
    image, (truth, _) = read_micrograph(NIST_MICROGRAPH), read_trace(NIST_TRACE)
    quarter = np.s_[:, HELD_OUT_COLUMNS]
    image, truth = image[quarter], truth[quarter]
    new_image, new_truth = image[NEW_ROWS], truth[NEW_ROWS]
    eval_image, eval_truth = image[EVAL_ROWS], truth[EVAL_ROWS]
    start_model = load_checkpoint(START)

    # draft and correct the new area, as a person would with the "Correct tracing" widget
    pred = predict(start_model, new_image, resolution=None, precision="fp32")
    draft = draft_tracing(pred).tracing
    true_skeleton = truth_skeleton(new_truth)
    fixed = correct(draft, true_skeleton, prob=pred)
    clicks, scratch = fixed.clicks, scratch_clicks(true_skeleton)
    print(f"new area {new_image.shape}: draft grain F1 {fixed.f1_before:.3f}, corrected {fixed.f1_after:.3f} with "
          f"{clicks} clicks ({fixed.to_dict()}); tracing it from scratch: {scratch} clicks")
    tracings = {"truth": true_skeleton, "corrected": fixed.tracing, "draft": draft}

    rows = [{"labels": "before", "seed": "", "cpu_s": 0.0, **scores(start_model, eval_image, eval_truth)}]
    print(f"before fine-tuning (demo_59): {rows[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        for labels in LABELS:
            dataset = write_dataset(work / "data" / labels, new_image, tracings[labels])
            for seed in range(args.seeds):
                out = work / "runs" / f"{labels}_{seed}"
                options = TrainOptions(name="loop", epochs=args.epochs, lr=1e-3, batch_size=2, size=CROP,
                                       save_every=args.epochs, device="cpu", seed=seed)
                cpu = time.process_time()
                run_steps(train_steps(dataset, out, options, init=START))
                cpu = time.process_time() - cpu
                model = load_checkpoint(find_checkpoints(out, "loop")[-1].path)
                row = {"labels": labels, "seed": seed, "cpu_s": round(cpu, 1), **scores(model, eval_image, eval_truth)}
                rows.append(row)
                print(row, flush=True)
    with RESULTS.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["labels", "seed", "cpu_s", *METRICS], lineterminator="\n")
        writer.writeheader()
        writer.writerows({**r, **{m: f"{r[m]:.6f}" for m in METRICS}} for r in rows)
    print(f"wrote {RESULTS}")
    table = summary_table(rows, clicks, scratch, args.epochs, (fixed.f1_before, fixed.f1_after))
    print(table)
    if args.write_docs:
        sys.path.insert(0, str(ROOT / "tests"))
        from docs_text import replace_block

        replace_block("docs/loop.md", "loop-table", table + "\n")
        print("wrote docs/loop.md")
    return 0


def summarise(rows: list[dict]) -> dict[str, dict[str, tuple[float, float, float]]]:
    """labels -> metric -> (mean, min, max) over seeds."""
    out = {}
    for labels in ("before", *LABELS):
        chosen = [r for r in rows if r["labels"] == labels]
        out[labels] = {m: (float(np.mean([float(r[m]) for r in chosen])), min(float(r[m]) for r in chosen),
                           max(float(r[m]) for r in chosen)) for m in METRICS}
    return out


def summary_table(rows: list[dict], clicks: int, scratch: int, epochs: int, new_area_f1: tuple[float, float]) -> str:
    """The markdown table of docs/loop.md: mean (min-max) per label set, gains, clicks per point."""
    stats = summarise(rows)
    before = stats["before"]
    seeds = sum(1 for r in rows if r["labels"] == "truth")
    cpu = [float(r["cpu_s"]) for r in rows if r["labels"] != "before"]
    lines = ["| fine-tuned on | tolerant F | boundary F | grain F1 | tolerant-F gain |",
             "|---|---|---|---|---|",
             "| nothing (demo_59, before) | " + " | ".join(f"{before[m][0]:.3f}" for m in METRICS) + " | - |"]
    names = {"truth": "true tracing (ceiling)", "corrected": "corrected draft (the loop)",
             "draft": "uncorrected draft (floor)"}
    for labels in LABELS:
        cells = [f"{stats[labels][m][0]:.3f} ({stats[labels][m][1]:.3f}-{stats[labels][m][2]:.3f})" for m in METRICS]
        gain = stats[labels]["tolerant_f"][0] - before["tolerant_f"][0]
        lines.append(f"| {names[labels]} | " + " | ".join(cells) + f" | {gain:+.3f} |")
    corrected = stats["corrected"]["tolerant_f"][0]
    gain, over_draft = corrected - before["tolerant_f"][0], corrected - stats["draft"]["tolerant_f"][0]

    def per_point(points: float) -> str:
        return f"{clicks / (100 * points):.1f}" if points > 0 else "- (no gain)"

    return "\n".join(lines) + (
        f"\n\nMean (min-max) over {seeds} seeds; {epochs} epochs each from demo_59. On the new area the draft's "
        f"grain F1 is {new_area_f1[0]:.3f}; corrected: {new_area_f1[1]:.3f}, with {clicks} clicks (tracing the area "
        f"from scratch: {scratch}). Clicks per point (0.01) of held-out tolerant F gained over the start: "
        f"{per_point(gain)}; over fine-tuning on the uncorrected draft: {per_point(over_draft)}. Training: "
        f"{np.mean(cpu):.0f} CPU s each (one thread, {cpu_model()}).")


if __name__ == "__main__":
    sys.exit(main())
