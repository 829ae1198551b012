"""Speed of the scoring core against the brute-force k x k shifted maximum, side by side.

Targets (issue 3): gaussian_map 2048 x 2048 (sigma 3, window 15) >= 15x faster than brute force and
exact; GaussianScorer.loss(new sigma) at 1024 x 1024 < 1 ms; GaussianScorer.reward_map < 50 ms.

    python benchmarks/bench_scores.py
"""

from __future__ import annotations

import brute_force
import numpy as np
from _common import best_time, print_machine

from napari_graintrace.core.io import read_trace
from napari_graintrace.core.scoring import scores
from napari_graintrace.data import NIST_TRACE


def tiled_trace(size: int) -> np.ndarray:
    """The real NIST boundary network tiled (mirrored) up to size x size."""
    trace = read_trace(NIST_TRACE)[0]
    reps = (-(-size // trace.shape[0]) + 1, -(-size // trace.shape[1]) + 1)
    tiled = np.block([[trace if (i + j) % 2 == 0 else trace[::-1, ::-1] for j in range(reps[1])]
                      for i in range(reps[0])])
    return np.ascontiguousarray(tiled[:size, :size])


def main() -> None:
    print_machine()
    trace = tiled_trace(2048)
    fast = best_time(lambda: scores.gaussian_map(trace, 3.0, 15), repeat=3)
    slow = best_time(lambda: brute_force.gaussian_map(trace, 3.0, 15), repeat=1)
    error = np.abs(scores.gaussian_map(trace, 3.0, 15) - brute_force.gaussian_map(trace, 3.0, 15)).max()
    print(f"gaussian_map 2048x2048 s=3 w=15: fast {fast * 1e3:.0f} ms, brute force {slow * 1e3:.0f} ms, "
          f"speed-up {slow / fast:.1f}x, max |difference| {error:.1e}")

    trace = tiled_trace(1024)
    pred = np.random.default_rng(0).random(trace.shape).astype(np.float32)
    build = best_time(lambda: scores.GaussianScorer(pred, trace, 15), repeat=3)
    scorer = scores.GaussianScorer(pred, trace, 15)
    sigmas = iter(np.linspace(0.5, 10, 100_000))
    loss = best_time(lambda: scorer.loss(next(sigmas)), repeat=5, number=200)
    reward = best_time(lambda: scorer.reward_map(next(sigmas)), repeat=5)
    direct = abs(scorer.loss(2.3) - brute_force.gaussian_loss(pred, trace, 2.3, 15))
    print(f"GaussianScorer 1024x1024 w=15: build {build * 1e3:.0f} ms (once per prediction), "
          f"loss(new sigma) {loss * 1e6:.1f} us, reward_map(new sigma) {reward * 1e3:.1f} ms, "
          f"|loss - brute force| {direct:.1e}")
    full = best_time(lambda: scores.tolerant_prf(pred, trace, 3.0, 15), repeat=3)
    print(f"tolerant_prf 1024x1024 s=3 w=15: {full * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
