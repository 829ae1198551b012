"""Predicted to true boundary pixels, matched one-to-one within a distance, as many pairs as possible.

* **Candidates** (the pairs within the distance): for a small distance (the default 3 px has 29
  offsets) every predicted pixel looks up the true pixel at each offset of the disk in an index image
  of the tracing, O(pixels x r^2) with no tree and no float distances; for a large one (the BSDS
  rule on a big frame) a k-d tree of the true pixels is asked in chunks. Both test
  ``dy^2 + dx^2 <= d^2`` on integers, so they give the same graph.
* **Matching**: a maximum bipartite matching solved as a unit-capacity maximum flow with scipy's
  Dinic (C speed). Given a matching of part of the graph (the ODS passes on the pairs of a nearby
  threshold whose pixels are still there), only the augmenting paths are searched: the flow runs on
  the residual graph (matched pairs reversed), which needs a few Dinic phases instead of many.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["TruePixels", "maximum_matching"]

RASTER_MAX_OFFSETS = 400  # up to ~11 px: index-image look-ups; beyond, a k-d tree
_CHUNK = 32768  # predicted pixels per block of look-ups: bounds the memory of a noisy map's pairs


def disk_offsets(max_distance: float) -> np.ndarray:
    """Every integer (dy, dx) with dy^2 + dx^2 <= max_distance^2, row-major."""
    reach = math.floor(max_distance)
    dy, dx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    inside = dy * dy + dx * dx <= max_distance * max_distance
    return np.stack([dy[inside], dx[inside]], axis=1)


class TruePixels:
    """The true side of the match, prepared once per tracing and distance: its pixels and how to find
    the ones near a predicted pixel."""

    def __init__(self, true: np.ndarray, max_distance: float) -> None:
        self.shape = true.shape
        self.max_distance = float(max_distance)
        self.px = np.argwhere(true)
        self.n = len(self.px)
        offsets = disk_offsets(self.max_distance)
        self._tree = None
        self._index = None
        if len(offsets) <= RASTER_MAX_OFFSETS:
            self._pad = math.floor(self.max_distance)
            rows, cols = self.shape
            self._stride = cols + 2 * self._pad
            index = np.full((rows + 2 * self._pad, self._stride), -1, np.int32)
            index[self.px[:, 0] + self._pad, self.px[:, 1] + self._pad] = np.arange(self.n, dtype=np.int32)
            self._index = index.ravel()
            self._steps = offsets[:, 0] * self._stride + offsets[:, 1]
        elif self.n:
            from scipy.spatial import cKDTree

            self._tree = cKDTree(self.px)

    def within(self) -> np.ndarray:
        """Boolean image: the pixels with a true pixel within the distance (the ODS's bound)."""
        rows, cols = self.shape
        if self._index is None:
            from scipy import ndimage as ndi

            if self.n == 0:
                return np.zeros(self.shape, bool)
            true = np.zeros(self.shape, bool)
            true[self.px[:, 0], self.px[:, 1]] = True
            return ndi.distance_transform_edt(~true) <= self.max_distance
        pad = self._pad
        true = (self._index >= 0).reshape(rows + 2 * pad, self._stride)
        near = np.zeros(self.shape, bool)
        for dy, dx in disk_offsets(self.max_distance):
            near |= true[pad - dy:pad - dy + rows, pad - dx:pad - dx + cols]
        return near

    def pairs(self, predicted_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CSR (indptr, indices) of the true pixels within the distance of each predicted pixel."""
        n_pred = len(predicted_px)
        indptr = np.zeros(n_pred + 1, np.int64)
        if n_pred == 0 or self.n == 0:
            return indptr, np.empty(0, np.int32)
        counts, parts = np.zeros(n_pred, np.int64), []
        for start in range(0, n_pred, _CHUNK):
            chunk = predicted_px[start:start + _CHUNK]
            found, per_pixel = self._raster(chunk) if self._index is not None else self._tree_pairs(chunk)
            parts.append(found)
            counts[start:start + len(chunk)] = per_pixel
        np.cumsum(counts, out=indptr[1:])
        return indptr, np.concatenate(parts)

    def _raster(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        base = (chunk[:, 0].astype(np.int64) + self._pad) * self._stride + chunk[:, 1] + self._pad
        candidates = self._index[base[:, None] + self._steps[None, :]]
        hit = candidates >= 0
        return candidates[hit], hit.sum(axis=1)

    def _tree_pairs(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The k-d tree is asked with a hair more than the distance, then every pair is checked on
        exact integer squared distances (the BSDS test)."""
        from scipy.spatial import cKDTree

        reach = self.max_distance * (1 + 1e-9) + 1e-9
        found = cKDTree(chunk).sparse_distance_matrix(self._tree, reach, output_type="ndarray")
        i, j = found["i"], found["j"]
        delta = chunk[i].astype(np.int64) - self.px[j]
        keep = (delta * delta).sum(axis=1) <= self.max_distance * self.max_distance
        i, j = i[keep], j[keep]
        order = np.argsort(i, kind="stable")
        return j[order].astype(np.int32), np.bincount(i, minlength=len(chunk))


def maximum_matching(indptr: np.ndarray, indices: np.ndarray, n_true: int, want_pairs: bool = False,
                     start: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[int, np.ndarray, np.ndarray]:
    """Maximum bipartite matching of predicted rows to true columns (CSR candidates) as a unit max flow.

    ``start``: (rows, cols) of pairs that are a matching of this graph (each an edge, no row or
    column twice); the flow then only looks for augmenting paths from it. Returns the number of
    pairs and, if asked, the matched rows and columns.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    n_pred = len(indptr) - 1
    empty = np.empty(0, np.int64)
    if indices.size == 0:
        return 0, empty, empty
    if start is None or len(start[0]) == 0:
        return _cold(indptr, indices, n_true, want_pairs)
    rows = np.repeat(np.arange(n_pred, dtype=np.int64), np.diff(indptr))
    cols = indices.astype(np.int64)
    matched = np.zeros(rows.size, bool)
    edge_key = rows * n_true + cols
    order = np.argsort(edge_key, kind="stable")
    matched[order[np.searchsorted(edge_key[order], start[0].astype(np.int64) * n_true + start[1])]] = True
    free_rows = np.ones(n_pred, bool)
    free_rows[rows[matched]] = False
    free_cols = np.ones(n_true, bool)
    free_cols[cols[matched]] = False
    source, sink = n_pred + n_true, n_pred + n_true + 1
    # the residual graph of the start: unmatched pairs predicted -> true, matched ones true -> predicted
    tails = np.concatenate([rows[~matched], n_pred + cols[matched], np.full(free_rows.sum(), source),
                            n_pred + np.flatnonzero(free_cols)])
    heads = np.concatenate([n_pred + cols[~matched], rows[matched], np.flatnonzero(free_rows),
                            np.full(free_cols.sum(), sink)])
    capacity = csr_matrix((np.ones(tails.size, np.int32), (tails.astype(np.int32), heads.astype(np.int32))),
                          shape=(sink + 1, sink + 1))
    result = maximum_flow(capacity, source, sink, method="dinic")
    count = int(matched.sum()) + int(result.flow_value)
    if not want_pairs:
        return count, empty, empty
    flow = result.flow.tocoo()
    used = flow.data > 0
    tail, head = flow.row[used].astype(np.int64), flow.col[used].astype(np.int64)
    added = (tail < n_pred) & (head >= n_pred) & (head < n_pred + n_true)  # a new pair
    undone = (tail >= n_pred) & (tail < n_pred + n_true) & (head < n_pred)  # a start pair given up
    kept_rows, kept_cols = rows[matched], cols[matched]
    if undone.any():  # start pairs the augmenting paths rerouted
        gone = np.isin(kept_rows * n_true + kept_cols, head[undone] * n_true + (tail[undone] - n_pred))
        kept_rows, kept_cols = kept_rows[~gone], kept_cols[~gone]
    pair_rows = np.concatenate([kept_rows, tail[added]])
    pair_cols = np.concatenate([kept_cols, head[added] - n_pred])
    if len(pair_rows) != count:  # pragma: no cover - the flow is a matching by construction
        raise AssertionError("the matching's pairs do not add up")
    return count, pair_rows, pair_cols


def _cold(indptr: np.ndarray, indices: np.ndarray, n_true: int, want_pairs: bool) -> tuple[int, np.ndarray, np.ndarray]:
    """The flow network built straight in CSR. Nodes: predicted 0..P-1, true P..P+T-1, source P+T, sink P+T+1."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    n_pred = len(indptr) - 1
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
    empty = np.empty(0, np.int64)
    if not want_pairs:
        return int(result.flow_value), empty, empty
    flow = result.flow.tocsr()[:n_pred].tocoo()
    used = (flow.data > 0) & (flow.col >= n_pred) & (flow.col < n_pred + n_true)
    return int(result.flow_value), flow.row[used].astype(np.int64), flow.col[used].astype(np.int64) - n_pred
