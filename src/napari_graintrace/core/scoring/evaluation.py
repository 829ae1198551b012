"""One prediction judged against one tracing: the path shared by the inspect widget and sweeps.

Scores are computed on the micrograph's own grid, the tracing's (``core.grid``): a prediction made
at another size (the lab's 256 or 1024 px squares) is resampled back to it first, so boundary match
distances, grains and overlays are in the micrograph's pixels. ``resize_trace`` remains for a tracing
drawn at another size than its micrograph, when the user asks for the lab's resize.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import checks
from ..errors import InputError
from ..grid import check_same_area, to_grid
from . import overlays, scores
from .boundary import BoundaryMatch, BoundaryScorer


def resize_trace(trace: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a boolean tracing to ``shape`` (bilinear, no anti-aliasing) and re-binarize at 0.5.

    Without anti-aliasing a thin line keeps full strength where it is sampled, so it is not
    averaged away when the prediction grid is coarser than the tracing.
    """
    trace = checks.check_trace(trace)
    if trace.shape == tuple(shape):
        return trace
    from skimage.transform import resize

    resized = resize(trace.astype(np.float32), shape, order=1, anti_aliasing=False, preserve_range=True)
    return resized >= 0.5


def grid_transform(source_shape: tuple[int, int], target_shape: tuple[int, int]) -> tuple[tuple, tuple]:
    """napari ``(scale, translate)`` that lays an image of ``target_shape`` over ``source_shape``.

    Pixel centres line up: pixel 0 of the coarse grid covers [-0.5, -0.5 + s) of the fine one.
    """
    scale = tuple(s / t for s, t in zip(source_shape, target_shape, strict=True))
    translate = tuple((s - 1.0) / 2.0 for s in scale)
    return scale, translate


