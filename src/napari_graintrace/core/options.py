"""One frozen options object per task; each checks and parses its own fields, here and only here.

Why: a parameter used to be declared and checked again at every level (CLI flag, widget control,
core function, Dask task), and the copies disagreed. Now a task's choices travel as one small,
immutable, picklable object, and every way in (``graintrace`` flags, a widget's controls, a script)
goes through the same parsers, so ``predict --resolution 1000`` and ``sweep --resolution 1000`` get
the same answer.

The pattern, for every task (predict, train, cleanup, crops; sweep and grains follow it):

1. A ``@dataclass(frozen=True)`` ``XOptions`` in this module. Fields carry the defaults the user sees;
   they are the *what*, not the data (no arrays, no paths of inputs).
2. ``__post_init__`` passes every field through one of the shared parsers below (:func:`resolution`,
   :func:`odd_int`, :func:`positive_int`, :func:`positive_number`, :func:`choice`, ...) and stores the
   normalised value with :func:`_set`. The parsers accept text too (``"native"``, ``"1024"``), so the
   CLI may hand argparse strings straight in. A bad value raises :class:`~.errors.InputError` naming the
   field; the CLI prints it as one line, a widget as a notification.
3. The task's step generator takes the object whole (``predict_steps(model, image, options)``); Dask
   tasks and DDP ranks receive it as is. Change a field with ``dataclasses.replace(options, x=...)``:
   the copy is checked again.
4. Cross-field rules (a tile larger than twice its overlap) live in the same ``__post_init__``.

This module imports only the standard library, numpy and ``errors`` so that ``graintrace --help``
stays instant and core modules can import it without cycles.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InputError

__all__ = [
    "BORDER_MODES",
    "DEFAULT_RESOLUTION",
    "FOOTPRINTS",
    "GRID",
    "LOSS_NAMES",
    "MATCH_DISTANCE_PX",
    "POLARITIES",
    "PRECISIONS",
    "RESOLUTIONS",
    "CleanupOptions",
    "CropOptions",
    "DraftOptions",
    "MatchDistance",
    "PredictOptions",
    "SweepOptions",
    "TrainOptions",
    "base_width",
    "checkpoint_name",
    "choice",
    "dataset_name",
    "device",
    "int_tuple",
    "integer",
    "match_distance",
    "non_negative_int",
    "odd_int",
    "positive_int",
    "positive_number",
    "resolution",
    "tiling",
    "unit_number",
]

GRID = 16  # the U-Net halves a side four times (2 ** model.DEPTH; tests check they agree)
# One default input size for every widget and command: native. The network then sees the pixel scale
# of its training crops (the lab cuts them from micrographs at their own scale), no side is stretched,
# and the map is already on the micrograph's grid; tiles keep large micrographs in memory. 1024 (the
# lab's inference square) and 256 (its training size) stay available; their maps are resampled back.
DEFAULT_RESOLUTION: int | None = None
RESOLUTIONS: tuple[str, ...] = ("native", "256", "512", "1024")  # the choices widgets offer, default first
POLARITIES: tuple[str, ...] = ("auto", "white-on-black", "black-on-white")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
LOSS_NAMES: tuple[str, ...] = ("bce", "tolerant", "bce+tolerant")  # the keys of training.LOSSES
BORDER_MODES: tuple[str, ...] = ("blank", "crop")
FOOTPRINTS: tuple[str, ...] = ("disk", "square", "gaussian")
GRAIN_COMBINES: tuple[str, ...] = ("max", "mean")  # several maps of one area -> one (grains.combine_maps)
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


# --------------------------------------------------------------------------------------------
# shared field parsers: value (number or text) -> normalised value, or InputError naming `what`
# --------------------------------------------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _number(value: Any, what: str, kind: str) -> float:
    """A finite number from a number or its text; ``kind`` words the error."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InputError(f"{what} must be {kind}, got {value!r}") from None
    if not _is_number(value) or not math.isfinite(float(value)):
        raise InputError(f"{what} must be {kind}, got {value!r}")
    return float(value)


