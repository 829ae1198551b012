"""The field's boundary benchmark (BSDS matched precision / recall / F), exact and fast.

Definition (docs/design.md, "Scores"): the prediction is binarized at
``p >= threshold`` and thinned to 1 px (``skimage.morphology.thin``), the tracing is skeletonized
(``skimage.morphology.skeletonize``); predicted and true boundary pixels are matched one-to-one,
a pair allowed when their Euclidean distance is at most ``max_distance``, with as many pairs as
possible. The distance is a length on the micrograph (default 3 px, or micrometres with the pixel
size: ``options.MatchDistance``), never a fraction of the frame; ``"bsds"`` keeps BSDS's 0.0075 x
the image diagonal by name. Precision = matched predicted /
predicted, recall = matched true / true, F harmonic; 0 where a denominator is 0.

How it is exact and fast:

* **Matching** is a maximum bipartite matching, solved as a unit-capacity maximum flow with
  scipy's Dinic (``scipy.sparse.csgraph.maximum_flow``, C speed). The edges (pairs within the
  distance) come from a k-d tree of the true pixels, built once per tracing. scipy's own
  ``maximum_bipartite_matching`` gives the same count but took minutes on the NIST pair, and
  pre-matching coincident pixels is not safe in general (a pixel on the tracing can be the only
  partner of a nearby one), so nothing is matched greedily: the count is the true maximum.
* **Thinning** returns exactly ``skimage.morphology.thin``'s image, but after the first pass it
  only looks again at pixels next to one just deleted (a pixel whose 3 x 3 neighbourhood did not
  change since a sub-iteration last kept it is kept again), 5-25x faster on thick maps.
* **ODS** (the best F over thresholds) needs the exact match only where it can win: the number
  of matched pairs is at most the number of predicted pixels that have a true pixel within the
  distance (and at most the number of true pixels); a distance transform of the tracing, computed
  once, gives that count for every threshold. Thresholds are matched in order of that bound and the
  search stops when the bound falls below the best F found: the same answer as matching all.

The BSDS program (``correspond_pixels``) solves a different problem on the same graph: a minimum
cost assignment (distances rounded to 1/100 px) where each unmatched pixel costs 100 x the
distance and unmatched pixels can only be paired with a few random "outlier" partners. It finds
nearly as many pairs, a few per thousand fewer, because cheaper short pairs are preferred and the
outlier graph is sparse; it takes the distance as a fraction of the diagonal
(``sqrt(H^2 + W^2)``), as ``max_distance="bsds"`` does here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..checks import check_prediction, check_trace
from ..errors import InputError
from ..options import BSDS_DISTANCE_FRACTION, MATCH_DISTANCE_PX, MatchDistance, match_distance
from .matching import TruePixels, maximum_matching
from .thinning import thin, thin_levels

__all__ = [
    "BSDS_DISTANCE_FRACTION",
    "MATCH_DISTANCE_PX",
    "BoundaryMatch",
    "BoundaryScorer",
    "boundary_match",
    "boundary_ods",
    "boundary_prf",
    "bsds_max_distance",
    "match_distance_px",
    "match_pixels",
    "ods_thresholds",
    "thin",
]

DistanceSpec = float | str | MatchDistance | None  # px, "3px", "0.5um", "bsds" or None (3 px)


def bsds_max_distance(shape: tuple[int, int]) -> float:
    """The BSDS rule: 0.0075 x the image diagonal, as the BSDS code computes it (``maxDist * sqrt(H^2 + W^2)``)."""
    return MatchDistance(None, "bsds").pixels(shape)


def match_distance_px(max_distance: DistanceSpec, shape: tuple[int, int], pixel_size: float | None = None) -> float:
    """The match distance in pixels: a number is pixels; text or a :class:`~.options.MatchDistance` is
    parsed (``"3px"``, ``"0.5um"`` with ``pixel_size``, ``"bsds"``); None is the default, 3 px."""
    return match_distance(max_distance).pixels(shape, pixel_size)


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.integer | np.floating):
        raise InputError(f"the threshold must be a number in [0, 1], got {threshold!r}")
    if not (0.0 <= threshold <= 1.0):
        raise InputError(f"the threshold must lie in [0, 1], got {threshold!r}")
    return float(threshold)


def ods_thresholds(thresholds: int | Sequence[float] | np.ndarray = 99) -> np.ndarray:
    """``n`` evenly spaced thresholds 1/(n+1) ... n/(n+1) (the BSDS convention: 99 -> 0.01 ... 0.99),
    or the given ones, checked."""
    if isinstance(thresholds, int | np.integer) and not isinstance(thresholds, bool):
        if thresholds < 1:
            raise InputError(f"the number of thresholds must be at least 1, got {thresholds}")
        return np.linspace(1.0 / (thresholds + 1), thresholds / (thresholds + 1), int(thresholds))
    values = np.asarray(thresholds, dtype=np.float64).ravel()
    if values.size == 0:
        raise InputError("no thresholds given")
    for value in values:
        _check_threshold(float(value))
    return values


# --------------------------------------------------------------------------------------------
# matching
# --------------------------------------------------------------------------------------------
def match_pixels(predicted: np.ndarray, true: np.ndarray, max_distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Match two boolean pixel masks one-to-one within ``max_distance`` px, as many pairs as possible.

    Returns the matched predicted and matched true pixels as boolean masks (equal counts). The
    masks are taken as they are (no thinning); see :class:`BoundaryScorer` for the benchmark.
    """
    predicted, true = np.asarray(predicted, dtype=bool), np.asarray(true, dtype=bool)
    if predicted.shape != true.shape or predicted.ndim != 2:
        raise InputError(f"shape mismatch: predicted {predicted.shape} vs true {true.shape}")
    true_side = TruePixels(true, match_distance_px(max_distance, predicted.shape))
    predicted_px = np.argwhere(predicted)
    _, rows, cols = maximum_matching(*true_side.pairs(predicted_px), true_side.n, want_pairs=True)
    matched_predicted = np.zeros(predicted.shape, bool)
    matched_true = np.zeros(true.shape, bool)
    matched_predicted[tuple(predicted_px[rows].T)] = True
    matched_true[tuple(true_side.px[cols].T)] = True
    return matched_predicted, matched_true


