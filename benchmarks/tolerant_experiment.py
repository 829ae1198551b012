"""Does the tolerant F rank predictions as a person would, and does training with it help? (issue 9)

Part 1, synthetic predictions of a real tracing (the bundled NIST steel network; optionally the
Al-film tracing of the grain_unet repository, which is GPL and is only *read* from where it lies):

  (a) the perfect prediction shifted by 0..6 px (the misalignment of hand tracing),
  (b) a blank prediction,
  (c) half of the boundaries found (whole boundary segments between junctions removed at random),
  (d) a thick blurry band around the truth,

scored with BCE, top-hat (k = 3), Gaussian (sigma = 3, window 15) and the tolerant P/R/F. The maps
are hard (p in {0, 1}), so BCE meets its log clamp; a "BCE soft" column scores p' = 0.02 + 0.96 p
to show the ranking is not an artefact of the clamp.

Part 2, training: the demo-width U-Net (base width 6, like the shipped demo checkpoints) is trained
twice on aligned crops of the left 600 columns of the NIST pair whose *labels are shifted by 1-2 px*
(a fixed random shift per crop), once with BCE and once with bce+tolerant, same seed, epochs and
data. Each saved checkpoint is scored on the held-out right quarter (columns 600-799) against the
true tracing. Checkpoints go to a temporary folder and are deleted.

    python benchmarks/tolerant_experiment.py [--al-film PATH] [--epochs 40] [--seeds 0 1] [--skip-training]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import print_machine
from scipy import ndimage as ndi

from napari_graintrace.core.io import read_image, read_micrograph, read_trace, write_image
from napari_graintrace.core.scoring import scores
from napari_graintrace.data import NIST_MICROGRAPH, NIST_TRACE

SIGMA, WINDOW, KERNEL = 3.0, 15, 3
TRAIN_COLUMNS = 600  # as benchmarks/make_demo_checkpoints.py: columns [600, 800) are held out
AL_FILM = Path(__file__).resolve().parents[1] / "tests" / "data" / "grain_unet" / "al_film_tracing_256.png"


# --------------------------------------------------------------------------------------------
# part 1: synthetic predictions
# --------------------------------------------------------------------------------------------
def shifted(array: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """out[y, x] = array[y - dy, x - dx]: the map moved by (dy, dx), zeros where it came from outside."""
    out = np.zeros_like(array)
    h, w = array.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = \
        array[max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
    return out


def half_of_the_boundaries(trace: np.ndarray, seed: int = 0) -> tuple[np.ndarray, float]:
    """The trace with about half of its boundary segments (junction to junction) removed.

    Segments are the skeleton cut at its junctions; every trace pixel belongs to its nearest
    skeleton pixel; whole segments are dropped at random until half the skeleton length is gone.
    Returns the kept trace and the fraction of trace pixels kept.
    """
    from skimage.morphology import skeletonize

    skeleton = skeletonize(trace)
    neighbours = ndi.convolve(skeleton.astype(np.uint8), np.ones((3, 3), np.uint8), mode="constant") - 1
    junctions = skeleton & (neighbours > 2)
    segments, count = ndi.label(skeleton & ~ndi.binary_dilation(junctions, np.ones((3, 3), bool)),
                                np.ones((3, 3), bool))
    lengths = np.bincount(segments.ravel(), minlength=count + 1)
    order = np.random.default_rng(seed).permutation(np.arange(1, count + 1))
    kept_length = np.cumsum(lengths[order])
    keep = order[kept_length <= lengths[1:].sum() / 2]
    _, (iy, ix) = ndi.distance_transform_edt(segments == 0, return_indices=True)
    owner = segments[iy, ix]  # the segment nearest to each pixel
    kept = trace & np.isin(owner, keep)
    return kept, float(kept.sum() / trace.sum())


def thick_band(trace: np.ndarray, radius: float = 4.0, blur: float = 1.5) -> np.ndarray:
    """p = 1 within ``radius`` px of the trace, blurred: a confident but fat, fuzzy prediction."""
    distance = ndi.distance_transform_edt(~trace)
    return np.clip(ndi.gaussian_filter((distance <= radius).astype(np.float64), blur), 0, 1)


def cases(trace: np.ndarray) -> list[tuple[str, np.ndarray, str]]:
    perfect = trace.astype(np.float64)
    rows = [(f"(a) perfect, shifted {k} px" if k else "(a) perfect", shifted(perfect, 0, k), "")
            for k in range(7)]
    rows.append(("(b) blank", np.zeros_like(perfect), ""))
    half, fraction = half_of_the_boundaries(trace)
    rows.append(("(c) half of the boundaries", half.astype(np.float64), f"{100 * fraction:.0f} % of trace pixels"))
    band = thick_band(trace)
    rows.append(("(d) thick blurry band", band, f"mean p {band.mean():.2f} vs {perfect.mean():.2f}"))
    return rows


def score_table(name: str, trace: np.ndarray) -> None:
    print(f"\n### {name} ({trace.shape[0]} x {trace.shape[1]}, {100 * trace.mean():.1f} % boundary pixels)\n")
    print("lower is better for BCE, top-hat, Gaussian; higher for P, R, F "
          f"(sigma {SIGMA:g}, window {WINDOW}, kernel {KERNEL})\n")
    print("| prediction | BCE | BCE soft | top-hat | Gaussian | tolerant P | tolerant R | tolerant F | note |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, pred, note in cases(trace):
        s = {key: value + 0.0 for key, value in scores.score_all(pred, trace, SIGMA, WINDOW, KERNEL).items()}
        soft = scores.bce(0.02 + 0.96 * pred, trace)
        print(f"| {label} | {s['bce']:.3f} | {soft:.3f} | {s['tophat']:.4f} | {s['gaussian']:.4f} | "
              f"{s['precision']:.3f} | {s['recall']:.3f} | {s['f']:.3f} | {note} |")


# --------------------------------------------------------------------------------------------
# part 2: training on misaligned tracings
# --------------------------------------------------------------------------------------------
def cut_jittered_crops(folder: Path, crop: int, stride: int, seed: int = 0) -> tuple[int, dict[int, int]]:
    """Aligned image crops of the left 600 columns; each label crop shifted by 1-2 px (fixed per crop)."""
    image, trace = read_image(NIST_MICROGRAPH)[:, :TRAIN_COLUMNS], read_image(NIST_TRACE)[:, :TRAIN_COLUMNS]
    height, width = image.shape
    rng = np.random.default_rng(seed)

    def starts(length: int) -> list[int]:
        out = list(range(0, length - crop + 1, stride))
        return out if out[-1] == length - crop else [*out, length - crop]

    count, sizes = 0, {1: 0, 2: 0}
    for top in starts(height):
        for left in starts(width):
            while True:  # a shift of Chebyshev length 1 or 2 that keeps the label box inside
                dy, dx = rng.integers(-2, 3, 2)
                if max(abs(dy), abs(dx)) >= 1 and 0 <= top + dy <= height - crop and 0 <= left + dx <= width - crop:
                    break
            count += 1
            sizes[int(max(abs(dy), abs(dx)))] += 1
            write_image(folder / "image" / f"steel_{count:03d}.png", image[top : top + crop, left : left + crop])
            write_image(folder / "label" / f"steel_{count:03d}.png",
                        trace[top + dy : top + dy + crop, left + dx : left + dx + crop])
    return count, sizes


def held_out_scores(folder: Path, name: str) -> list[tuple[int, dict[str, float]]]:
    from napari_graintrace.core.model import find_checkpoints, load_checkpoint, predict

    image, (trace, _) = read_micrograph(NIST_MICROGRAPH), read_trace(NIST_TRACE)
    held = np.s_[:, TRAIN_COLUMNS:]
    rows = []
    for item in find_checkpoints(folder, name):
        pred = predict(load_checkpoint(item.path), image, resolution=None, precision="fp32")
        row = scores.score_all(pred[held], trace[held], SIGMA, WINDOW, KERNEL)
        row["f_sigma1"] = scores.tolerant_prf(pred[held], trace[held], 1.0, 5)[2]
        row["mean_p"] = float(pred[held].mean())
        rows.append((item.epoch, row))
    return rows


def training_experiment(epochs: int, crop: int, stride: int, batch_size: int, lr: float, save_every: int,
                        tolerant_weight: float, seeds: list[int]) -> None:
    from napari_graintrace.core.model import train_steps
    from napari_graintrace.core.options import TrainOptions
    from napari_graintrace.core.steps import run_steps

    with tempfile.TemporaryDirectory() as tmp:
        dataset = Path(tmp) / "dataset"
        count, sizes = cut_jittered_crops(dataset, crop, stride)
        print(f"\n{count} crops {crop} x {crop} of the left {TRAIN_COLUMNS} columns (stride {stride}); labels shifted "
              f"by 1 px: {sizes[1]} crops, by 2 px: {sizes[2]} crops. Width 6, {epochs} epochs, batch {batch_size}, "
              f"lr {lr:g}, seeds {', '.join(map(str, seeds))} (weights and batch order), CPU.")
        results = {}
        for seed in seeds:
            for loss in ("bce", "bce+tolerant"):
                out = Path(tmp) / f"{loss.replace('+', '_')}_{seed}"
                start = time.perf_counter()
                options = TrainOptions(name="exp", epochs=epochs, base_width=6, lr=lr, batch_size=batch_size,
                                       save_every=save_every, size=crop, device="cpu", loss=loss, seed=seed,
                                       tolerant_weight=tolerant_weight, sigma=SIGMA, window=WINDOW)
                losses = run_steps(train_steps(dataset, out, options))
                seconds = time.perf_counter() - start
                print(f"{loss}, seed {seed}: trained in {seconds:.0f} s (machine shared); training loss first/last "
                      f"epoch {losses[0]:.4f} / {losses[-1]:.4f}", flush=True)
                results[f"{loss}, seed {seed}"] = held_out_scores(out, "exp")
        print("\nheld-out right quarter (600 x 200) against the true tracing; BCE, Gaussian lower is better, "
              "F higher:\n")
        print("| loss | epoch | BCE | Gaussian | tolerant P | tolerant R | tolerant F | F (sigma 1, w 5) | mean p |")
        print("|---|---|---|---|---|---|---|---|---|")
        for loss, rows in results.items():
            for epoch, r in rows:
                print(f"| {loss} | {epoch} | {r['bce']:.4f} | {r['gaussian']:.4f} | {r['precision']:.3f} | "
                      f"{r['recall']:.3f} | {r['f']:.3f} | {r['f_sigma1']:.3f} | {r['mean_p']:.3f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--al-film", type=Path, default=AL_FILM if AL_FILM.exists() else None,
                        help="also score the (GPL) Al-film tracing, read where it lies; default: the copy in tests/data")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--crop", type=int, default=160)
    parser.add_argument("--stride", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--save-every", type=int, default=10)
    parser.add_argument("--tolerant-weight", type=float, default=1.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    print_machine()
    score_table("NIST steel tracing (bundled)", read_trace(NIST_TRACE)[0])
    if args.al_film is not None:
        score_table(f"Al-film tracing ({args.al_film.name}, GPL, not bundled)", read_trace(args.al_film)[0])
    if not args.skip_training:
        training_experiment(args.epochs, args.crop, args.stride, args.batch_size, args.lr, args.save_every,
                            args.tolerant_weight, args.seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
