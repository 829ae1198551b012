"""Predicted grains against the true grains of a tracing.

VI split/merge, adapted Rand error, one-to-one IoU > 0.5 grain matches (grain F1), the lab's centroid
matching (orphans, disregistry), a KS test of the size distributions, and each grain's fate
(matched / split / merged / spurious / missed), from one sparse contingency table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..options import GrainOptions
from .measure import GrainTable, grain_table
from .segment import segment, trace_labels

__all__ = ["FATES", "SWEEP_METRICS", "compare", "compare_with_fates", "grain_fates", "grain_metrics"]

# fates of grains against the truth: predicted grains are matched / split / merged / spurious,
# true grains matched / missed (codes are the index + 1; 0 = boundary)
FATES: tuple[str, ...] = ("matched", "split", "merged", "spurious", "missed")
SWEEP_METRICS: tuple[str, ...] = ("vi_merge", "vi_split", "grain_f1", "orphan_fraction", "size_ks")
_CENTROID_CUTOFF = 0.3  # grain_unet analysis/objective_functions: x the mean true nearest-neighbour distance




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