def _prf(matched: int, n_predicted: int, n_true: int) -> tuple[float, float, float]:
    precision = matched / n_predicted if n_predicted else 0.0
    recall = matched / n_true if n_true else 0.0
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f


@dataclass(frozen=True)
class BoundaryMatch:
    """One threshold's match: the thinned prediction, the skeleton and which pixels were paired."""

    predicted: np.ndarray  # bool: the prediction at p >= threshold, thinned
    true: np.ndarray  # bool: the skeletonized tracing
    matched_predicted: np.ndarray  # bool: predicted pixels with a partner (true positives)
    matched_true: np.ndarray  # bool: true pixels with a partner (the rest are misses)
    threshold: float
    max_distance: float

    @property
    def n_predicted(self) -> int:
        return int(np.count_nonzero(self.predicted))

    @property
    def n_true(self) -> int:
        return int(np.count_nonzero(self.true))

    @property
    def n_matched(self) -> int:
        return int(np.count_nonzero(self.matched_predicted))

    def prf(self) -> tuple[float, float, float]:
        """(precision, recall, F); 0 where a denominator is 0."""
        return _prf(self.n_matched, self.n_predicted, self.n_true)


class BoundaryScorer:
    """The tracing side prepared once (skeleton, candidate look-up); then any prediction or threshold
    of the same shape is matched against it (sweeps, ODS)."""

    def __init__(self, trace: np.ndarray, max_distance: DistanceSpec = None,
                 pixel_size: float | None = None) -> None:
        from skimage.morphology import skeletonize

        trace = check_trace(trace)
        if trace.size == 0:
            raise InputError("the tracing is empty")
        self.shape = trace.shape
        self.max_distance = match_distance_px(max_distance, self.shape, pixel_size)
        self.true = skeletonize(trace)
        self._true = TruePixels(self.true, self.max_distance)

    def _check(self, pred: np.ndarray) -> np.ndarray:
        pred = check_prediction(pred)
        if pred.shape != self.shape:
            raise InputError(f"shape mismatch: prediction {pred.shape} vs tracing {self.shape}")
        return pred

    @property
    def n_true(self) -> int:
        return self._true.n

    def _count(self, predicted_px: np.ndarray, want_pairs: bool, start=None):
        return maximum_matching(*self._true.pairs(predicted_px), self.n_true, want_pairs, start)

    def match(self, pred: np.ndarray, threshold: float = 0.5) -> BoundaryMatch:
        """The benchmark at one threshold, with the matched pixels (for the picture)."""
        pred, threshold = self._check(pred), _check_threshold(threshold)
        predicted = thin(pred >= threshold)
        predicted_px = np.argwhere(predicted)
        _, rows, cols = self._count(predicted_px, want_pairs=True)
        matched_predicted = np.zeros(self.shape, bool)
        matched_true = np.zeros(self.shape, bool)
        matched_predicted[tuple(predicted_px[rows].T)] = True
        matched_true[tuple(self._true.px[cols].T)] = True
        return BoundaryMatch(predicted, self.true, matched_predicted, matched_true, threshold, self.max_distance)

    def counts(self, pred: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int]:
        """(matched pairs, predicted pixels, true pixels) at one threshold."""
        pred, threshold = self._check(pred), _check_threshold(threshold)
        predicted_px = np.argwhere(thin(pred >= threshold))
        return self._count(predicted_px, want_pairs=False)[0], len(predicted_px), self.n_true

    def prf(self, pred: np.ndarray, threshold: float = 0.5) -> tuple[float, float, float]:
        """(precision, recall, F) at one threshold."""
        return _prf(*self.counts(pred, threshold))

    def ods(self, pred: np.ndarray, thresholds: int | Sequence[float] | np.ndarray = 99) -> tuple[float, float]:
        """(best F, its threshold) over ``thresholds``; ties go to the lowest threshold.

        Exact, with the work shared between thresholds: thresholds with no pixel of the map between
        them give one mask; every mask is thinned in one bit-parallel run (``thinning.thin_levels``);
        a mask is matched only while its upper bound on F (its pixels with any partner within the
        distance) can still reach the best F found so far, highest bound first, each matching
        starting from the pairs of the nearest mask already matched (only augmenting paths are
        searched).
        """
        pred, values = self._check(pred), ods_thresholds(thresholds)
        ascending = np.unique(values)
        groups = _distinct_masks(pred, ascending)
        levels = thin_levels(pred, ascending[groups])
        within = self._true.within()
        bounds = []
        for group in range(len(groups)):
            predicted_px = levels.pixels(group)
            reachable = int(np.count_nonzero(within[predicted_px[:, 0], predicted_px[:, 1]]))
            bounds.append(_prf(min(reachable, self.n_true), len(predicted_px), self.n_true)[2])
        del within
        cols = self.shape[1]
        matched: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # group -> (pixel keys, true indices) paired
        best_f, best_group = -1.0, len(groups)
        for group in sorted(range(len(groups)), key=lambda g: (-bounds[g], g)):
            if bounds[group] < best_f:
                break
            predicted_px = levels.pixels(group)
            keys = predicted_px[:, 0].astype(np.int64) * cols + predicted_px[:, 1]
            start = None
            if matched:  # the pairs of the nearest matched mask whose predicted pixel is still here
                near_keys, near_cols = matched[min(matched, key=lambda g: abs(g - group))]
                position = np.minimum(np.searchsorted(keys, near_keys), len(keys) - 1)
                here = keys[position] == near_keys if len(keys) else np.zeros(len(near_keys), bool)
                start = (position[here], near_cols[here])
            count, rows, true_cols = self._count(predicted_px, want_pairs=True, start=start)
            matched[group] = (keys[rows], true_cols)
            f = _prf(count, len(predicted_px), self.n_true)[2]
            if f > best_f or (f == best_f and group < best_group):
                best_f, best_group = f, group
        return best_f, float(ascending[groups[best_group]])


