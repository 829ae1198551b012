"""The field's boundary benchmark (BSDS matched precision / recall / F), exact and fast.

Definition (``shared/design.md``, "Boundary benchmark"): the prediction is binarized at
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

from .errors import InputError
from .options import BSDS_DISTANCE_FRACTION, MATCH_DISTANCE_PX, MatchDistance, match_distance

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
# thinning: skimage.morphology.thin, looking only where something changed
# --------------------------------------------------------------------------------------------
def _thin_tables() -> tuple[np.ndarray, np.ndarray]:
    """Guo & Hall's deletion tables of the two sub-iterations (as in skimage), indexed by the
    8-neighbour code; bit i is neighbour i counted anticlockwise from east (E, NE, N, NW, W, SW,
    S, SE)."""
    first, second = np.zeros(256, bool), np.zeros(256, bool)
    for code in range(256):
        b = [(code >> i) & 1 for i in range(8)]
        crossings = sum(1 for i in (0, 2, 4, 6) if not b[i] and (b[i + 1] or b[(i + 2) % 8]))
        n1 = sum(1 for k in (1, 3, 5, 7) if b[k] or b[k - 1])
        n2 = sum(1 for k in (1, 3, 5, 7) if b[k] or b[(k + 1) % 8])
        g12 = crossings == 1 and min(n1, n2) in (2, 3)
        first[code] = g12 and not ((b[1] or b[2] or not b[7]) and b[0])
        second[code] = g12 and not ((b[5] or b[6] or not b[3]) and b[4])
    return first, second


_THIN_TABLES = _thin_tables()


def thin(mask: np.ndarray) -> np.ndarray:
    """The same image as ``skimage.morphology.thin(mask)``, faster.

    Each sub-iteration deletes the pixels whose neighbourhood code is in its table. A pixel that a
    sub-iteration kept is kept again by the same table while its neighbourhood is unchanged, so
    after the first two sub-iterations only the foreground neighbours of pixels deleted in the last
    two sub-iterations are looked at; it stops where skimage stops (two sub-iterations in a row
    without a deletion, i.e. a full iteration without change).
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise InputError(f"thinning needs a 2-D mask, got shape {mask.shape}")
    rows, cols = mask.shape
    stride = cols + 2
    padded = np.zeros((rows + 2, stride), np.uint8)  # a 0 border: skimage correlates with mode="constant"
    padded[1:-1, 1:-1] = mask
    flat = padded.ravel()
    offsets = np.array([1, 1 - stride, -stride, -stride - 1, -1, stride - 1, stride, stride + 1], np.intp)
    owner = np.empty(flat.size, np.intp)
    deleted = [np.empty(0, np.intp), np.empty(0, np.intp)]
    step = 0
    while True:
        table = _THIN_TABLES[step % 2]
        if step < 2:
            candidates = np.flatnonzero(flat)
        else:
            recent = np.concatenate(deleted)
            if recent.size == 0:
                break
            near = (recent[:, None] + offsets).ravel()
            near = near[flat[near] != 0]
            order = np.arange(near.size)
            owner[near] = order  # keep one copy of each pixel (the last write wins) without sorting
            candidates = near[owner[near] == order]
        code = flat[candidates + offsets[0]].copy()
        for bit in range(1, 8):
            code |= flat[candidates + offsets[bit]] << bit
        gone = candidates[table[code]]
        flat[gone] = 0
        deleted[step % 2] = gone
        step += 1
    return padded[1:-1, 1:-1].astype(bool)


# --------------------------------------------------------------------------------------------
# matching
# --------------------------------------------------------------------------------------------
_PAIR_CHUNK = 32768  # predicted pixels per k-d tree query: bounds the memory of a noisy map's pairs


