"""One geometry: every score that measures lengths or areas is computed on the micrograph's own grid.

Why: a network may run at any input size (the lab resizes every micrograph to a 1024 x 1024 square), but
grains, intercepts, ASTM numbers and boundary match distances are lengths. Measured on a square made
from a 600 x 800 micrograph, rows are stretched 1.71x and columns 1.28x: the NIST sample's mean
intercept reads 63.8 px instead of 46.5 px, and any ASTM G number taken from it is wrong. So a map made
at another size is resampled back to the micrograph's shape (:func:`to_grid`) before anything is
measured, and every readout, table and CSV names the grid it was scored on (:func:`grid_text`).
A grid's physical pixel size, where a file records it, comes from :func:`tiff_pixel_size`.
"""

from __future__ import annotations

import os

import numpy as np

from .errors import InputError

__all__ = ["check_same_area", "grid_text", "tiff_pixel_size", "to_grid"]

_UM_PER_UNIT = {2: 25_400.0, 3: 10_000.0}  # TIFF ResolutionUnit: 2 = inch, 3 = centimetre
_IMAGEJ_UNITS = {"micron": 1.0, "um": 1.0, "\u00b5m": 1.0, "\\u00b5m": 1.0,  # ImageJ may write the escape
                 "nm": 1e-3, "nanometer": 1e-3, "mm": 1e3, "millimeter": 1e3}
_SCREEN_DPI = (72.0, 96.0)  # what image editors write when nothing was calibrated: not a pixel size


def grid_text(shape: tuple[int, ...]) -> str:
    """``(600, 800)`` -> ``"600x800"`` (rows x columns), the ``grid`` of tables and CSV files."""
    return f"{int(shape[0])}x{int(shape[1])}"


def check_same_area(shape: tuple[int, ...], grid: tuple[int, ...], what: str, reference: str) -> None:
    """Refuse to resample a map of ``shape`` to ``grid`` unless it can be the same area: a square (the lab
    resizes every micrograph to one) or the grid's own aspect ratio (within 1 %). Anything else is
    another area or a mistake, and resampling it would score the wrong pixels."""
    rows, cols = int(shape[0]), int(shape[1])
    if (rows, cols) == tuple(int(n) for n in grid[:2]) or rows == cols:
        return
    if abs((rows / cols) / (grid[0] / grid[1]) - 1.0) <= 0.01:
        return
    raise InputError(f"{what} is {rows} x {cols} but {reference} is {grid[0]} x {grid[1]}: not a resized map "
                     "of the same area (neither square nor the same aspect ratio), so it cannot be measured on "
                     "that grid")


def to_grid(pred: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A probability map resampled to ``shape`` (rows, columns): float32 in [0, 1].

    Bilinear with antialiasing (torch's ``interpolate``, the resize the lab's inference uses the other
    way), clipped to [0, 1] against rounding; a map already of ``shape`` is returned unchanged (its dtype
    too: scores of a float64 map stay float64).
    """
    import torch
    import torch.nn.functional as F

    array = np.asarray(pred)
    target = (int(shape[0]), int(shape[1]))
    if array.ndim != 2:
        raise InputError(f"expected a 2-D probability map, got shape {array.shape}")
    if min(target) < 1:
        raise InputError(f"cannot resample a map to an empty grid {target}")
    if array.shape == target:
        return array
    x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    out = F.interpolate(x[None, None], size=target, mode="bilinear", antialias=True, align_corners=False)[0, 0]
    return np.ascontiguousarray(out.clamp_(0.0, 1.0).numpy(), dtype=np.float32)


def tiff_pixel_size(path: str | os.PathLike) -> float | None:
    """Micrometres per pixel from a TIFF's resolution tags, or None when it has none (or is no TIFF).

    XResolution is pixels per ResolutionUnit (inch or centimetre); ImageJ writes unit "none" and
    names the unit (micron, nm, mm) in its metadata. 72 or 96 pixels per inch are the defaults image
    editors write, not a calibration, and are ignored. Rows and columns must agree (square pixels).
    """
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            tags = page.tags
            if "XResolution" not in tags:
                return None
            x_num, x_den = tags["XResolution"].value
            y_num, y_den = tags["YResolution"].value if "YResolution" in tags else (x_num, x_den)
            unit = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 2
            imagej = tif.imagej_metadata or {}
    except (OSError, ValueError, KeyError, tifffile.TiffFileError):
        return None
    if not (x_num and x_den and y_num and y_den):
        return None
    per_unit = x_num / x_den
    if abs(per_unit - y_num / y_den) > 1e-6 * per_unit:
        return None  # rectangular pixels: no single size
    if unit in _UM_PER_UNIT:
        if unit == 2 and per_unit in _SCREEN_DPI:
            return None
        return _UM_PER_UNIT[unit] / per_unit
    scale = _IMAGEJ_UNITS.get(str(imagej.get("unit", "")).strip().lower())
    return None if scale is None else scale / per_unit
