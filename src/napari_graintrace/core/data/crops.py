"""Crop boxes: one set of axis-aligned rectangles cut from every micrograph and the tracing alike.

The lab grows its training set by cutting several micrographs of one area and their shared tracing
with the *same* boxes, so a box is a plain value (:class:`CropBox`: integer, half-open pixel bounds
and its crop number ``index`` m, 1-based) and :func:`apply_boxes` refuses anything that would not
give identical windows. Boxes are saved as ``{"boxes": [{"index": 1, "top": ..., "left": ...,
"bottom": ..., "right": ...}, ...]}`` (docs/design.md, "Files"); other keys (a name, the source shape)
may sit beside ``boxes`` and readers ignore keys they do not know.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..io import write_text

__all__ = [
    "BOX_KEYS",
    "CropBox",
    "apply_boxes",
    "box_from_corners",
    "boxes_from_dict",
    "boxes_to_dict",
    "boxes_to_json",
    "check_boxes",
    "corners_and_centre",
    "grid_boxes",
    "parse_boxes",
    "read_boxes",
    "write_boxes",
]

BOX_KEYS: tuple[str, ...] = ("index", "top", "left", "bottom", "right")
_TOLERANCE = 1e-3  # pixels: corners closer than this count as one row/column (float transforms)


def _as_int(value: Any, what: str) -> int:
    """An integer from an int or an integral float (JSON ``256.0``); bools and fractions refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{what} must be an integer, got {value!r}")
    if isinstance(value, (float, np.floating)) and (not math.isfinite(value) or int(value) != value):
        raise InputError(f"{what} must be an integer number of pixels, got {value!r}")
    return int(value)


