"""From a boundary map to grains: the lab's post-processing, grain statistics, comparison, tuning.

A pixel score barely moves when a 3-px gap merges two grains; a grain count does. This module turns
a probability map (or a tracing) into grains and measures them the way the Barmak lab's papers do
(docs/grains.md):

* :func:`segment` is grain_unet's ``post_process`` on our polarity (p = boundary probability):
  hysteresis threshold (8-connected, as the lab's ``confidence_overlap``), ``dilations`` cross-shaped
  dilations, holes smaller than ``min_area`` px filled, skeletonized, spurs shorter than ``prune`` px
  removed. A map of only 0 and 1 is a tracing and is only skeletonized (its minority value is the
  boundary, as ``io.as_trace`` reads tracings). Grains are the 4-connected
  components of the non-boundary pixels (label 0 = boundary).
* :func:`stats`: count, mean area and mean lineal intercept of the interior grains, ASTM E112 G.
* :func:`compare`: VI split/merge, adapted Rand error, one-to-one IoU > 0.5 grain matches, the lab's
  centroid matching (orphans, disregistry) and a KS test of the size distributions.
* :func:`tune_steps`: the post-processing parameters with the best grain F1 against a tracing.

Every step is array-at-a-time (scipy.ndimage labels and bincounts, a sparse contingency table):
a slider move at 1024 x 1024 re-segments in about 120-145 ms of CPU (``benchmarks/bench_grains.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ..errors import InputError
from ..options import GRAIN_COMBINES as COMBINES
from ..options import GrainOptions

__all__ = [
    "COMBINES",
    "FATES",
    "SWEEP_METRICS",
    "GrainOptions",
    "GrainTable",
    "Segmenter",
    "TuneResult",
    "boundaries",
    "combine_maps",
    "compare",
    "compare_with_fates",
    "dilate",
    "fill_small_holes",
    "grain_fates",
    "grain_metrics",
    "grain_table",
    "hysteresis",
    "intercept_lengths",
    "is_tracing",
    "label_grains",
    "prune_spurs",
    "segment",
    "size_distributions",
    "stats",
    "trace_labels",
    "tune",
    "tune_steps",
]

# fates of grains against the truth: predicted grains are matched / split / merged / spurious,
# true grains matched / missed (codes are the index + 1; 0 = boundary)
FATES: tuple[str, ...] = ("matched", "split", "merged", "spurious", "missed")
SWEEP_METRICS: tuple[str, ...] = ("vi_merge", "vi_split", "grain_f1", "orphan_fraction", "size_ks")
_CROSS = ndi.generate_binary_structure(2, 1)  # 4-connectivity: grains, hole filling, dilations
_EIGHT = np.ones((3, 3), dtype=bool)  # 8-connectivity: boundaries (a diagonal step does not break a line)
_EDGE_PAD = 16  # px the mask is extended past the image edge before thinning (see _skeleton)
_CENTROID_CUTOFF = 0.3  # grain_unet analysis/objective_functions: x the mean true nearest-neighbour distance


# --------------------------------------------------------------------------------------------
# boundary map -> 1-px boundaries -> grains
# --------------------------------------------------------------------------------------------
def _unit_map(pred: np.ndarray, what: str = "prediction") -> np.ndarray:
    pred = np.asarray(pred)
    if pred.dtype == np.bool_:
        return pred.astype(np.float32)
    if pred.ndim != 2:
        raise InputError(f"a {what} must be a 2-D image, got shape {pred.shape}")
    if not np.issubdtype(pred.dtype, np.floating):
        raise InputError(f"a {what} must be float in [0, 1] (or boolean), got {pred.dtype}")
    if not np.all(np.isfinite(pred)):
        raise InputError(f"the {what} contains NaN or infinite values")
    if pred.size == 0:
        raise InputError(f"the {what} is empty")
    if pred.min() < 0 or pred.max() > 1:
        raise InputError(f"the {what} has values in [{pred.min():g}, {pred.max():g}], outside [0, 1]")
    return pred


def combine_maps(preds: np.ndarray | Sequence[np.ndarray], how: str = "max") -> np.ndarray:
    """One map from several maps of one area (tilts, fields of view): ``max`` or ``mean`` of p."""
    if how not in COMBINES:
        raise InputError(f"unknown combine {how!r}; choose one of {', '.join(COMBINES)}")
    if isinstance(preds, np.ndarray) and preds.ndim == 2:
        return _unit_map(preds)
    maps = [_unit_map(p) for p in preds]
    if not maps:
        raise InputError("give at least one prediction")
    shapes = {m.shape for m in maps}
    if len(shapes) > 1:
        raise InputError(f"the maps of one area must share a shape, got {sorted(shapes)}")
    if len(maps) == 1:
        return maps[0]
    stack = np.stack(maps)
    return stack.max(axis=0) if how == "max" else stack.mean(axis=0, dtype=np.float64).astype(np.float32)


def is_tracing(pred: np.ndarray) -> bool:
    """True for a map of only 0 and 1: a tracing, which is skeletonized and nothing else."""
    pred = np.asarray(pred)
    return pred.dtype == np.bool_ or bool(np.all((pred == 0) | (pred == 1)))


def hysteresis(pred: np.ndarray, low: float, high: float) -> np.ndarray:
    """``p > low`` pixels 8-connected to a ``p > high`` pixel (the lab's ``confidence_overlap``).

    Thresholds are compared in the map's own precision, so an 8-bit map splits between the same
    grey levels as the lab's ``img < 160`` / ``img < 200`` on its inverted maps.
    """
    pred = np.asarray(pred)
    dtype = pred.dtype if np.issubdtype(pred.dtype, np.floating) else np.float64
    weak = pred > np.asarray(low, dtype=dtype)
    strong = pred > np.asarray(high, dtype=dtype)
    weak |= strong  # a strong pixel is always kept, even if low > high was asked for
    components, count = ndi.label(weak, structure=_EIGHT)
    if count == 0:
        return weak
    keep = np.zeros(count + 1, dtype=bool)
    keep[components[strong]] = True
    keep[0] = False
    return keep[components]


def dilate(mask: np.ndarray, times: int) -> np.ndarray:
    """``times`` binary dilations by the 3 x 3 cross (skimage's default footprint, the lab's).

    Shifted ORs: several times faster than ``ndimage.binary_dilation`` for the same result.
    """
    out = np.array(mask, dtype=bool, copy=True)
    for _ in range(int(times)):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def fill_small_holes(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Fill holes (4-connected background components) smaller than ``min_area`` px.

    The lab's ``remove_small_holes(..., area_threshold=min_area)``: a small grain becomes boundary.
    """
    mask = np.asarray(mask, dtype=bool)
    if min_area <= 1:
        return mask.copy()
    holes, count = ndi.label(~mask, structure=_CROSS)
    small = np.bincount(holes.ravel(), minlength=count + 1) < min_area
    small[0] = True  # the mask itself
    return small[holes]


def _skeleton(mask: np.ndarray) -> np.ndarray:
    """1-px boundaries by Zhang's thinning (scikit-image), with the mask extended past the image edge.

    The edge pixels are replicated ``_EDGE_PAD`` px outwards first, so a boundary that runs out of the
    image keeps reaching the edge (plain thinning retracts it by half its width, merging the two edge
    grains it separates) without the small "feet" a foreground frame grows where thick lines meet it.
    """
    from skimage.morphology import skeletonize

    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return mask.copy()
    pad = _EDGE_PAD
    return np.ascontiguousarray(skeletonize(np.pad(mask, pad, mode="edge"))[pad:-pad, pad:-pad])


def _neighbour_count(skeleton: np.ndarray) -> np.ndarray:
    """8-neighbours of every pixel; outside the image counts as boundary (edge pixels are never ends)."""
    padded = np.pad(skeleton.astype(np.uint8), 1, constant_values=1)
    h, w = skeleton.shape
    count = np.zeros((h, w), dtype=np.uint8)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            if dy != 1 or dx != 1:
                count += padded[dy:dy + h, dx:dx + w]
    return count


def prune_spurs(skeleton: np.ndarray, length: int) -> np.ndarray:
    """Remove spurs shorter than ``length`` px from a 1-px skeleton (one pass, like plantcv's prune).

    A spur is the chain of pixels from a line end (one 8-neighbour) up to, not including, the first
    pixel with three or more neighbours (a junction), or to its other end for a free line. Pixels on
    the image edge count the outside as neighbours, so a boundary that runs out of the image is not a
    spur. Afterwards, a junction pixel that the removal left as a line end (a stub) is removed too.
    """
    skeleton = np.asarray(skeleton, dtype=bool)
    if length <= 0 or not skeleton.any():
        return skeleton.copy()
    neighbours = _neighbour_count(skeleton)
    junction = skeleton & (neighbours >= 3)
    chains, count = ndi.label(skeleton & ~junction, structure=_EIGHT)
    if count == 0:
        return skeleton.copy()
    ends = skeleton & (neighbours <= 1)
    sizes = np.bincount(chains.ravel(), minlength=count + 1)
    spur = np.zeros(count + 1, dtype=bool)
    spur[chains[ends]] = True
    spur &= sizes < length
    spur[0] = False
    removed = spur[chains]
    if not removed.any():
        return skeleton.copy()
    out = skeleton & ~removed
    # stubs: a junction pixel whose spur is gone may stick out of its line by a pixel (or two)
    rows, cols = np.nonzero(junction)
    for _ in range(2):
        padded = np.pad(out, 1)
        around = sum(padded[rows + dy, cols + dx].astype(np.uint8)
                     for dy in (0, 1, 2) for dx in (0, 1, 2) if dy != 1 or dx != 1)
        on_edge = (rows == 0) | (cols == 0) | (rows == out.shape[0] - 1) | (cols == out.shape[1] - 1)
        stub = out[rows, cols] & (around <= 1) & ~on_edge
        if not stub.any():
            break
        out[rows[stub], cols[stub]] = False
    return out


def label_grains(boundary: np.ndarray) -> np.ndarray:
    """Grains = 4-connected components of the non-boundary pixels, labelled 1..n; boundary = 0."""
    labels, _ = ndi.label(~np.asarray(boundary, dtype=bool), structure=_CROSS)
    return labels.astype(np.int32, copy=False)


def _tracing_boundary(tracing: np.ndarray) -> np.ndarray:
    """A 0/1 map's boundary: the minority value (a black-on-white tracing passed as a map is read right)."""
    bright = np.asarray(tracing) > 0.5
    return bright if 2 * np.count_nonzero(bright) <= bright.size else ~bright


class Segmenter:
    """One (combined) map with its post-processing stages cached.

    A slider move recomputes only the stages after the parameter that moved: ``prune`` reuses the
    skeleton, ``min_area`` the dilated mask, and so on. A tracing (only 0 and 1) is skeletonized once.
    """

    _STAGES = ("hysteresis", "dilated", "filled", "skeleton", "pruned", "labels")

    def __init__(self, pred: np.ndarray | Sequence[np.ndarray], combine: str = "max") -> None:
        self.pred = combine_maps(pred, combine)
        self.tracing = is_tracing(self.pred)
        self._cache: dict[str, tuple[tuple, np.ndarray]] = {}

    @property
    def shape(self) -> tuple[int, int]:
        return self.pred.shape

    def _stage(self, name: str, key: tuple, compute: Callable[[], np.ndarray]) -> np.ndarray:
        cached = self._cache.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        value = compute()
        self._cache[name] = (key, value)
        return value

    def boundaries(self, options: GrainOptions | None = None) -> np.ndarray:
        """The 1-px boundary skeleton (True on a boundary)."""
        options = options or GrainOptions()
        if self.tracing:
            return self._stage("pruned", (), lambda: _skeleton(_tracing_boundary(self.pred)))
        key = (options.high, options.low)
        mask = self._stage("hysteresis", key, lambda: hysteresis(self.pred, options.low, options.high))
        key += (options.dilations,)
        dilated = self._stage("dilated", key, lambda: dilate(mask, options.dilations))
        key += (options.min_area,)
        filled = self._stage("filled", key, lambda: fill_small_holes(dilated, options.min_area))
        skeleton = self._stage("skeleton", key, lambda: _skeleton(filled))
        key += (options.prune,)
        return self._stage("pruned", key, lambda: prune_spurs(skeleton, options.prune))

    def labels(self, options: GrainOptions | None = None) -> np.ndarray:
        """Grain labels (int32, boundary 0) for these options."""
        options = options or GrainOptions()
        key = () if self.tracing else tuple(options.post_processing.values())
        return self._stage("labels", key, lambda: label_grains(self.boundaries(options)))


def boundaries(pred: np.ndarray | Sequence[np.ndarray], options: GrainOptions | None = None) -> np.ndarray:
    """The lab's post-processing of one map (or several of one area): 1-px boundaries (the draft starts here)."""
    options = options or GrainOptions()
    return Segmenter(pred, options.combine).boundaries(options)


def segment(pred: np.ndarray | Sequence[np.ndarray], options: GrainOptions | None = None) -> np.ndarray:
    """Boundary map(s) -> grain labels (int32; 0 = boundary), see the module docstring."""
    options = options or GrainOptions()
    return Segmenter(pred, options.combine).labels(options)


def trace_labels(trace: np.ndarray) -> np.ndarray:
    """The truth's grains: a tracing is skeletonized to 1 px (so sizes compare fairly), then labelled."""
    trace = np.asarray(trace)
    if trace.ndim != 2:
        raise InputError(f"a tracing must be a 2-D image, got shape {trace.shape}")
    if not trace.any():
        raise InputError("the tracing has no boundary pixels")
    return label_grains(_skeleton(trace.astype(bool)))


# --------------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GrainTable:
    """One row per grain (label 1..n): the per-grain CSV's columns."""

    label: np.ndarray
    area_px: np.ndarray
    equivalent_diameter_px: np.ndarray
    centroid_row: np.ndarray
    centroid_col: np.ndarray
    touches_edge: np.ndarray

    COLUMNS = ("label", "area_px", "equivalent_diameter_px", "centroid_row", "centroid_col", "touches_edge")

    def __len__(self) -> int:
        return int(self.label.size)

    @property
    def interior(self) -> np.ndarray:
        return ~self.touches_edge



def _edge_labels(labels: np.ndarray) -> np.ndarray:
    return np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))


