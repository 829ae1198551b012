"""From a boundary map to grains: the lab's post-processing (grain_unet's ``post_process``).

A pixel score barely moves when a 3-px gap merges two grains; a grain count does (docs/grains.md).
:func:`segment` is grain_unet's ``post_process`` on our polarity (p = boundary probability):
hysteresis threshold (8-connected, as the lab's ``confidence_overlap``), ``dilations`` cross-shaped
dilations, holes smaller than ``min_area`` px filled, skeletonized, spurs shorter than ``prune`` px
removed. A map of only 0 and 1 is a tracing and is only skeletonized (its minority value is the
boundary, as ``io.as_trace`` reads tracings). Grains are the 4-connected components of the
non-boundary pixels (label 0 = boundary). :class:`Segmenter` keeps each stage, so a moved slider
re-runs only the stages after it: about 120-145 ms of CPU at 1024 x 1024
(``benchmarks/bench_grains.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import ndimage as ndi

from ..errors import InputError
from ..options import GRAIN_COMBINES as COMBINES
from ..options import GrainOptions

__all__ = [
    "COMBINES",
    "GrainOptions",
    "Segmenter",
    "boundaries",
    "combine_maps",
    "dilate",
    "fill_small_holes",
    "hysteresis",
    "is_tracing",
    "label_grains",
    "prune_spurs",
    "segment",
    "trace_labels",
]

_CROSS = ndi.generate_binary_structure(2, 1)  # 4-connectivity: grains, hole filling, dilations
_EIGHT = np.ones((3, 3), dtype=bool)  # 8-connectivity: boundaries (a diagonal step does not break a line)
_EDGE_PAD = 16  # px the mask is extended past the image edge before thinning (see _skeleton)




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
