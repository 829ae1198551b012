"""Loss-vs-epoch sweeps: every checkpoint x every (image, tracing) pair, cached and re-scorable.

Inference is the expensive part, so every prediction is kept on disk under a key made of the
checkpoint's content hash, the image's content hash, the resolution and the precision: re-running a
sweep with other score parameters does no inference, and an interrupted sweep resumes where it
stopped. Each prediction also keeps the ``GaussianScorer`` summary (a histogram of p over squared
distances), so a whole curve for a new sigma is one small matrix product.
"""

from __future__ import annotations

import csv
import functools
import io as _io
import os
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import scores
from .cache import PredictionCache, array_hash, file_hash
from .checkpoints import Checkpoint, find_checkpoints, load_checkpoint
from .errors import InputError
from .evaluation import Evaluation
from .io import atomic_path, read_micrograph, read_trace, write_text
from .model import UNet
from .steps import run_steps

CSV_FIELDS = ("epoch", "checkpoint", "image", "metric", "parameters", "value")


@dataclass(frozen=True)
class Pair:
    """One micrograph and its tracing (files), named by the micrograph's stem in the table."""

    image: Path
    trace: Path

    @property
    def name(self) -> str:
        return Path(self.image).stem

    def load(self) -> LoadedPair:
        image = read_micrograph(self.image)
        trace, _ = read_trace(self.trace)
        if image.shape != trace.shape:
            raise InputError(f"{self.image} is {image.shape} but its tracing {self.trace} is {trace.shape}")
        return LoadedPair(self.name, image, trace)


@dataclass(frozen=True)
class LoadedPair:
    """A micrograph (float in [0, 1]) and its boolean tracing already in memory (napari layers)."""

    name: str
    image: np.ndarray
    trace: np.ndarray


MAX_KERNEL = 31  # top-hat kernels up to this size re-score live from the summary


@dataclass(frozen=True)
class Summary:
    """What live re-scoring needs of one prediction: two small histograms of p, not the image."""

    gaussian_mass: np.ndarray  # sum of p per squared distance (GaussianScorer.summary)
    tophat_mass: np.ndarray  # sum of p per Chebyshev distance (scores.tophat_summary)
    pred_total: float
    size: int


