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
import csv
import itertools
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
def seeds_of(args: argparse.Namespace) -> list[int]:
    """The training seeds: ``--seed``, ``--seed`` + 1, ... (``--seeds`` of them)."""
    return [args.seed + k for k in range(args.seeds)]


def run_folder(work: Path, seed: int, name: str) -> Path:
    return work / "runs" / f"seed{seed}" / name


def train_all(work: Path, datasets: dict[str, Path], args: argparse.Namespace, log) -> dict[int, dict[str, Path]]:
    """Every run trained once per seed; ``{seed: {run: checkpoint folder}}``.

    The jobs (seed-major: all runs of the first seed, then the next) are shared through lock files,
    so two processes started alike split them (one per core), and a killed one leaves a job that a
    restart resumes from its last checkpoint and optimiser state. Each job's wall and CPU seconds
    go to ``train_times.csv``.
    """
    import fcntl

    times = work / "train_times.csv"
    runs: dict[int, dict[str, Path]] = {}
    for seed in seeds_of(args):
        for name in RUNS:
            out = run_folder(work, seed, name)
            runs.setdefault(seed, {})[name] = out
            if (out / f"{name}_{args.epochs - 1}.pth").is_file() or name not in args.runs:
                continue
            out.mkdir(parents=True, exist_ok=True)
            lock = (out.parent / f".{name}.lock").open("w")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another process trains it
                lock.close()
                continue
            if (out / f"{name}_{args.epochs - 1}.pth").is_file():  # finished while we waited
                lock.close()
                continue
            start_epoch = 1 + max((int(p.stem.rsplit("_", 1)[1]) for p in out.glob(f"{name}_*.pth")), default=-1)
            wall, cpu = time.perf_counter(), time.process_time()
            run_cli(["train", datasets[name], "-o", out, "--name", name, "--epochs", args.epochs,
                     "--width", args.width, "--save-every", args.save_every, "--size", CROP,
                     "--batch-size", args.batch_size, "--lr", args.lr, "--device", "cpu", "--seed", seed])
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            new = not times.is_file()
            with times.open("a") as handle:
                if new:
                    handle.write("seed,run,first_epoch,epochs,wall_s,cpu_s,finished_utc,cpu_model\n")
                handle.write(f"{seed},{name},{start_epoch},{args.epochs},{wall:.1f},{cpu:.1f},"
                             f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())},{cpu_model()}\n")
            lock.close()
            log(f"- trained `{name}` seed {seed}: epochs {start_epoch}-{args.epochs - 1} in {wall:.0f} s wall, "
                f"{cpu:.0f} s CPU (machine shared).")
    return runs


# --------------------------------------------------------------------------------------------
# scoring: every checkpoint of every seed on the held-out quarter (the engine of `graintrace sweep`),
# BCE also on the 8-bit maps, in parts; then mean and spread over the seeds
# --------------------------------------------------------------------------------------------
SCORES = ("bce", "bce8", "missed", "false", "clamped", "zeros", "gaussian", "gaussian_1", "tolerant_f",
          "tolerant_f_1")
EPOCH_COLUMNS = ("run", "seed", "epoch", *SCORES)


def eight_bit(pred: np.ndarray) -> np.ndarray:
    """The map as ``graintrace predict`` writes it (the lab's 8-bit PNG), read back as p."""
    from napari_graintrace.core.io import unit_float_to_uint8

    return unit_float_to_uint8(pred).astype(np.float64) / 255.0


