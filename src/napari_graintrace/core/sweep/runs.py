"""Loss-vs-epoch sweeps: every run x every checkpoint x every (image, tracing) pair, cached and re-scorable.

A *run* is one training run's checkpoint series (a folder of ``NAME_EPOCH.pth``) under a name, so
models trained on different data (the report's original set vs. the one with aligned crops) are
compared in one table, one plot and one ``best`` per run.

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
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import checks
from ..cache import PredictionCache, array_hash, file_hash
from ..errors import InputError
from ..grid import grid_text
from ..io import read_micrograph, read_trace, write_text
from ..model.checkpoints import Checkpoint, find_checkpoints, load_checkpoint
from ..model.unet import UNet
from ..options import MatchDistance, SweepOptions
from ..scoring import scores
from ..scoring.evaluation import Evaluation

# grid: rows x columns the scores were computed on, the micrograph's (core.grid), whatever the network saw
CSV_FIELDS = ("run", "epoch", "checkpoint", "image", "metric", "parameters", "value", "grid")


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

# Which way is better, per metric of the table: the one place ``best`` looks. A new score row
# (as grain F1 and boundary F did) adds its name here and its row maker to SCORE_ROWS.
LOWER_IS_BETTER = {"bce": True, "tophat": True, "gaussian": True, "tolerant_f": False, "tolerant_precision": False,
                   "tolerant_recall": False, "boundary_f": False, "grain_f1": False, "boundary_ods": False,
                   # grain metrics (``grains=True``: core.grains.SWEEP_METRICS)
                   "vi_merge": True, "vi_split": True, "orphan_fraction": True, "size_ks": True}
# the design's default parameters of each metric, for ``best`` without parameters
DEFAULT_PARAMETERS = {"sigma": 3.0, "window": 15, "kernel": 3}
_METRIC_PARAMETERS = {"tophat": ("kernel",), "gaussian": ("sigma", "window"), "tolerant_f": ("sigma", "window"),
                      "tolerant_precision": ("sigma", "window"), "tolerant_recall": ("sigma", "window")}


def _sigma_text(sigma: float, window: int) -> str:
    return f"sigma={sigma:g} window={window}"


def _kernel_text(kernel: int) -> str:
    return f"kernel={kernel}"


@dataclass(frozen=True)
class MetricChoice:
    """One metric at fixed parameters: what ``--best`` ranks (``gaussian:sigma=1``)."""

    metric: str
    parameters: str  # as in the table's ``parameters`` column
    sigma: float | None = None
    kernel: int | None = None
    window: int | None = None

    @property
    def lower_is_better(self) -> bool:
        return LOWER_IS_BETTER[self.metric]

    def __str__(self) -> str:
        return f"{self.metric} ({self.parameters})" if self.parameters else self.metric


def parse_metric(text: str, window: int | None = None) -> MetricChoice:
    """``METRIC`` or ``METRIC:KEY=VALUE[,KEY=VALUE]`` -> :class:`MetricChoice` with the design's defaults.

    ``gaussian`` is sigma 3, window 15; ``tophat`` kernel 3; ``window`` (when given) is the sweep's,
    used unless the text names one.
    """
    metric, _, rest = str(text).strip().partition(":")
    metric = metric.strip().lower()
    if metric not in LOWER_IS_BETTER:
        raise InputError(f"unknown metric {metric!r}; choose one of {', '.join(LOWER_IS_BETTER)}")
    allowed = _METRIC_PARAMETERS.get(metric, ())
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in rest.replace(",", " ").split())):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in allowed:
            hint = f"it takes {', '.join(allowed)}" if allowed else "it takes no parameters"
            raise InputError(f"{text!r}: {part!r} is not a parameter of {metric} ({hint}; e.g. gaussian:sigma=1)")
        try:
            values[key] = float(value)
        except ValueError:
            raise InputError(f"{text!r}: {key} must be a number, got {value!r}") from None
    if metric == "tophat":
        kernel = checks.check_odd(int(values.get("kernel", DEFAULT_PARAMETERS["kernel"])), "kernel")
        if values.get("kernel", kernel) != kernel:
            raise InputError(f"{text!r}: kernel must be an odd integer")
        return MetricChoice(metric, _kernel_text(kernel), kernel=kernel)
    if metric in _METRIC_PARAMETERS:
        sigma = checks.check_sigma(values.get("sigma", DEFAULT_PARAMETERS["sigma"]))
        default_window = window if window is not None else DEFAULT_PARAMETERS["window"]
        chosen = values.get("window", default_window)
        if chosen != int(chosen):
            raise InputError(f"{text!r}: window must be an odd integer")
        window = checks.check_odd(int(chosen), "window")
        return MetricChoice(metric, _sigma_text(sigma, window), sigma=sigma, window=window)
    return MetricChoice(metric, "")


# --------------------------------------------------------------------------------------------
# runs
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """One training run: its checkpoint series under a name (the table's ``run`` column)."""

    name: str
    series: tuple[Checkpoint, ...]
    folder: Path | None = None


def parse_run(text: str | os.PathLike) -> tuple[str, Path]:
    """``NAME=FOLDER`` -> (NAME, FOLDER); a folder alone is named by its last part.

    A path that exists as given is a folder even if it contains ``=`` (``runs/lr=0.1``).
    """
    if isinstance(text, os.PathLike) or Path(str(text)).exists() or "=" not in str(text):
        folder = Path(text)
        return (folder.resolve().name or str(folder)), folder
    name, _, folder = str(text).partition("=")
    name = name.strip()
    if not name:
        raise InputError(f"run {text!r}: the name before '=' is empty (give NAME=FOLDER or a folder)")
    if not folder:
        raise InputError(f"run {text!r}: no folder after '=' (give NAME=FOLDER)")
    return name, Path(folder)


def as_runs(runs: object) -> list[Run]:
    """Normalise what callers pass as runs: a folder, ``NAME=FOLDER`` text, a mapping name -> folder,
    a :class:`Run`, a list of any of these, or (one run) a list of :class:`Checkpoint`.

    Every run must have checkpoints and a name of its own.
    """
    if isinstance(runs, str | os.PathLike | Run):
        items: list = [runs]
    elif isinstance(runs, Mapping):
        items = [Run(str(name), (), Path(folder)) if isinstance(folder, str | os.PathLike)
                 else Run(str(name), tuple(folder)) for name, folder in runs.items()]
    else:
        items = list(runs)
        if items and all(isinstance(item, Checkpoint) for item in items):
            items = [Run(items[0].path.parent.name or "run", tuple(items))]
    if not items:
        raise InputError("give at least one run (a checkpoint folder, or NAME=FOLDER)")
    out: list[Run] = []
    for item in items:
        if not isinstance(item, Run):
            name, folder = parse_run(item)
            item = Run(name, (), folder)
        if not item.series:
            if item.folder is None:
                raise InputError(f"run {item.name!r} has no checkpoints")
            series = find_checkpoints(item.folder)
            if not series:
                raise InputError(f"{item.folder}: no NAME_EPOCH.pth checkpoints found (run {item.name!r})")
            item = Run(item.name, tuple(series), item.folder)
        out.append(item)
    names = [run.name for run in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"two runs are named {', '.join(map(repr, twice))}; name them: NAME=FOLDER")
    return out


# --------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Summary:
    """What live re-scoring needs of one prediction: two small histograms of p, not the image."""

    gaussian_mass: np.ndarray  # sum of p per squared distance (GaussianScorer.summary)
    tophat_mass: np.ndarray  # sum of p per Chebyshev distance (scores.tophat_summary)
    pred_total: float
    size: int


Key = tuple[str, int, str]  # (run, epoch, image)


@dataclass(frozen=True)
class Best:
    """A run's best epoch for one metric: the best mean over images."""

    run: str
    epoch: int
    value: float


@dataclass
class SweepResult:
    """The sweep's table plus the per-prediction summaries that make sigma and kernel live.

    Keyed by (run, epoch, image). With one run, ``run`` may be left out of every accessor.
    """

    sigmas: tuple[float, ...]
    kernels: tuple[int, ...]
    window: int
    rows: list[dict] = field(default_factory=list)
    summaries: dict[Key, Summary] = field(default_factory=dict)
    predictions: dict[Key, Path] = field(default_factory=dict)  # cache file of each prediction
    failures: list[str] = field(default_factory=list)
    run_names: list[str] = field(default_factory=list)  # in the order given
    checkpoints: dict[tuple[str, int], Path] = field(default_factory=dict)  # (run, epoch) -> its file
    grains: bool = False  # the table has the grain metrics (SweepOptions(grains=True))
    # the boundary rows' tolerance: (SweepOptions.match_distance, .pixel_size)
    match_distance: tuple[MatchDistance, float | None] | None = None

    @property
    def runs(self) -> list[str]:
        return list(self.run_names)

    def resolve_run(self, run: str | None) -> str:
        if run is not None:
            if run not in self.run_names:
                raise InputError(f"no run named {run!r} in this sweep (runs: {', '.join(self.run_names)})")
            return run
        if len(self.run_names) != 1:
            raise ValueError(f"this sweep has {len(self.run_names)} runs; say which: {', '.join(self.run_names)}")
        return self.run_names[0]

    def epochs_of(self, run: str | None = None) -> list[int]:
        run = self.resolve_run(run)
        return sorted({epoch for r, epoch, _ in self.summaries if r == run})

    @property
    def epochs(self) -> list[int]:
        """Every epoch of any run (one run: that run's epochs)."""
        return sorted({epoch for _, epoch, _ in self.summaries})

    @property
    def images(self) -> list[str]:
        return sorted({image for _, _, image in self.summaries})

    def values(self, metric: str, parameters: str = "", image: str | None = None,
               run: str | None = None) -> tuple[list[int], list[float]]:
        """(epochs, values) of one metric for one run and image, or the mean over images when ``image`` is None.

        Epochs where some image is missing (a failed checkpoint) are left out of the mean.
        """
        run = self.resolve_run(run)
        chosen = [r for r in self.rows if r["run"] == run and r["metric"] == metric and r["parameters"] == parameters
                  and (image is None or r["image"] == image)]
        by_epoch: dict[int, list[float]] = {}
        for row in chosen:
            by_epoch.setdefault(row["epoch"], []).append(row["value"])
        wanted = 1 if image is not None else len(self.images)
        epochs = sorted(e for e, v in by_epoch.items() if len(v) == wanted)
        return epochs, [float(np.mean(by_epoch[e])) for e in epochs]

    def parameters_of(self, metric: str) -> list[str]:
        return sorted({r["parameters"] for r in self.rows if r["metric"] == metric})

    def _complete_epochs(self, run: str) -> list[int]:
        images = self.images
        return [e for e in self.epochs_of(run) if all((run, e, image) in self.summaries for image in images)]

    def _stacked(self, run: str, image: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        items = [self.summaries[(run, epoch, image)] for epoch in self._complete_epochs(run)]
        return (np.stack([i.gaussian_mass for i in items]), np.stack([i.tophat_mass for i in items]),
                np.array([i.pred_total for i in items]), np.array([i.size for i in items]))

    def gaussian_curve(self, sigma: float, image: str | None = None,
                       run: str | None = None) -> tuple[list[int], np.ndarray]:
        """Gaussian loss against epoch for any sigma (mean over images), from the summaries only."""
        run = self.resolve_run(run)
        names = self.images if image is None else [image]
        curves = [scores.loss_from_summary(g, total, size, sigma)
                  for g, _, total, size in (self._stacked(run, name) for name in names)]
        return self._complete_epochs(run), np.mean(curves, axis=0)

    def tophat_curve(self, kernel: int, image: str | None = None,
                     run: str | None = None) -> tuple[list[int], np.ndarray]:
        """Top-hat loss against epoch for any odd kernel up to ``MAX_KERNEL``, from the summaries only."""
        run = self.resolve_run(run)
        names = self.images if image is None else [image]
        curves = [scores.tophat_loss_from_summary(t, total, size, kernel)
                  for _, t, total, size in (self._stacked(run, name) for name in names)]
        return self._complete_epochs(run), np.mean(curves, axis=0)

    def curve(self, choice: MetricChoice, run: str | None = None) -> tuple[list[int], np.ndarray]:
        """The mean-over-images curve of ``choice``: from the table, or live from the summaries for any
        Gaussian sigma (at the sweep's window) and any top-hat kernel the table lacks."""
        run = self.resolve_run(run)
        epochs, values = self.values(choice.metric, choice.parameters, run=run)
        if epochs:
            return epochs, np.asarray(values)
        if choice.metric == "gaussian" and choice.window == self.window and self.summaries:
            return self.gaussian_curve(choice.sigma, run=run)
        if choice.metric == "tophat" and choice.kernel <= MAX_KERNEL and self.summaries:
            return self.tophat_curve(choice.kernel, run=run)
        have = ", ".join(self.parameters_of(choice.metric)) or "none"
        raise InputError(f"the sweep has no {choice} (it has {choice.metric} at: {have}); run it with those "
                         "parameters")

    def best(self, metric: str | MetricChoice, parameters: str | None = None) -> dict[str, Best]:
        """Each run's epoch with the best mean over images: lowest for losses, highest for P/R/F.

        ``metric`` is a name (``parameters`` as in the table, default: the design's defaults) or a
        :class:`MetricChoice` / ``METRIC:PARAMS`` text (``gaussian:sigma=1``).
        """
        if isinstance(metric, MetricChoice):
            choice = metric
        else:
            choice = parse_metric(metric, self.window)
            if parameters is not None:
                choice = MetricChoice(choice.metric, parameters, choice.sigma, choice.kernel, choice.window)
        out: dict[str, Best] = {}
        for run in self.run_names:
            epochs, values = self.curve(choice, run)
            if not len(epochs):
                continue
            values = np.asarray(values, dtype=np.float64)
            index = int(np.argmin(values) if choice.lower_is_better else np.argmax(values))  # first of ties
            out[run] = Best(run, int(epochs[index]), float(values[index]))
        return out

    def to_csv(self) -> str:
        order = {name: i for i, name in enumerate(self.run_names)}
        out = _io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in sorted(self.rows, key=lambda r: (order.get(r["run"], len(order)), r["run"], r["epoch"],
                                                    r["image"], r["metric"], r["parameters"])):
            writer.writerow({**row, "value": repr(float(row["value"]))})
        return out.getvalue()

    def outcome(self, key: Key) -> PairOutcome:
        """What this result holds for one (run, epoch, image), as the unit of work returned it."""
        run, epoch, image = key
        rows = tuple((r["metric"], r["parameters"], r["value"]) for r in self.rows
                     if r["run"] == run and r["epoch"] == epoch and r["image"] == image)
        first = next(r for r in self.rows if r["run"] == run and r["epoch"] == epoch and r["image"] == image)
        return PairOutcome(epoch, first["checkpoint"], image, self.predictions[key], self.summaries[key], rows,
                           run=run, grid=first.get("grid", ""))


# --------------------------------------------------------------------------------------------
# scoring one prediction: a list of row makers, so a new score is one small function
# --------------------------------------------------------------------------------------------
def _bce_rows(ev: Evaluation, settings: SweepOptions) -> Iterable[tuple[str, str, float]]:
    yield "bce", "", ev.bce


def _tophat_rows(ev: Evaluation, settings: SweepOptions) -> Iterable[tuple[str, str, float]]:
    for kernel in settings.kernels:
        yield "tophat", _kernel_text(kernel), scores.tophat_loss(ev.pred, ev.trace, kernel)


def _gaussian_rows(ev: Evaluation, settings: SweepOptions) -> Iterable[tuple[str, str, float]]:
    for sigma in settings.sigmas:
        params = _sigma_text(sigma, ev.window)
        yield "gaussian", params, ev.gaussian(sigma)
        yield "tolerant_f", params, ev.tolerant_prf(sigma)[2]


def _grain_rows(ev: Evaluation, settings: SweepOptions) -> Iterable[tuple[str, str, float]]:
    """Opt-in (``grains=True``): the prediction's grains (the lab's post-processing) against the tracing's."""
    if not settings.grains:
        return
    from ..grains import segmentation as grains

    for metric, value in grains.grain_metrics(ev.pred, ev.trace).items():
        if value is not None:  # undefined (no grains at all): no row rather than a NaN
            yield metric, "", value


def _boundary_rows(ev: Evaluation, settings: SweepOptions) -> Iterable[tuple[str, str, float]]:
    """The boundary F at p >= 0.5, matched within the sweep's distance (default 3 px)."""
    yield "boundary_f", "", ev.boundary_prf()[2]


# BCE in parts: drawn stacked under the BCE curve (red missed, blue false), no panel of their own
BCE_PARTS = ("bce_missed", "bce_false", "bce_clamped")


def _bce_part_rows(ev: Evaluation, settings: SweepOptions) -> Iterable[tuple[str, str, float]]:
    yield from zip(BCE_PARTS, ("", "", ""), ev.bce_parts, strict=True)


SCORE_ROWS: list[Callable[[Evaluation, SweepOptions], Iterable[tuple[str, str, float]]]] = [
    _bce_rows, _tophat_rows, _gaussian_rows, _boundary_rows, _bce_part_rows, _grain_rows,
]


def settings_rows(ev: Evaluation, settings: SweepOptions) -> list[tuple[str, str, float]]:
    """(metric, parameters, value) for one prediction: every maker of :data:`SCORE_ROWS` in turn."""
    return [(metric, params, float(value)) for maker in SCORE_ROWS for metric, params, value in maker(ev, settings)]


@dataclass(frozen=True)
class PairOutcome:
    """What one (run, checkpoint, pair) adds to the table: small, so a Dask worker sends it back cheaply.

    ``failure`` is set (and the rest empty) when the checkpoint could not be read or loaded.
    """

    epoch: int
    checkpoint: str
    image: str
    entry: Path | None = None
    summary: Summary | None = None
    rows: tuple[tuple[str, str, float], ...] = ()
    failure: str = ""
    run: str = ""
    grid: str = ""  # "600x800": the grid it was scored on, the micrograph's (core.grid)


@dataclass(frozen=True)
class PreparedSweep:
    """Checked inputs of a sweep: the runs, the pairs in memory with their hashes, the settings."""

    runs: list[Run]
    pairs: list[LoadedPair]
    image_hashes: list[str]
    settings: SweepOptions

    def units(self) -> list[tuple[Run, Checkpoint]]:
        return [(run, item) for run in self.runs for item in run.series]


def prepare_sweep(
    runs: object,
    pairs: Sequence[Pair | LoadedPair],
    options: SweepOptions | None = None,
) -> PreparedSweep:
    """Check the inputs once, up front, for both the in-process and the Dask sweep.

    ``options``: what to compute (None: :class:`~.options.SweepOptions`'s defaults).
    """
    checked = as_runs(runs)
    loaded, hashes = load_pairs(pairs)
    return PreparedSweep(checked, loaded, hashes, options if options is not None else SweepOptions())


def load_pairs(pairs: Sequence[Pair | LoadedPair]) -> tuple[list[LoadedPair], list[str]]:
    """The pairs in memory with their images' content hashes (the cache key); names must differ."""
    if not pairs:
        raise InputError("give at least one (image, tracing) pair")
    names = [pair.name for pair in pairs]
    if len(set(names)) != len(names):
        raise InputError(f"two images share a name: {sorted({n for n in names if names.count(n) > 1})}")
    loaded = [pair.load() if isinstance(pair, Pair) else pair for pair in pairs]
    return loaded, [array_hash(pair.image) for pair in loaded]


def evaluate_pair(
    item: Checkpoint,
    checkpoint_hash: str,
    pair: LoadedPair,
    image_hash: str,
    settings: SweepOptions,
    cache: PredictionCache,
    model: Callable[[], UNet],
    run: str = "",
) -> PairOutcome:
    """The sweep's unit of work: predict (or take from the cache) and score one checkpoint on one pair.

    Runs in-process and as a Dask task alike, so both give the same table. ``model()`` is only
    called on a cache miss, which lets the caller load each checkpoint at most once.
    """
    from ..model.inference import predict

    entry = cache.path(checkpoint_hash, image_hash, settings.resolution, settings.precision)
    pred = cache.load(entry, pair.image.shape[:2])  # maps are kept on the micrograph's grid
    if pred is None:
        try:
            network = model()
        except InputError as exc:
            return PairOutcome(item.epoch, item.path.name, pair.name, failure=str(exc), run=run)
        pred = predict(network, pair.image, resolution=settings.resolution, precision=settings.precision)
        cache.store(entry, pred)
    ev = Evaluation.of(pred, pair.trace, window=settings.window, max_distance=settings.match_distance,
                       pixel_size=settings.pixel_size)
    gaussian_mass, pred_total, size = ev.scorer.summary
    tophat_mass = scores.tophat_summary(ev.pred, ev.trace, MAX_KERNEL)
    rows = tuple(settings_rows(ev, settings))
    return PairOutcome(item.epoch, item.path.name, pair.name, entry,
                       Summary(gaussian_mass, tophat_mass, pred_total, size), rows, run=run, grid=grid_text(ev.grid))


def new_result(prepared: PreparedSweep) -> SweepResult:
    settings = prepared.settings
    result = SweepResult(sigmas=settings.sigmas, kernels=settings.kernels, window=settings.window,
                         run_names=[run.name for run in prepared.runs], grains=settings.grains,
                         match_distance=(settings.match_distance, settings.pixel_size))
    for run, item in prepared.units():
        result.checkpoints[(run.name, item.epoch)] = item.path
    return result


def add_outcome(result: SweepResult, outcome: PairOutcome) -> None:
    """Put one unit's rows and summary into the table (failures are collected by the caller)."""
    key = (outcome.run, outcome.epoch, outcome.image)
    result.summaries[key] = outcome.summary
    result.predictions[key] = outcome.entry
    for metric, params, value in outcome.rows:
        result.rows.append({"run": outcome.run, "epoch": outcome.epoch, "checkpoint": outcome.checkpoint,
                            "image": outcome.image, "metric": metric, "parameters": params, "value": value,
                            "grid": outcome.grid})


def reusable(previous: SweepResult | None, settings: SweepOptions, key: Key, entry: Path) -> bool:
    """True when ``previous`` already scored this (run, epoch, image) from the same prediction with the
    same score parameters: adding a run to a finished sweep redoes nothing for the others."""
    return (previous is not None and previous.predictions.get(key) == entry and key in previous.summaries
            and previous.sigmas == settings.sigmas and previous.kernels == settings.kernels
            and previous.window == settings.window and previous.grains == settings.grains
            and previous.match_distance == (settings.match_distance, settings.pixel_size))


def sweep_steps(
    runs: object,
    pairs: Sequence[Pair | LoadedPair],
    options: SweepOptions | None = None,
    cache: PredictionCache | None = None,
    previous: SweepResult | None = None,
) -> Generator[tuple[int, int, str], None, SweepResult]:
    """Predict (or take from the cache) and score every checkpoint of every run on every pair, yielding
    ``(done, total, what)`` after each prediction; ``core.steps.run_steps`` drives it to the table.

    ``options``: what to compute (resolution, precision, sigmas, kernels, window, grains; None: the
    defaults of :class:`~.options.SweepOptions`). ``runs``: see :func:`as_runs` (one folder works as
    before). Closing the generator stops the sweep between predictions; the cache keeps what was
    done, so the next sweep resumes there. A checkpoint that fails to load is reported in ``result.failures`` and skipped; the rest go on.
    ``previous``: a finished sweep whose rows are taken as they are wherever the prediction and the
    score parameters are the same (runs added to it are the only work). (``core.distributed`` runs
    the same units of work on a Dask cluster.) ``options.grains``: also the grain metrics of every
    prediction (``core.grains.SWEEP_METRICS``, the lab's post-processing at its defaults), to pick a
    checkpoint by grains rather than pixels.
    """
    prepared = prepare_sweep(runs, pairs, options)
    settings = prepared.settings
    cache = cache or PredictionCache()
    result = new_result(prepared)
    count = len(prepared.pairs)
    units = prepared.units()
    total, done = len(units) * count, 0
    for run, item in units:
        try:
            checkpoint_hash = file_hash(item.path)
        except OSError as exc:
            result.failures.append(f"{item.path}: {exc}")
            done += count
            continue
        model = functools.cache(functools.partial(load_checkpoint, item.path))  # loaded on the first miss
        for index, (pair, image_hash) in enumerate(zip(prepared.pairs, prepared.image_hashes, strict=True)):
            key = (run.name, item.epoch, pair.name)
            entry = cache.path(checkpoint_hash, image_hash, settings.resolution, settings.precision)
            if reusable(previous, settings, key, entry):
                outcome = previous.outcome(key)
            else:
                outcome = evaluate_pair(item, checkpoint_hash, pair, image_hash, settings, cache, model, run.name)
            if outcome.failure:
                result.failures.append(outcome.failure)
                done += count - index
                break
            add_outcome(result, outcome)
            done += 1
            what = f"epoch {item.epoch} / {pair.name}"
            yield done, total, (f"{run.name}: {what}" if len(prepared.runs) > 1 else what)
    return result


def add_boundary_ods(result: SweepResult, pairs: Sequence[Pair | LoadedPair], thresholds: int = 99,
                     cache: PredictionCache | None = None, match_distance=None,
                     pixel_size: float | None = None) -> SweepResult:
    """Add each prediction's boundary ODS (best boundary F over ``thresholds``, matched within
    ``match_distance``: default 3 px) as ``boundary_ods`` rows, and its threshold as
    ``boundary_ods_threshold``: on request, as it costs seconds per map.

    Works from the cached predictions of a finished sweep (no inference); a map no longer in the
    cache is skipped.
    """
    from ..grid import to_grid
    from ..scoring.boundary import BoundaryScorer

    cache = cache if cache is not None else PredictionCache()
    traces = {pair.name: (pair.load() if isinstance(pair, Pair) else pair).trace for pair in pairs}
    scorers: dict[str, BoundaryScorer] = {}
    for row in [r for r in result.rows if r["metric"] == "bce"]:
        key = (row["run"], row["epoch"], row["image"])
        entry = result.predictions.get(key)
        pred = cache.load(entry) if entry is not None else None
        if pred is None or row["image"] not in traces:
            continue
        trace = traces[row["image"]]
        if row["image"] not in scorers:  # one skeleton and k-d tree per tracing, on its (the micrograph's) grid
            scorers[row["image"]] = BoundaryScorer(trace, match_distance, pixel_size)
        f, threshold = scorers[row["image"]].ods(to_grid(pred, trace.shape), thresholds)
        for metric, value in (("boundary_ods", f), ("boundary_ods_threshold", threshold)):
            result.rows.append({**row, "metric": metric, "parameters": "", "value": value})
    return result


def write_csv(result: SweepResult, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """The tidy table, written atomically."""
    return write_text(path, result.to_csv(), overwrite=overwrite)
