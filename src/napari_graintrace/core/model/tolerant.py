"""The balanced tolerant precision / recall / F in PyTorch, differentiable, to train with.

Same definition as :func:`scores.tolerant_prf` (docs/design.md, "Scores"), per image::

    precision = sum(p G_t) / sum(p)      G_t = Gaussian map of the tracing (max-aggregated)
    recall    = sum(t D_p) / sum(t)      D_p = soft dilation of the prediction
    F         = 2 P R / (P + R)          0 where a denominator is 0

G_t and D_p are both a *soft dilation* ``D_x(y) = max over offsets d in the window of
x(y + d) exp(-|d|^2 / 2 sigma^2)`` (for a boolean tracing D_t is exactly ``gaussian_map``; for a
soft, resized label it is its natural extension). Because the weights are positive and the
Gaussian separates, ``max_{dy,dx} w(dy) w(dx) x = max_dy w(dy) max_dx w(dx) x``: two 1-D passes
over ``window`` shifted copies each (``Tensor.unfold`` views, vectorised over the window and
any leading batch dimensions) instead of ``window^2`` shifts. It is exact, not an approximation.

Gradients come from autograd. The max routes the recall gradient of each trace pixel to the
best-weighted predicted pixel near it ("raise the prediction where a boundary is missed"), and
the precision term pushes mass towards the tracing. The max is piecewise smooth: at an exact tie
the gradient goes to one of the tied pixels (as ``torch.max`` chooses).

The code uses only tensor operations, so it runs on whatever device and dtype its inputs have.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_odd, check_sigma
from ..errors import InputError
from ..scoring.scores import _gaussian_of_sq_distance, effective_radius

__all__ = ["TolerantPRFLoss", "soft_dilation", "tolerant_f_loss", "tolerant_loss", "tolerant_prf"]


def _weights(sigma: float, radius: int, like: torch.Tensor) -> torch.Tensor:
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    # the scores' own table: exact, and the sigma -> 0 limit instead of 0 / 0 when sigma^2 underflows
    weights = _gaussian_of_sq_distance((offsets * offsets).numpy(), sigma)
    return torch.from_numpy(weights).to(dtype=like.dtype, device=like.device)


def soft_dilation(x: torch.Tensor, sigma: float = 3.0, window: int = 15) -> torch.Tensor:
    """D(y) = max over the window of x(y + d) exp(-|d|^2 / 2 sigma^2), for x >= 0 of shape (..., H, W).

    Pixels outside the image count as 0 (the window is cut at the border, as in the definition).
    """
    sigma, window = check_sigma(sigma), check_odd(window, "window")
    if x.ndim < 2:
        raise InputError(f"expected (..., H, W), got shape {tuple(x.shape)}")
    # a window larger than the image gives the same result and must not cost more
    radius = effective_radius(tuple(x.shape[-2:]), window)
    window = 2 * radius + 1
    weights = _weights(sigma, radius, x)
    # along x: (..., H, W + 2r) -> view (..., H, W, window), weight, max over the window
    # max(dim).values, not amax: its backward scatters through the indices, 1.6x faster than amax's mask
    rows = (F.pad(x, (radius, radius)).unfold(-1, window, 1) * weights).max(dim=-1).values
    # along y: (..., H + 2r, W) -> view (..., H, W, window)
    return (F.pad(rows, (0, 0, radius, radius)).unfold(-2, window, 1) * weights).max(dim=-1).values


def _safe_divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """numerator / denominator, 0 where the denominator is 0 (and no NaN in the gradient)."""
    nonzero = denominator > 0
    return torch.where(nonzero, numerator / torch.where(nonzero, denominator, torch.ones_like(denominator)),
                       torch.zeros_like(numerator))


def tolerant_prf(
    pred: torch.Tensor, target: torch.Tensor, sigma: float = 3.0, window: int = 15
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-image tolerant (precision, recall, F) of probabilities ``pred`` (..., H, W) in [0, 1].

    ``target`` has the same shape, values in [0, 1] (a tracing, possibly soft); it gets no
    gradient. Returns three tensors of shape ``pred.shape[:-2]``.
    """
    if pred.shape != target.shape:
        raise InputError(f"shape mismatch: prediction {tuple(pred.shape)} vs target {tuple(target.shape)}")
    target = target.detach().to(pred.dtype)
    with torch.no_grad():
        trace_map = soft_dilation(target, sigma, window)  # G_t
    pred_dilated = soft_dilation(pred, sigma, window)  # D_p
    dims = (-2, -1)
    precision = _safe_divide((pred * trace_map).sum(dims), pred.sum(dims))
    recall = _safe_divide((target * pred_dilated).sum(dims), target.sum(dims))
    f = _safe_divide(2.0 * precision * recall, precision + recall)
    return precision, recall, f


def tolerant_f_loss(pred: torch.Tensor, target: torch.Tensor, sigma: float = 3.0, window: int = 15) -> torch.Tensor:
    """1 - mean tolerant F over the images of a batch, from *probabilities*; in [0, 1], 0 is perfect.

    Each image's F is its own (an image without boundaries has F = 0 and gives no gradient:
    BCE is what teaches those to stay dark).
    """
    return 1.0 - tolerant_prf(pred, target, sigma, window)[2].mean()


def tolerant_loss(logits: torch.Tensor, target: torch.Tensor, sigma: float = 3.0, window: int = 15) -> torch.Tensor:
    """:func:`tolerant_f_loss` of ``sigmoid(logits)``: the training loss named ``"tolerant"``."""
    return tolerant_f_loss(torch.sigmoid(logits), target, sigma, window)


class TolerantPRFLoss(nn.Module):
    """``bce_weight * BCE(logits) + tolerant_weight * (1 - F(sigmoid(logits)))``, F the mean tolerant F.

    ``bce_weight=0`` gives the pure tolerant loss, ``bce_weight=1`` the ``"bce+tolerant"`` of
    ``graintrace train``: BCE keeps pixel-exact pressure (and teaches empty crops), the tolerant
    term forgives a line drawn a pixel or two off and charges for a missed one.
    """

    def __init__(self, sigma: float = 3.0, window: int = 15, tolerant_weight: float = 1.0,
                 bce_weight: float = 0.0) -> None:
        super().__init__()
        self.sigma, self.window = check_sigma(sigma), check_odd(window, "window")
        self.tolerant_weight, self.bce_weight = float(tolerant_weight), float(bce_weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        value = self.tolerant_weight * tolerant_loss(logits, target, self.sigma, self.window)
        if self.bce_weight:
            value = value + self.bce_weight * F.binary_cross_entropy_with_logits(logits, target)
        return value

    def extra_repr(self) -> str:
        return (f"sigma={self.sigma:g}, window={self.window}, tolerant_weight={self.tolerant_weight:g}, "
                f"bce_weight={self.bce_weight:g}")