def score_epochs(work: Path, runs: dict[int, dict[str, Path]], last_epoch: int, log) -> list[dict]:
    """One row per (run, seed, saved epoch <= ``last_epoch``): the sweep's scores of the float map and BCE
    of its 8-bit version in parts (``zeros``: trace pixels stored as p = 0). Predictions are cached."""
    from napari_graintrace.core import sweep
    from napari_graintrace.core.cache import PredictionCache
    from napari_graintrace.core.io import read_trace
    from napari_graintrace.core.model import find_checkpoints
    from napari_graintrace.core.options import SweepOptions
    from napari_graintrace.core.scoring import bce_parts
    from napari_graintrace.core.steps import run_steps

    data = work / "data"
    pair = sweep.Pair(data / "held_out_micrograph.png", data / "held_out_trace.png")
    series = {f"{name}@{seed}": [c for c in find_checkpoints(folder, name) if c.epoch <= last_epoch]
              for seed, by_name in runs.items() for name, folder in by_name.items()}
    options = SweepOptions(resolution=None, sigmas=(1.0, 3.0), kernels=(3,))
    start = time.process_time()
    result = run_steps(sweep.sweep_steps(series, [pair], options, PredictionCache(work / "cache")))
    log(f"- scored {sum(map(len, series.values()))} checkpoints in {time.process_time() - start:.0f} s CPU.")
    trace, _ = read_trace(pair.trace)
    rows = []
    for key in result.runs:
        name, seed = key.rsplit("@", 1)
        columns = {column: dict(zip(*result.values(metric, parameters, run=key), strict=True))
                   for column, metric, parameters in (
                       ("bce", "bce", ""), ("gaussian", "gaussian", "sigma=3 window=15"),
                       ("gaussian_1", "gaussian", "sigma=1 window=15"),
                       ("tolerant_f", "tolerant_f", "sigma=3 window=15"),
                       ("tolerant_f_1", "tolerant_f", "sigma=1 window=15"))}
        for epoch in result.epochs_of(key):
            p8 = eight_bit(np.load(result.predictions[(key, epoch, pair.name)]))
            missed, false, clamped = bce_parts(p8, trace)
            rows.append({"run": name, "seed": int(seed), "epoch": epoch,
                         **{column: values[epoch] for column, values in columns.items()},
                         "bce8": missed + false, "missed": missed, "false": false, "clamped": clamped,
                         "zeros": int((p8[trace] == 0).sum())})
    return rows


def write_epochs_csv(rows: list[dict], path: Path) -> None:
    """The per-epoch table (every seed) that the page's tables and figures are computed from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, EPOCH_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def read_epochs_csv(path: Path) -> list[dict]:
    with path.open() as handle:
        return [{k: (v if k == "run" else int(v) if k in ("seed", "epoch", "zeros") else float(v))
                 for k, v in row.items()} for row in csv.DictReader(handle)]


def curves(rows: list[dict], run: str, score: str) -> tuple[list[int], dict[int, list[float]]]:
    """(epochs saved by every seed, {seed: values at those epochs}) of one run."""
    seeds = sorted({r["seed"] for r in rows if r["run"] == run})
    by_seed = {s: {r["epoch"]: r[score] for r in rows if r["run"] == run and r["seed"] == s} for s in seeds}
    epochs = sorted(set.intersection(*(set(v) for v in by_seed.values())))
    return epochs, {s: [by_seed[s][e] for e in epochs] for s in seeds}


# what each table row takes per seed: (label, score, how) with how = "min", "max", "last", "at:E",
# "argmin"/"argmax" (the epoch of the best), "rise" (last minus the lowest), "unclamped" (last, clamped part removed)
def per_seed(rows: list[dict], run: str, score: str, how: str, first_epoch: int = 4) -> dict[int, float]:
    epochs, values = curves(rows, run, score)
    out = {}
    for seed, series in values.items():
        pairs = [(e, v) for e, v in zip(epochs, series, strict=True) if e >= first_epoch]
        vs = [v for _, v in pairs]
        if how == "min":
            out[seed] = min(vs)
        elif how == "max":
            out[seed] = max(vs)
        elif how == "last":
            out[seed] = vs[-1]
        elif how.startswith("at:"):
            out[seed] = dict(pairs)[int(how[3:])]
        elif how == "argmin":
            out[seed] = float(min(pairs, key=lambda p: p[1])[0])
        elif how == "argmax":
            out[seed] = float(max(pairs, key=lambda p: p[1])[0])
        elif how == "rise":
            out[seed] = vs[-1] - min(vs)
        else:
            raise ValueError(how)
    return out


def spread(values: dict[int, float]) -> tuple[float, float, float]:
    v = list(values.values())
    return float(np.mean(v)), float(min(v)), float(max(v))


def cell(values: dict[int, float], digits: int, scale: float = 1.0) -> str:
    """``mean [min, max]`` over the seeds."""
    mean, low, high = (scale * x for x in spread(values))
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def epochs_cell(values: dict[int, float]) -> str:
    return "/".join(str(int(values[s])) for s in sorted(values))


def verdict(a: dict[int, float], b: dict[int, float], name_a: str, name_b: str) -> str:
    """A difference only where the seeds' ranges do not overlap."""
    _, low_a, high_a = spread(a)
    _, low_b, high_b = spread(b)
    if high_a < low_b:
        return f"{name_a} < {name_b}"
    if high_b < low_a:
        return f"{name_a} > {name_b}"
    return "ranges overlap"