@dataclass(frozen=True, order=True)
class CropBox:
    """Crop ``index`` (m, 1-based): ``array[top:bottom, left:right]`` in pixels of the originals.

    Half-open like numpy slicing, so a box's size is simply ``bottom - top`` by ``right - left``.
    Validated on creation: an empty or inverted box is an :class:`InputError`, never a silent
    zero-size crop. Whether it fits an image is checked by :meth:`check_fits`.
    """

    index: int
    top: int
    left: int
    bottom: int
    right: int

    def __post_init__(self) -> None:
        for key in BOX_KEYS:
            object.__setattr__(self, key, _as_int(getattr(self, key), f"box {key}"))
        if self.index < 1:
            raise InputError(f"box index must be >= 1 (crop numbers start at 1), got {self.index}")
        if self.top < 0 or self.left < 0:
            raise InputError(f"box {self.index}: top and left must be >= 0, got top {self.top}, left {self.left}")
        if self.bottom <= self.top or self.right <= self.left:
            raise InputError(
                f"box {self.index} is empty or inverted (top {self.top}, left {self.left}, "
                f"bottom {self.bottom}, right {self.right}); it needs top < bottom and left < right"
            )

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def slices(self) -> tuple[slice, slice]:
        """``array[box.slices]`` is the window."""
        return slice(self.top, self.bottom), slice(self.left, self.right)

    def check_fits(self, shape: Sequence[int]) -> CropBox:
        """Raise if any part of the box lies outside an image of ``shape`` (H, W, ...)."""
        height, width = int(shape[0]), int(shape[1])
        if self.bottom > height or self.right > width:
            raise InputError(
                f"box {self.index} (top {self.top}, left {self.left}, bottom {self.bottom}, right {self.right}) "
                f"reaches outside the {height} x {width} image"
            )
        return self

    def to_dict(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in BOX_KEYS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CropBox:
        """Build from a JSON object; unknown keys are ignored, a missing one is an error."""
        if not isinstance(data, Mapping):
            raise InputError(f"a box must be a JSON object with keys {', '.join(BOX_KEYS)}, got {data!r}")
        missing = [key for key in BOX_KEYS if key not in data]
        if missing:
            raise InputError(f"box {dict(data)!r} lacks {', '.join(missing)}")
        return cls(**{key: data[key] for key in BOX_KEYS})


def _edge(coordinate: float) -> int:
    """Pixel coordinate -> nearest pixel edge index (edge ``k`` sits at ``k - 0.5``); halves round
    up, so the same drawn rectangle always gives the same box."""
    return int(np.floor(coordinate + 0.5 + 0.5))


def box_from_corners(index: int, corners: np.ndarray, where: str = "the image") -> CropBox:
    """The box of a rectangle drawn over an image: ``corners`` (k, 2) as (row, col) in its pixels.

    Pixel centres sit at integers (napari's data coordinates), so a rectangle from -0.5 to 255.5
    is the box 0..256. A rotated rectangle is refused (its bounding box is never used silently),
    and so is one that is empty or reaches outside the image (``where`` names it in the message).
    """
    points = np.asarray(corners, dtype=float).reshape(-1, 2)
    rows, cols = points[:, 0], points[:, 1]
    axis_aligned = all(
        np.all(np.minimum(np.abs(values - values.min()), np.abs(values - values.max())) < _TOLERANCE)
        for values in (rows, cols)
    )
    if not axis_aligned:
        raise InputError(
            f"box {index} is rotated in the pixels of {where}; crop boxes must be axis-aligned. "
            "Nothing was written: redraw it without rotation (its bounding box is not used silently)"
        )
    top, bottom = (_edge(v) for v in (rows.min(), rows.max()))
    left, right = (_edge(v) for v in (cols.min(), cols.max()))
    if bottom <= top or right <= left or top < 0 or left < 0:
        raise InputError(
            f"box {index} (top {top}, left {left}, bottom {bottom}, right {right} in the pixels of "
            f"{where}) is empty or reaches outside the image"
        )
    return CropBox(index, top, left, bottom, right)


def check_boxes(boxes: Iterable[CropBox], shape: Sequence[int] | None = None) -> list[CropBox]:
    """A validated list: at least one box, unique indices, each inside ``shape`` when given."""
    boxes = list(boxes)
    if not boxes:
        raise InputError("no crop boxes: draw or load at least one box")
    seen: set[int] = set()
    for box in boxes:
        if not isinstance(box, CropBox):
            raise InputError(f"expected CropBox items, got {type(box).__name__}")
        if box.index in seen:
            raise InputError(f"two boxes share index {box.index}; every crop number m must be unique")
        seen.add(box.index)
        if shape is not None:
            box.check_fits(shape)
    return boxes


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------
def boxes_to_dict(boxes: Iterable[CropBox], **extra: Any) -> dict[str, Any]:
    """``{**extra, "boxes": [...]}``: extra keys (name, source shape) go first, boxes in order."""
    if "boxes" in extra:
        raise InputError("'boxes' is reserved for the boxes themselves")
    return {**extra, "boxes": [box.to_dict() for box in check_boxes(boxes)]}


def boxes_from_dict(data: Any) -> list[CropBox]:
    """The boxes of a parsed ``boxes.json`` document, in file order (other keys ignored)."""
    if not isinstance(data, Mapping) or "boxes" not in data:
        raise InputError('a boxes file must be a JSON object with a "boxes" list')
    items = data["boxes"]
    if not isinstance(items, list):
        raise InputError(f'"boxes" must be a list, got {type(items).__name__}')
    return check_boxes(CropBox.from_dict(item) for item in items)


def boxes_to_json(boxes: Iterable[CropBox], **extra: Any) -> str:
    """Deterministic text (same boxes, same bytes): indent 2, one box per line, final newline."""
    document = boxes_to_dict(boxes, **extra)
    head = {key: value for key, value in document.items() if key != "boxes"}
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}," for key, value in head.items()]
    rows = ",\n".join(f"    {json.dumps(box)}" for box in document["boxes"])
    return "{\n" + "".join(line + "\n" for line in lines) + '  "boxes": [\n' + rows + "\n  ]\n}\n"


MAX_BOXES_TEXT = 8 * 1024 * 1024  # 8 MB: over 100,000 boxes