@dataclass
class SweepResult:
    """The sweep's table plus the per-prediction summaries that make sigma live."""

    sigmas: tuple[float, ...]
    kernels: tuple[int, ...]
    window: int
    rows: list[dict] = field(default_factory=list)
    summaries: dict[tuple[int, str], Summary] = field(default_factory=dict)
    predictions: dict[tuple[int, str], Path] = field(default_factory=dict)  # cache file of each prediction
    failures: list[str] = field(default_factory=list)

    @property
    def epochs(self) -> list[int]:
        return sorted({epoch for epoch, _ in self.summaries})

    @property
    def images(self) -> list[str]:
        return sorted({image for _, image in self.summaries})

    def values(self, metric: str, parameters: str = "", image: str | None = None) -> tuple[list[int], list[float]]:
        """(epochs, values) of one metric for one image, or the mean over images when ``image`` is None."""
        chosen = [r for r in self.rows if r["metric"] == metric and r["parameters"] == parameters
                  and (image is None or r["image"] == image)]
        by_epoch: dict[int, list[float]] = {}
        for row in chosen:
            by_epoch.setdefault(row["epoch"], []).append(row["value"])
        epochs = sorted(by_epoch)
        return epochs, [float(np.mean(by_epoch[e])) for e in epochs]

    def _stacked(self, image: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        items = [self.summaries[(epoch, image)] for epoch in self.epochs]
        return (np.stack([i.gaussian_mass for i in items]), np.stack([i.tophat_mass for i in items]),
                np.array([i.pred_total for i in items]), np.array([i.size for i in items]))

    def gaussian_curve(self, sigma: float, image: str | None = None) -> tuple[list[int], np.ndarray]:
        """Gaussian loss against epoch for any sigma (mean over images), from the summaries only."""
        names = self.images if image is None else [image]
        curves = [scores.loss_from_summary(g, total, size, sigma)
                  for g, _, total, size in map(self._stacked, names)]
        return self.epochs, np.mean(curves, axis=0)

    def tophat_curve(self, kernel: int, image: str | None = None) -> tuple[list[int], np.ndarray]:
        """Top-hat loss against epoch for any odd kernel up to ``MAX_KERNEL``, from the summaries only."""
        names = self.images if image is None else [image]
        curves = [scores.tophat_loss_from_summary(t, total, size, kernel)
                  for _, t, total, size in map(self._stacked, names)]
        return self.epochs, np.mean(curves, axis=0)

    def to_csv(self) -> str:
        out = _io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in sorted(self.rows, key=lambda r: (r["epoch"], r["image"], r["metric"], r["parameters"])):
            writer.writerow({**row, "value": repr(float(row["value"]))})
        return out.getvalue()


def score_rows(ev: Evaluation, sigmas: Sequence[float], kernels: Sequence[int]) -> list[tuple[str, str, float]]:
    """(metric, parameters, value) for one prediction: BCE, top-hat per kernel, Gaussian and tolerant F per sigma."""
    rows = [("bce", "", ev.bce)]
    for kernel in kernels:
        rows.append(("tophat", f"kernel={kernel}", scores.tophat_loss(ev.pred, ev.trace, kernel)))
    for sigma in sigmas:
        params = f"sigma={sigma:g} window={ev.window}"
        rows.append(("gaussian", params, ev.gaussian(sigma)))
        rows.append(("tolerant_f", params, ev.tolerant_prf(sigma)[2]))
    return rows


@dataclass(frozen=True)
class SweepSettings:
    """Everything a unit of work needs besides the checkpoint and the pair (small, picklable)."""

    resolution: int | None
    precision: str
    sigmas: tuple[float, ...]
    kernels: tuple[int, ...]
    window: int


@dataclass(frozen=True)
class PairOutcome:
    """What one (checkpoint, pair) adds to the table: small, so a Dask worker sends it back cheaply.

    ``failure`` is set (and the rest empty) when the checkpoint could not be read or loaded.
    """

    epoch: int
    checkpoint: str
    image: str
    entry: Path | None = None
    summary: Summary | None = None
    rows: tuple[tuple[str, str, float], ...] = ()
    failure: str = ""


@dataclass(frozen=True)
class PreparedSweep:
    """Checked inputs of a sweep: the series, the pairs in memory with their hashes, the settings."""

    series: list[Checkpoint]
    pairs: list[LoadedPair]
    image_hashes: list[str]
    settings: SweepSettings


def prepare_sweep(
    checkpoint_series: Iterable[Checkpoint] | str | os.PathLike,
    pairs: Sequence[Pair | LoadedPair],
    resolution: int | None = 256,
    precision: str = "fp32",
    sigmas: Sequence[float] = (1.0, 3.0),
    kernels: Sequence[int] = (3, 5),
    window: int = 15,
) -> PreparedSweep:
    """Check the inputs once, up front, for both the in-process and the Dask sweep."""
    series = (find_checkpoints(checkpoint_series) if isinstance(checkpoint_series, str | os.PathLike)
              else list(checkpoint_series))
    if not series:
        raise InputError(f"{checkpoint_series}: no NAME_EPOCH.pth checkpoints found")
    if not pairs:
        raise InputError("give at least one (image, tracing) pair")
    settings = SweepSettings(
        resolution=resolution,
        precision=precision,
        sigmas=tuple(scores.check_sigma(s) for s in sigmas),
        kernels=tuple(scores.check_odd(k, "kernel") for k in kernels),
        window=scores.check_odd(window, "window"),
    )
    names = [pair.name for pair in pairs]
    if len(set(names)) != len(names):
        raise InputError(f"two images share a name: {sorted({n for n in names if names.count(n) > 1})}")
    loaded = [pair.load() if isinstance(pair, Pair) else pair for pair in pairs]
    return PreparedSweep(series, loaded, [array_hash(pair.image) for pair in loaded], settings)


def evaluate_pair(
    item: Checkpoint,
    checkpoint_hash: str,
    pair: LoadedPair,
    image_hash: str,
    settings: SweepSettings,
    cache: PredictionCache,
    model: Callable[[], UNet],
) -> PairOutcome:
    """The sweep's unit of work: predict (or take from the cache) and score one checkpoint on one pair.

    Runs in-process and as a Dask task alike, so both give the same table. ``model()`` is only
    called on a cache miss, which lets the caller load each checkpoint at most once.
    """
    from .inference import predict

    entry = cache.path(checkpoint_hash, image_hash, settings.resolution, settings.precision)
    pred = cache.load(entry)
    if pred is None:
        try:
            network = model()
        except InputError as exc:
            return PairOutcome(item.epoch, item.path.name, pair.name, failure=str(exc))
        pred = predict(network, pair.image, resolution=settings.resolution, precision=settings.precision)
        cache.store(entry, pred)
    ev = Evaluation.of(pred, pair.trace, window=settings.window)
    gaussian_mass, pred_total, size = ev.scorer.summary
    tophat_mass = scores.tophat_summary(ev.pred, ev.trace, MAX_KERNEL)
    rows = tuple((metric, params, float(value)) for metric, params, value
                 in score_rows(ev, settings.sigmas, settings.kernels))
    return PairOutcome(item.epoch, item.path.name, pair.name, entry,
                       Summary(gaussian_mass, tophat_mass, pred_total, size), rows)


def add_outcome(result: SweepResult, outcome: PairOutcome) -> None:
    """Put one unit's rows and summary into the table (failures are collected by the caller)."""
    key = (outcome.epoch, outcome.image)
    result.summaries[key] = outcome.summary
    result.predictions[key] = outcome.entry
    for metric, params, value in outcome.rows:
        result.rows.append({"epoch": outcome.epoch, "checkpoint": outcome.checkpoint, "image": outcome.image,
                            "metric": metric, "parameters": params, "value": value})


def sweep_steps(
    checkpoint_series: Iterable[Checkpoint] | str | os.PathLike,
    pairs: Sequence[Pair | LoadedPair],
    resolution: int | None = 256,
    precision: str = "fp32",
    sigmas: Sequence[float] = (1.0, 3.0),
    kernels: Sequence[int] = (3, 5),
    window: int = 15,
    cache: PredictionCache | None = None,
) -> Generator[tuple[int, int, str], None, SweepResult]:
    """Generator form of :func:`run_sweep`: yields ``(done, total, what)`` after each prediction.

    Closing the generator stops the sweep between predictions; the cache keeps what was done, so
    the next sweep resumes there. A checkpoint that fails to load is reported in
    ``result.failures`` and skipped; the rest go on. (``core.distributed`` runs the same units of
    work on a Dask cluster.)
    """
    prepared = prepare_sweep(checkpoint_series, pairs, resolution, precision, sigmas, kernels, window)
    settings = prepared.settings
    cache = cache or PredictionCache()
    result = SweepResult(sigmas=settings.sigmas, kernels=settings.kernels, window=settings.window)
    count = len(prepared.pairs)
    total, done = len(prepared.series) * count, 0
    for item in prepared.series:
        try:
            checkpoint_hash = file_hash(item.path)
        except OSError as exc:
            result.failures.append(f"{item.path}: {exc}")
            done += count
            continue
        model = functools.cache(functools.partial(load_checkpoint, item.path))  # loaded on the first miss
        for index, (pair, image_hash) in enumerate(zip(prepared.pairs, prepared.image_hashes, strict=True)):
            outcome = evaluate_pair(item, checkpoint_hash, pair, image_hash, settings, cache, model)
            if outcome.failure:
                result.failures.append(outcome.failure)
                done += count - index
                break
            add_outcome(result, outcome)
            done += 1
            yield done, total, f"epoch {item.epoch} / {pair.name}"
    return result


def run_sweep(
    checkpoint_series: Iterable[Checkpoint] | str | os.PathLike,
    pairs: Sequence[Pair | LoadedPair],
    resolution: int | None = 256,
    precision: str = "fp32",
    sigmas: Sequence[float] = (1.0, 3.0),
    kernels: Sequence[int] = (3, 5),
    window: int = 15,
    cache: PredictionCache | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> SweepResult:
    """Predict (or take from the cache) and score every checkpoint on every pair; see :func:`sweep_steps`."""
    steps = sweep_steps(checkpoint_series, pairs, resolution, precision, sigmas, kernels, window, cache)
    return run_steps(steps, None if progress is None else lambda step: progress(*step))


def write_csv(result: SweepResult, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """The tidy table, written atomically."""
    return write_text(path, result.to_csv(), overwrite=overwrite)


def plot(result: SweepResult, figure=None, sigma: float | None = None, kernel: int | None = None):
    """Loss against epoch: one panel per metric family, one curve per parameter (mean over images).

    Draws into ``figure`` (a matplotlib Figure, for example the one docked in napari) or a new one.
    With ``sigma`` / ``kernel``, the Gaussian / top-hat panels also show the live curve for them.
    """
    if figure is None:
        from matplotlib.figure import Figure

        figure = Figure(figsize=(11, 3.6), layout="constrained")
    figure.clear()
    families = (("bce", "BCE"), ("tophat", "top-hat loss"), ("gaussian", "Gaussian loss"), ("tolerant_f", "tolerant F"))
    axes = figure.subplots(1, len(families))
    for ax, (metric, title) in zip(axes, families, strict=True):
        params = sorted({r["parameters"] for r in result.rows if r["metric"] == metric})
        for param in params:
            epochs, values = result.values(metric, param)
            ax.plot(epochs, values, "o-", ms=3, label=param or "mean over images")
            if len(result.images) > 1:
                for image in result.images:
                    ax.plot(*result.values(metric, param, image), lw=0.7, alpha=0.4)
        if metric == "gaussian" and sigma is not None and result.summaries:
            ax.plot(*result.gaussian_curve(sigma), "k--", lw=1.5, label=f"sigma={sigma:g} (live)", gid="live")
        if metric == "tophat" and kernel is not None and result.summaries:
            ax.plot(*result.tophat_curve(kernel), "k--", lw=1.5, label=f"kernel={kernel} (live)", gid="live")
        ax.set(title=title, xlabel="epoch")
        ax.legend(fontsize=7)
    return figure


def save_plot(result: SweepResult, path: str | os.PathLike, overwrite: bool = False, figure=None) -> Path:
    """The plot as PNG, written atomically; ``figure``: save that one as drawn (the docked one)."""
    path = Path(path)
    figure = figure if figure is not None else plot(result)
    with atomic_path(path, overwrite) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    return path
