"""The report, end to end, on the embedded NIST pair (issue 17): three experiments a user can re-run.

    nice python benchmarks/report_experiments.py [--work DIR] [--epochs 40] [--figures docs/images]

Every run trains the demo-width U-Net (base width 6, the lab's architecture) with ``graintrace train``
on 96 x 96 crops of the **left 600 columns** of the NIST pair, whose tracing has first been made
as imprecise as a hand tracing (a smooth random displacement of about 1-2 px, the same for every
run). Each saved epoch is then scored on the **held-out right quarter** (columns 600-799, never in a
training crop) against the *true* tracing, through the multi-run ``graintrace sweep``:

1. ``original`` (36 grid crops, stride 112) vs ``with_crops`` (the same plus 25 aligned crops cut with
   ``graintrace crop`` from boxes offset by half a stride, merged with ``graintrace merge``): do
   the crops help?
2. the tracing cleaned to 1, 3 and 5 px with ``graintrace clean --thickness N`` before cutting the
   same grid crops (the report's future work).
3. BCE against the tolerant scores over epochs for every run, side by side; BCE is also computed
   on the 8-bit maps that ``graintrace predict`` writes (the lab's format), split into its parts:
   missed trace pixels, false boundary, and the share from pixels whose log hit the -100 clamp.

Everything lands in ``--work`` (datasets, checkpoints, the prediction cache, ``sweep.csv``,
``results.md``, written as results come), so an interrupted run resumes: finished trainings and
cached predictions are not redone. Figures go to ``--figures``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import cpu_model, print_machine
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from napari_graintrace.cli import main as graintrace
from napari_graintrace.core.cache import PredictionCache
from napari_graintrace.core.io import read_image, write_image
from napari_graintrace.data import NIST_MICROGRAPH, NIST_TRACE

TRAIN_COLUMNS = 600  # columns [0, 600) train; [600, 800) are held out (as make_demo_checkpoints.py)
CROP, STRIDE = 96, 112  # crops leave 16-px gaps; the aligned crops (offset by half a stride) cover them
SIGMA, WINDOW, KERNEL = 3.0, 15, 3
THICKNESSES = (1, 3, 5)
RUNS = ("original", "with_crops", *(f"thick{n}" for n in THICKNESSES))


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def imprecise_tracing(trace: np.ndarray, amplitude: float = 1.5, smoothness: float = 12.0,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The tracing moved by a smooth random displacement field (RMS ``amplitude`` px), like a hand tracing.

    A person tracing over a micrograph drifts by a pixel or two, coherently over a stretch of line,
    not pixel by pixel; a Gaussian-smoothed noise field scaled to that RMS does the same. Returns the
    moved tracing (bool) and the displacement magnitude per pixel.
    """
    rng = np.random.default_rng(seed)
    fields = [ndi.gaussian_filter(rng.standard_normal(trace.shape), smoothness) for _ in range(2)]
    scale = amplitude / np.sqrt(np.mean(fields[0] ** 2 + fields[1] ** 2))
    dy, dx = (f * scale for f in fields)
    rows, cols = np.indices(trace.shape, dtype=np.float64)
    moved = ndi.map_coordinates(trace.astype(np.uint8), [rows - dy, cols - dx], order=0, mode="nearest")
    return moved.astype(bool), np.hypot(dy, dx)


def grid_starts(length: int, crop: int, stride: int, offset: int = 0) -> list[int]:
    out = list(range(offset, length - crop + 1, stride))
    return out if offset or out[-1] == length - crop else [*out, length - crop]


def cut_grid(folder: Path, image: np.ndarray, trace: np.ndarray) -> int:
    """Grid crops (stride ``STRIDE``) of image and tracing into folder/image + folder/label."""
    count = 0
    for top in grid_starts(image.shape[0], CROP, STRIDE):
        for left in grid_starts(image.shape[1], CROP, STRIDE):
            count += 1
            box = np.s_[top : top + CROP, left : left + CROP]
            write_image(folder / "image" / f"steel_{count:03d}.png", image[box])
            write_image(folder / "label" / f"steel_{count:03d}.png", (trace[box] * 255).astype(np.uint8))
    return count