@dataclass
class Evaluation:
    """A prediction, its tracing on the same grid, and everything needed to redraw its scores."""

    pred: np.ndarray
    trace: np.ndarray
    sigma: float = 3.0
    window: int = 15
    kernel: int = 3
    max_distance: float | str | None = None  # boundary benchmark: match distance (px, "0.5um", "bsds"; None: 3 px)
    pixel_size: float | None = None  # micrometres per pixel of this grid (for a match distance in um)
    scorer: scores.GaussianScorer = field(init=False, repr=False)
    bce: float = field(init=False)
    bce_parts: tuple[float, float, float] = field(init=False)  # (missed, false, share at the clamp)
    tophat: float = field(init=False)
    _dilation: tuple = field(init=False, repr=False, default=(None, None))  # ((sigma, window), D_p)
    _boundary: BoundaryMatch | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self.pred, self.trace = checks.check_pair(self.pred, self.trace)
        if not self.trace.any():
            raise InputError("the tracing has no boundary pixels")
        self.bce = scores.bce(self.pred, self.trace)
        self.bce_parts = scores.bce_parts(self.pred, self.trace)
        self.set_window(self.window)
        self.set_kernel(self.kernel)
        checks.check_sigma(self.sigma)

    @classmethod
    def of(cls, pred: np.ndarray, trace: np.ndarray, **params) -> Evaluation:
        """Evaluate ``pred`` of any shape against a tracing, on the tracing's grid (the map is resampled
        to it: one geometry for every score)."""
        pred = checks.check_prediction(pred)
        trace = checks.check_trace(trace)
        check_same_area(pred.shape, trace.shape, "the prediction", "the tracing")
        return cls(to_grid(pred, trace.shape), trace, **params)

    @property
    def grid(self) -> tuple[int, int]:
        """The grid every score was computed on (rows, columns): the tracing's, the micrograph's."""
        return tuple(self.trace.shape)

    # parameters -------------------------------------------------------------------------------
    def set_window(self, window: int) -> None:
        self.window = checks.check_odd(window, "window")
        self.scorer = scores.GaussianScorer(self.pred, self.trace, self.window)

    def set_kernel(self, kernel: int) -> None:
        self.kernel = checks.check_odd(kernel, "kernel")
        self.tophat = scores.tophat_loss(self.pred, self.trace, self.kernel)

    # scores -----------------------------------------------------------------------------------
    def gaussian(self, sigma: float | None = None) -> float:
        return self.scorer.loss(self.sigma if sigma is None else sigma)

    def soft_dilation(self, sigma: float | None = None) -> np.ndarray:
        """D_p at ``sigma`` (default the current one); the last one is kept, as the PRF and the
        "missed trace" picture both need it and it costs a full pass over the image."""
        key = (float(self.sigma if sigma is None else sigma), self.window)
        if self._dilation[0] != key:
            self._dilation = (key, scores.soft_dilation(self.pred, *key))
        return self._dilation[1]

    def tolerant_prf(self, sigma: float | None = None) -> tuple[float, float, float]:
        """``scores.tolerant_prf`` from the scorer's summary and the cached D_p (same arithmetic)."""
        sigma = self.sigma if sigma is None else sigma
        precision = self.scorer.precision(sigma)
        recall = float(self.soft_dilation(sigma)[self.trace].sum()) / int(np.count_nonzero(self.trace))
        f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        return precision, recall, f

    def boundary_match(self) -> BoundaryMatch:
        """The boundary benchmark at p >= 0.5 (kept: it does not depend on sigma, window or kernel)."""
        if self._boundary is None:
            scorer = BoundaryScorer(self.trace, self.max_distance, self.pixel_size)
            self._boundary = scorer.match(self.pred, 0.5)
        return self._boundary

    def boundary_prf(self) -> tuple[float, float, float]:
        """Boundary (precision, recall, F) at p >= 0.5, matched within ``max_distance``."""
        return self.boundary_match().prf()

    def scores(self, with_prf: bool = True, with_boundary: bool = True) -> dict[str, float]:
        """The ``graintrace score --json`` keys at the current parameters."""
        row = {"bce": self.bce, "tophat": self.tophat, "gaussian": self.gaussian()}
        if with_prf:
            row.update(zip(("precision", "recall", "f"), self.tolerant_prf(), strict=True))
        row.update(zip(("bce_missed", "bce_false", "bce_clamped"), self.bce_parts, strict=True))
        if with_boundary:
            keys = ("boundary_precision", "boundary_recall", "boundary_f")
            row.update(zip(keys, self.boundary_prf(), strict=True))
            row["boundary_match_distance"] = self.boundary_match().max_distance
        return row

    # pictures ---------------------------------------------------------------------------------
    def bce_overlay(self) -> np.ndarray:
        return overlays.bce_overlay(self.pred, self.trace)

    def tophat_reward_rgb(self) -> np.ndarray:
        return overlays.reward_rgb(scores.tophat_reward(self.trace, self.kernel))

    def gaussian_reward_rgb(self) -> np.ndarray:
        return overlays.reward_rgb(self.scorer.reward_map(self.sigma))

    def recall_rgb(self) -> np.ndarray:
        """The "missed trace" picture: trace pixels red (missed) to green (found) at the current sigma."""
        return overlays.recall_rgb(self.trace, self.soft_dilation())

    def boundary_rgb(self) -> np.ndarray:
        """The BSDS picture: matched boundary pixels white, unmatched predicted blue, missed true red."""
        return overlays.boundary_match_rgb(self.boundary_match())

    def pictures(self) -> dict[str, np.ndarray]:
        """Every overlay of ``overlays.OVERLAYS`` marked as a picture, at the current parameters;
        computed together, e.g. in a worker thread."""
        inputs = overlays.OverlayInputs(self.pred, self.trace, scores.tophat_reward(self.trace, self.kernel),
                                        self.scorer.reward_map(self.sigma), self.soft_dilation(),
                                        self.boundary_rgb())
        return overlays.draw(inputs, [overlay for overlay in overlays.OVERLAYS if overlay.picture])

    def composite_rgb(self) -> np.ndarray:
        """Prediction x Gaussian reward (the report's Figures 13d / 19d)."""
        return overlays.composite_rgb(self.pred, self.scorer.reward_map(self.sigma))