def _distinct_masks(pred: np.ndarray, ascending: np.ndarray) -> np.ndarray:
    """Indices of the first threshold of each distinct mask ``pred >= t`` (ascending thresholds): the
    next threshold gives another mask only where some pixel lies between the two."""
    level_counts = np.zeros(len(ascending) + 1, np.int64)
    rows_per_block = max(1, (1 << 22) // max(1, pred.shape[1]))  # a few MB of levels at a time
    for top in range(0, pred.shape[0], rows_per_block):
        level = np.searchsorted(ascending, pred[top:top + rows_per_block].ravel(), side="right")
        level_counts += np.bincount(level, minlength=len(ascending) + 1)
    # thresholds j - 1 and j give the same mask unless a pixel has exactly j thresholds below it
    return np.flatnonzero(np.concatenate([[True], level_counts[1:len(ascending)] > 0]))


def boundary_match(
    pred: np.ndarray, trace: np.ndarray, threshold: float = 0.5, max_distance: DistanceSpec = None
) -> BoundaryMatch:
    """The benchmark's match at one threshold, with the matched pixels (the BSDS picture)."""
    return BoundaryScorer(trace, max_distance).match(pred, threshold)


def boundary_prf(
    pred: np.ndarray, trace: np.ndarray, threshold: float = 0.5, max_distance: DistanceSpec = None
) -> tuple[float, float, float]:
    """Boundary (precision, recall, F) at ``threshold``; ``max_distance`` in pixels (default 3 px; text
    such as ``"bsds"`` as :func:`match_distance_px` reads it)."""
    return BoundaryScorer(trace, max_distance).prf(pred, threshold)


def boundary_ods(
    pred: np.ndarray,
    trace: np.ndarray,
    thresholds: int | Sequence[float] | np.ndarray = 99,
    max_distance: DistanceSpec = None,
) -> tuple[float, float]:
    """The optimal dataset scale (ODS) of one image: the best boundary F over evenly spaced
    thresholds (99 -> 0.01 ... 0.99) and the threshold that gives it."""
    return BoundaryScorer(trace, max_distance).ods(pred, thresholds)
