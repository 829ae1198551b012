"""``skimage.morphology.thin``, exact and fast, for one mask and for every threshold of a map at once.

Guo & Hall's parallel thinning deletes, in alternating sub-iterations, every foreground pixel whose
3 x 3 neighbourhood code is in that sub-iteration's table, until a full iteration deletes nothing.

* :func:`thin` gives exactly skimage's image, but after the first pass it only looks again at pixels
  next to one just deleted (a pixel whose neighbourhood did not change since a sub-iteration last kept
  it is kept again), 5-25x faster on thick maps.
* :func:`thin_levels` thins ``p >= t`` for up to 64 thresholds in one run (the ODS's 99 in two):
  bit j of a 64-bit word per pixel is the mask of threshold j, and the deletion rule is evaluated as
  bitwise logic on the eight neighbour words, so one gather serves every threshold. Each bit follows
  exactly the run :func:`thin` makes of its own mask (a pixel looked at more often than its own mask
  needs is kept again, a converged mask deletes nothing more), so every thinned image is skimage's.
  Thinning is not incremental across thresholds (moving one edge pixel of a thick line can move its
  centre line along a long stretch: consecutive ODS thresholds of a real map differ in ~13 % of their
  thinned pixels), so sharing the passes is where the reuse is.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["Levels", "thin", "thin_levels"]

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


def _offsets(stride: int) -> np.ndarray:
    return np.array([1, 1 - stride, -stride, -stride - 1, -1, stride - 1, stride, stride + 1], np.intp)


def _padded(mask: np.ndarray) -> np.ndarray:
    """The mask with a 0 border (skimage correlates with mode="constant"), flattened, uint8."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise InputError(f"thinning needs a 2-D mask, got shape {mask.shape}")
    padded = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), np.uint8)
    padded[1:-1, 1:-1] = mask
    return padded.ravel()