def parse_boxes(text: str, source: str = "boxes") -> list[CropBox]:
    """Parse ``boxes.json`` text; any problem is an :class:`InputError` naming ``source``."""
    if len(text) > MAX_BOXES_TEXT:
        raise InputError(f"{source}: {len(text)} characters is too long for a boxes file "
                         f"(at most {MAX_BOXES_TEXT}, about {MAX_BOXES_TEXT // 70} boxes)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source}: not valid JSON ({exc})") from None
    except RecursionError:  # thousands of nested brackets: no boxes file looks like this
        raise InputError(f"{source}: nested too deeply to be a boxes file") from None
    try:
        return boxes_from_dict(data)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def read_boxes(path: str | os.PathLike) -> list[CropBox]:
    """Read a ``boxes.json`` file (this project's, or hand-written with extra keys)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        if path.stat().st_size > MAX_BOXES_TEXT:
            raise InputError(f"{path}: {path.stat().st_size} bytes is too large for a boxes file "
                             f"(at most {MAX_BOXES_TEXT})")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read ({exc})") from None
    return parse_boxes(text, str(path))


def write_boxes(path: str | os.PathLike, boxes: Iterable[CropBox], overwrite: bool = False, **extra: Any) -> Path:
    """Write ``boxes.json`` atomically; an existing file is kept unless ``overwrite``."""
    return write_text(path, boxes_to_json(boxes, **extra), overwrite=overwrite)


# --------------------------------------------------------------------------------------------
# applying
# --------------------------------------------------------------------------------------------
def apply_boxes(boxes: Iterable[CropBox], *arrays: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """Cut every array with every box: ``result[i][j]`` is box ``i`` of array ``j`` (a copy).

    All arrays must share their first two dimensions (an RGB micrograph may sit beside a 2-D
    tracing), so window ``i`` covers the same pixels in each. Copies, so that editing a crop can
    never change the user's image.
    """
    if not arrays:
        raise InputError("no arrays to crop")
    arrays = tuple(np.asarray(a) for a in arrays)
    shape = arrays[0].shape[:2]
    for number, array in enumerate(arrays, 1):
        if array.ndim < 2:
            raise InputError(f"array {number} is not an image (shape {array.shape})")
        if array.shape[:2] != shape:
            raise InputError(
                f"array {number} is {array.shape[0]} x {array.shape[1]} but array 1 is "
                f"{shape[0]} x {shape[1]}; one set of boxes needs images of one shape"
            )
    boxes = check_boxes(boxes, shape)
    return [tuple(np.array(array[box.slices]) for array in arrays) for box in boxes]


# --------------------------------------------------------------------------------------------
# layouts to start from
# --------------------------------------------------------------------------------------------
def _image_shape(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) < 2:
        raise InputError(f"expected an image shape (height, width), got {tuple(shape)}")
    height, width = _as_int(shape[0], "image height"), _as_int(shape[1], "image width")
    if height < 1 or width < 1:
        raise InputError(f"the image is empty ({height} x {width})")
    return height, width


def _spread(extent: int, count: int, overlap: int, what: str) -> list[tuple[int, int]]:
    """``count`` equal windows from 0 to ``extent``, neighbours overlapping by >= ``overlap``."""
    size = -(-(extent + (count - 1) * overlap) // count)  # ceil: no uncovered strip
    if size < 1 or size > extent or (count > 1 and size <= overlap):
        raise InputError(f"{count} {what} overlapping by {overlap} px do not fit in {extent} px")
    if count == 1:
        return [(0, size)]
    starts = [round(i * (extent - size) / (count - 1)) for i in range(count)]
    return [(start, start + size) for start in starts]


def grid_boxes(shape: Sequence[int], rows: int, cols: int, overlap: int = 0) -> list[CropBox]:
    """``rows`` x ``cols`` equal boxes covering the whole image; neighbours share >= ``overlap`` px.

    Numbered row by row from 1. The boxes touch every edge, so the spare pixels of an uneven
    division become extra overlap instead of an uncovered strip.
    """
    height, width = _image_shape(shape)
    rows, cols = _as_int(rows, "rows"), _as_int(cols, "columns")
    overlap = _as_int(overlap, "overlap")
    if rows < 1 or cols < 1:
        raise InputError(f"a grid needs at least 1 row and 1 column, got {rows} x {cols}")
    if overlap < 0:
        raise InputError(f"overlap must be >= 0 pixels, got {overlap}")
    ys = _spread(height, rows, overlap, "rows")
    xs = _spread(width, cols, overlap, "columns")
    return [CropBox(r * cols + c + 1, top, left, bottom, right)
            for r, (top, bottom) in enumerate(ys) for c, (left, right) in enumerate(xs)]


def corners_and_centre(shape: Sequence[int], size: int | Sequence[int]) -> list[CropBox]:
    """The report's layout: boxes 1-4 in the top-left, top-right, bottom-left, bottom-right corners,
    box 5 centred. ``size`` is one side or (height, width); more than half the image overlaps the
    centre box with every corner, as the lab does.
    """
    height, width = _image_shape(shape)
    if isinstance(size, (int, float, np.integer, np.floating)) and not isinstance(size, bool):
        box_h = box_w = _as_int(size, "box size")
    else:
        if len(size) != 2:
            raise InputError(f"box size must be one number or (height, width), got {size!r}")
        box_h, box_w = _as_int(size[0], "box height"), _as_int(size[1], "box width")
    if box_h < 1 or box_w < 1 or box_h > height or box_w > width:
        raise InputError(f"a {box_h} x {box_w} box does not fit in the {height} x {width} image")
    top_c, left_c = (height - box_h) // 2, (width - box_w) // 2
    corners = [(0, 0), (0, width - box_w), (height - box_h, 0), (height - box_h, width - box_w), (top_c, left_c)]
    return [CropBox(i, top, left, top + box_h, left + box_w) for i, (top, left) in enumerate(corners, 1)]
