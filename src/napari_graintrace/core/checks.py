"""Checks of the arrays and numbers every score takes: one place, imported by every room that scores.

A base module (numpy and ``options`` only), so ``scoring``'s modules can all use it without importing
each other in a circle.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError
from .options import odd_int, positive_number

__all__ = ["check_odd", "check_pair", "check_prediction", "check_sigma", "check_trace"]


def check_odd(value: int, name: str) -> int:
    """An odd positive integer (windows and kernels are centred on the pixel); NaN, inf, text refused.

    The one parser of windows and kernels is ``options.odd_int``; scores take numbers, not text.
    """
    if isinstance(value, str):
        raise InputError(f"{name} must be an odd positive integer (1, 3, 5, ...), got {value!r}")
    return odd_int(value, name)


def check_sigma(sigma: float) -> float:
    """A finite, strictly positive Gaussian width (``options.positive_number``; text refused)."""
    if isinstance(sigma, str):
        raise InputError(f"sigma must be a positive number, got {sigma!r}")
    return positive_number(sigma, "sigma")


def check_trace(trace: np.ndarray) -> np.ndarray:
    """A 2-D boolean tracing; 0/1 arrays are accepted, other values are refused."""
    trace = np.asarray(trace)
    if trace.ndim != 2:
        raise InputError(f"the tracing must be 2-D, got shape {trace.shape}")
    if trace.dtype != np.bool_:
        if not np.isin(trace, (0, 1)).all():
            raise InputError("the tracing must be boolean or 0/1 (use io.as_trace to binarize an image)")
        trace = trace.astype(bool)
    return trace


def check_prediction(pred: np.ndarray) -> np.ndarray:
    """A 2-D float prediction in [0, 1] without NaN (never clipped silently)."""
    pred = np.asarray(pred)
    if pred.ndim != 2:
        raise InputError(f"the prediction must be 2-D, got shape {pred.shape}")
    if not np.issubdtype(pred.dtype, np.floating):
        raise InputError(f"the prediction must be float in [0, 1], got {pred.dtype} (see io.to_unit_float)")
    if not np.all(np.isfinite(pred)):
        raise InputError("the prediction contains NaN or infinite values")
    if pred.size and (pred.min() < 0 or pred.max() > 1):
        raise InputError(f"the prediction has values in [{pred.min():g}, {pred.max():g}], outside [0, 1]")
    return pred


def check_pair(pred: np.ndarray, trace: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (prediction, tracing) pair of the same shape."""
    pred, trace = check_prediction(pred), check_trace(trace)
    if pred.shape != trace.shape:
        raise InputError(f"shape mismatch: prediction {pred.shape} vs tracing {trace.shape}")
    if pred.size == 0:
        raise InputError("the images are empty")
    return pred, trace