def _unique(indices: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Each index once, without sorting (``owner`` is scratch space as long as the image: the last write wins)."""
    order = np.arange(indices.size, dtype=owner.dtype)
    owner[indices] = order
    return indices[owner[indices] == order]


def _deletions(flat: np.ndarray, candidates: np.ndarray, offsets: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The candidates a sub-iteration deletes (their neighbourhood code is in its table)."""
    code = flat[candidates + offsets[0]].copy()
    for bit in range(1, 8):
        code |= flat[candidates + offsets[bit]] << bit
    return table[code]


def _candidates(flat: np.ndarray, offsets: np.ndarray, owner: np.ndarray, changed: list[np.ndarray],
                step: int) -> np.ndarray | None:
    """The pixels sub-iteration ``step`` must look at; None when the last two changed nothing (the end).

    A pixel a sub-iteration kept is kept again by the same table while its neighbourhood is
    unchanged, so after the first two sub-iterations only the foreground neighbours of the pixels
    ``changed`` in the last two are candidates.
    """
    if step < 2:
        return np.flatnonzero(flat)
    recent = np.concatenate(changed)
    if recent.size == 0:
        return None
    near = (recent[:, None] + offsets).ravel()
    return _unique(near[flat[near] != 0], owner)


def _run(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    flat = _padded(mask)
    offsets = _offsets(mask.shape[1] + 2)
    owner = np.empty(flat.size, np.int32)
    deleted = [np.empty(0, np.intp), np.empty(0, np.intp)]
    step = 0
    while (candidates := _candidates(flat, offsets, owner, deleted, step)) is not None:
        gone = candidates[_deletions(flat, candidates, offsets, _THIN_TABLES[step % 2])]
        flat[gone] = 0
        deleted[step % 2] = gone
        step += 1
    return flat


def thin(mask: np.ndarray) -> np.ndarray:
    """The same image as ``skimage.morphology.thin(mask)``, faster.

    Each sub-iteration deletes the pixels whose neighbourhood code is in its table. A pixel that a
    sub-iteration kept is kept again by the same table while its neighbourhood is unchanged, so
    after the first two sub-iterations only the foreground neighbours of pixels deleted in the last
    two sub-iterations are looked at; it stops where skimage stops (two sub-iterations in a row
    without a deletion, i.e. a full iteration without change).
    """
    flat = _run(mask)
    rows, cols = np.shape(mask)
    return flat.reshape(rows + 2, cols + 2)[1:-1, 1:-1].astype(bool)


def _any_two(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Bitwise: at least two of the four are set."""
    return (a & b) | (c & d) | ((a | b) & (c | d))


def _deletable(words: np.ndarray, neighbours: list[np.ndarray], second: bool) -> np.ndarray:
    """Guo & Hall's rule of one sub-iteration, bit-parallel: bit j set where mask j deletes the pixel."""
    b = neighbours  # E, NE, N, NW, W, SW, S, SE
    t = [~b[i] & (b[i + 1] | b[(i + 2) % 8]) for i in (0, 2, 4, 6)]  # the four possible crossings
    odd = t[0] ^ t[1] ^ t[2] ^ t[3]
    one_crossing = odd & ~_any_two(*t)  # exactly one (three is odd too, but has two)
    u = [b[k] | b[k - 1] for k in (1, 3, 5, 7)]  # N1's terms
    v = [b[k] | b[(k + 1) % 8] for k in (1, 3, 5, 7)]  # N2's terms
    all_u = u[0] & u[1] & u[2] & u[3]
    all_v = v[0] & v[1] & v[2] & v[3]
    two_or_three = _any_two(*u) & _any_two(*v) & ~(all_u & all_v)  # min(N1, N2) in {2, 3}
    if second:
        keep = (b[5] | b[6] | ~b[3]) & b[4]
    else:
        keep = (b[1] | b[2] | ~b[7]) & b[0]
    return words & one_crossing & two_or_three & ~keep


_WORD_CHUNK = 1 << 20  # candidates per block of the bit-parallel rule: ~100 MB of neighbour words at most
_ONES = np.array([(1 << k) - 1 for k in range(65)], dtype=np.uint64)  # _ONES[k]: bits 0..k-1 set


def _thin_words(padded: np.ndarray, stride: int) -> None:
    """Thin every bit plane of a padded, flat uint64 image in place (one run for all planes).

    Each sub-iteration decides every candidate from the image as it was before it (parallel
    thinning), block by block, and applies the deletions afterwards.
    """
    offsets = _offsets(stride)
    owner = np.empty(padded.size, np.int32)
    changed = [np.empty(0, np.intp), np.empty(0, np.intp)]
    step = 0
    while (candidates := _candidates(padded, offsets, owner, changed, step)) is not None:
        where, kept = [], []
        for begin in range(0, candidates.size, _WORD_CHUNK):
            block = candidates[begin:begin + _WORD_CHUNK]
            words = padded[block]
            gone = _deletable(words, [padded[block + offset] for offset in offsets], second=step % 2 == 1)
            hit = np.flatnonzero(gone)
            where.append(block[hit])
            kept.append(words[hit] & ~gone[hit])
        changed[step % 2] = np.concatenate(where) if where else np.empty(0, np.intp)
        if changed[step % 2].size:
            padded[changed[step % 2]] = np.concatenate(kept)
        step += 1


class Levels:
    """Thinned masks of many thresholds, kept compactly: the pixels in any of them and, per pixel, a
    word whose bit j says whether it is in the thinned mask of threshold j (of its block of 64)."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        self._blocks: list[tuple[int, int, np.ndarray, np.ndarray]] = []  # (first, count, flat, words)

    def __len__(self) -> int:
        return sum(count for _, count, _, _ in self._blocks)

    def _add(self, first: int, count: int, padded: np.ndarray) -> None:
        flat = np.flatnonzero(padded)
        self._blocks.append((first, count, flat, padded[flat]))

    def pixels(self, index: int) -> np.ndarray:
        """(row, col) int32 of threshold ``index``'s thinned mask, row-major."""
        for first, count, flat, words in self._blocks:
            if first <= index < first + count:
                stride = self.shape[1] + 2
                chosen = flat[(words >> np.uint64(index - first)) & np.uint64(1) != 0]
                return np.stack([chosen // stride - 1, chosen % stride - 1], axis=1).astype(np.int32)
        raise IndexError(index)


def thin_levels(pred: np.ndarray, thresholds: np.ndarray) -> Levels:
    """``thin(pred >= t)`` for every ``t`` in ``thresholds`` (ascending), thinned together 64
    thresholds at a time; ``.pixels(j)`` gives threshold j's pixels."""
    pred = np.asarray(pred)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if pred.ndim != 2:
        raise InputError(f"thinning needs a 2-D map, got shape {pred.shape}")
    if np.any(np.diff(thresholds) < 0):
        raise InputError("thin_levels needs ascending thresholds")
    rows, cols = pred.shape
    stride = cols + 2
    # level = how many thresholds a pixel reaches: p >= t_j for exactly j < level (nested masks)
    level = np.zeros((rows + 2, stride), np.int16)
    block_rows = max(1, _WORD_CHUNK // max(1, cols))
    for top in range(0, rows, block_rows):
        bottom = min(rows, top + block_rows)
        level[1 + top:1 + bottom, 1:-1] = np.searchsorted(thresholds, pred[top:bottom], side="right")
    level = level.ravel()
    levels = Levels((rows, cols))
    for first in range(0, len(thresholds), 64):
        count = min(64, len(thresholds) - first)
        padded = _ONES[np.clip(level - first, 0, count)]
        _thin_words(padded, stride)
        levels._add(first, count, padded)
        del padded
    return levels