BEST_ROWS = (("BCE (float maps), lowest", "bce", "min", "argmin", 4),
             ("Gaussian σ=3, lowest", "gaussian", "min", "argmin", 4),
             ("Gaussian σ=1, lowest", "gaussian_1", "min", "argmin", 4),
             ("tolerant F σ=3, highest", "tolerant_f", "max", "argmax", 3),
             ("tolerant F σ=1, highest", "tolerant_f_1", "max", "argmax", 3))


def experiment_table(rows: list[dict], names: list[str], early_epoch: int) -> str:
    """Best value per seed (mean [min, max] and the best epochs), the last epoch's tolerant F, and where
    the runs differ by more than their spread (neighbours in the given order)."""
    last = max(r["epoch"] for r in rows)
    pairs = list(itertools.pairwise(names))
    head = ("| score (held-out), over seeds: mean [min, max] (epochs per seed) | " + " | ".join(names) + " | "
            + " | ".join(f"{a} vs {b}" for a, b in pairs) + " |")
    lines = [head, "|" + "---|" * (1 + len(names) + len(pairs))]
    specs = [(label, score, how, digits, arg) for label, score, how, arg, digits in BEST_ROWS]
    specs += [(f"tolerant F σ=3 at epoch {early_epoch}", "tolerant_f", f"at:{early_epoch}", 3, None),
              (f"tolerant F σ=3 at epoch {last}", "tolerant_f", "last", 3, None),
              (f"tolerant F σ=1 at epoch {last}", "tolerant_f_1", "last", 3, None)]
    for label, score, how, digits, arg in specs:
        values = {n: per_seed(rows, n, score, how) for n in names}
        cells = [cell(values[n], digits) + (f" ({epochs_cell(per_seed(rows, n, score, arg))})" if arg else "")
                 for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " | "
                     + " | ".join(verdict(values[a], values[b], a, b) for a, b in pairs) + " |")
    return "\n".join(lines)


