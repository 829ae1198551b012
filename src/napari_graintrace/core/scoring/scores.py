"""Pointwise and spatially tolerant scores of a boundary prediction against a hand tracing.

Definitions (docs/design.md, "Scores", exact): ``p`` is a probability map in [0, 1], ``t`` a boolean
tracing, means run over all N pixels.

* ``bce``: PyTorch's binary cross-entropy (log clamped at -100). It double-penalises a line that
  is off by two pixels (a missed pixel *and* a false one).
* ``tophat_loss``: -mean(p R), R = +1 within a k x k square of the trace, -1 elsewhere.
* ``gaussian_loss``: -mean(p (2G - 1)) with G the max-aggregated Gaussian of the distance to the
  nearest trace pixel inside a ``window`` x ``window`` square (0 where there is none).
* ``tolerant_prf``: balanced tolerant precision/recall/F that also penalises missed boundaries.

How it is fast and still exact: G(x) = exp(-d_w(x)^2 / 2 sigma^2), where d_w^2 is the smallest
squared distance to a trace pixel inside the square window. Because both the window (a box) and
the squared distance (dy^2 + dx^2) separate into rows and columns, d_w^2 is two 1-D min-plus
filters (scipy's ``grey_erosion`` with a parabolic structuring element): 2k operations per pixel
instead of the k^2 of the definition. d_w^2 takes only a few distinct integer values, so the
loss for a new sigma is a sum over a per-distance histogram of p (:class:`GaussianScorer`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..checks import check_odd, check_pair, check_prediction, check_sigma, check_trace
from ..errors import InputError
from .boundary import boundary_ods, boundary_prf  # the BSDS benchmark, named here as scores.* (design.md)

__all__ = [
    "GaussianScorer",
    "bce",
    "bce_parts",
    "bce_parts_and_boundary",
    "boundary_ods",
    "boundary_prf",
    "gaussian_loss",
    "gaussian_map",
    "gaussian_reward",
    "loss_from_summary",
    "score_all",
    "soft_dilation",
    "tolerant_prf",
    "tophat_loss",
    "tophat_loss_from_summary",
    "tophat_mask",
    "tophat_reward",
    "tophat_summary",
    "windowed_sq_distance",
]

_LOG_CLAMP = -100.0  # torch.nn.functional.binary_cross_entropy clamps log() at -100


# --------------------------------------------------------------------------------------------
# BCE
# --------------------------------------------------------------------------------------------
def bce(pred: np.ndarray, trace: np.ndarray) -> float:
    """Binary cross-entropy exactly as ``torch.nn.functional.binary_cross_entropy`` (float64)."""
    pred, trace = check_pair(pred, trace)
    p = pred.astype(np.float64)
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), _LOG_CLAMP)
        log_not_p = np.maximum(np.log1p(-p), _LOG_CLAMP)
    return float(-np.mean(np.where(trace, log_p, log_not_p))) + 0.0  # no "-0.0" for a perfect map


def bce_parts(pred: np.ndarray, trace: np.ndarray) -> tuple[float, float, float]:
    """BCE in parts: ``(missed, false, clamped)``.

    ``missed`` = sum over trace pixels of -log p, / N (what the red pixels of the BCE overlay cost);
    ``false`` = sum over background pixels of -log(1 - p), / N (the blue ones); ``missed + false``
    is the BCE (to float rounding). ``clamped`` = the share of the BCE (0 to 1) that comes from
    pixels whose log hit the -100 clamp: p = 0 on a trace pixel or p = 1 on background, which is
    what an 8-bit map produces wherever the network was surer than 1/510.
    """
    pred, trace = check_pair(pred, trace)
    p = pred.astype(np.float64)
    with np.errstate(divide="ignore"):
        log_p = np.log(p[trace])
        log_not_p = np.log1p(-p[~trace])
    missed = float(-np.maximum(log_p, _LOG_CLAMP).sum()) / p.size + 0.0
    false = float(-np.maximum(log_not_p, _LOG_CLAMP).sum()) / p.size + 0.0
    n_clamped = int(np.count_nonzero(log_p <= _LOG_CLAMP)) + int(np.count_nonzero(log_not_p <= _LOG_CLAMP))
    total = missed + false
    clamped = -_LOG_CLAMP * n_clamped / p.size / total if total > 0 else 0.0
    return missed, false, clamped


# --------------------------------------------------------------------------------------------
# top-hat
# --------------------------------------------------------------------------------------------
def tophat_mask(trace: np.ndarray, kernel: int = 3) -> np.ndarray:
    """The tracing dilated by a ``kernel`` x ``kernel`` square (pixels outside the image are empty)."""
    trace, kernel = check_trace(trace), check_odd(kernel, "kernel")
    size = 2 * effective_radius(trace.shape, kernel) + 1  # a kernel larger than the image: the same mask
    return ndi.maximum_filter(trace, size=size, mode="constant", cval=False)


def tophat_reward(trace: np.ndarray, kernel: int = 3) -> np.ndarray:
    """R = +1 inside the dilated tracing, -1 elsewhere (float32)."""
    return np.where(tophat_mask(trace, kernel), np.float32(1), np.float32(-1))


def tophat_summary(pred: np.ndarray, trace: np.ndarray, max_kernel: int = 31) -> np.ndarray:
    """Sum of p per Chebyshev distance to the tracing (0 .. max_kernel // 2): top-hat for any kernel.

    The k x k dilation is exactly "Chebyshev distance <= k // 2", so
    ``tophat_loss_from_summary(summary, sum(p), N, k)`` equals ``tophat_loss(p, t, k)``.
    """
    pred, trace = check_pair(pred, trace)
    radius = check_odd(max_kernel, "max_kernel") // 2
    if not trace.any():
        return np.zeros(radius + 1)
    distance = ndi.distance_transform_cdt(~trace, metric="chessboard")
    near = distance <= radius
    return np.bincount(distance[near], weights=pred[near].astype(np.float64), minlength=radius + 1)


def tophat_loss_from_summary(chebyshev_mass: np.ndarray, pred_total, size, kernel: int):
    """Top-hat loss from :func:`tophat_summary` (rows of ``chebyshev_mass`` give one loss each)."""
    reach = check_odd(kernel, "kernel") // 2 + 1
    if reach > np.shape(chebyshev_mass)[-1]:
        raise InputError(f"kernel {kernel} is larger than the summary's {2 * np.shape(chebyshev_mass)[-1] - 1}")
    inside = np.asarray(chebyshev_mass)[..., :reach].sum(axis=-1)
    return -(2.0 * inside - np.asarray(pred_total)) / np.asarray(size)


def tophat_loss(pred: np.ndarray, trace: np.ndarray, kernel: int = 3) -> float:
    """-mean(p R) with the top-hat reward R; lower is better, -mean(p) <= loss <= mean(p)."""
    pred, trace = check_pair(pred, trace)
    p = pred.astype(np.float64)
    inside = float(p[tophat_mask(trace, kernel)].sum())
    return -(2.0 * inside - float(p.sum())) / p.size


# --------------------------------------------------------------------------------------------
# normalized Gaussian
# --------------------------------------------------------------------------------------------
def effective_radius(shape: tuple[int, ...], window: int) -> int:
    """``window // 2`` bounded by the image: no two pixels are further apart than ``max(H, W) - 1``.

    Every result is the same for any larger window, so a window of 100001 costs what the image
    allows, never more.
    """
    return max(0, min(check_odd(window, "window") // 2, max(shape, default=1) - 1))


def max_sq_distance(shape: tuple[int, ...], window: int) -> int:
    """The largest squared distance a pixel can have to a trace pixel inside its window."""
    radius = effective_radius(shape, window)
    return sum(min(radius, side - 1) ** 2 for side in shape)


def windowed_sq_distance(trace: np.ndarray, window: int = 15) -> np.ndarray:
    """Squared distance to the nearest trace pixel y with |x - y|_inf <= window // 2.

    Returns int32 (int64 for huge images); -1 where no trace pixel lies in the window. Computed as
    two separable 1-D min-plus filters (rows, then columns), which is exact because min over a box
    of (dy^2 + dx^2 + [no trace]) = min_dy (dy^2 + min_dx (dx^2 + [no trace])). A window that
    covers the whole image is the plain Euclidean distance transform, O(N) whatever the window.
    """
    trace = check_trace(trace)
    radius = effective_radius(trace.shape, window)
    index_type = np.int32 if max_sq_distance(trace.shape, window) < 2**31 - 1 else np.int64
    if not trace.any():
        return np.full(trace.shape, -1, dtype=index_type)
    if radius >= max(trace.shape) - 1:  # the window holds the whole image from every pixel
        nearest = ndi.distance_transform_edt(~trace, return_distances=False, return_indices=True)
        rows, cols = np.indices(trace.shape, dtype=np.int64)
        return ((nearest[0] - rows) ** 2 + (nearest[1] - cols) ** 2).astype(index_type)
    # float32 holds every integer up to 2**24 exactly; beyond that (huge windows) use float64
    dtype = np.float32 if 2 * radius * radius < 2**24 else np.float64
    parabola = -(np.arange(-radius, radius + 1, dtype=dtype) ** 2)
    dist = np.where(trace, dtype(0), dtype(np.inf))
    dist = ndi.grey_erosion(dist, structure=parabola[None, :], mode="constant", cval=np.inf)
    dist = ndi.grey_erosion(dist, structure=parabola[:, None], mode="constant", cval=np.inf)
    out = np.full(dist.shape, -1, dtype=index_type)
    finite = np.isfinite(dist)
    out[finite] = dist[finite].astype(index_type)
    return out


def _gaussian_of_sq_distance(sq_distance: np.ndarray, sigma: float) -> np.ndarray:
    # sigma so small that sigma^2 underflows: the limit, 1 on the trace and 0 elsewhere (not 0 / 0)
    return np.exp(_log_gaussian_of_sq_distance(sq_distance, sigma))


def _log_gaussian_of_sq_distance(sq_distance: np.ndarray, sigma: float) -> np.ndarray:
    """-d / (2 sigma^2), with the sigma -> 0 limit (0 at d = 0, -inf elsewhere) instead of 0 / 0."""
    sq_distance = np.asarray(sq_distance, dtype=np.float64)
    scale = 2.0 * sigma * sigma
    if scale == 0.0:
        return np.where(sq_distance == 0, 0.0, -np.inf)
    with np.errstate(over="ignore"):
        return -sq_distance / scale


def gaussian_map(trace: np.ndarray, sigma: float = 3.0, window: int = 15) -> np.ndarray:
    """G in [0, 1] (float32): the max-aggregated Gaussian of the nearest trace pixel in the window."""
    sigma = check_sigma(sigma)
    sq = windowed_sq_distance(trace, window)
    table = _gaussian_of_sq_distance(np.arange(sq.max(initial=0) + 1, dtype=np.float64), sigma)
    table = np.append(table, 0.0).astype(np.float32)  # index -1 -> no trace in the window
    return table[sq]


def gaussian_reward(trace: np.ndarray, sigma: float = 3.0, window: int = 15) -> np.ndarray:
    """R = 2G - 1 in [-1, 1] (float32)."""
    return 2 * gaussian_map(trace, sigma, window) - 1


def gaussian_loss(pred: np.ndarray, trace: np.ndarray, sigma: float = 3.0, window: int = 15) -> float:
    """-mean(p (2G - 1)); lower is better. Smaller sigma is stricter."""
    return GaussianScorer(pred, trace, window).loss(sigma)


class GaussianScorer:
    """Precompute once per (prediction, tracing, window); then score any sigma in microseconds.

    The napari sigma slider calls :meth:`loss` on every move: it sums a histogram of p over the
    few distinct squared distances (at most 2 (window // 2)^2 + 1 bins) and never touches the
    image again. :meth:`reward_map` is one table look-up over the image.
    """

    def __init__(self, pred: np.ndarray, trace: np.ndarray, window: int = 15) -> None:
        pred, trace = check_pair(pred, trace)
        self.window = check_odd(window, "window")
        self.shape = pred.shape
        sq = windowed_sq_distance(trace, self.window)
        # bins 0 .. the largest squared distance the window allows *in this image* (a window larger
        # than the image gives the same scores and must not cost more)
        n_bins = max_sq_distance(self.shape, self.window) + 1
        # index n_bins = "no trace pixel in the window"; the smallest dtype that holds it keeps the
        # look-up fast (uint16 for every window up to 361, uint32 above: window 365 overflowed uint16)
        index_dtype = next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if n_bins <= np.iinfo(t).max)
        self._index = np.where(sq < 0, n_bins, sq).astype(index_dtype)
        p = pred.astype(np.float64).ravel()
        self._sq_values = np.arange(n_bins, dtype=np.float64)
        self._pred_mass = np.bincount(self._index.ravel(), weights=p, minlength=n_bins + 1)[:n_bins]
        self._pred_total = float(p.sum())
        self._size = p.size

    def _table(self, sigma: float) -> np.ndarray:
        return _gaussian_of_sq_distance(self._sq_values, check_sigma(sigma))

    @property
    def summary(self) -> tuple[np.ndarray, float, int]:
        """(sum of p per squared distance, sum of p, number of pixels): all that :meth:`loss` needs."""
        return self._pred_mass, self._pred_total, self._size

    def loss(self, sigma: float) -> float:
        """-mean(p (2G - 1)) for this sigma, from the per-distance summary only."""
        return float(loss_from_summary(*self.summary, sigma))

    def precision(self, sigma: float) -> float:
        """Tolerant precision sum(p G) / sum(p), also from the summary (0 for an empty prediction)."""
        table = self._table(sigma)  # checks sigma even when the answer is 0
        if self._pred_total == 0:
            return 0.0
        return float(self._pred_mass @ table) / self._pred_total

    def gaussian_map(self, sigma: float) -> np.ndarray:
        """G for this sigma (float32), one look-up per pixel."""
        table = np.append(self._table(sigma), 0.0).astype(np.float32)
        return table[self._index]

    def reward_map(self, sigma: float) -> np.ndarray:
        """R = 2G - 1 for this sigma (float32), one look-up per pixel."""
        table = np.append(2.0 * self._table(sigma) - 1.0, -1.0).astype(np.float32)
        return table[self._index]


def loss_from_summary(pred_mass: np.ndarray, pred_total, size, sigma: float):
    """The Gaussian loss from :attr:`GaussianScorer.summary`; rows of ``pred_mass`` give one loss each.

    This is what makes a whole loss-vs-epoch curve for a new sigma one small matrix product.
    """
    table = _gaussian_of_sq_distance(np.arange(np.shape(pred_mass)[-1], dtype=np.float64), check_sigma(sigma))
    return -(2.0 * (np.asarray(pred_mass) @ table) - np.asarray(pred_total)) / np.asarray(size)


# --------------------------------------------------------------------------------------------
# tolerant precision / recall / F
# --------------------------------------------------------------------------------------------
def soft_dilation(pred: np.ndarray, sigma: float = 3.0, window: int = 15) -> np.ndarray:
    """D_p(x) = max over y in the window of p(y) exp(-|x - y|^2 / 2 sigma^2) (float64).

    Separable in the log domain: log D = max_dy (-dy^2/2s^2 + max_dx (-dx^2/2s^2 + log p)).
    """
    pred, sigma = check_prediction(pred), check_sigma(sigma)
    radius = effective_radius(pred.shape, window)
    parabola = _log_gaussian_of_sq_distance(np.arange(-radius, radius + 1, dtype=np.float64) ** 2, sigma)
    with np.errstate(divide="ignore"):
        log_p = np.log(pred.astype(np.float64))
    log_d = ndi.grey_dilation(log_p, structure=parabola[None, :], mode="constant", cval=-np.inf)
    log_d = ndi.grey_dilation(log_d, structure=parabola[:, None], mode="constant", cval=-np.inf)
    return np.exp(log_d)


def tolerant_prf(
    pred: np.ndarray, trace: np.ndarray, sigma: float = 3.0, window: int = 15
) -> tuple[float, float, float]:
    """Balanced tolerant (precision, recall, F).

    precision = sum(p G_t) / sum(p): how much predicted mass lies near the tracing;
    recall = sum(t D_p) / sum(t): how well each trace pixel is found nearby;
    F = 2PR / (P + R). A denominator of 0 gives 0.
    """
    pred, trace = check_pair(pred, trace)
    precision = GaussianScorer(pred, trace, window).precision(sigma)
    n_trace = int(np.count_nonzero(trace))
    recall = float(soft_dilation(pred, sigma, window)[trace].sum()) / n_trace if n_trace else 0.0
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f


def score_all(
    pred: np.ndarray, trace: np.ndarray, sigma: float = 3.0, window: int = 15, kernel: int = 3
) -> dict[str, float]:
    """Every score with the keys of ``graintrace score --json``."""
    precision, recall, f = tolerant_prf(pred, trace, sigma, window)
    return {
        "bce": bce(pred, trace),
        "tophat": tophat_loss(pred, trace, kernel),
        "gaussian": gaussian_loss(pred, trace, sigma, window),
        "precision": precision,
        "recall": recall,
        "f": f,
    }


def bce_parts_and_boundary(
    pred: np.ndarray, trace: np.ndarray, threshold: float = 0.5, max_distance=None,
    pixel_size: float | None = None,
) -> dict[str, float]:
    """The keys ``graintrace score --json`` adds to :func:`score_all`: BCE in parts
    (``bce_missed``, ``bce_false``, ``bce_clamped``) and the boundary benchmark at ``threshold``
    (``boundary_precision``, ``boundary_recall``, ``boundary_f``) with the distance it matched
    within (``boundary_match_distance``, px; ``max_distance`` as ``boundary.match_distance_px``
    reads it, default 3 px)."""
    from .boundary import BoundaryScorer

    missed, false, clamped = bce_parts(pred, trace)
    scorer = BoundaryScorer(trace, max_distance, pixel_size)
    precision, recall, f = scorer.prf(pred, threshold)
    return {
        "bce_missed": missed,
        "bce_false": false,
        "bce_clamped": clamped,
        "boundary_precision": precision,
        "boundary_recall": recall,
        "boundary_f": f,
        "boundary_match_distance": scorer.max_distance,
    }
