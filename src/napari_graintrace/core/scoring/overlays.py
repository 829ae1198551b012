"""RGB pictures that show where a score comes from (uint8, shape (H, W, 3)).

Colours are part of the public contract (docs/design.md, "Conventions"):

* BCE overlay: white = hit (trace and p >= 0.5), black = true background, red = missed trace,
  blue = false prediction.
* Reward map R in [-1, 1]: green for R > 0, black at 0, red for R < 0, brightness |R|.
* Composite p x R: the same colours, so a pixel is bright only where the prediction put mass.
* Boundary match (the BSDS picture, ``boundary_match_rgb``): thinned predicted and skeleton true
  boundary pixels; white = matched (a pair within the distance), blue = predicted without a partner
  (false positive), red = true without a partner (miss); black elsewhere.
* Missed trace (tolerant recall): trace pixels only, coloured by their soft dilation D_p in
  [0, 1]: red = missed (D_p = 0), yellow = half found, green = found (D_p = 1); black elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ..checks import check_pair
from ..errors import InputError
from .boundary import BoundaryMatch

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)


def bce_overlay(pred: np.ndarray, trace: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Hits white, true background black, misses red, false predictions blue."""
    pred, trace = check_pair(pred, trace)
    predicted = pred >= threshold
    rgb = np.zeros((*pred.shape, 3), dtype=np.uint8)
    rgb[trace & predicted] = WHITE
    rgb[trace & ~predicted] = RED
    rgb[~trace & predicted] = BLUE
    return rgb


def reward_rgb(reward: np.ndarray) -> np.ndarray:
    """Signed map in [-1, 1] -> green (positive) / red (negative), brightness |value|."""
    reward = np.asarray(reward, dtype=np.float32)
    level = np.rint(np.clip(np.abs(reward), 0, 1) * 255).astype(np.uint8)
    rgb = np.zeros((*reward.shape, 3), dtype=np.uint8)
    rgb[..., 0] = np.where(reward < 0, level, 0)
    rgb[..., 1] = np.where(reward > 0, level, 0)
    return rgb


def recall_rgb(trace: np.ndarray, soft_dilation: np.ndarray) -> np.ndarray:
    """Trace pixels red (missed) -> yellow -> green (found) by D_p: where tolerant recall is lost.

    ``soft_dilation`` is ``scores.soft_dilation(pred, sigma, window)``; the mean of D_p over the
    trace pixels is the tolerant recall, so the red pixels are exactly what pulls it down.
    """
    found = np.clip(np.asarray(soft_dilation, dtype=np.float32), 0, 1)
    trace = np.asarray(trace, dtype=bool)
    if found.shape != trace.shape:
        raise InputError(f"shape mismatch: soft dilation {found.shape} vs tracing {trace.shape}")
    rgb = np.zeros((*trace.shape, 3), dtype=np.uint8)
    rgb[..., 0] = np.where(trace, np.rint(np.minimum(1, 2 * (1 - found)) * 255), 0)
    rgb[..., 1] = np.where(trace, np.rint(np.minimum(1, 2 * found) * 255), 0)
    return rgb


def composite_rgb(pred: np.ndarray, reward: np.ndarray) -> np.ndarray:
    """The prediction times the reward in reward colours: where the score is earned and lost."""
    return reward_rgb(np.asarray(pred, dtype=np.float32) * np.asarray(reward, dtype=np.float32))


def boundary_match_rgb(match: BoundaryMatch) -> np.ndarray:
    """The BSDS picture of one threshold (a ``boundary.BoundaryMatch``): matched pixels white,
    unmatched predicted blue (false positives), unmatched true red (misses), in the BCE colours.

    A maximum matching never leaves a predicted and a true pixel at the same place both unmatched
    (they would make one more pair), so the two unmatched colours never compete for a pixel.
    """
    masks = [np.asarray(m, dtype=bool) for m in (match.matched_predicted, match.matched_true, match.predicted, match.true)]
    if len({m.shape for m in masks}) != 1 or masks[0].ndim != 2:
        raise InputError(f"the boundary masks must share one 2-D shape, got {[m.shape for m in masks]}")
    matched_p, matched_t, predicted, true = masks
    rgb = np.zeros((*predicted.shape, 3), dtype=np.uint8)
    rgb[matched_p | matched_t] = WHITE
    rgb[true & ~matched_t] = RED
    rgb[predicted & ~matched_p] = BLUE
    return rgb


# --------------------------------------------------------------------------------------------
# the list of overlays: written once, read by `graintrace overlay`, Evaluation.pictures and the
# Inspect widget's output layers
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OverlayInputs:
    """What every overlay is drawn from: a prediction, its tracing and the two reward maps."""

    pred: np.ndarray
    trace: np.ndarray
    tophat_reward: np.ndarray
    gaussian_reward: np.ndarray
    soft_dilation: np.ndarray | None = None  # for "recall" only (scores.soft_dilation)
    boundary_match: np.ndarray | None = None  # the BSDS picture, drawn by boundary_match_rgb()


@dataclass(frozen=True)
class Overlay:
    """One picture: its key (``Evaluation.pictures()`` key and ``graintrace overlay`` file stem),
    the Inspect output layer that shows it (None: none), whether ``graintrace overlay`` writes it
    (``file``) and whether ``Evaluation.pictures()`` draws it (``picture``)."""

    key: str
    layer: str | None
    description: str
    draw: Callable[[OverlayInputs], np.ndarray]
    file: bool = True
    picture: bool = True


OVERLAYS: tuple[Overlay, ...] = (
    Overlay("bce_overlay", "BCE overlay", "BCE overlay: white hit, black background, red missed, blue false",
            lambda i: bce_overlay(i.pred, i.trace)),
    Overlay("tophat_reward", "top-hat reward", "top-hat reward map: green +1, red -1",
            lambda i: reward_rgb(i.tophat_reward)),
    Overlay("tophat_composite", None, "prediction x top-hat reward",
            lambda i: composite_rgb(i.pred, i.tophat_reward), picture=False),
    Overlay("gaussian_reward", "Gaussian reward", "normalized Gaussian reward map: green > 0, red < 0",
            lambda i: reward_rgb(i.gaussian_reward)),
    Overlay("gaussian_composite", "score overlay", "prediction x Gaussian reward",
            lambda i: composite_rgb(i.pred, i.gaussian_reward)),
    Overlay("recall", "missed trace", "trace pixels red (missed) to green (found): where tolerant recall is lost",
            lambda i: recall_rgb(i.trace, i.soft_dilation), file=False),
    Overlay("boundary_match", "boundary match", "BSDS match: matched white, unmatched predicted blue, missed true red",
            lambda i: i.boundary_match, file=False),
)


def draw(inputs: OverlayInputs, which: Iterable[Overlay] = OVERLAYS) -> dict[str, np.ndarray]:
    """``{key: RGB picture}`` of the chosen overlays, in the order of :data:`OVERLAYS`."""
    return {overlay.key: overlay.draw(inputs) for overlay in which}