def _pairs_within(predicted_px: np.ndarray, true_tree, true_px: np.ndarray, max_distance: float):
    """CSR (indptr, indices) of the true pixels within ``max_distance`` of each predicted pixel.

    The k-d tree is asked with a hair more than the distance, then every pair is checked on exact
    integer squared distances (``dy^2 + dx^2 <= max_distance^2``, the BSDS test). Predicted pixels
    go in chunks, so an untrained, noisy map (hundreds of thousands of pixels, tens of millions of
    pairs) never holds more than one chunk's float distances at a time.
    """
    from scipy.spatial import cKDTree

    n_pred = len(predicted_px)
    indptr = np.zeros(n_pred + 1, np.int64)
    if n_pred == 0 or len(true_px) == 0:
        return indptr, np.empty(0, np.int32)
    reach = max_distance * (1 + 1e-9) + 1e-9
    limit = max_distance * max_distance
    counts, parts = np.zeros(n_pred, np.int64), []
    for start in range(0, n_pred, _PAIR_CHUNK):
        chunk = predicted_px[start:start + _PAIR_CHUNK]
        pairs = cKDTree(chunk).sparse_distance_matrix(true_tree, reach, output_type="ndarray")
        i, j = pairs["i"], pairs["j"]
        delta = chunk[i].astype(np.int64) - true_px[j]
        keep = (delta * delta).sum(axis=1) <= limit
        i, j = i[keep], j[keep]
        order = np.argsort(i, kind="stable")
        parts.append(j[order].astype(np.int32))
        counts[start:start + len(chunk)] = np.bincount(i, minlength=len(chunk))
    np.cumsum(counts, out=indptr[1:])
    return indptr, np.concatenate(parts)


def _maximum_matching(indptr: np.ndarray, indices: np.ndarray, n_true: int, want_pairs: bool):
    """Maximum bipartite matching of predicted rows to true columns as a unit max flow (Dinic).

    Nodes: predicted 0..P-1, true P..P+T-1, source P+T, sink P+T+1. Returns the number of pairs
    and, if asked, the matched predicted and true indices.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    n_pred = len(indptr) - 1
    if indices.size == 0:
        empty = np.empty(0, np.int64)
        return 0, empty, empty
    source, sink = n_pred + n_true, n_pred + n_true + 1
    n_nodes = n_pred + n_true + 2
    # rows in node order: predicted -> true, true -> sink, source -> predicted, sink -> nothing
    flow_indptr = np.concatenate([
        indptr,
        indptr[-1] + 1 + np.arange(n_true, dtype=np.int64),
        [indptr[-1] + n_true + n_pred, indptr[-1] + n_true + n_pred],
    ])
    flow_indices = np.concatenate([indices.astype(np.int64) + n_pred, np.full(n_true, sink), np.arange(n_pred)])
    capacity = csr_matrix(
        (np.ones(flow_indices.size, np.int32), flow_indices.astype(np.int32), flow_indptr.astype(np.int32)),
        shape=(n_nodes, n_nodes),
    )
    result = maximum_flow(capacity, source, sink, method="dinic")
    if not want_pairs:
        empty = np.empty(0, np.int64)
        return int(result.flow_value), empty, empty
    flow = result.flow.tocsr()[:n_pred].tocoo()
    used = (flow.data > 0) & (flow.col >= n_pred) & (flow.col < n_pred + n_true)
    return int(result.flow_value), flow.row[used].astype(np.int64), flow.col[used].astype(np.int64) - n_pred


def match_pixels(predicted: np.ndarray, true: np.ndarray, max_distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Match two boolean pixel masks one-to-one within ``max_distance`` px, as many pairs as possible.

    Returns the matched predicted and matched true pixels as boolean masks (equal counts). The
    masks are taken as they are (no thinning); see :class:`BoundaryScorer` for the benchmark.
    """
    predicted, true = np.asarray(predicted, dtype=bool), np.asarray(true, dtype=bool)
    if predicted.shape != true.shape or predicted.ndim != 2:
        raise InputError(f"shape mismatch: predicted {predicted.shape} vs true {true.shape}")
    max_distance = match_distance_px(max_distance, predicted.shape)
    from scipy.spatial import cKDTree

    true_px = np.argwhere(true)
    predicted_px = np.argwhere(predicted)
    tree = cKDTree(true_px) if len(true_px) else None
    indptr, indices = _pairs_within(predicted_px, tree, true_px, max_distance)
    _, rows, cols = _maximum_matching(indptr, indices, len(true_px), want_pairs=True)
    matched_predicted = np.zeros(predicted.shape, bool)
    matched_true = np.zeros(true.shape, bool)
    matched_predicted[tuple(predicted_px[rows].T)] = True
    matched_true[tuple(true_px[cols].T)] = True
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

    def rgb(self) -> np.ndarray:
        """The BSDS picture: matched white, unmatched predicted blue, unmatched true red."""
        from .overlays import boundary_match_rgb

        return boundary_match_rgb(self.matched_predicted, self.matched_true, self.predicted, self.true)


