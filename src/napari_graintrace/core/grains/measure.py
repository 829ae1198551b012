"""Grain statistics the way the lab's papers report them: count, mean area, mean lineal intercept, ASTM E112 G.

Interior grains only (a grain touching the frame is cut); every step is array-at-a-time
(scipy.ndimage labels and bincounts, centroids in row blocks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["GrainTable", "grain_table", "intercept_lengths", "size_distributions", "stats"]


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
