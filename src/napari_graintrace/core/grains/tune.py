"""The post-processing parameters with the best grain F1 against a tracing: a grid, then coordinate descent."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..options import GrainOptions
from .compare import compare
from .measure import grain_table
from .segment import Segmenter

__all__ = ["TuneResult", "tune", "tune_steps"]

_THRESHOLD_GRID = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
_CHOICES = {
    "dilations": (0, 1, 2, 3, 4, 5),
    "min_area": (0, 10, 25, 50, 100, 200, 400),
    "prune": (0, 5, 10, 20, 30, 50, 80),
}
_PASSES = 3


@dataclass
class TuneResult:
    """The best post-processing found, its comparison, and how many settings were tried."""

    options: GrainOptions
    scores: dict[str, Any]
    evaluated: int = 0
    history: list[tuple[dict, float]] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {**self.options.post_processing, "grain_f1": self.scores["grain_f1"],
                "vi_split": self.scores["vi_split"], "vi_merge": self.scores["vi_merge"],
                "grains": self.scores.get("grains"), "evaluated": self.evaluated}


def _objective(scores: dict[str, Any]) -> tuple[float, float]:
    """Higher is better: grain F1, then the lower total VI."""
    vi = (scores["vi_split"] or 0.0) + (scores["vi_merge"] or 0.0)
    return scores["grain_f1"], -vi


def tune_steps(
    pred: np.ndarray | Sequence[np.ndarray] | Segmenter,
    true_labels: np.ndarray,
    start: GrainOptions | None = None,
) -> Generator[tuple[int, int, str], None, TuneResult]:
    """Search (high, low, dilations, min_area, prune) for the best grain F1 against a tracing.

    A coarse grid over both thresholds (the other three at ``start``), then coordinate descent:
    each parameter in turn over its choices (thresholds in finer steps around the best), up to three
    passes or until nothing improves. The stages cache makes a ``prune`` or ``min_area`` change
    cheap. Yields ``(done, total, text)`` (a worker's progress and Cancel point).
    """
    start = start or GrainOptions()
    segmenter = pred if isinstance(pred, Segmenter) else Segmenter(pred, start.combine)
    if segmenter.tracing:
        raise InputError("the prediction is a tracing (only 0 and 1): it is only skeletonized, there is "
                         "nothing to tune")
    true_labels = np.asarray(true_labels)
    if true_labels.shape != segmenter.shape:
        raise InputError(f"shape mismatch: prediction {segmenter.shape} vs tracing {true_labels.shape}")
    true_table = grain_table(true_labels)
    tried: dict[tuple, dict[str, Any]] = {}
    history: list[tuple[dict, float]] = []

    def evaluate(options: GrainOptions) -> dict[str, Any]:
        key = tuple(options.post_processing.values())
        if key not in tried:
            labels = segmenter.labels(options)
            table = grain_table(labels)
            scores = compare(labels, true_labels, table, true_table)
            scores["grains"] = int(np.count_nonzero(table.interior))
            tried[key] = scores
            history.append((options.post_processing, scores["grain_f1"]))
        return tried[key]

    coarse = [(high, low) for high in _THRESHOLD_GRID for low in _THRESHOLD_GRID if low <= high]
    per_pass = 2 * 5 + sum(len(c) for c in _CHOICES.values())
    total = len(coarse) + _PASSES * per_pass
    done = 0
    best = start
    best_scores = evaluate(best)
    for high, low in coarse:
        candidate = best.replace(high=high, low=low) if (high, low) != (best.high, best.low) else best
        scores = evaluate(candidate)
        if _objective(scores) > _objective(best_scores):
            best, best_scores = candidate, scores
        done += 1
        yield done, total, f"thresholds: best grain F1 {best_scores['grain_f1']:.3f}"
    for step in (0.05, 0.025, 0.0125)[:_PASSES]:
        improved = False
        moves: list[tuple[str, Sequence]] = [
            ("high", [best.high + k * step for k in (-2, -1, 1, 2)] + [best.high]),
            ("low", [best.low + k * step for k in (-2, -1, 1, 2)] + [best.low]),
            *_CHOICES.items(),
        ]
        for name, values in moves:
            for value in values:
                try:
                    candidate = best.replace(**{name: round(value, 5) if isinstance(value, float) else value})
                except InputError:  # a threshold stepped out of [0, 1] or below the low one
                    done += 1
                    continue
                scores = evaluate(candidate)
                if _objective(scores) > _objective(best_scores):
                    best, best_scores, improved = candidate, scores, True
                done += 1
                yield done, total, f"{name}: best grain F1 {best_scores['grain_f1']:.3f}"
        if not improved:
            break
    yield total, total, f"best grain F1 {best_scores['grain_f1']:.3f}"
    return TuneResult(best, best_scores, len(tried), history)


def tune(pred, true_labels, start: GrainOptions | None = None,
         progress: Callable[[int, int, str], None] | None = None) -> TuneResult:
    """:func:`tune_steps` run to the end."""
    from ..steps import run_steps

    return run_steps(tune_steps(pred, true_labels, start), None if progress is None else lambda s: progress(*s))