class BoundaryScorer:
    """The tracing side prepared once (skeleton, k-d tree, distance map); then any prediction or
    threshold of the same shape is matched against it (sweeps, ODS)."""

    def __init__(self, trace: np.ndarray, max_distance: DistanceSpec = None,
                 pixel_size: float | None = None) -> None:
        from scipy.spatial import cKDTree
        from skimage.morphology import skeletonize

        from .scores import check_trace

        trace = check_trace(trace)
        if trace.size == 0:
            raise InputError("the tracing is empty")
        self.shape = trace.shape
        self.max_distance = match_distance_px(max_distance, self.shape, pixel_size)
        self.true = skeletonize(trace)
        self._true_px = np.argwhere(self.true)
        self._tree = cKDTree(self._true_px) if len(self._true_px) else None
        self._distance = None  # Euclidean distance to the skeleton, made on the first ODS

    def _check(self, pred: np.ndarray) -> np.ndarray:
        from .scores import check_prediction

        pred = check_prediction(pred)
        if pred.shape != self.shape:
            raise InputError(f"shape mismatch: prediction {pred.shape} vs tracing {self.shape}")
        return pred

    @property
    def n_true(self) -> int:
        return len(self._true_px)

    def _count(self, predicted_px: np.ndarray, want_pairs: bool):
        indptr, indices = _pairs_within(predicted_px, self._tree, self._true_px, self.max_distance)
        matched, rows, cols = _maximum_matching(indptr, indices, self.n_true, want_pairs)
        return matched, rows, cols

    def match(self, pred: np.ndarray, threshold: float = 0.5) -> BoundaryMatch:
        """The benchmark at one threshold, with the matched pixels (for the picture)."""
        pred, threshold = self._check(pred), _check_threshold(threshold)
        predicted = thin(pred >= threshold)
        predicted_px = np.argwhere(predicted)
        _, rows, cols = self._count(predicted_px, want_pairs=True)
        matched_predicted = np.zeros(self.shape, bool)
        matched_true = np.zeros(self.shape, bool)
        matched_predicted[tuple(predicted_px[rows].T)] = True
        matched_true[tuple(self._true_px[cols].T)] = True
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

        Exact: a threshold is matched only while its upper bound on F (from the pixels that have
        any partner within the distance) can still reach the best F found so far.
        """
        pred, values = self._check(pred), ods_thresholds(thresholds)
        if self._distance is None:
            from scipy import ndimage as ndi

            self._distance = (
                ndi.distance_transform_edt(~self.true) if self.n_true else np.full(self.shape, np.inf)
            )
        reach = self.max_distance * (1 + 1e-9) + 1e-9  # a bound may only err upwards
        thinned: dict[int, np.ndarray] = {}  # nested thresholds: same pixel count = same binary map
        candidates = []
        for index, threshold in enumerate(values):
            binary = pred >= threshold
            key = int(np.count_nonzero(binary))
            if key not in thinned:
                thinned[key] = np.argwhere(thin(binary)).astype(np.int32)  # pixels, not images: small
            predicted_px = thinned[key]
            reachable = int(np.count_nonzero(self._distance[tuple(predicted_px.T)] <= reach))
            bound = _prf(min(reachable, self.n_true), len(predicted_px), self.n_true)[2]
            candidates.append((bound, index, predicted_px))
        best_f, best_index = -1.0, len(values)
        for bound, index, predicted_px in sorted(candidates, key=lambda c: (-c[0], c[1])):
            if bound < best_f:
                break
            matched = self._count(predicted_px, want_pairs=False)[0]
            f = _prf(matched, len(predicted_px), self.n_true)[2]
            if f > best_f or (f == best_f and index < best_index):
                best_f, best_index = f, index
        return best_f, float(values[best_index])


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
