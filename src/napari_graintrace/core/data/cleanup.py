"""Tracing cleanup: from a blurry GIMP export to a clean white-on-black tracing of chosen thickness.

Every step is a plain function of arrays so the napari widget, the ``graintrace clean`` command and
scripts share one implementation; :func:`clean_trace` chains them in a fixed order with the
parameters recorded in a :class:`~.options.CleanupOptions` (JSON round-trip, so a cleanup can be replayed):

1. border / scale-bar removal (margins or a keep-rectangle; blanked to background or cropped),
   done first so a scale bar cannot pull the binarization threshold;
2. binarize (Otsu or a threshold, polarity auto = minority class), or, given the original
   micrograph, extraction of a tracing painted over it from their difference;
3. despeckle (drop components smaller than S px), then optional bridging of 1-2 px gaps;
4. thickness: skeletonize to 1 px (8-connectivity kept), then dilate to an odd N with a disc or a
   square, or the report's Gaussian blur + threshold.

Boundaries are 8-connected everywhere (a 1-px diagonal line is one component).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ..errors import InputError
from ..io import as_trace, check_writable, to_grey, to_unit_float, write_image, write_text
from ..options import (
    BORDER_MODES,
    FOOTPRINTS,
    CleanupOptions,
    int_tuple,
    non_negative_int,
    odd_int,
    unit_number,
)

__all__ = [
    "BORDER_MODES",
    "DEFAULT_EXTRACT_THRESHOLD",
    "FOOTPRINTS",
    "SIDECAR_SUFFIX",
    "CleanupOptions",
    "binarize",
    "bridge_gaps",
    "clean_trace",
    "crop_slice",
    "despeckle",
    "extract_trace",
    "keep_box",
    "set_thickness",
    "sidecar_path",
    "sidecar_record",
    "skeletonize",
    "write_cleaned",
]

# |painted - original| above this (unit scale, ~13 grey levels) is paint: absorbs rounding and
# lossy-save noise; isolated noise pixels that pass are specks for despeckle.
DEFAULT_EXTRACT_THRESHOLD = 0.05
SIDECAR_SUFFIX = ".cleanup.json"  # NAME.png -> NAME.cleanup.json: the parameters that made it
_EIGHT = np.ones((3, 3), dtype=bool)  # 8-connectivity: a diagonal step does not break a boundary
_HALF_WIDTH_WINDOW = 12  # px around a line end in which bridge_gaps measures the line's half-width


# --------------------------------------------------------------------------------------------
# border / scale bar
# --------------------------------------------------------------------------------------------
def keep_box(
    shape: tuple[int, ...],
    margins: tuple[int, int, int, int] = (0, 0, 0, 0),
    keep: tuple[int, ...] | None = None,
) -> tuple[int, int, int, int]:
    """The kept rectangle (top, left, bottom, right), half-open, from margins or a keep-rectangle."""
    height, width = int(shape[0]), int(shape[1])
    if keep is not None:
        top, left, bottom, right = int_tuple(keep, 4, "keep (top, left, bottom, right)")
        if top < 0 or left < 0 or bottom > height or right > width or bottom <= top or right <= left:
            raise InputError(
                f"keep rectangle (top {top}, left {left}, bottom {bottom}, right {right}) "
                f"does not fit a {height} x {width} image"
            )
        return top, left, bottom, right
    top, bottom, left, right = int_tuple(margins, 4, "margins (top, bottom, left, right)")
    if min(top, bottom, left, right) < 0 or top + bottom >= height or left + right >= width:
        raise InputError(
            f"margins (top {top}, bottom {bottom}, left {left}, right {right}) leave nothing "
            f"of a {height} x {width} image"
        )
    return top, left, height - bottom, width - right


def crop_slice(
    shape: tuple[int, ...],
    margins: tuple[int, int, int, int] = (0, 0, 0, 0),
    keep: tuple[int, ...] | None = None,
) -> tuple[slice, slice]:
    """``array[crop_slice(...)]`` is the kept region: apply the same slice to the micrograph."""
    top, left, bottom, right = keep_box(shape, margins, keep)
    return slice(top, bottom), slice(left, right)


# --------------------------------------------------------------------------------------------
# binarize / extract
# --------------------------------------------------------------------------------------------
def _grey_2d(image: np.ndarray, what: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3:
        image = to_grey(image)
    if image.ndim != 2:
        raise InputError(f"the {what} must be a 2-D grey or RGB(A) image, got shape {image.shape}")
    if image.size == 0:
        raise InputError(f"the {what} is empty")
    return image


def binarize(
    image: np.ndarray, threshold: float | None = None, polarity: str = "auto"
) -> tuple[np.ndarray, str]:
    """Boundary mask (True = boundary) of a tracing image; returns ``(mask, polarity used)``.

    Otsu (``threshold=None``) and the polarity rules are :func:`io.as_trace`'s; an explicit
    threshold is on the [0, 1] grey scale (8-bit / 255, 16-bit / 65535).
    """
    image = _grey_2d(image, "tracing")
    if threshold is None or image.dtype == np.bool_:
        return as_trace(image, polarity)
    threshold = unit_number(threshold, "threshold")
    bright = to_unit_float(image, "tracing") > np.float32(threshold)
    return as_trace(bright, polarity)


def extract_trace(
    painted: np.ndarray, original: np.ndarray, threshold: float | None = None
) -> np.ndarray:
    """A tracing painted over a micrograph (GIMP), recovered as ``|painted - original| > threshold``.

    Works whatever the paint colour: RGB pairs compare channel by channel (a red line on a grey
    micrograph can have the same luma as the micrograph), grey pairs directly; both on the
    [0, 1] scale so 8- and 16-bit files mix. Noise that passes is left for :func:`despeckle`.
    """
    painted, original = np.asarray(painted), np.asarray(original)
    if threshold is None:
        threshold = DEFAULT_EXTRACT_THRESHOLD
    threshold = unit_number(threshold, "threshold")
    both_colour = all(a.ndim == 3 and a.shape[2] >= 3 for a in (painted, original))
    if not both_colour:
        painted, original = _grey_2d(painted, "painted tracing"), _grey_2d(original, "original micrograph")
    else:
        painted, original = painted[..., :3], original[..., :3]
    if painted.shape[:2] != original.shape[:2]:
        raise InputError(
            f"the painted tracing is {painted.shape[0]} x {painted.shape[1]} but the original micrograph is "
            f"{original.shape[0]} x {original.shape[1]}; the shapes must match"
        )
    diff = np.abs(to_unit_float(painted, "painted tracing") - to_unit_float(original, "original micrograph"))
    if diff.ndim == 3:
        diff = diff.max(axis=2)
    return diff > np.float32(threshold)


# --------------------------------------------------------------------------------------------
# despeckle and gap bridging
# --------------------------------------------------------------------------------------------
def despeckle(mask: np.ndarray, min_size: int) -> np.ndarray:
    """Drop 8-connected components smaller than ``min_size`` pixels; larger ones are untouched."""
    from skimage.morphology import remove_small_objects

    mask = np.asarray(mask, dtype=bool)
    min_size = non_negative_int(min_size, "min size")
    if min_size <= 1 or not mask.any():
        return mask.copy()
    return remove_small_objects(mask, max_size=min_size - 1, connectivity=2)


def _endpoints(skeleton: np.ndarray) -> np.ndarray:
    """Pixels of a 1-px skeleton with exactly one 8-neighbour (line ends; the image edge counts
    as a neighbour, so a line running out of the image has no end there)."""
    neighbours = ndi.convolve(skeleton.astype(np.uint8), _EIGHT.astype(np.uint8), mode="constant", cval=1) - 1
    return skeleton & (neighbours == 1)


def bridge_gaps(mask: np.ndarray, max_gap: int = 1) -> np.ndarray:
    """Join line ends to another piece at most ``max_gap`` (1 or 2) background pixels away.

    Only ends of the skeleton move: each one looks in a small window for foreground that is not
    its own line (another local component) and draws a straight 1-px bridge to the nearest such
    pixel. Corners, parallel lines and small grains are left alone, unlike a closing.
    """
    from skimage.draw import line as draw_line

    mask = np.asarray(mask, dtype=bool)
    max_gap = non_negative_int(max_gap, "bridge")
    if max_gap > 2:
        raise InputError(f"bridge closes gaps of 0, 1 or 2 pixels, got {max_gap}")
    out = mask.copy()
    if max_gap == 0 or not mask.any():
        return out
    ends = np.argwhere(_endpoints(skeletonize(mask)))
    if ends.size == 0:
        return out
    for y, x in ends:
        # a thick line's skeleton ends inside the line: reach past its own half-width (measured
        # locally, a whole-image distance transform would cost more than the rest of the preview)
        top, left = max(0, y - _HALF_WIDTH_WINDOW), max(0, x - _HALF_WIDTH_WINDOW)
        patch = mask[top : y + _HALF_WIDTH_WINDOW + 1, left : x + _HALF_WIDTH_WINDOW + 1]
        inner = ndi.distance_transform_edt(np.pad(patch, 1, constant_values=True))[y - top + 1, x - left + 1]
        reach = math.ceil(inner) + max_gap
        top, left = max(0, y - reach), max(0, x - reach)
        window = mask[top : y + reach + 1, left : x + reach + 1]
        local, _ = ndi.label(window, structure=_EIGHT)
        own = local[y - top, x - left]
        ty, tx = np.nonzero((local > 0) & (local != own))
        if ty.size == 0:
            continue
        d2 = (ty + top - y) ** 2 + (tx + left - x) ** 2
        best = int(np.argmin(d2))
        if d2[best] > reach * reach:
            continue
        rr, cc = draw_line(int(y), int(x), int(ty[best] + top), int(tx[best] + left))
        out[rr, cc] = True
    return out


# --------------------------------------------------------------------------------------------
# thickness
# --------------------------------------------------------------------------------------------
def skeletonize(mask: np.ndarray) -> np.ndarray:
    """1-px wide centre lines (scikit-image, Zhang's method): topology and 8-connectivity kept.

    Lines touching the image edge still touch it: the edge counts as boundary, as in a tracing
    cropped out of a larger micrograph.
    """
    from skimage.morphology import skeletonize as _skeletonize

    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return mask.copy()
    # a foreground frame: a line that runs into the image edge keeps reaching it (thinning would
    # otherwise retract its end by half its width and merge the two grains it separates)
    framed = np.pad(mask, 1, constant_values=True)
    return np.ascontiguousarray(_skeletonize(framed)[1:-1, 1:-1])


def _gaussian_level(thickness: int, sigma: float) -> float:
    """Threshold at which a blurred 1-px straight line is exactly ``thickness`` pixels wide.

    Across a straight line the blurred profile is the 1-D Gaussian kernel itself (the blur along
    the line sums to 1), so the level sits halfway between the kernel at the last kept distance
    and the first dropped one.
    """
    radius = thickness // 2
    impulse = np.zeros(2 * (radius + 1) + 1 + 2 * math.ceil(4 * sigma))
    centre = impulse.size // 2
    impulse[centre] = 1.0
    kernel = ndi.gaussian_filter1d(impulse, sigma, mode="constant")
    return float((kernel[centre + radius] + kernel[centre + radius + 1]) / 2.0)


def _check_fits_image(shape: tuple[int, ...], thickness: int, sigma: float | None) -> None:
    """Refuse, before allocating, a thickness or blur larger than the image can show.

    A line 2 max(H, W) + 1 wide already covers the image from any pixel; beyond that the
    structuring element (or the Gaussian's kernel, 8 sigma wide) only costs memory.
    """
    limit = 2 * max(shape, default=1) + 1
    if thickness > limit:
        raise InputError(f"thickness {thickness} is larger than a {shape[0]} x {shape[1]} image can show "
                         f"(at most {limit})")
    if isinstance(sigma, int | float) and math.isfinite(sigma) and sigma > limit:
        raise InputError(f"sigma {sigma:g} is larger than a {shape[0]} x {shape[1]} image can show "
                         f"(at most {limit})")


def set_thickness(
    mask: np.ndarray,
    thickness: int = 1,
    footprint: str = "disk",
    sigma: float | None = None,
    skeleton: bool = True,
) -> np.ndarray:
    """Lines of exactly ``thickness`` (odd) pixels: skeletonize, then dilate.

    ``footprint`` "disk" (round ends and joints), "square" (a straight line is N wide; diagonals
    wider), or "gaussian" (the report's blur of the skeleton + threshold; ``sigma`` default
    max(1, N / 3)). ``skeleton=False`` skips skeletonization when ``mask`` already is one.
    """
    thickness = odd_int(thickness, "thickness")
    if footprint not in FOOTPRINTS:
        raise InputError(f"footprint must be one of {', '.join(FOOTPRINTS)}, got {footprint!r}")
    _check_fits_image(np.shape(mask), thickness, sigma)
    lines = skeletonize(mask) if skeleton else np.asarray(mask, dtype=bool)
    if thickness == 1 or not lines.any():
        return lines
    radius = thickness // 2
    if footprint == "gaussian":
        sigma = max(1.0, thickness / 3.0) if sigma is None else float(sigma)
        if not math.isfinite(sigma) or sigma <= 0:
            raise InputError(f"sigma must be a positive number, got {sigma!r}")
        blurred = ndi.gaussian_filter(lines.astype(np.float32), sigma, mode="constant")
        return (blurred >= np.float32(_gaussian_level(thickness, sigma))) | lines
    from skimage.morphology import disk

    structure = disk(radius, dtype=bool) if footprint == "disk" else np.ones((thickness, thickness), dtype=bool)
    return ndi.binary_dilation(lines, structure=structure)


# --------------------------------------------------------------------------------------------
# the pipeline
# --------------------------------------------------------------------------------------------
def clean_trace(
    trace_image: np.ndarray, params: CleanupOptions | None = None, original: np.ndarray | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Run every step in order; return the boolean boundary mask and a JSON-ready report.

    With ``original`` the tracing is extracted from the difference to the micrograph instead of
    binarized. In "crop" border mode the mask is smaller than the input: the report's ``box``
    (top, left, bottom, right) and :func:`crop_slice` cut the micrograph to match.
    """
    params = params or CleanupOptions()
    image = np.asarray(trace_image)
    if image.ndim not in (2, 3) or image.size == 0:
        raise InputError(f"the tracing must be a 2-D grey or RGB(A) image, got shape {image.shape}")
    box = keep_box(image.shape, params.margins, params.keep)
    region = (slice(box[0], box[2]), slice(box[1], box[3]))
    report: dict[str, Any] = {"input_shape": list(image.shape[:2]), "box": list(box)}

    if original is not None:
        original = np.asarray(original)
        if original.shape[:2] != image.shape[:2]:
            raise InputError(
                f"the tracing is {image.shape[0]} x {image.shape[1]} but the original micrograph is "
                f"{original.shape[0]} x {original.shape[1]}; the shapes must match"
            )
        threshold = DEFAULT_EXTRACT_THRESHOLD if params.threshold is None else params.threshold
        inner = extract_trace(image[region], original[region], threshold)
        report.update(method="extract", threshold=threshold, polarity=None)
    else:
        inner, polarity = binarize(image[region], params.threshold, params.polarity)
        used = params.threshold if params.threshold is not None else "otsu"
        report.update(method="binarize", threshold=used, polarity=polarity)

    # every later step runs on the kept region only: its edge is the image edge (skeleton lines
    # run into it, a thickened line never spills into a blanked border)
    mask = np.ascontiguousarray(inner)
    n_before = int(np.count_nonzero(mask))
    mask = despeckle(mask, params.min_size)
    report["despeckled_pixels"] = n_before - int(np.count_nonzero(mask))
    if params.bridge:
        bridged = bridge_gaps(mask, params.bridge)
        report["bridged_pixels"] = int(np.count_nonzero(bridged)) - int(np.count_nonzero(mask))
        mask = bridged
    if params.thickness is not None:
        mask = set_thickness(mask, params.thickness, params.footprint, params.sigma)
    if params.border_mode == "blank":
        full = np.zeros(image.shape[:2], dtype=bool)
        full[region] = mask
        mask = full
    report["output_shape"] = list(mask.shape)
    report["boundary_fraction"] = float(np.count_nonzero(mask)) / mask.size
    return mask, report


# --------------------------------------------------------------------------------------------
# the saved result: PNG + sidecar, the same from the CLI and the widget
# --------------------------------------------------------------------------------------------
def sidecar_path(output: str | os.PathLike) -> Path:
    """``NAME.png`` -> ``NAME.cleanup.json`` beside it."""
    output = Path(output)
    return output.with_name(output.stem + SIDECAR_SUFFIX)


def sidecar_record(
    *,
    source: str | None,
    original: str | None,
    output: str | os.PathLike,
    params: CleanupOptions | dict[str, Any] | None,
    report: dict[str, Any] | None,
    layer: str | None = None,
) -> dict[str, Any]:
    """The sidecar's JSON object: what was cleaned (a file or a layer name), how, and what came out.

    ``params`` replays through ``CleanupOptions.from_dict(record["params"])``; ``layer`` names the
    napari layer saved (the widget may save a touched-up copy), absent from the CLI's.
    """
    from ... import __version__

    record: dict[str, Any] = {"graintrace": "clean", "version": __version__, "input": source,
                              "original": original, "output": str(output)}
    if layer is not None:
        record["layer"] = layer
    record["params"] = params.to_dict() if isinstance(params, CleanupOptions) else params
    record["report"] = report
    return record


def write_cleaned(output: str | os.PathLike, mask: np.ndarray, record: dict[str, Any],
                  overwrite: bool = False) -> tuple[Path, Path]:
    """Write the white-on-black 0/255 PNG and its sidecar; neither replaces a file unless ``overwrite``."""
    output = Path(output)
    sidecar = sidecar_path(output)
    check_writable([output, sidecar], overwrite)
    write_image(output, np.asarray(mask, dtype=bool).astype(np.uint8) * np.uint8(255), overwrite=overwrite)
    write_text(sidecar, json.dumps(record, indent=2) + "\n", overwrite=overwrite)
    return output, sidecar