def _integer(value: Any, what: str, kind: str) -> int:
    number = _number(value, what, kind)
    if number != int(number):
        raise InputError(f"{what} must be {kind}, got {value!r}")
    return int(number)


def resolution(value: Any, what: str = "resolution") -> int | None:
    """``1024`` or ``"1024"`` -> 1024 (the lab's square resize); ``"native"`` or None -> None (full size).

    The side must be a multiple of 16, the U-Net halves it four times (the one rule for every task).
    """
    if value is None or (isinstance(value, str) and value.strip().lower() == "native"):
        return None
    kind = f"a number of pixels (a multiple of {GRID}) or 'native'"
    size = _integer(value, what, kind)
    if size < GRID or size % GRID:
        raise InputError(f"{what} must be a multiple of {GRID} (the U-Net halves it 4 times), got {size}")
    return size


def odd_int(value: Any, what: str) -> int:
    """An odd positive integer (windows and kernels are centred on their pixel)."""
    if type(value) is int and value > 0 and value % 2:
        return value  # the common case, kept cheap
    kind = "an odd positive integer (1, 3, 5, ...)"
    number = _integer(value, what, kind)
    if number < 1 or number % 2 == 0:
        raise InputError(f"{what} must be {kind}, got {value!r}")
    return number


def integer(value: Any, what: str) -> int:
    """Any whole number (a seed)."""
    return _integer(value, what, "an integer")


def positive_int(value: Any, what: str) -> int:
    number = _integer(value, what, "a positive integer")
    if number < 1:
        raise InputError(f"{what} must be a positive integer, got {value!r}")
    return number


MAX_BASE_WIDTH = 256  # 4x the lab's 64: about 500 M parameters, some 8 GB with Adam's state


def base_width(value: Any, what: str = "width") -> int:
    """The U-Net's base width: a positive integer, at most :data:`MAX_BASE_WIDTH` (refused before allocating)."""
    number = positive_int(value, what)
    if number > MAX_BASE_WIDTH:
        gigabytes = 16 * 31e6 * (number / 64) ** 2 / 1e9  # weights, gradients and Adam's two moments
        raise InputError(f"{what} {number} is more than {MAX_BASE_WIDTH} (the lab's is 64; the parameters grow "
                         f"with its square: {number} would need about {gigabytes:.0f} GB to train)")
    return number


def non_negative_int(value: Any, what: str) -> int:
    number = _integer(value, what, "a non-negative integer")
    if number < 0:
        raise InputError(f"{what} must be a non-negative integer, got {value!r}")
    return number


def positive_number(value: Any, what: str) -> float:
    """A finite number > 0 (a width, a rate, a weight)."""
    if type(value) in (float, int) and value > 0 and math.isfinite(value):
        return float(value)  # the common case, kept cheap: the live sigma slider checks on every move
    number = _number(value, what, "a positive number")
    if number <= 0:
        raise InputError(f"{what} must be a positive number, got {value!r}")
    return number


def unit_number(value: Any, what: str) -> float:
    """A number in [0, 1] (a grey level on the unit scale)."""
    number = _number(value, what, "a number in [0, 1]")
    if not 0.0 <= number <= 1.0:
        raise InputError(f"{what} must be a number in [0, 1], got {value!r}")
    return number


def choice(value: Any, choices: Sequence[str], what: str) -> str:
    if value not in choices:
        raise InputError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")
    return str(value)


