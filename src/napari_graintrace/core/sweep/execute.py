"""Running a sweep here: every run x every checkpoint x every pair, predicted once and scored.

Inference is the expensive part, so every prediction is kept on disk under a key made of the
checkpoint's content hash, the image's content hash, the resolution and the precision: re-running a
sweep with other score parameters does no inference, and an interrupted sweep resumes where it
stopped. Each prediction also keeps the ``GaussianScorer`` summary (a histogram of p over squared
distances), so a whole curve for a new sigma is one small matrix product. ``dask_run`` runs the
same unit of work, :func:`evaluate_pair`, on a Dask cluster.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..cache import PredictionCache, file_hash
from ..errors import InputError
from ..grid import grid_text
from ..model.checkpoints import Checkpoint, load_checkpoint
from ..model.unet import UNet
from ..options import SweepOptions
from ..scoring import scores
from ..scoring.evaluation import Evaluation
from ..steps import run_steps
from .runs import LoadedPair, Pair, Run, as_runs, load_pairs
from .table import MAX_KERNEL, Key, PairOutcome, Summary, SweepResult, add_outcome, kernel_text, sigma_text

__all__ = [
    "BCE_PARTS",
    "SCORE_ROWS",
    "PreparedSweep",
    "add_boundary_ods",
    "evaluate_pair",
    "new_result",
    "prepare_sweep",
    "reusable",
    "score_rows",
    "sweep_steps",
]


# --------------------------------------------------------------------------------------------
# scoring one prediction: a list of row makers, so a new score is one small function
# --------------------------------------------------------------------------------------------
def _bce_rows(ev: Evaluation, options: SweepOptions) -> Iterable[tuple[str, str, float]]:
    yield "bce", "", ev.bce


def _tophat_rows(ev: Evaluation, options: SweepOptions) -> Iterable[tuple[str, str, float]]:
    for kernel in options.kernels:
        yield "tophat", kernel_text(kernel), scores.tophat_loss(ev.pred, ev.trace, kernel)


def _gaussian_rows(ev: Evaluation, options: SweepOptions) -> Iterable[tuple[str, str, float]]:
    for sigma in options.sigmas:
        params = sigma_text(sigma, ev.window)
        yield "gaussian", params, ev.gaussian(sigma)
        yield "tolerant_f", params, ev.tolerant_prf(sigma)[2]


def _grain_rows(ev: Evaluation, options: SweepOptions) -> Iterable[tuple[str, str, float]]:
    """Opt-in (``grains=True``): the prediction's grains (the lab's post-processing) against the tracing's."""
    if not options.grains:
        return
    from ..grains import grain_metrics

    for metric, value in grain_metrics(ev.pred, ev.trace).items():
        if value is not None:  # undefined (no grains at all): no row rather than a NaN
            yield metric, "", value


def _boundary_rows(ev: Evaluation, options: SweepOptions) -> Iterable[tuple[str, str, float]]:
    """The boundary F at p >= 0.5, matched within the sweep's distance (default 3 px)."""
    yield "boundary_f", "", ev.boundary_prf()[2]


# BCE in parts: drawn stacked under the BCE curve (red missed, blue false), no panel of their own
BCE_PARTS = ("bce_missed", "bce_false", "bce_clamped")


def _bce_part_rows(ev: Evaluation, options: SweepOptions) -> Iterable[tuple[str, str, float]]:
    yield from zip(BCE_PARTS, ("", "", ""), ev.bce_parts, strict=True)


SCORE_ROWS: list[Callable[[Evaluation, SweepOptions], Iterable[tuple[str, str, float]]]] = [
    _bce_rows, _tophat_rows, _gaussian_rows, _boundary_rows, _bce_part_rows, _grain_rows,
]


def score_rows(ev: Evaluation, options: SweepOptions) -> list[tuple[str, str, float]]:
    """(metric, parameters, value) for one prediction: every maker of :data:`SCORE_ROWS` in turn."""
    return [(metric, params, float(value)) for maker in SCORE_ROWS for metric, params, value in maker(ev, options)]


