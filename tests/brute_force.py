"""Scores written straight from the definitions in shared/design.md, slowly and obviously.

The fast code in ``core.scores`` must agree with these to 1e-6. Kept free of the package's code so a
shared bug cannot hide. Also imported by ``benchmarks/`` as the baseline.
"""

from __future__ import annotations

import itertools

import numpy as np


def shifted(array: np.ndarray, dy: int, dx: int, fill: float = 0.0) -> np.ndarray:
    """out[y, x] = array[y + dy, x + dx], ``fill`` outside the image."""
    h, w = array.shape
    out = np.full(array.shape, fill, dtype=array.dtype)
    if abs(dy) >= h or abs(dx) >= w:  # shifted right out of the image (windows larger than it)
        return out
    ys, yd = slice(max(dy, 0), h + min(dy, 0)), slice(max(-dy, 0), h + min(-dy, 0))
    xs, xd = slice(max(dx, 0), w + min(dx, 0)), slice(max(-dx, 0), w + min(-dx, 0))
    out[yd, xd] = array[ys, xs]
    return out


def bce(p: np.ndarray, t: np.ndarray) -> float:
    p = p.astype(np.float64)
    with np.errstate(divide="ignore"):
        terms = t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log(1 - p), -100)
    return float(-terms.mean())


def tophat_mask(t: np.ndarray, kernel: int) -> np.ndarray:
    r = kernel // 2
    mask = np.zeros(t.shape, dtype=bool)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            mask |= shifted(t.astype(bool), dy, dx, False)
    return mask


def tophat_loss(p: np.ndarray, t: np.ndarray, kernel: int) -> float:
    reward = np.where(tophat_mask(t, kernel), 1.0, -1.0)
    return float(-(p.astype(np.float64) * reward).mean())


def gaussian_map(t: np.ndarray, sigma: float, window: int) -> np.ndarray:
    """The k x k shifted-maximum: G = max over offsets in the window of t(x + d) exp(-|d|^2 / 2s^2)."""
    r = window // 2
    g = np.zeros(t.shape, dtype=np.float64)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            weight = np.exp(-(dy * dy + dx * dx) / (2 * sigma * sigma))
            g = np.maximum(g, shifted(t.astype(np.float64), dy, dx) * weight)
    return g


def gaussian_map_per_pixel(t: np.ndarray, sigma: float, window: int) -> np.ndarray:
    """The definition word by word: for every pixel, every trace pixel within the window."""
    r = window // 2
    h, w = t.shape
    g = np.zeros((h, w))
    trace_pixels = np.argwhere(t)
    for y in range(h):
        for x in range(w):
            for ty, tx in trace_pixels:
                if max(abs(ty - y), abs(tx - x)) <= r:
                    g[y, x] = max(g[y, x], np.exp(-((ty - y) ** 2 + (tx - x) ** 2) / (2 * sigma * sigma)))
    return g


def gaussian_loss(p: np.ndarray, t: np.ndarray, sigma: float, window: int) -> float:
    return float(-(p.astype(np.float64) * (2 * gaussian_map(t, sigma, window) - 1)).mean())


def soft_dilation(p: np.ndarray, sigma: float, window: int) -> np.ndarray:
    r = window // 2
    d = np.zeros(p.shape, dtype=np.float64)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            weight = np.exp(-(dy * dy + dx * dx) / (2 * sigma * sigma))
            d = np.maximum(d, shifted(p.astype(np.float64), dy, dx) * weight)
    return d


def tolerant_prf(p: np.ndarray, t: np.ndarray, sigma: float, window: int) -> tuple[float, float, float]:
    p = p.astype(np.float64)
    g = gaussian_map(t, sigma, window)
    precision = float((p * g).sum() / p.sum()) if p.sum() > 0 else 0.0
    recall = float((t * soft_dilation(p, sigma, window)).sum() / t.sum()) if t.sum() > 0 else 0.0
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f


def geometric_path_cost(cost: np.ndarray, path) -> float:
    """A path's cost as scikit-image's MCP_Geometric counts it: each step, the mean of its two pixels' costs
    times its length (1, or sqrt 2 diagonally)."""
    total = 0.0
    for (y0, x0), (y1, x1) in itertools.pairwise(path):
        assert max(abs(y1 - y0), abs(x1 - x0)) == 1, "a path moves one pixel at a time"
        total += (cost[y0, x0] + cost[y1, x1]) / 2 * np.hypot(y1 - y0, x1 - x0)
    return float(total)


def cheapest_path_cost(cost: np.ndarray, start, stop, allowed: np.ndarray | None = None) -> float:
    """Dijkstra by hand on the 8-connected pixel grid with MCP_Geometric's step costs."""
    import heapq

    h, w = cost.shape
    best = {tuple(start): 0.0}
    queue = [(0.0, tuple(start))]
    while queue:
        total, (y, x) = heapq.heappop(queue)
        if (y, x) == tuple(stop):
            return total
        if total > best[(y, x)]:
            continue
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                ny, nx = y + dy, x + dx
                if (dy or dx) and 0 <= ny < h and 0 <= nx < w and (allowed is None or allowed[ny, nx]):
                    step = (cost[y, x] + cost[ny, nx]) / 2 * np.hypot(dy, dx)
                    if total + step < best.get((ny, nx), np.inf):
                        best[(ny, nx)] = total + step
                        heapq.heappush(queue, (total + step, (ny, nx)))
    return float("inf")


def four_connected_regions(boundary: np.ndarray) -> list[frozenset]:
    """The grains of a tracing by flood fill: sets of (row, col) of 4-connected non-boundary pixels."""
    h, w = boundary.shape
    seen = np.array(boundary, dtype=bool, copy=True)
    regions = []
    for y in range(h):
        for x in range(w):
            if seen[y, x]:
                continue
            stack, region = [(y, x)], set()
            seen[y, x] = True
            while stack:
                cy, cx = stack.pop()
                region.add((cy, cx))
                for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
                    if 0 <= ny < h and 0 <= nx < w and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
            regions.append(frozenset(region))
    return regions