def device(value: Any) -> str:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (a ``torch.device`` is taken by name).

    Only the spelling is checked here: whether the device exists is decided where the work runs
    (``inference.choose_device``), which for a Dask task is another machine.
    """
    text = "auto" if value is None else str(value).strip().lower()
    if not _DEVICE.match(text):
        raise InputError(f"unknown device {value!r}; use auto, cpu, cuda, cuda:N or mps")
    return text


def int_tuple(value: Any, count: int, what: str) -> tuple[int, ...]:
    """``count`` integers from a sequence or ``"1,2,3,4"`` text."""
    if isinstance(value, str):
        value = [part for part in value.replace(" ", "").split(",")]
    try:
        items = tuple(value)
    except TypeError:
        raise InputError(f"{what} must be {count} integers, got {value!r}") from None
    if len(items) != count:
        raise InputError(f"{what} must be {count} integers, got {value!r}")
    return tuple(_integer(item, what, f"{count} integers") for item in items)


def tiling(tile: Any, overlap: Any) -> tuple[int, int]:
    """A tile side and its halo: multiples of 16 that leave a core of at least 16 px."""
    values = []
    for value, what in ((tile, "tile"), (overlap, "overlap")):
        if isinstance(value, bool) or not _is_number(value) or int(value) != value or value < 0 or value % GRID:
            raise InputError(f"{what} must be a non-negative multiple of {GRID}, got {value!r}")
        values.append(int(value))
    if values[0] - 2 * values[1] < GRID:
        raise InputError(f"tile {tile} leaves no core inside an overlap of {overlap} px on each side; "
                         f"use tile >= 2 * overlap + {GRID}")
    return values[0], values[1]


MATCH_DISTANCE_PX = 3.0  # the boundary benchmark's default tolerance: see MatchDistance
BSDS_DISTANCE_FRACTION = 0.0075  # the BSDS benchmark's maxDist, a fraction of the image diagonal
_MICROMETRE_UNITS = ("um", "µm", "μm", "micrometres", "micrometers", "micron", "microns")


@dataclass(frozen=True)
class MatchDistance:
    """How far (Euclidean) a predicted boundary pixel may lie from a true one and still match.

    A micrograph's scale is its grains, not its frame, so the tolerance is a length: ``value`` pixels
    (``unit="px"``, default 3: half the widest hand-traced line, 5 px on the NIST tracing, plus
    the half pixel a thinned line can fall either side of its centre; and the tolerant score's
    default sigma, where its reward has fallen to exp(-1/2)), or micrometres (``unit="um"``, turned
    into pixels with the pixel size). ``unit="bsds"`` keeps the BSDS rule by name, 0.0075 x the
    image diagonal (made for 481 x 321 photographs: 43 px at 4096^2, longer than a grain).
    """

    value: float | None = MATCH_DISTANCE_PX
    unit: str = "px"

    def __post_init__(self) -> None:
        _set(self, "unit", choice(self.unit, ("px", "um", "bsds"), "match distance unit"))
        if self.unit == "bsds":
            _set(self, "value", None)
            return
        number = _number(self.value, "the match distance", "a number >= 0")
        if number < 0:
            raise InputError(f"the match distance must be >= 0, got {self.value!r}")
        _set(self, "value", number)

    def pixels(self, shape: tuple[int, ...], pixel_size: float | None = None) -> float:
        """The distance in pixels on an image of ``shape`` (``pixel_size``: micrometres per pixel)."""
        if self.unit == "bsds":
            rows, cols = shape[:2]
            return BSDS_DISTANCE_FRACTION * math.sqrt(rows * rows + cols * cols)
        if self.unit == "um":
            if pixel_size is None:
                raise InputError(f"a match distance of {self} needs the pixel size (micrometres per pixel)")
            return self.value / positive_number(pixel_size, "pixel size")
        return self.value

    def __str__(self) -> str:
        return "bsds" if self.unit == "bsds" else f"{self.value:g} {self.unit}"


def match_distance(value: Any, what: str = "match distance") -> MatchDistance:
    """``3``, ``"3"``, ``"3px"`` -> 3 px; ``"0.5um"`` -> 0.5 micrometres; ``"bsds"`` -> the BSDS rule;
    None -> the default (:data:`MATCH_DISTANCE_PX` px)."""
    if value is None:
        return MatchDistance()
    if isinstance(value, MatchDistance):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "bsds":
            return MatchDistance(None, "bsds")
        unit = "px"
        for suffix, name in [("px", "px"), *((u, "um") for u in _MICROMETRE_UNITS)]:
            if text.endswith(suffix):
                text, unit = text[: -len(suffix)].strip(), name
                break
        kind = "a number of pixels (3, 3px), of micrometres (0.5um) or 'bsds'"
        return MatchDistance(_number(text, what, kind), unit)
    if not _is_number(value):
        raise InputError(f"{what} must be a number of pixels, of micrometres (0.5um) or 'bsds', got {value!r}")
    return MatchDistance(value, "px")


def _file_name_part(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"the {what} is empty")
    if name != name.strip():
        raise InputError(f"{what} {name!r} starts or ends with white space")
    bad = [sep for sep in ("/", "\\", os.sep, os.altsep) if sep and sep in name]
    if bad:
        raise InputError(f"{what} {name!r} contains a path separator {bad[0]!r}; give a plain name like XXXX")
    if name.startswith("."):
        raise InputError(f"{what} {name!r} may not start with a dot")
    if any(ord(ch) < 32 or ch in ':*?"<>|' for ch in name):
        raise InputError(f"{what} {name!r} contains characters not allowed in file names")
    return name


def checkpoint_name(name: Any) -> str:
    """The NAME of ``NAME_EPOCH.pth``: part of a file name."""
    return _file_name_part(name, "checkpoint name")


def dataset_name(name: Any) -> str:
    """The XXXX of ``XXXX_validation``: part of folder and file names."""
    return _file_name_part(name, "dataset name")


def _set(options: object, name: str, value: Any) -> None:
    """Store a parsed value in a frozen dataclass (only from its ``__post_init__``)."""
    object.__setattr__(options, name, value)


# --------------------------------------------------------------------------------------------
# the tasks
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PredictOptions:
    """How a micrograph becomes a probability map (``inference.predict_steps``).

    ``resolution``: side of the square the network sees (the lab: 1024), None (the default) for
    the native size: see :data:`DEFAULT_RESOLUTION`. ``tile``: tile side (multiple of 16; None or
    0: one pass however large); ``overlap``: context per tile side (ignored without tiles).
    ``precision``: auto, fp32, bf16, fp16 (GPU). ``device``: auto, cpu, cuda[:N], mps.
    ``restore_shape``: the map comes back on the micrograph's grid, whatever the network saw (the
    one geometry every score is measured on); False keeps the network's square (the lab's files).
    """

    resolution: int | None = DEFAULT_RESOLUTION
    tile: int | None = 1024
    overlap: int = 112
    precision: str = "auto"
    device: str = "auto"
    restore_shape: bool = True

    def __post_init__(self) -> None:
        _set(self, "resolution", resolution(self.resolution))
        tile = None if self.tile is None else non_negative_int(self.tile, "tile")
        _set(self, "tile", tile or None)
        _set(self, "overlap", non_negative_int(self.overlap, "overlap"))
        if self.tile is not None:
            tiling(self.tile, self.overlap)
        elif self.overlap % GRID:
            raise InputError(f"overlap must be a non-negative multiple of {GRID}, got {self.overlap!r}")
        _set(self, "precision", choice(self.precision, PRECISIONS, "precision"))
        _set(self, "device", device(self.device))
        _set(self, "restore_shape", bool(self.restore_shape))


@dataclass(frozen=True)
class TrainOptions:
    """Everything a training run chooses besides its data and output folder (``training.train_steps``).

    ``size``: square training side (a multiple of 16) or None for the native size. ``loss``: one of
    :data:`LOSS_NAMES`; ``tolerant_weight``, ``sigma`` and ``window`` configure the tolerant term.
    ``batch_size`` is per process under DDP. ``base_width``: None takes the lab's 64, or, when
    fine-tuning, the width of the checkpoint started from (a width given must match it).
    """

    name: str = "unet"
    epochs: int = 10
    base_width: int | None = None
    lr: float = 1e-4
    batch_size: int = 1
    save_every: int = 1
    size: int | None = 256
    device: str = "auto"
    loss: str = "bce"
    seed: int = 0
    resume: bool = True
    tolerant_weight: float = 1.0
    sigma: float = 3.0
    window: int = 15

    def __post_init__(self) -> None:
        _set(self, "name", checkpoint_name(self.name))
        for key, what in (("epochs", "epochs"), ("batch_size", "batch size"), ("save_every", "save-every")):
            _set(self, key, positive_int(getattr(self, key), what))
        if self.base_width is not None:
            _set(self, "base_width", base_width(self.base_width))
        _set(self, "lr", positive_number(self.lr, "learning rate"))
        _set(self, "size", resolution(self.size, "size"))
        _set(self, "device", device(self.device))
        if self.loss not in LOSS_NAMES:
            raise InputError(f"unknown loss {self.loss!r}; available: {', '.join(LOSS_NAMES)}")
        _set(self, "seed", integer(self.seed, "seed"))
        _set(self, "resume", bool(self.resume))
        _set(self, "tolerant_weight", positive_number(self.tolerant_weight, "tolerant weight"))
        _set(self, "sigma", positive_number(self.sigma, "sigma"))
        _set(self, "window", odd_int(self.window, "window"))


@dataclass(frozen=True)
class CleanupOptions:
    """Every choice of a tracing cleanup (``cleanup.clean_trace``), saved beside the result and replayed.

    ``margins`` = (top, bottom, left, right) pixels removed; ``keep`` = (top, left, bottom, right)
    half-open rectangle kept instead (wins over margins); ``border_mode`` "blank" (removed pixels
    become background) or "crop". ``threshold`` in [0, 1] of the full grey scale (None: Otsu; with
    an original micrograph it applies to |painted - original|, None meaning
    ``cleanup.DEFAULT_EXTRACT_THRESHOLD``). ``min_size``: components smaller than this are dropped.
    ``bridge``: close gaps of up to this many pixels (0, 1, 2). ``thickness``: None keeps the
    binarized lines, 1 skeletonizes, odd N > 1 re-thickens with ``footprint``; ``sigma`` is the
    Gaussian option's blur (None: max(1, N / 3)). :meth:`to_dict` / :meth:`from_dict` are the
    sidecar's ``params``.
    """

    margins: tuple[int, int, int, int] = (0, 0, 0, 0)
    keep: tuple[int, int, int, int] | None = None
    border_mode: str = "blank"
    threshold: float | None = None
    polarity: str = "auto"
    min_size: int = 0
    bridge: int = 0
    thickness: int | None = None
    footprint: str = "disk"
    sigma: float | None = None
    _extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        margins = int_tuple(self.margins, 4, "margins (top, bottom, left, right)")
        if any(m < 0 for m in margins):
            raise InputError(f"margins must be >= 0, got {margins}")
        _set(self, "margins", margins)
        if self.keep is not None:
            keep = int_tuple(self.keep, 4, "keep (top, left, bottom, right)")
            top, left, bottom, right = keep
            if top < 0 or left < 0 or bottom <= top or right <= left:
                raise InputError(f"keep rectangle must have 0 <= top < bottom and 0 <= left < right, got {keep}")
            _set(self, "keep", keep)
        if self.border_mode not in BORDER_MODES:
            raise InputError(f"border mode must be one of {', '.join(BORDER_MODES)}, got {self.border_mode!r}")
        if self.threshold is not None:
            _set(self, "threshold", unit_number(self.threshold, "threshold"))
        _set(self, "polarity", choice(self.polarity, POLARITIES, "polarity"))
        _set(self, "min_size", non_negative_int(self.min_size, "min size"))
        _set(self, "bridge", non_negative_int(self.bridge, "bridge"))
        if self.bridge > 2:
            raise InputError(f"bridge closes gaps of 0, 1 or 2 pixels, got {self.bridge}")
        if self.thickness is not None:
            _set(self, "thickness", odd_int(self.thickness, "thickness"))
        if self.footprint not in FOOTPRINTS:
            raise InputError(f"footprint must be one of {', '.join(FOOTPRINTS)}, got {self.footprint!r}")
        if self.sigma is not None:
            _set(self, "sigma", positive_number(self.sigma, "sigma"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists); :meth:`from_dict` reads it back."""
        return {f.name: (list(v) if isinstance(v, tuple) else v)
                for f in dataclasses.fields(self) if not f.name.startswith("_")
                for v in [getattr(self, f.name)]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CleanupOptions:
        """Build from :meth:`to_dict` output; unknown keys (from a newer version) are kept aside."""
        if not isinstance(data, dict):
            raise InputError(f"cleanup parameters must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")}
        known = {k: v for k, v in data.items() if k in names}
        return cls(**known, _extra={k: v for k, v in data.items() if k not in names})