@dataclass(frozen=True)
class PreparedSweep:
    """Checked inputs of a sweep: the runs, the pairs in memory with their hashes, the options."""

    runs: list[Run]
    pairs: list[LoadedPair]
    image_hashes: list[str]
    options: SweepOptions

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


def evaluate_pair(
    item: Checkpoint,
    checkpoint_hash: str,
    pair: LoadedPair,
    image_hash: str,
    options: SweepOptions,
    cache: PredictionCache,
    model: Callable[[], UNet],
    run: str = "",
) -> PairOutcome:
    """The sweep's unit of work: predict (or take from the cache) and score one checkpoint on one pair.

    Runs in-process and as a Dask task alike, so both give the same table. ``model()`` is only
    called on a cache miss, which lets the caller load each checkpoint at most once.
    """
    from ..model.inference import predict_steps

    entry = cache.path(checkpoint_hash, image_hash, options.resolution, options.precision)
    pred = cache.load(entry, pair.image.shape[:2])  # maps are kept on the micrograph's grid
    if pred is None:
        try:
            network = model()
        except InputError as exc:
            return PairOutcome(item.epoch, item.path.name, pair.name, failure=str(exc), run=run)
        pred = run_steps(predict_steps(network, pair.image, options.predict_options))
        cache.store(entry, pred)
    ev = Evaluation.of(pred, pair.trace, options.score_options)
    gaussian_mass, pred_total, size = ev.scorer.summary
    tophat_mass = scores.tophat_summary(ev.pred, ev.trace, MAX_KERNEL)
    rows = tuple(score_rows(ev, options))
    return PairOutcome(item.epoch, item.path.name, pair.name, entry,
                       Summary(gaussian_mass, tophat_mass, pred_total, size), rows, run=run, grid=grid_text(ev.grid))


def new_result(prepared: PreparedSweep) -> SweepResult:
    options = prepared.options
    result = SweepResult(sigmas=options.sigmas, kernels=options.kernels, window=options.window,
                         run_names=[run.name for run in prepared.runs], grains=options.grains,
                         match_distance=(options.match_distance, options.pixel_size))
    for run, item in prepared.units():
        result.checkpoints[(run.name, item.epoch)] = item.path
    return result


def reusable(previous: SweepResult | None, options: SweepOptions, key: Key, entry: Path) -> bool:
    """True when ``previous`` already scored this (run, epoch, image) from the same prediction with the
    same score parameters: adding a run to a finished sweep redoes nothing for the others."""
    return (previous is not None and previous.predictions.get(key) == entry and key in previous.summaries
            and previous.sigmas == options.sigmas and previous.kernels == options.kernels
            and previous.window == options.window and previous.grains == options.grains
            and previous.match_distance == (options.match_distance, options.pixel_size))


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
    defaults of :class:`~.options.SweepOptions`). ``runs``: see :func:`~.runs.as_runs` (one folder
    works too). Closing the generator stops the sweep between predictions; the cache keeps what was
    done, so the next sweep resumes there. A checkpoint that fails to load is reported in ``result.failures`` and skipped; the rest go on.
    ``previous``: a finished sweep whose rows are taken as they are wherever the prediction and the
    score parameters are the same (runs added to it are the only work). (``dask_run`` runs the
    same units of work on a Dask cluster.) ``options.grains``: also the grain metrics of every
    prediction (``core.grains.SWEEP_METRICS``, the lab's post-processing at its defaults), to pick a
    checkpoint by grains rather than pixels.
    """
    prepared = prepare_sweep(runs, pairs, options)
    options = prepared.options
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
            entry = cache.path(checkpoint_hash, image_hash, options.resolution, options.precision)
            if reusable(previous, options, key, entry):
                outcome = previous.outcome(key)
            else:
                outcome = evaluate_pair(item, checkpoint_hash, pair, image_hash, options, cache, model, run.name)
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