def offset_boxes(shape: tuple[int, int]) -> dict:
    """Boxes half a stride off the grid: aligned crops that overlap the grid crops, for ``graintrace crop``."""
    boxes = [{"index": i + 1, "top": top, "left": left, "bottom": top + CROP, "right": left + CROP}
             for i, (top, left) in enumerate((t, c) for t in grid_starts(shape[0], CROP, STRIDE, STRIDE // 2)
                                              for c in grid_starts(shape[1], CROP, STRIDE, STRIDE // 2))]
    return {"name": "steel", "source_shape": list(shape), "boxes": boxes}


def run_cli(argv: list[str]) -> None:
    code = graintrace([str(a) for a in argv])
    if code:
        raise SystemExit(f"graintrace {argv[0]} failed with exit code {code}")


def prepare(work: Path, log, runs: tuple[str, ...] = RUNS) -> dict[str, Path]:
    """The held-out pair and the training set of each of ``runs`` (kept between invocations)."""
    data = work / "data"
    image, true_trace = read_image(NIST_MICROGRAPH), read_image(NIST_TRACE) > 127
    datasets = {name: work / "datasets" / name for name in runs}
    if all((d / "image").is_dir() for d in datasets.values()) and (data / "held_out_trace.png").is_file():
        return datasets
    data.mkdir(parents=True, exist_ok=True)
    left = np.s_[:, :TRAIN_COLUMNS]
    write_image(data / "held_out_micrograph.png", image[:, TRAIN_COLUMNS:], overwrite=True)
    write_image(data / "held_out_trace.png", (true_trace[:, TRAIN_COLUMNS:] * 255).astype(np.uint8), overwrite=True)
    hand, shift = imprecise_tracing(true_trace[left])
    write_image(data / "left_micrograph.png", image[left], overwrite=True)
    write_image(data / "left_trace_imprecise.png", (hand * 255).astype(np.uint8), overwrite=True)
    log(f"- Imprecise tracing: displacement {shift.mean():.2f} px on average (95th percentile "
        f"{np.percentile(shift, 95):.2f} px, max {shift.max():.2f} px); "
        f"{100 * (hand & true_trace[left]).sum() / true_trace[left].sum():.0f} % of its boundary pixels still "
        "on the true tracing.")

    count = cut_grid(work / "datasets" / "original", image[left], hand)
    if "with_crops" not in runs:
        return datasets
    boxes = work / "data" / "offset_boxes.json"
    boxes.write_text(json.dumps(offset_boxes(image[left].shape), indent=2) + "\n")
    crops_root = work / "data" / "crops"
    run_cli(["crop", "--boxes", boxes, "--images", data / "left_micrograph.png", "--trace",
             data / "left_trace_imprecise.png", "--name", "steel", "--out", crops_root, "--overwrite"])
    run_cli(["merge", work / "datasets" / "original", crops_root / "steel_validation", "-o",
             datasets["with_crops"], "--overwrite"])
    extra = len(list((crops_root / "steel_validation" / "aligned" / "image").glob("*.png")))
    log(f"- Training sets: `original` = {count} grid crops {CROP} x {CROP} (stride {STRIDE}); `with_crops` = "
        f"those + {extra} aligned crops from `graintrace crop` (boxes offset by {STRIDE // 2} px), merged with "
        "`graintrace merge`.")
    for n in (n for n in THICKNESSES if f"thick{n}" in runs):
        cleaned = data / f"left_trace_{n}px.png"
        run_cli(["clean", data / "left_trace_imprecise.png", "-o", cleaned, "--thickness", n, "--overwrite"])
        cleaned_trace = read_image(cleaned) > 127
        cut_grid(datasets[f"thick{n}"], image[left], cleaned_trace)
        log(f"- `thick{n}`: the imprecise tracing through `graintrace clean --thickness {n}` "
            f"({100 * cleaned_trace.mean():.1f} % boundary pixels; as given: {100 * hand.mean():.1f} %), "
            f"{count} grid crops.")
    return datasets


# --------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------
def train_all(work: Path, datasets: dict[str, Path], args: argparse.Namespace, log) -> dict[str, Path]:
    runs = {}
    for name in RUNS:
        out = work / "runs" / name
        runs[name] = out
        last = out / f"{name}_{args.epochs - 1}.pth"
        if last.is_file() or name not in args.runs:
            continue
        start = time.perf_counter()
        run_cli(["train", datasets[name], "-o", out, "--name", name, "--epochs", args.epochs, "--width", args.width,
                 "--save-every", args.save_every, "--size", CROP, "--batch-size", args.batch_size, "--lr", args.lr,
                 "--device", "cpu", "--seed", args.seed])
        log(f"- trained `{name}`: {args.epochs} epochs in {time.perf_counter() - start:.0f} s (machine shared).")
    return runs


# --------------------------------------------------------------------------------------------
# scoring: the multi-run sweep on the held-out quarter, and BCE of the 8-bit maps in parts
# --------------------------------------------------------------------------------------------
def bce_parts(pred: np.ndarray, trace: np.ndarray) -> tuple[float, float, float]:
    """(missed, false, clamped share): the two sums of BCE over N and the share of BCE from clamped logs.

    ``scores.bce_parts`` where the installed version has it (the design's "BCE in parts"); else the
    same definition here: missed = sum over trace pixels of -max(log p, -100) / N, false = sum over
    background of -max(log(1 - p), -100) / N, clamped = the share of their total from pixels whose
    log hit -100 (p = 0 on a trace pixel, p = 1 on background).
    """
    from napari_graintrace.core.scoring import scores

    if hasattr(scores, "bce_parts"):
        missed, false, clamped = scores.bce_parts(pred, trace)
        return float(missed), float(false), float(clamped)
    p, t = pred.astype(np.float64), trace.astype(bool)
    with np.errstate(divide="ignore"):
        log_p, log_q = np.maximum(np.log(p), -100.0), np.maximum(np.log1p(-p), -100.0)
    n = p.size
    missed, false = -log_p[t].sum() / n, -log_q[~t].sum() / n
    clamped = 100.0 * ((log_p[t] == -100).sum() + (log_q[~t] == -100).sum()) / n
    total = missed + false
    return float(missed), float(false), float(clamped / total) if total else 0.0


def eight_bit(pred: np.ndarray) -> np.ndarray:
    """The map as ``graintrace predict`` writes it (the lab's 8-bit PNG), read back as p."""
    from napari_graintrace.core.io import unit_float_to_uint8

    return unit_float_to_uint8(pred).astype(np.float64) / 255.0


def sweep_runs(work: Path, names: list[str], runs: dict[str, Path], stem: str, figures: Path) -> None:
    """``graintrace sweep NAME=FOLDER ... --best ...`` on the held-out quarter (cached: scoring only)."""
    data = work / "data"
    argv = ["sweep", *(f"{name}={runs[name]}" for name in names), "--image", data / "held_out_micrograph.png",
            "--trace", data / "held_out_trace.png", "-o", work / f"{stem}.csv", "--plot", figures / f"{stem}.png",
            "--resolution", "native", "--sigma", "1", "3", "--kernel", "3", "--cache", work / "cache", "--overwrite",
            "--best", "bce", "--best", "gaussian", "--best", "gaussian:sigma=1", "--best", "tolerant_f",
            "--best", "tolerant_f:sigma=1"]
    print("$ graintrace " + " ".join(str(a) for a in argv), flush=True)
    code = graintrace([str(a) for a in argv])
    if code not in (0,):
        raise SystemExit(f"graintrace sweep failed with exit code {code}")


def analyse(args: argparse.Namespace, runs: dict[str, Path], log) -> None:
    from napari_graintrace.core.io import read_prediction, read_trace
    from napari_graintrace.core.options import SweepOptions
    from napari_graintrace.core.steps import run_steps
    from napari_graintrace.core import sweep

    work, figures = args.work, args.figures
    figures.mkdir(parents=True, exist_ok=True)
    sweep_runs(work, ["original", "with_crops"], runs, "report_crops", figures)
    sweep_runs(work, [f"thick{n}" for n in THICKNESSES], runs, "report_thickness", figures)
    data = work / "data"
    pair = sweep.Pair(data / "held_out_micrograph.png", data / "held_out_trace.png")
    options = SweepOptions(resolution=None, sigmas=(1.0, 3.0), kernels=(3,))
    result = run_steps(sweep.sweep_steps(dict(runs), [pair], options, PredictionCache(work / "cache")))
    trace, _ = read_trace(pair.trace)
    image = pair.name

    log("\n### Held-out quarter, every saved epoch (BCE on float maps and on the 8-bit maps the lab saves)\n")
    log("| run | epoch | BCE float | BCE 8-bit | missed | false | clamped share | trace px at p=0 (8-bit) | "
        "Gaussian σ=3 | Gaussian σ=1 | tolerant F σ=3 | tolerant F σ=1 |")
    log("|---|---|---|---|---|---|---|---|---|---|---|---|")
    table: dict[str, list[dict]] = {}
    for run in result.runs:
        for epoch in result.epochs_of(run):
            pred = np.load(result.predictions[(run, epoch, image)])
            p8 = eight_bit(pred)
            missed, false, clamped = bce_parts(p8, trace)
            def value(metric: str, parameters: str, run: str = run, epoch: int = epoch) -> float:
                epochs, values = result.values(metric, parameters, run=run)
                return values[epochs.index(epoch)]

            row = {"bce": value("bce", ""), "gaussian": value("gaussian", "sigma=3 window=15"),
                   "gaussian_1": value("gaussian", "sigma=1 window=15"),
                   "tolerant_f": value("tolerant_f", "sigma=3 window=15"),
                   "tolerant_f_1": value("tolerant_f", "sigma=1 window=15")}
            row.update(epoch=epoch, bce8=missed + false, missed=missed, false=false, clamped=clamped,
                       zeros=float((p8[trace] == 0).mean()))
            table.setdefault(run, []).append(row)
            log(f"| {run} | {epoch} | {row['bce']:.4f} | {row['bce8']:.4f} | {missed:.4f} | {false:.4f} | "
                f"{100 * clamped:.0f} % | {100 * row['zeros']:.1f} % | {row['gaussian']:.4f} | {row['gaussian_1']:.4f} "
                f"| {row['tolerant_f']:.3f} | {row['tolerant_f_1']:.3f} |")
    (work / "report_table.json").write_text(json.dumps(table, indent=1))

    # the same numbers straight from the files `graintrace predict` writes (the lab's 8-bit PNG)
    log("\nFrom the saved maps (`graintrace predict --resolution native`, 8-bit PNG), last epoch of each run:\n")
    for run, folder in runs.items():
        last = max(folder.glob(f"{run}_*.pth"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
        out = work / "maps" / run
        run_cli(["predict", last, data / "held_out_micrograph.png", "-o", out, "--resolution", "native",
                 "--precision", "fp32", "--overwrite"])
        saved = read_prediction(out / "predict_held_out_micrograph.png")
        missed, false, clamped = bce_parts(saved, trace)
        log(f"- `{run}` ({last.name}): BCE {missed + false:.4f} = missed {missed:.4f} + false {false:.4f}; "
            f"{100 * clamped:.0f} % of it from clamped pixels ({int((saved[trace] == 0).sum())} of "
            f"{int(trace.sum())} trace pixels at p = 0, {int((saved[~trace] == 1).sum())} background pixels at p = 1)")
    bce_figure(table, figures / "report_bce.png")
    predictions_figure(result, runs, pair, figures / "report_predictions.png")
    log(f"\nfigures: {figures / 'report_crops.png'}, report_thickness.png, report_bce.png, report_predictions.png")


def bce_figure(table: dict[str, list[dict]], path: Path, first_epoch: int = 4) -> None:
    """Experiment 3: per run, BCE (float and 8-bit), the clamped share, the Gaussian loss and tolerant F
    over epochs (from ``first_epoch``: epoch 0's BCE of up to 10 would flatten every curve)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(15, 3.6), layout="constrained")
    axes = figure.subplots(1, 5)
    panels = (("bce", "BCE, float maps", 1), ("bce8", "BCE, 8-bit maps (as saved)", 1),
              ("clamped", "8-bit BCE at the clamp (%)", 100), ("gaussian", "Gaussian loss σ=3", 1),
              ("tolerant_f_1", "tolerant F σ=1", 1))
    for ax, (key, title, scale) in zip(axes, panels, strict=True):
        for i, (run, rows) in enumerate(table.items()):
            rows = [r for r in rows if r["epoch"] >= first_epoch]
            ax.plot([r["epoch"] for r in rows], [scale * r[key] for r in rows], "o-", ms=2.5, lw=1.1,
                    color=f"C{i}", label=run)
        ax.set(title=title, xlabel="epoch")
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncol=len(table), frameon=False)
    figure.savefig(path, dpi=100)


def predictions_figure(result, runs: dict[str, Path], pair, path: Path) -> None:
    """The held-out quarter, its true tracing and each run's last map (float)."""
    from matplotlib.figure import Figure

    from napari_graintrace.core.io import read_micrograph, read_trace

    names = list(runs)
    figure = Figure(figsize=(2.0 * (len(names) + 2), 6.4), layout="constrained")
    axes = figure.subplots(1, len(names) + 2)
    axes[0].imshow(read_micrograph(pair.image), cmap="gray")
    axes[0].set_title("held-out micrograph", fontsize=9)
    axes[1].imshow(read_trace(pair.trace)[0], cmap="gray")
    axes[1].set_title("true tracing", fontsize=9)
    for ax, run in zip(axes[2:], names, strict=True):
        epoch = result.epochs_of(run)[-1]
        ax.imshow(np.load(result.predictions[(run, epoch, pair.name)]), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{run}, epoch {epoch}", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    figure.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "graintrace-report")
    parser.add_argument("--figures", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--save-every", type=int, default=4)
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    parser.add_argument("--train-only", action="store_true", help="stop after training")
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS),
                        help="train only these (e.g. two processes on two cores); the analysis takes all")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results = args.work / "results.md"

    def log(line: str) -> None:
        print(line, flush=True)
        with results.open("a") as handle:
            handle.write(line + "\n")

    import torch

    torch.set_num_threads(args.threads)
    print_machine()
    log(f"\n## run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {cpu_model()}\n")
    datasets = prepare(args.work, log)
    runs = train_all(args.work, datasets, args, log)
    if args.train_only:
        return 0
    analyse(args, runs, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