@dataclass(frozen=True)
class CropOptions:
    """How one area's aligned crops are written (``dataset.write_aligned_steps``).

    ``name``: the dataset name XXXX (part of file names). ``polarity`` of the tracing; ``thickness``
    (odd px) re-thickens it with the cleanup core first (None: keep). ``overwrite`` replaces an
    existing ``XXXX_validation/aligned``.
    """

    name: str
    polarity: str = "auto"
    thickness: int | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        _set(self, "name", dataset_name(self.name))
        _set(self, "polarity", choice(self.polarity, POLARITIES, "polarity"))
        if self.thickness is not None:
            _set(self, "thickness", odd_int(self.thickness, "thickness"))
        _set(self, "overwrite", bool(self.overwrite))


@dataclass(frozen=True)
class GrainOptions:
    """The lab's post-processing from a boundary map to grains (``grains.segment``), and its pixel size.

    Defaults are grain_unet's config on our polarity (p = boundary probability): ``high`` / ``low``
    hysteresis thresholds (the lab's 160 and 200 on its dark-boundary maps: 1 - 160/255 and
    1 - 200/255), ``dilations`` cross-shaped dilations, holes smaller than ``min_area`` px filled,
    spurs shorter than ``prune`` px removed. ``combine``: several maps of one area become one by the
    ``max`` of p (the lab's ``min``) or the ``mean``. ``pixel_size``: micrometres per pixel, for the
    ASTM E112 G numbers (None: none).
    """

    high: float = 1 - 160 / 255
    low: float = 1 - 200 / 255
    dilations: int = 3
    min_area: int = 100
    prune: int = 30
    combine: str = "max"
    pixel_size: float | None = None

    def __post_init__(self) -> None:
        _set(self, "high", unit_number(self.high, "high threshold"))
        _set(self, "low", unit_number(self.low, "low threshold"))
        if self.low > self.high:
            raise InputError(f"the low threshold ({self.low:g}) must not exceed the high one ({self.high:g})")
        _set(self, "dilations", non_negative_int(self.dilations, "dilations"))
        _set(self, "min_area", non_negative_int(self.min_area, "min area"))
        _set(self, "prune", non_negative_int(self.prune, "prune length"))
        _set(self, "combine", choice(self.combine, GRAIN_COMBINES, "combine"))
        if self.pixel_size is not None:
            _set(self, "pixel_size", positive_number(self.pixel_size, "pixel size"))

    @property
    def post_processing(self) -> dict[str, float | int]:
        """The five parameters ``grains.tune_steps`` searches (JSON-ready)."""
        return {"high": self.high, "low": self.low, "dilations": self.dilations, "min_area": self.min_area,
                "prune": self.prune}

    def replace(self, **changes: Any) -> GrainOptions:
        """A checked copy with some fields changed."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class SweepOptions:
    """What a loss-vs-epoch sweep computes besides its runs and pairs (``sweep.sweep_steps``).

    ``resolution``: the square the network sees (None, the default: native, in tiles; the maps are
    scored on the micrograph's grid either way); ``precision`` of inference (fp32 by default: epochs are compared to the last digit);
    ``sigmas`` and ``kernels``: the Gaussian / tolerant sigmas and the top-hat kernels of the table;
    ``window``: the Gaussian window; ``grains``: also the grain metrics of every prediction
    (``core.grains``, the lab's post-processing at its defaults); ``match_distance``: the boundary
    benchmark's tolerance (:class:`MatchDistance`, default 3 px; micrometres need ``pixel_size``).
    Small and picklable: each Dask task receives it whole.
    """

    resolution: int | None = DEFAULT_RESOLUTION
    precision: str = "fp32"
    sigmas: tuple[float, ...] = (1.0, 3.0)
    kernels: tuple[int, ...] = (3, 5)
    window: int = 15
    grains: bool = False
    match_distance: MatchDistance = field(default_factory=MatchDistance)
    pixel_size: float | None = None

    def __post_init__(self) -> None:
        _set(self, "resolution", resolution(self.resolution))
        _set(self, "precision", choice(self.precision, PRECISIONS, "precision"))
        sigmas = (self.sigmas,) if isinstance(self.sigmas, int | float | str) else tuple(self.sigmas)
        kernels = (self.kernels,) if isinstance(self.kernels, int | float | str) else tuple(self.kernels)
        if not sigmas or not kernels:
            raise InputError("a sweep needs at least one sigma and one kernel")
        _set(self, "sigmas", tuple(dict.fromkeys(positive_number(s, "sigma") for s in sigmas)))
        _set(self, "kernels", tuple(dict.fromkeys(odd_int(k, "kernel") for k in kernels)))
        _set(self, "window", odd_int(self.window, "window"))
        _set(self, "grains", bool(self.grains))
        _set(self, "match_distance", match_distance(self.match_distance))
        if self.pixel_size is not None:
            _set(self, "pixel_size", positive_number(self.pixel_size, "pixel size"))
        if self.match_distance.unit == "um" and self.pixel_size is None:
            raise InputError(f"a match distance of {self.match_distance} needs the pixel size (micrometres per pixel)")


@dataclass(frozen=True)
class DraftOptions:
    """A draft tracing from boundary maps with no truth (``draft.draft_tracing``), chosen for fewest corrections.
    ``high`` / ``low``: hysteresis thresholds on p (the low one far below the lab's: faint boundaries
    are kept where they touch strong ones); ``dilations``: binary dilations of the thresholded band
    before thinning, None = auto (two where the band is wider than 6 px on average, as a blurry
    U-Net draws it, merging its double ridges; one otherwise, so that close boundaries and small
    grains stay apart); ``min_area``: holes smaller than this filled (pinholes only: small grains are
    kept); ``gap_radius``: how far (px) a dangling end looks for another line; ``gap_prob``: the mean p
    a closing path needs along its way (the ridge has to be there), except a path of at most
    ``gap_short`` px (a break in a line); ``gap_turn`` (degrees): how far a closing path may turn away
    from the direction its line arrives in; ``prune``: dangling branches shorter than this are removed
    (before and after the gaps are closed); ``combine``: several maps of one area become one (``max``
    or ``mean`` of p, as for grains); ``thickness``: line width of the written tracing (1 px:
    8-connected lines; more for training tracings). The defaults were chosen for the fewest oracle
    corrections on the demo NIST map and on faint-boundary maps (``benchmarks/bench_draft.py``,
    ``docs/correct.md``).
    """

    high: float = 0.45
    low: float = 0.08
    dilations: int | None = None
    min_area: int = 10
    gap_radius: int = 60
    gap_prob: float = 0.1
    gap_turn: float = 90.0
    gap_short: int = 10
    prune: int = 25
    combine: str = "max"
    thickness: int = 1

    def __post_init__(self) -> None:
        _set(self, "high", unit_number(self.high, "high threshold"))
        _set(self, "low", unit_number(self.low, "low threshold"))
        if self.low > self.high:
            raise InputError(f"the low threshold ({self.low:g}) must not exceed the high one ({self.high:g})")
        if self.dilations is not None and self.dilations != "auto":
            _set(self, "dilations", non_negative_int(self.dilations, "dilations"))
        else:
            _set(self, "dilations", None)
        _set(self, "min_area", non_negative_int(self.min_area, "min area"))
        _set(self, "gap_radius", non_negative_int(self.gap_radius, "gap radius"))
        _set(self, "gap_prob", unit_number(self.gap_prob, "gap probability"))
        _set(self, "gap_turn", positive_number(self.gap_turn, "gap turn"))
        _set(self, "gap_short", non_negative_int(self.gap_short, "short gap"))
        _set(self, "prune", non_negative_int(self.prune, "prune length"))
        _set(self, "combine", choice(self.combine, GRAIN_COMBINES, "combine"))
        _set(self, "thickness", odd_int(self.thickness, "thickness"))

    def replace(self, **changes: Any) -> DraftOptions:
        """A checked copy with some fields changed."""
        return dataclasses.replace(self, **changes)