_BLOCK_PIXELS = 1 << 21  # pixels per block of the centroid sums: 16 MB of float64 weights, whatever the image


def _coordinate_sums(labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per label, the sums of its pixels' rows and columns: in blocks of rows, so the coordinate
    weights never take more than a block (an 8192^2 image would need 1 GB of them at once)."""
    height, width = labels.shape
    rows_per_block = max(1, _BLOCK_PIXELS // max(1, width))
    row_sums = np.zeros(count + 1)
    col_sums = np.zeros(count + 1)
    cols = np.tile(np.arange(width, dtype=np.float64), rows_per_block)
    for top in range(0, height, rows_per_block):
        block = labels[top:top + rows_per_block]
        flat = block.ravel()
        row_sums += np.bincount(flat, weights=np.repeat(np.arange(top, top + len(block), dtype=np.float64), width),
                                minlength=count + 1)
        col_sums += np.bincount(flat, weights=cols[:flat.size], minlength=count + 1)
    return row_sums, col_sums


def grain_table(labels: np.ndarray) -> GrainTable:
    """Area, equivalent diameter, centroid and edge contact of every grain (bincounts, no loops)."""
    labels = np.asarray(labels)
    count = int(labels.max(initial=0))
    flat = labels.ravel()
    area = np.bincount(flat, minlength=count + 1)
    rows, cols = _coordinate_sums(labels, count)
    present = np.flatnonzero(area)
    present = present[present > 0]
    touches = np.zeros(count + 1, dtype=bool)
    touches[_edge_labels(labels)] = True
    areas = area[present]
    return GrainTable(
        label=present.astype(np.int64),
        area_px=areas.astype(np.int64),
        equivalent_diameter_px=np.sqrt(4.0 * areas / np.pi),
        centroid_row=rows[present] / areas,
        centroid_col=cols[present] / areas,
        touches_edge=touches[present],
    )


def _diagonals(labels: np.ndarray) -> np.ndarray:
    """The 45-degree lines (down-right) of ``labels`` as the rows of a strided view; -1 = outside.

    The labels sit right of ``height`` columns of -1 in a buffer one row taller: stepping one row
    and one column is a constant stride, and a line that leaves the image on the right runs on in
    the next row's padding. No copy of the lines is made.
    """
    height, width = labels.shape
    row = width + height
    buffer = np.full((height + 1, row), -1, dtype=np.int32)
    buffer[:height, height:] = labels
    flat = buffer.ravel()
    item = flat.itemsize
    return np.lib.stride_tricks.as_strided(flat[1:], shape=(width + height - 1, height),
                                           strides=(item, (row + 1) * item), writeable=False)


def _line_segments(lines: np.ndarray, between: str = "centres") -> np.ndarray:
    """Lengths (in samples) between consecutive boundary crossings along each row of ``lines``.

    A crossing is a run of boundary samples (0), or a step between two different grains without a
    boundary sample (a diagonal line slipping through an 8-connected boundary). ``between="centres"``
    measures from the centre of one crossing to the centre of the next; ``"edges"`` counts the grain
    samples between them (NIST GSAT's convention on thick tracings). -1 marks samples outside the
    image. Only complete segments count: the pieces before the first and after the last crossing of
    a line touch the edge.
    """
    if between not in ("centres", "edges"):
        raise ValueError(f"between must be 'centres' or 'edges', got {between!r}")
    lines = np.asarray(lines)
    count, samples = lines.shape
    # boundary runs: with a background column either side, changes come in (start, end) pairs
    padded = np.zeros((count, samples + 2), dtype=bool)
    padded[:, 1:-1] = lines == 0
    flat = padded.ravel()
    changes = np.flatnonzero(flat[1:] != flat[:-1])
    run_line = changes[0::2] // (samples + 2)
    run_start = changes[0::2] % (samples + 2)  # = (index of the first boundary sample) + 1 - 1
    run_end = changes[1::2] % (samples + 2) - 1
    grain = lines > 0
    steps = np.flatnonzero((grain[:, :-1] & grain[:, 1:] & (lines[:, :-1] != lines[:, 1:])).ravel())
    step_line, step_at = steps // (samples - 1), steps % (samples - 1)
    # a step between samples i and i + 1 is an empty run: it starts at i + 1 and ends at i
    line = np.concatenate([run_line, step_line])
    start = np.concatenate([run_start, step_at + 1]).astype(np.float64)
    end = np.concatenate([run_end, step_at]).astype(np.float64)
    order = np.lexsort((start, line))
    line, start, end = line[order], start[order], end[order]
    same_line = line[1:] == line[:-1]
    lengths = np.diff((start + end) / 2.0) if between == "centres" else start[1:] - end[:-1] - 1.0
    return lengths[same_line]


def intercept_lengths(labels: np.ndarray, between: str = "centres") -> np.ndarray:
    """Lineal intercepts in px along every row, column and 45 / 135-degree diagonal of the image.

    Distances between consecutive boundary crossings, centre to centre by default (see
    :func:`_line_segments`); diagonal samples are sqrt(2) px apart. Segments touching the image edge
    are excluded.
    """
    labels = np.asarray(labels)
    diagonal = math.sqrt(2.0)
    return np.concatenate([
        _line_segments(labels, between),  # 0 degrees
        _line_segments(labels.T, between),  # 90 degrees
        _line_segments(_diagonals(labels), between) * diagonal,  # 45 degrees (down-right)
        _line_segments(_diagonals(labels[:, ::-1]), between) * diagonal,  # 135 degrees
    ])


def _float_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def stats(labels: np.ndarray, pixel_size: float | None = None, table: GrainTable | None = None) -> dict[str, Any]:
    """Summary of one grain map: ``grains``, ``mean_area_px``, ``mean_intercept_px`` (+ um and ASTM G).

    ``grains`` and ``mean_area_px`` count interior grains (not touching the edge); the intercept is
    the mean over all complete segments at 0, 45, 90 and 135 degrees. With ``pixel_size`` (um/px):
    ``mean_area_um2``, ``mean_intercept_um``, ``astm_g_intercept`` = -6.643856 log10(l_mm) - 3.288 and ``astm_g_planimetric`` =
    3.321928 log10(N_A) - 2.954, N_A per mm^2 counting edge grains as half (ASTM E112).
    """
    labels = np.asarray(labels)
    table = table or grain_table(labels)
    interior = table.area_px[table.interior]
    intercepts = intercept_lengths(labels)
    mean_intercept = float(intercepts.mean()) if intercepts.size else math.nan
    out: dict[str, Any] = {
        "grains": int(interior.size),
        "edge_grains": int(np.count_nonzero(table.touches_edge)),
        "mean_area_px": _float_or_none(interior.mean()) if interior.size else None,
        "mean_intercept_px": _float_or_none(mean_intercept),
    }
    if pixel_size is not None:
        um = float(pixel_size)
        out["mean_area_um2"] = None if out["mean_area_px"] is None else out["mean_area_px"] * um**2
        out["mean_intercept_um"] = None if out["mean_intercept_px"] is None else out["mean_intercept_px"] * um
        mm_per_px = float(pixel_size) / 1000.0
        l_mm = mean_intercept * mm_per_px
        out["astm_g_intercept"] = _float_or_none(-6.643856 * math.log10(l_mm) - 3.288) if l_mm > 0 else None
        grains_counted = out["grains"] + 0.5 * out["edge_grains"]
        n_a = grains_counted / (labels.size * mm_per_px**2)
        out["astm_g_planimetric"] = _float_or_none(3.321928 * math.log10(n_a) - 2.954) if n_a > 0 else None
    return out


# --------------------------------------------------------------------------------------------
# comparison with a tracing
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Overlap:
    """Pixel counts of (true grain, predicted grain) pairs where both are grains (sparse)."""

    true_ids: np.ndarray
    pred_ids: np.ndarray
    counts: np.ndarray
    true_area: np.ndarray  # by label, index 0 unused
    pred_area: np.ndarray
    true_count: int
    pred_count: int

    def table(self, normalize: bool = False):
        from scipy import sparse

        data = self.counts / self.counts.sum() if normalize else self.counts
        return sparse.csr_array((data, (self.true_ids, self.pred_ids)),
                                shape=(self.true_area.size, self.pred_area.size))

    @property
    def iou(self) -> np.ndarray:
        union = self.true_area[self.true_ids] + self.pred_area[self.pred_ids] - self.counts
        return self.counts / union


def _overlap(pred_labels: np.ndarray, true_labels: np.ndarray) -> _Overlap:
    pred_labels, true_labels = np.asarray(pred_labels), np.asarray(true_labels)
    if pred_labels.shape != true_labels.shape:
        raise InputError(f"shape mismatch: prediction {pred_labels.shape} vs tracing {true_labels.shape}")
    n_true, n_pred = int(true_labels.max(initial=0)), int(pred_labels.max(initial=0))
    # one key per pixel (no masking: a boolean gather costs more than the whole bincount)
    key = true_labels.astype(np.int64).ravel() * (n_pred + 1) + pred_labels.ravel()
    if (n_true + 1) * (n_pred + 1) <= 1 << 24:
        counts = np.bincount(key, minlength=(n_true + 1) * (n_pred + 1))
        keys = np.flatnonzero(counts)
        counts = counts[keys]
    else:  # very many grains: sort instead of a dense table
        keys, counts = np.unique(key, return_counts=True)
    true_ids, pred_ids = keys // (n_pred + 1), keys % (n_pred + 1)
    grain_pair = (true_ids > 0) & (pred_ids > 0)  # boundary pixels of either side are left out
    true_area = np.bincount(true_ids, weights=counts, minlength=n_true + 1).astype(np.int64)
    pred_area = np.bincount(pred_ids, weights=counts, minlength=n_pred + 1).astype(np.int64)
    return _Overlap(true_ids[grain_pair], pred_ids[grain_pair], counts[grain_pair].astype(np.int64), true_area,
                    pred_area, int(np.count_nonzero(true_area[1:])), int(np.count_nonzero(pred_area[1:])))


def _centroid_matching(pred_points: np.ndarray, true_points: np.ndarray) -> tuple[float | None, float | None]:
    """The lab's objective functions: (orphan fraction, disregistry); None where undefined."""
    from scipy.spatial import cKDTree

    total = len(pred_points) + len(true_points)
    if len(true_points) < 2 or total == 0:
        return None, None
    true_tree = cKDTree(true_points)
    nearest, _ = true_tree.query(true_points, k=2)
    cutoff = _CENTROID_CUTOFF * float(nearest[:, 1].mean())
    if len(pred_points) == 0 or cutoff <= 0:
        return 1.0, None
    pairs = cKDTree(pred_points).sparse_distance_matrix(true_tree, cutoff, output_type="ndarray")
    pairs = pairs[pairs["v"] < cutoff]
    pairs = pairs[np.argsort(pairs["v"], kind="stable")]
    used_pred = np.zeros(len(pred_points), dtype=bool)
    used_true = np.zeros(len(true_points), dtype=bool)
    distances = []
    for i, j, d in zip(pairs["i"], pairs["j"], pairs["v"], strict=True):  # closest first, one-to-one
        if not (used_pred[i] or used_true[j]):
            used_pred[i] = used_true[j] = True
            distances.append(d)
    paired = len(distances)
    orphans = (len(pred_points) - paired) + (len(true_points) - paired)
    disregistry = float(np.sum(distances)) / (paired * cutoff) if paired else None
    return orphans / total, disregistry


def compare(pred_labels: np.ndarray, true_labels: np.ndarray,
            pred_table: GrainTable | None = None, true_table: GrainTable | None = None,
            overlap: _Overlap | None = None) -> dict[str, Any]:
    """Predicted grains against true ones (both label images, boundary 0); the design's keys.

    VI and adapted Rand error ignore boundary pixels of either side; IoU and centroid matching use
    every grain (the lab matches all centroids); the KS test compares interior grains' equivalent
    diameters. Undefined values (no grains at all) are None.
    """
    from scipy.stats import ks_2samp
    from skimage.metrics import adapted_rand_error, variation_of_information

    overlap = overlap or _overlap(pred_labels, true_labels)
    pred_table = pred_table or grain_table(pred_labels)
    true_table = true_table or grain_table(true_labels)
    out: dict[str, Any] = {"grains_truth": int(np.count_nonzero(true_table.interior))}
    if overlap.counts.sum() > 0:
        split, merge = variation_of_information(true_labels, pred_labels, table=overlap.table(normalize=True))
        # identical partitions give +-1e-17 of rounding: report an exact 0
        out["vi_split"], out["vi_merge"] = (float(v) if abs(v) > 1e-12 else 0.0 for v in (split, merge))
        out["arand"] = float(adapted_rand_error(true_labels, pred_labels, table=overlap.table())[0])
    else:
        out["vi_split"] = out["vi_merge"] = out["arand"] = None
    matches = int(np.count_nonzero(overlap.iou > 0.5))
    precision = matches / overlap.pred_count if overlap.pred_count else 0.0
    recall = matches / overlap.true_count if overlap.true_count else 0.0
    out["grain_precision"], out["grain_recall"] = precision, recall
    out["grain_f1"] = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    out["orphan_fraction"], out["disregistry"] = _centroid_matching(
        np.c_[pred_table.centroid_row, pred_table.centroid_col],
        np.c_[true_table.centroid_row, true_table.centroid_col])
    pred_d = pred_table.equivalent_diameter_px[pred_table.interior]
    true_d = true_table.equivalent_diameter_px[true_table.interior]
    if pred_d.size and true_d.size:
        ks = ks_2samp(pred_d, true_d)
        out["size_ks"], out["size_ks_p"] = float(ks.statistic), float(ks.pvalue)
    else:
        out["size_ks"] = out["size_ks_p"] = None
    return out


def grain_fates(pred_labels: np.ndarray, true_labels: np.ndarray,
                overlap: _Overlap | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The fate of every grain, as codes into :data:`FATES` (+1), indexed by label (index 0 = 0).

    Predicted grain: ``matched`` (IoU > 0.5 with a true grain); ``merged`` (holds more than half of
    two or more true grains); ``split`` (more than half of it lies in one true grain: a piece of it);
    ``spurious`` otherwise. True grain: ``matched`` or ``missed``.
    """
    overlap = overlap or _overlap(pred_labels, true_labels)
    matched = overlap.iou > 0.5
    pred_fate = np.zeros(overlap.pred_area.size, dtype=np.uint8)
    true_fate = np.zeros(overlap.true_area.size, dtype=np.uint8)
    true_fate[1:][overlap.true_area[1:] > 0] = FATES.index("missed") + 1
    true_fate[overlap.true_ids[matched]] = FATES.index("matched") + 1
    pred_fate[1:][overlap.pred_area[1:] > 0] = FATES.index("spurious") + 1
    holds_most = overlap.counts * 2 > overlap.true_area[overlap.true_ids]
    holders = np.bincount(overlap.pred_ids[holds_most], minlength=pred_fate.size)
    largest_share = np.zeros(pred_fate.size)
    np.maximum.at(largest_share, overlap.pred_ids, overlap.counts / overlap.pred_area[overlap.pred_ids])
    pred_fate[largest_share > 0.5] = FATES.index("split") + 1
    pred_fate[holders >= 2] = FATES.index("merged") + 1
    pred_fate[overlap.pred_ids[matched]] = FATES.index("matched") + 1
    pred_fate[0] = true_fate[0] = 0
    return pred_fate, true_fate


def compare_with_fates(pred_labels: np.ndarray, true_labels: np.ndarray, pred_table: GrainTable | None = None,
                       true_table: GrainTable | None = None) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """:func:`compare` and :func:`grain_fates` from one contingency table (the widget's live path)."""
    overlap = _overlap(pred_labels, true_labels)
    pred_fate, true_fate = grain_fates(pred_labels, true_labels, overlap)
    return compare(pred_labels, true_labels, pred_table, true_table, overlap), pred_fate, true_fate


def grain_metrics(pred: np.ndarray, trace: np.ndarray, options: GrainOptions | None = None) -> dict[str, float | None]:
    """The sweep's grain columns for one prediction and its tracing (same grid): :data:`SWEEP_METRICS`."""
    result = compare(segment(pred, options), trace_labels(trace))
    return {key: result[key] for key in SWEEP_METRICS}


# --------------------------------------------------------------------------------------------
# tuning
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# picture
# --------------------------------------------------------------------------------------------
def size_distributions(pred_table: GrainTable, true_table: GrainTable | None = None,
                       pixel_size: float | None = None, bins: int = 30):
    """Histograms of the interior grains' equivalent diameters on shared bins (um with ``pixel_size``).

    Returns ``(edges, predicted counts, true counts or None)``.
    """
    scale = pixel_size or 1.0
    pred_d = pred_table.equivalent_diameter_px[pred_table.interior] * scale
    true_d = None if true_table is None else true_table.equivalent_diameter_px[true_table.interior] * scale
    both = pred_d if true_d is None else np.concatenate([pred_d, true_d])
    edges = np.histogram_bin_edges(both, bins=bins) if both.size else np.linspace(0.0, 1.0, bins + 1)
    pred_counts = np.histogram(pred_d, edges)[0]
    return edges, pred_counts, None if true_d is None else np.histogram(true_d, edges)[0]