def bce_table(rows: list[dict], names: list[str]) -> str:
    """Experiment 3: BCE on float and 8-bit maps, lowest and last, the clamp's share, p = 0 pixels."""
    last = max(r["epoch"] for r in rows)
    lines = [(f"| run (mean [min, max] over seeds) | float BCE, lowest | float BCE at {last} | 8-bit BCE, lowest "
              f"(epochs) | 8-bit BCE at {last} | 8-bit rise (at {last} minus lowest) | float rise | clamped share at "
              f"{last} (%) | trace px at p = 0 at {last} | Gaussian σ=3 at {last} | tolerant F σ=1 at {last} |"),
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for n in names:
        lines.append(" | ".join([
            f"| {n}", cell(per_seed(rows, n, "bce", "min"), 4), cell(per_seed(rows, n, "bce", "last"), 4),
            cell(per_seed(rows, n, "bce8", "min"), 4) + f" ({epochs_cell(per_seed(rows, n, 'bce8', 'argmin'))})",
            cell(per_seed(rows, n, "bce8", "last"), 4), cell(per_seed(rows, n, "bce8", "rise"), 4),
            cell(per_seed(rows, n, "bce", "rise"), 4), cell(per_seed(rows, n, "clamped", "last"), 0, 100),
            cell(per_seed(rows, n, "zeros", "last"), 0), cell(per_seed(rows, n, "gaussian", "last"), 4),
            cell(per_seed(rows, n, "tolerant_f_1", "last"), 3)]) + " |")
    return "\n".join(lines)


def times_table(work: Path, last_epoch: int) -> str:
    """How long the trainings took, from ``train_times.csv`` (one row per training leg that finished)."""
    with (work / "train_times.csv").open() as handle:
        legs = list(csv.DictReader(handle))
    cpu = sum(float(r["cpu_s"]) for r in legs)
    wall = sum(float(r["wall_s"]) for r in legs)
    epochs = sum(int(r["epochs"]) - int(r["first_epoch"]) for r in legs)
    per_run: dict[str, list[float]] = {}
    for r in legs:
        runs = per_run.setdefault(r["run"], [0.0, 0.0])
        runs[0] += float(r["cpu_s"])
        runs[1] += int(r["epochs"]) - int(r["first_epoch"])
    trainings = {(r["seed"], r["run"]) for r in legs}
    return "\n".join([
        (f"- This run: {len(trainings)} trainings (runs x seeds) to epoch {last_epoch}, in {len(legs)} logged legs, "
         f"{epochs} epochs, {cpu / 60:.0f} min CPU in total ({wall / 60:.0f} min wall summed over the legs, on a "
         f"shared machine); the last leg finished {max(r['finished_utc'] for r in legs)} UTC, on "
         f"{', '.join(sorted({r['cpu_model'] for r in legs}))}, torch CPU, one thread per training."),
        "- CPU seconds per epoch (one thread): " + ", ".join(
            f"`{run}` {cpu_s / count:.2f}" for run, (cpu_s, count) in per_run.items()) + "."])


def analyse(args: argparse.Namespace, runs: dict[int, dict[str, Path]], log) -> None:
    work, figures = args.work, args.figures
    last_epoch = args.epochs - 1
    rows = score_epochs(work, runs, last_epoch, log)
    missing = {(n, s) for s, by_name in runs.items() for n in by_name
               if not any(r["run"] == n and r["seed"] == s and r["epoch"] == last_epoch for r in rows)}
    if missing:
        raise SystemExit(f"not trained to epoch {last_epoch}: {sorted(missing)}")
    write_epochs_csv(rows, work / "report_epochs.csv")
    if args.data:
        write_epochs_csv(rows, args.data / "report_epochs.csv")
        (args.data / "report_train_times.csv").write_text((work / "train_times.csv").read_text())
    early = min(40, last_epoch)  # "learns faster": the scores a quarter of the way in
    blocks = {"crops": experiment_table(rows, ["original", "with_crops"], early_epoch=early),
              "thickness": experiment_table(rows, [f"thick{n}" for n in THICKNESSES], early_epoch=early),
              "bce": bce_table(rows, list(RUNS)), "times": times_table(work, last_epoch)}
    if (work / "resume_check.csv").is_file():
        blocks["resume"] = resume_text(work / "resume_check.csv")
    for name, block in blocks.items():
        log(f"\n<!-- {name} -->\n{block}")
    log("\nFrom the saved maps (`graintrace predict --resolution native`, 8-bit PNG), last epoch:\n")
    saved_maps(work, runs, last_epoch, rows, log)
    figures.mkdir(parents=True, exist_ok=True)
    curves_figure(rows, ["original", "with_crops"], figures / "report_crops.png")
    curves_figure(rows, [f"thick{n}" for n in THICKNESSES], figures / "report_thickness.png")
    bce_figure(rows, figures / "report_bce.png")
    predictions_figure(work, runs, last_epoch, figures / "report_predictions.png")
    if args.page:
        from docs_text import replace_block  # tests/, on the path through _common

        for name, block in blocks.items():
            replace_block(args.page, f"report-{name}", block)
    log(f"figures: {figures}/report_crops.png, report_thickness.png, report_bce.png, report_predictions.png")


def saved_maps(work: Path, runs: dict[int, dict[str, Path]], last_epoch: int, rows: list[dict], log) -> None:
    """The 8-bit BCE again from the PNG files `graintrace predict` writes (must equal the rounded cache's)."""
    from napari_graintrace.core.io import read_prediction, read_trace
    from napari_graintrace.core.scoring import bce_parts

    data = work / "data"
    trace, _ = read_trace(data / "held_out_trace.png")
    for seed, by_name in runs.items():
        for name, folder in by_name.items():
            out = work / "maps" / f"seed{seed}" / name
            run_cli(["predict", folder / f"{name}_{last_epoch}.pth", data / "held_out_micrograph.png", "-o", out,
                     "--resolution", "native", "--precision", "fp32", "--overwrite"])
            saved = read_prediction(out / "predict_held_out_micrograph.png")
            missed, false, clamped = bce_parts(saved, trace)
            row = next(r for r in rows if r["run"] == name and r["seed"] == seed and r["epoch"] == last_epoch)
            log(f"- `{name}` seed {seed}: BCE {missed + false:.4f} = missed {missed:.4f} + false {false:.4f}; "
                f"{100 * clamped:.0f} % clamped ({int((saved[trace] == 0).sum())} of {int(trace.sum())} trace "
                f"pixels at p = 0, {int((saved[~trace] == 1).sum())} background pixels at p = 1); from the "
                f"rounded cache: {row['bce8']:.4f}")


def resume_check(work: Path, datasets: dict[str, Path], args: argparse.Namespace, name: str, log) -> None:
    """Train ``name`` (first seed) once more in one go and compare every saved epoch with the run trained
    in legs (each leg resumed from the last checkpoint and its optimiser state); ``resume_check.csv``."""
    from napari_graintrace.core.model import find_checkpoints, read_state_dict

    seed, staged = args.seed, run_folder(work, args.seed, name)
    one_go = work / "one_go" / name
    if any(one_go.glob(f"{name}_*.pth")) and not (one_go / f"{name}_{args.epochs - 1}.pth").is_file():
        raise SystemExit(f"{one_go}: an interrupted one-go run is no longer one go; delete it and rerun")
    wall, cpu = time.perf_counter(), time.process_time()
    run_cli(["train", datasets[name], "-o", one_go, "--name", name, "--epochs", args.epochs, "--width", args.width,
             "--save-every", args.save_every, "--size", CROP, "--batch-size", args.batch_size, "--lr", args.lr,
             "--device", "cpu", "--seed", seed])
    log(f"- one-go `{name}` seed {seed}: {args.epochs} epochs in {time.perf_counter() - wall:.0f} s wall, "
        f"{time.process_time() - cpu:.0f} s CPU.")
    with (work / "train_times.csv").open() as handle:
        legs = sorted(int(r["first_epoch"]) for r in csv.DictReader(handle) if r["run"] == name
                      and int(r["seed"]) == seed)
    staged_files = {c.epoch: c.path for c in find_checkpoints(staged, name)}
    with (work / "resume_check.csv").open("w") as handle:
        handle.write("run,seed,epoch,resumed_at,max_abs_difference\n")
        for item in find_checkpoints(one_go, name):
            if item.epoch not in staged_files:
                continue
            a, b = read_state_dict(item.path), read_state_dict(staged_files[item.epoch])
            difference = max(float((a[k] - b[k]).abs().max()) for k in a)
            handle.write(f"{name},{seed},{item.epoch},{' '.join(str(e) for e in legs if 0 < e <= item.epoch)},"
                         f"{difference:.3g}\n")
    log((work / "resume_check.csv").read_text())


def resume_text(path: Path) -> str:
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    different = [r for r in rows if float(r["max_abs_difference"]) != 0]
    resumed = sorted({e for r in rows for e in r["resumed_at"].split()}, key=int)
    return (f"- Two legs vs one go: `{rows[0]['run']}` seed {rows[0]['seed']}, trained in legs resumed at epoch{'s' if len(resumed) > 1 else ''} "
            f"{', '.join(resumed)} (from the last checkpoint and its optimiser state), and again in one go: "
            f"{len(rows) - len(different)} of {len(rows)} saved epochs (0-{rows[-1]['epoch']}) have "
            + ("bit-identical weights." if not different else
               f"identical weights; the largest difference is {max(float(r['max_abs_difference']) for r in rows):.3g}."))


def _band(ax, epochs: list[int], values: dict[int, list[float]], color: str, label: str, scale: float = 1.0):
    stack = scale * np.array(list(values.values()))
    ax.fill_between(epochs, stack.min(0), stack.max(0), color=color, alpha=0.25, lw=0)
    ax.plot(epochs, stack.mean(0), "-", color=color, lw=1.6, label=f"{label} (mean, min-max band)")


def curves_figure(rows: list[dict], names: list[str], path: Path, first_epoch: int = 4) -> None:
    """Experiments 1 and 2: four scores over epochs, per run the mean over seeds and its min-max band."""
    from matplotlib.figure import Figure

    panels = (("bce", "BCE, float maps (lower is better)"), ("gaussian", "Gaussian loss σ=3 (lower)"),
              ("tolerant_f", "tolerant F σ=3 (higher)"), ("tolerant_f_1", "tolerant F σ=1 (higher)"))
    figure = Figure(figsize=(13, 3.5), layout="constrained")
    seeds = len({r["seed"] for r in rows})
    for ax, (score, title) in zip(figure.subplots(1, len(panels)), panels, strict=True):
        for i, name in enumerate(names):
            epochs, values = curves(rows, name, score)
            keep = [k for k, e in enumerate(epochs) if e >= first_epoch]
            _band(ax, [epochs[k] for k in keep], {s: [v[k] for k in keep] for s, v in values.items()}, f"C{i}", name)
        ax.set(title=title, xlabel="epoch")
    figure.legend(*ax.get_legend_handles_labels(), loc="outside upper center", ncol=len(names), frameon=False)
    figure.supxlabel(f"{seeds} seeds; {_machine()}", fontsize=7, color="0.4")
    figure.savefig(path, dpi=100)


def bce_figure(rows: list[dict], path: Path, first_epoch: int = 4) -> None:
    """Experiment 3, per run: 8-bit BCE, float BCE and the clamped share over epochs, one thin line per seed
    and the mean bold (from ``first_epoch``: epoch 0's BCE of up to 10 would flatten every curve)."""
    from matplotlib.figure import Figure

    names = list(dict.fromkeys(r["run"] for r in rows))
    panels = (("bce8", "BCE, 8-bit maps (as saved)", 1), ("bce", "BCE, float maps", 1),
              ("clamped", "8-bit BCE at the clamp (%)", 100))
    figure = Figure(figsize=(3.0 * len(names), 7.5), layout="constrained")
    axes = figure.subplots(len(panels), len(names), sharey="row", sharex=True, squeeze=False)
    for row_axes, (score, title, scale) in zip(axes, panels, strict=True):
        for ax, name in zip(row_axes, names, strict=True):
            epochs, values = curves(rows, name, score)
            keep = [k for k, e in enumerate(epochs) if e >= first_epoch]
            x = [epochs[k] for k in keep]
            stack = scale * np.array([[v[k] for k in keep] for v in values.values()])
            for seed, line in zip(values, stack, strict=True):
                ax.plot(x, line, "-", lw=0.7, alpha=0.8, color="0.55", label="one seed" if seed == min(values) else None)
            ax.plot(x, stack.mean(0), "-", lw=2.2, color="C3", label=f"mean of {len(values)} seeds")
            ax.set_title(f"{name}: {title}", fontsize=9)
            ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    figure.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside upper center", ncol=2, frameon=False)
    figure.supxlabel(_machine(), fontsize=7, color="0.4")
    figure.savefig(path, dpi=90)


def predictions_figure(work: Path, runs: dict[int, dict[str, Path]], last_epoch: int, path: Path) -> None:
    """The held-out quarter, its true tracing, and per run the last epoch's map: mean over seeds (top)
    and where the seeds disagree, the per-pixel range max - min (bottom)."""
    from matplotlib.figure import Figure

    from napari_graintrace.core.io import read_micrograph, read_prediction, read_trace

    data = work / "data"
    names = list(next(iter(runs.values())))
    figure = Figure(figsize=(2.0 * (len(names) + 2), 12), layout="constrained")
    axes = figure.subplots(2, len(names) + 2)
    axes[0, 0].imshow(read_micrograph(data / "held_out_micrograph.png"), cmap="gray")
    axes[0, 0].set_title("held-out micrograph", fontsize=9)
    axes[0, 1].imshow(read_trace(data / "held_out_trace.png")[0], cmap="gray")
    axes[0, 1].set_title("true tracing", fontsize=9)
    for k, name in enumerate(names):
        maps = np.stack([read_prediction(work / "maps" / f"seed{s}" / name / "predict_held_out_micrograph.png")
                         for s in runs])
        axes[0, k + 2].imshow(maps.mean(0), cmap="gray", vmin=0, vmax=1)
        axes[0, k + 2].set_title(f"{name}, epoch {last_epoch}\nmean of {len(maps)} seeds", fontsize=9)
        axes[1, k + 2].imshow(maps.max(0) - maps.min(0), cmap="magma", vmin=0, vmax=1)
        axes[1, k + 2].set_title(f"{name}: max - min\nover seeds", fontsize=9)
    for ax in axes.ravel():
        ax.set_axis_off()
    figure.supxlabel(_machine(), fontsize=7, color="0.4")
    figure.savefig(path, dpi=80)


def _machine() -> str:
    return f"{cpu_model()}, torch CPU, one thread per training"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "graintrace-report")
    parser.add_argument("--figures", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--data", type=Path, default=ROOT / "docs" / "data",
                        help="where the per-epoch CSV and the training times the page quotes are copied")
    parser.add_argument("--page", type=Path, default=ROOT / "docs" / "report.md",
                        help="the page whose report-NAME blocks (docs/figures.md) get the tables")
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--save-every", type=int, default=4)
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0, help="the first training seed (default 0)")
    parser.add_argument("--seeds", type=int, default=3,
                        help="train every run this many times, seeds --seed, --seed + 1, ... (default 3); "
                             "the label displacement field is the same for all")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    parser.add_argument("--train-only", action="store_true", help="stop after training")
    parser.add_argument("--resume-check", choices=RUNS, metavar="RUN",
                        help="train RUN (first seed) again in one go and compare it with the run trained in legs")
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
    import fcntl

    with (args.work / ".prepare.lock").open("w") as lock:  # two processes started alike prepare once
        fcntl.flock(lock, fcntl.LOCK_EX)
        datasets = prepare(args.work, log)
    if args.resume_check:
        resume_check(args.work, datasets, args, args.resume_check, log)
        return 0
    runs = train_all(args.work, datasets, args, log)
    if args.train_only:
        return 0
    analyse(args, runs, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
