"""Soft boundary maps of a known tracing, with the faults a U-Net makes: faint boundaries, gaps, spurs.

Used to measure drafts (``benchmarks/bench_draft.py``) and by tests: the truth is known exactly, and
each fault can be switched on alone. A 1-px true tracing is drawn as a blurred ridge of height 1
(``strong``), some of its branches at a faint height instead, some stretches cut out (gaps), some
short false branches added (spurs), and noise on top.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from .graph import branch_labels

__all__ = ["faint_map"]


def faint_map(truth: np.ndarray, faint_fraction: float = 0.3, faint_level: tuple[float, float] = (0.12, 0.3),
              strong: float = 0.9, gaps: int = 0, gap_length: tuple[int, int] = (4, 10), spurs: int = 0,
              spur_length: tuple[int, int] = (5, 15), sigma: float = 1.2, noise: float = 0.04,
              seed: int = 0) -> np.ndarray:
    """A float32 map in [0, 1] of the 1-px tracing ``truth`` (True on a boundary).

    ``faint_fraction`` of the branches (chains between junctions) get a ridge height drawn from
    ``faint_level``, the rest ``strong``; ``gaps`` stretches of ``gap_length`` px along boundaries are
    removed; ``spurs`` false branches of ``spur_length`` px start at random boundary pixels and run
    into the grains; Gaussian blur ``sigma`` (the ridge keeps its height), then noise of standard
    deviation ``noise``, clipped to [0, 1].
    """
    rng = np.random.default_rng(seed)
    truth = np.asarray(truth, dtype=bool)
    chains, count = branch_labels(truth)
    height = np.full(count + 1, strong, dtype=np.float32)
    faint = rng.random(count + 1) < faint_fraction
    height[faint] = rng.uniform(*faint_level, size=int(faint.sum()))
    ridge = np.where(truth, strong, 0).astype(np.float32)
    ridge[chains > 0] = height[chains[chains > 0]]
    pixels = np.argwhere(chains > 0)
    for _ in range(gaps):
        centre = pixels[rng.integers(len(pixels))]
        half = int(rng.integers(*gap_length)) // 2 + 1
        window = ridge[max(centre[0] - half, 0): centre[0] + half, max(centre[1] - half, 0): centre[1] + half]
        window[...] = 0
    for _ in range(spurs):
        start = pixels[rng.integers(len(pixels))]
        angle = rng.uniform(0, 2 * math.pi)
        length = int(rng.integers(*spur_length))
        for step in range(2, length):
            row = round(start[0] + step * math.sin(angle))
            col = round(start[1] + step * math.cos(angle))
            if 0 <= row < truth.shape[0] and 0 <= col < truth.shape[1]:
                ridge[row, col] = max(ridge[row, col], strong)
    # blurred so that a straight 1-px line keeps its height at the centre
    soft = ndi.gaussian_filter(ridge, sigma) * np.float32(math.sqrt(2 * math.pi) * sigma)
    soft += rng.normal(0, noise, soft.shape).astype(np.float32)
    return np.clip(soft, 0, 1).astype(np.float32)
