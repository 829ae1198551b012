"""Layer data or files -> the arrays the scores work on: one conversion for every widget.

Why one module: the widgets used to convert their inputs each their own way, and they disagreed
(a Labels tracing was "non-zero = boundary" in one and Otsu-split in another; RGB micrographs were
averaged in one and luma-weighted in another). Here:

- a **micrograph** becomes float32 grey in [0, 1]: RGB/RGBA through ``io.to_grey`` (ITU-R 601 luma,
  PIL's ``convert("L")``; the one implementation), then ``io.to_unit_float``;
- a **tracing** (Image *or* Labels data) becomes a boolean mask with ``polarity="auto"`` taking the
  minority class as boundary, and says which polarity it chose and the boundary fraction;
- a **prediction** becomes float32 in [0, 1] (uint8 / 255, uint16 / 65535, float checked, never
  clipped);
- a tracing whose shape differs from the micrograph is an error naming both shapes, unless the
  caller asks for the lab's resize (:func:`match_shape`).

Pure numpy: no napari here, the widgets pass ``layer.data`` and say whether it is a Labels layer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .. import io
from ..errors import InputError


@dataclass(frozen=True)
class Tracing:
    """A tracing as the scores see it: the boundary mask and how it was read."""

    mask: np.ndarray  # bool, True on a boundary
    polarity: str  # "white-on-black" or "black-on-white": the one used
    boundary_fraction: float  # share of pixels that are boundary (sparse: a few per cent)

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape  # type: ignore[return-value]

    def describe(self) -> str:
        """One line for a status label, e.g. ``black-on-white, 6.2 % boundary``."""
        if self.polarity == GRAIN_LABELS:
            return f"a label image: the boundaries between its grains, {100 * self.boundary_fraction:.1f} % boundary"
        return f"{self.polarity}, {100 * self.boundary_fraction:.1f} % boundary"


def _shape_text(shape: tuple[int, ...]) -> str:
    return " x ".join(str(int(n)) for n in shape)


def grey(data: np.ndarray, what: str = "image", rgb: bool | None = None) -> np.ndarray:
    """2-D grey in the data's own dtype; RGB(A) (last axis 3/4) through ITU-R 601 luma.

    ``rgb`` is napari's ``layer.rgb`` when known: ``False`` with a 3-D array is a stack, refused.
    """
    data = np.asarray(data)
    if data.ndim == 2:
        return data
    if data.ndim == 3 and rgb is not False and data.shape[2] in (3, 4):
        return io.to_grey(data)
    raise InputError(f"{what} has shape {data.shape}; expected a 2-D grey or an RGB/RGBA image")


def micrograph(data: np.ndarray, what: str = "micrograph", rgb: bool | None = None) -> np.ndarray:
    """A micrograph as float32 grey in [0, 1] (the network's input scale)."""
    return io.to_unit_float(grey(data, what, rgb), what)


def prediction(data: np.ndarray, what: str = "prediction", rgb: bool | None = None) -> np.ndarray:
    """A probability map as float32 in [0, 1]: uint8 / 255, uint16 / 65535, float as is (checked)."""
    return io.to_unit_float(grey(data, what, rgb), what)


GRAIN_LABELS = "grain labels"  # Tracing.polarity of a label image read as the boundaries between its grains


def is_label_image(data: np.ndarray, labels: bool = False) -> bool:
    """True for a label image (one integer label per grain, e.g. from another tool), not a tracing.

    A Labels layer with three or more values is one. An integer *image* is one when it is piecewise
    constant (at least 80 % of neighbouring pixels equal: no micrograph noise) and no two values
    cover half of it (a tracing, even anti-aliased, is mostly its background and its lines).
    """
    data = np.asarray(data)
    if data.ndim != 2 or not (np.issubdtype(data.dtype, np.integer) or data.dtype == np.bool_):
        return False
    values, counts = np.unique(data, return_counts=True)
    if values.size < 3:
        return False
    if labels:
        return True
    equal = (np.count_nonzero(data[1:] == data[:-1]) + np.count_nonzero(data[:, 1:] == data[:, :-1]))
    pairs = data[1:].size + data[:, 1:].size
    return equal >= 0.8 * pairs and np.sort(counts)[-2:].sum() < 0.5 * data.size


def grain_boundaries(label_image: np.ndarray) -> np.ndarray:
    """The boundaries of a label image: every pixel whose right or lower neighbour has another label
    (one pixel, on the upper/left side of each interface), and label 0 where it is sparse (< 25 %
    of the image: boundary pixels, as in this project's own grain labels), not where it is a
    background region (then only its edge is a boundary)."""
    labels = np.asarray(label_image)
    mask = np.zeros(labels.shape, dtype=bool)
    mask[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    mask[:-1, :] |= labels[:-1, :] != labels[1:, :]
    zeros = labels == 0
    if np.count_nonzero(zeros) < 0.25 * labels.size:
        mask |= zeros
    return mask


def tracing(data: np.ndarray, polarity: str = "auto", labels: bool = False, what: str = "tracing",
            rgb: bool | None = None) -> Tracing:
    """A tracing (Image or Labels data) as a boundary mask; ``"auto"`` = the minority class.

    Image data splits between its two levels (Otsu for more); Labels data splits at non-zero. Either
    way the same minority rule decides which side is boundary, so a black-on-white tracing painted
    as Labels is read right instead of as 90 % boundary. A label image (one label per grain:
    :func:`is_label_image`) is read as the boundaries between its grains (:func:`grain_boundaries`),
    and says so (``polarity == GRAIN_LABELS``).
    """
    data = np.asarray(data)
    if is_label_image(data, labels):
        mask = grain_boundaries(data)
        if not mask.any():
            raise InputError(f"{what} is a label image with no boundary between its labels")
        return Tracing(mask, GRAIN_LABELS, float(np.count_nonzero(mask)) / mask.size)
    if labels:
        if data.ndim != 2:
            raise InputError(f"{what} has shape {data.shape}; a tracing must be a 2-D image")
        bright = data != 0
    else:
        bright = grey(data, what, rgb)
    try:
        mask, used = io.as_trace(bright, polarity)
    except InputError as exc:
        raise InputError(f"{what}: {exc}") from None
    fraction = float(np.count_nonzero(mask)) / mask.size if mask.size else 0.0
    return Tracing(mask, used, fraction)


def read_tracing(path: str | os.PathLike, polarity: str = "auto") -> Tracing:
    """A tracing file (PNG/TIFF, either polarity), as :func:`tracing` reads layer data."""
    mask, used = io.read_trace(path, polarity)
    return Tracing(mask, used, float(np.count_nonzero(mask)) / mask.size if mask.size else 0.0)


def read_prediction(path: str | os.PathLike) -> np.ndarray:
    """A probability map file as float32 in [0, 1] (``io.read_prediction``)."""
    return io.read_prediction(path)


def match_shape(mask: np.ndarray, shape: tuple[int, ...], resize: bool = False, what: str = "tracing",
                reference: str = "micrograph") -> np.ndarray:
    """The tracing on the micrograph's pixel grid.

    A different shape is an :class:`InputError` naming both shapes: stretching a tracing of another
    area or aspect ratio would score the wrong pixels. ``resize=True`` is the explicit opt-in to the
    lab's resize (bilinear, re-binarized at 0.5: ``evaluation.resize_trace``).
    """
    shape = tuple(int(n) for n in shape[:2])
    if mask.shape == shape:
        return mask
    if not resize:
        raise InputError(
            f"the {what} is {_shape_text(mask.shape)} px but the {reference} is {_shape_text(shape)} px; "
            f"use a tracing of the same shape, or choose to resize the tracing"
        )
    from ..scoring.evaluation import resize_trace

    return resize_trace(mask, shape)


__all__ = ["GRAIN_LABELS", "Tracing", "grain_boundaries", "grey", "is_label_image", "match_shape", "micrograph",
           "prediction", "read_prediction",
           "read_tracing", "tracing"]
