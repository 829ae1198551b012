"""The sweep's table: a row per (run, epoch, image, metric, parameters), each prediction's summary.

The summaries (two small histograms of p per prediction) make any Gaussian sigma and top-hat kernel
a curve without the maps; ``best`` ranks each run's epochs; the CSV is the table, tidy.
"""

from __future__ import annotations

import csv
import io as _io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import checks
from ..errors import InputError
from ..io import write_text
from ..options import MatchDistance
from ..scoring import scores

__all__ = [
    "CSV_FIELDS",
    "DEFAULT_PARAMETERS",
    "LOWER_IS_BETTER",
    "MAX_KERNEL",
    "Best",
    "Key",
    "MetricChoice",
    "PairOutcome",
    "Summary",
    "SweepResult",
    "add_outcome",
    "kernel_text",
    "metric_choice",
    "parse_metric",
    "sigma_text",
    "write_csv",
]

# grid: rows x columns the scores were computed on, the micrograph's (core.grid), whatever the network saw
CSV_FIELDS = ("run", "epoch", "checkpoint", "image", "metric", "parameters", "value", "grid")


MAX_KERNEL = 31  # top-hat kernels up to this size re-score live from the summary

# Which way is better, per metric of the table: the one place ``best`` looks. A new score row
# (as grain F1 and boundary F did) adds its name here and its row maker to ``execute.SCORE_ROWS``.
LOWER_IS_BETTER = {"bce": True, "tophat": True, "gaussian": True, "tolerant_f": False, "tolerant_precision": False,
                   "tolerant_recall": False, "boundary_f": False, "grain_f1": False, "boundary_ods": False,
                   # grain metrics (``grains=True``: core.grains.SWEEP_METRICS)
                   "vi_merge": True, "vi_split": True, "orphan_fraction": True, "size_ks": True}
# the design's default parameters of each metric, for ``best`` without parameters
DEFAULT_PARAMETERS = {"sigma": 3.0, "window": 15, "kernel": 3}
_METRIC_PARAMETERS = {"tophat": ("kernel",), "gaussian": ("sigma", "window"), "tolerant_f": ("sigma", "window"),
                      "tolerant_precision": ("sigma", "window"), "tolerant_recall": ("sigma", "window")}


def sigma_text(sigma: float, window: int) -> str:
    return f"sigma={sigma:g} window={window}"


def kernel_text(kernel: int) -> str:
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


def metric_choice(metric: str, sigma: float | None = None, kernel: int | None = None,
                  window: int | None = None) -> MetricChoice:
    """``metric`` at these parameters (the design's defaults for those not given), checked here, once.

    What :func:`parse_metric` makes of ``--best`` text, and what the sweep widget makes of its slider
    and kernel box directly, without a round trip through text.
    """
    if metric not in LOWER_IS_BETTER:
        raise InputError(f"unknown metric {metric!r}; choose one of {', '.join(LOWER_IS_BETTER)}")
    if metric == "tophat":
        kernel = checks.check_odd(kernel if kernel is not None else DEFAULT_PARAMETERS["kernel"], "kernel")
        return MetricChoice(metric, kernel_text(kernel), kernel=kernel)
    if metric in _METRIC_PARAMETERS:
        sigma = checks.check_sigma(sigma if sigma is not None else DEFAULT_PARAMETERS["sigma"])
        window = checks.check_odd(window if window is not None else DEFAULT_PARAMETERS["window"], "window")
        return MetricChoice(metric, sigma_text(sigma, window), sigma=sigma, window=window)
    return MetricChoice(metric, "")


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
            values[key] = math.nan
        if not math.isfinite(values[key]):
            raise InputError(f"{text!r}: {key} must be a number, got {value!r}")
    whole = {key: int(value) for key, value in values.items() if key in ("kernel", "window")}
    for key, value in whole.items():
        if value != values[key]:
            raise InputError(f"{text!r}: {key} must be an odd integer")
    return metric_choice(metric, sigma=values.get("sigma"), kernel=whole.get("kernel"),
                         window=whole.get("window", window))


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


def add_outcome(result: SweepResult, outcome: PairOutcome) -> None:
    """Put one unit's rows and summary into the table (failures are collected by the caller)."""
    key = (outcome.run, outcome.epoch, outcome.image)
    result.summaries[key] = outcome.summary
    result.predictions[key] = outcome.entry
    for metric, params, value in outcome.rows:
        result.rows.append({"run": outcome.run, "epoch": outcome.epoch, "checkpoint": outcome.checkpoint,
                            "image": outcome.image, "metric": metric, "parameters": params, "value": value,
                            "grid": outcome.grid})


def write_csv(result: SweepResult, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """The tidy table, written atomically."""
    return write_text(path, result.to_csv(), overwrite=overwrite)
