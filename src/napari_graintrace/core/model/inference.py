"""Micrograph -> probability map with the lab's U-Net: resize or tile, pick a device and precision.

By default (``resolution=None``, native) the network runs at the micrograph's own size, in
overlapping tiles so a 4096 x 4096 micrograph fits in a few GB. The lab's way (``resolution=1024``):
grey [0, 1] input, bilinear antialiased resize to a square ``resolution x resolution``, one forward
pass, ``sigmoid`` of the logits. Either way the map comes back on the micrograph's grid (resampled
with ``grid.to_grid``; ``restore_shape=False`` keeps the network's square), so grains and intercepts
are never measured stretched: ``resolution`` only chooses what the network sees.

Tiling is exact, not blended: tiles start on the network's 16-pixel grid (so every max-pool sees
the same windows as a whole-image pass), each tile carries a halo of ``overlap`` pixels of real
context on every inner side, and only the tile's core is kept. With an overlap at least the
network's reach (about 100 px for the lab's depth-4 U-Net), tiled and whole-image maps agree to
float rounding. Images whose sides are not multiples of 16 are reflect-padded and cropped back.

Speed: every pass runs channels-last (same numbers, about 1.8x faster than the lab's NCHW on a
CPU). Where the CPU has native bf16 dot products (AVX512-BF16 or AMX), ``precision="auto"`` also
runs under ``torch.autocast("cpu", bfloat16)``, with the cheap input and output layers kept in
fp32; this was checked to change BCE and Gaussian losses by less than 1e-3 (``tests/test_model.py``
on the demo series, ``benchmarks/bench_inference.py`` at the lab's width). Elsewhere ``"auto"`` is
fp32; ``"bf16"``/``"fp16"`` can be asked for explicitly (CUDA autocast, not validated here).

Long runs report progress per tile: pass ``progress(done, total)``, or drive
:func:`predict_steps` with a :class:`~.options.PredictOptions`: a generator that yields
``(done, total)`` and returns the map, which is what a napari ``thread_worker`` wants (its
``quit()`` takes effect at each yield) and what the CLI and Dask tasks run. A lab-width pass
over one 1024 x 1024 tile takes tens of seconds on a laptop CPU, so a yield per tile is not enough
for a prompt Cancel: with ``stop`` given, :func:`predict_steps` also checks it inside the forward
pass, before every layer (:func:`interruptible`), and raises :class:`Cancelled`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..grid import to_grid
from ..io import to_grey, to_unit_float
from ..options import PRECISIONS, PredictOptions, tiling
from ..options import resolution as parse_resolution
from ..steps import run_steps
from .unet import DEPTH, UNet

__all__ = [
    "DEFAULT_OVERLAP",
    "DEFAULT_RESOLUTION",
    "DEFAULT_TILE",
    "LAB_RESOLUTION",
    "PRECISIONS",
    "Cancelled",
    "check_resolution",
    "choose_device",
    "cpu_has_native_bf16",
    "interruptible",
    "predict",
    "predict_steps",
    "prepare_image",
    "resolve_precision",
    "tile_windows",
]

Precision = Literal["auto", "fp32", "bf16", "fp16"]
# the defaults live on PredictOptions: native (the network sees the pixel scale of its training
# crops, and the map is on the micrograph's grid); a 1024 tile of the lab's model needs ~2 GB in
# fp32; a 112 px halo is >= the lab U-Net's reach, so tiles match a whole-image pass
DEFAULT_RESOLUTION: int | None = PredictOptions.resolution
LAB_RESOLUTION = 1024  # the lab's inference script's square
DEFAULT_TILE: int = PredictOptions.tile
DEFAULT_OVERLAP: int = PredictOptions.overlap
GRID = 2**DEPTH  # 16: sides that keep their size through four max-pools

ProgressCallback = Callable[[int, int], object]


# --------------------------------------------------------------------------------------------
# device and precision
# --------------------------------------------------------------------------------------------
def choose_device(preference: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``: CUDA, then Apple MPS, then CPU; or a named device, checked to be there."""
    if preference is None or (isinstance(preference, str) and preference.strip().lower() == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preference.strip().lower() if isinstance(preference, str) else preference)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {preference!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError("device cuda asked for, but this PyTorch sees no CUDA GPU")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(f"device {device} asked for, but only {torch.cuda.device_count()} CUDA GPU(s) exist")
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise InputError("device mps asked for, but this PyTorch has no Apple MPS backend")
    elif device.type != "cpu":
        raise InputError(f"unsupported device {preference!r}; use auto, cpu, cuda, cuda:N or mps")
    return device


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bf16 dot products natively (AVX512-BF16 or AMX-BF16).

    ``torch.ops.mkldnn._is_mkldnn_bf16_supported`` also says yes on plain AVX-512, where bf16 is
    emulated and slower than fp32; the CPU flags are what decide whether bf16 is worth it.
    """
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """Turn ``"auto"`` into what will run on ``device``: the checked fast path or fp32."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        # only where bf16 was checked against fp32 (BCE and Gaussian loss within 1e-3); CUDA and
        # MPS autocast are offered explicitly but were not validated by this project's tests
        return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"
    if precision == "fp16" and device.type == "cpu":
        raise InputError("fp16 runs on GPUs only; on the CPU use bf16 or fp32")
    return precision


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


# --------------------------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------------------------
MAX_UPSAMPLING = 4  # a resolution may enlarge the micrograph's longer side at most this much (or to 1024)


def check_resolution(shape: tuple[int, ...], resolution: int | None) -> None:
    """A square size for a micrograph of ``shape``: at least 16, and refused before any resize allocates it
    when it enlarges the longer side more than ``MAX_UPSAMPLING`` times (beyond 1024)."""
    if resolution is None:
        return
    if isinstance(resolution, bool) or not isinstance(resolution, int | np.integer) or resolution < GRID:
        raise InputError(f"resolution must be an integer >= {GRID} or None (native), got {resolution!r}")
    limit = max(LAB_RESOLUTION, MAX_UPSAMPLING * max(shape[:2]))
    if resolution > limit:
        raise InputError(f"resolution {resolution} is more than {MAX_UPSAMPLING}x the micrograph's "
                         f"{shape[0]} x {shape[1]} (at most {limit}); enlarging it further adds no detail")


def prepare_image(image: np.ndarray, resolution: int | None = DEFAULT_RESOLUTION) -> torch.Tensor:
    """Grey float32 [0, 1] tensor of shape (H, W), resized to a square ``resolution`` if given.

    uint8/uint16 are scaled (``io.to_unit_float``), RGB(A) becomes luma; the resize is bilinear
    with antialiasing, as the lab's torchvision ``Resize`` does.
    """
    array = np.asarray(image)
    if array.ndim == 3:
        array = to_grey(array)
    if array.ndim != 2:
        raise InputError(f"expected a 2-D grey micrograph, got shape {array.shape}")
    if min(array.shape) < 1:
        raise InputError(f"the micrograph is empty (shape {array.shape})")
    x = torch.from_numpy(np.ascontiguousarray(to_unit_float(array, "micrograph")))
    resolution = parse_resolution(resolution)
    if resolution is not None:
        check_resolution(tuple(x.shape), resolution)
        size = (resolution, resolution)
        if tuple(x.shape) != size:
            x = F.interpolate(x[None, None], size=size, mode="bilinear", antialias=True, align_corners=False)[0, 0]
    return x


def _pad_to_grid(x: torch.Tensor) -> torch.Tensor:
    """Pad (H, W) at the bottom/right to multiples of 16: reflect where possible, else replicate."""
    height, width = x.shape
    pad_h, pad_w = -height % GRID, -width % GRID
    if not (pad_h or pad_w):
        return x
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x[None, None], (0, pad_w, 0, pad_h), mode=mode)[0, 0]


# --------------------------------------------------------------------------------------------
# tiles
# --------------------------------------------------------------------------------------------
def _axis_windows(length: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(window start, window stop, core start, core stop) along one padded axis."""
    if length <= tile:
        return [(0, length, 0, length)]
    core = tile - 2 * overlap
    out = []
    for start in range(0, length, core):
        stop = min(start + core, length)
        window = max(0, min(start - overlap, length - tile))
        out.append((window, window + tile, start, stop))
    return out


def tile_windows(shape: tuple[int, int], tile: int, overlap: int) -> list[tuple[slice, slice, slice, slice]]:
    """For a padded (H, W): (window rows, window cols, core rows, core cols) of every tile.

    Every window starts on the 16-px grid and keeps ``overlap`` px of context beyond its core on
    each side that is not the image border, where a whole-image pass sees the same zero padding.
    """
    tile, overlap = tiling(tile, overlap)
    rows = _axis_windows(shape[0], tile, overlap)
    cols = _axis_windows(shape[1], tile, overlap)
    return [
        (slice(r0, r1), slice(c0, c1), slice(rc0, rc1), slice(cc0, cc1))
        for r0, r1, rc0, rc1 in rows
        for c0, c1, cc0, cc1 in cols
    ]


# --------------------------------------------------------------------------------------------
# prediction
# --------------------------------------------------------------------------------------------
class Cancelled(Exception):
    """Raised inside a forward pass (or between tiles) when the caller's ``stop()`` says so."""


def _check(stop: Callable[[], bool]) -> None:
    if stop():
        raise Cancelled("stopped")


@contextlib.contextmanager
def interruptible(model: torch.nn.Module, stop: Callable[[], bool]) -> Iterator[torch.nn.Module]:
    """While inside, every forward pass of ``model`` checks ``stop()`` before each layer and raises
    :class:`Cancelled` when it is true, so a pass ends within one layer of a Cancel.

    The checks are forward pre-hooks (removed on exit): the layers themselves run unchanged. Finer
    than a layer was tried (row bands of each convolution, exact) and cost 1.6-5x the run time on
    a CPU, as every call repacks the weights; ``benchmarks/RESULTS.md`` has the figures.
    """
    hooks = [module.register_forward_pre_hook(lambda _module, _inputs: _check(stop))
             for module in model.modules()]
    try:
        yield model
    finally:
        for hook in hooks:
            hook.remove()


def _forward(model: UNet, x: torch.Tensor, device: torch.device, precision: str) -> torch.Tensor:
    """(h, w) float32 on the CPU -> probabilities (h, w) float32 on the CPU."""
    batch = x[None, None].to(device).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), _autocast(device, precision):
        logits = model(batch)
    return torch.sigmoid(logits.float())[0, 0].cpu()


def predict_steps(
    model: UNet,
    image: np.ndarray,
    options: PredictOptions | None = None,
    stop: Callable[[], bool] | None = None,
) -> Generator[tuple[int, int], None, np.ndarray]:
    """:func:`predict` as steps: yields ``(tiles done, tiles total)``, returns the map.

    Made for napari's ``thread_worker`` (each yield is a progress update and a point where the
    worker can be cancelled; the return value arrives in ``worker.returned``), the CLI and Dask
    tasks, which all pass their choices as one :class:`~.options.PredictOptions` (None: the defaults).
    ``stop``: checked between tiles and before every layer of each forward pass
    (:func:`interruptible`); when it returns true, :class:`Cancelled` is raised.
    """
    options = options or PredictOptions()
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"expected a loaded U-Net, got {type(model).__name__}")
    device = choose_device(options.device)
    precision = resolve_precision(options.precision, device)
    source_shape = np.shape(image)[:2]
    x = prepare_image(image, options.resolution)
    height, width = x.shape
    padded = _pad_to_grid(x)
    tile = options.tile
    windows = tile_windows(tuple(padded.shape), tile or max(padded.shape), options.overlap if tile else 0)
    model.eval().to(device)
    # a layout change only, the weights stay the same: oneDNN runs channels-last convolutions
    # about 1.8x faster in fp32 and needs them for fast bf16 (benchmarks/RESULTS.md)
    model.to(memory_format=torch.channels_last)
    out = torch.empty(padded.shape, dtype=torch.float32)
    yield 0, len(windows)
    for done, (rows, cols, core_rows, core_cols) in enumerate(windows, start=1):
        if stop is None:
            prob = _forward(model, padded[rows, cols], device, precision)
        else:
            _check(stop)
            with interruptible(model, stop):
                prob = _forward(model, padded[rows, cols], device, precision)
        out[core_rows, core_cols] = prob[
            core_rows.start - rows.start : core_rows.stop - rows.start,
            core_cols.start - cols.start : core_cols.stop - cols.start,
        ]
        yield done, len(windows)
    result = out[:height, :width]
    if not bool(torch.isfinite(result).all()):
        # sigmoid maps any finite logit into [0, 1]: NaN means damaged weights or an overflow, and
        # writing it as an 8-bit map would silently give all zeros
        raise InputError("the network produced NaN or infinite values (damaged weights, or an overflow in "
                         f"{precision}); no map was written")
    result = np.ascontiguousarray(result.numpy(), dtype=np.float32)
    if options.restore_shape:  # one geometry: back on the micrograph's grid
        result = to_grid(result, source_shape)
    return result


def predict(
    model: UNet,
    image: np.ndarray,
    resolution: int | None = DEFAULT_RESOLUTION,
    tile: int | None = DEFAULT_TILE,
    precision: str = "auto",
    device: str | torch.device | None = None,
    progress: ProgressCallback | None = None,
    overlap: int = DEFAULT_OVERLAP,
    restore_shape: bool = True,
) -> np.ndarray:
    """Probability map (float32 in [0, 1]) of a grey micrograph, the lab's way by default.

    ``resolution``: side of the square the network sees (the lab: 256 or 1024; a multiple of 16),
    or None for the native size (the default). ``tile``: side of the tiles (a multiple of 16; None: one
    pass however large); images no larger than a tile run in one pass. ``overlap``: context per
    tile side. ``precision``: ``"auto"`` (the checked fast path where there is one), ``"fp32"``,
    ``"bf16"``, ``"fp16"`` (GPU). ``device``: None/``"auto"`` picks CUDA, MPS, CPU; the model is
    moved there (and to channels-last on the fast path; the weights do not change).
    ``progress(done, total)`` is called after every tile; raise from it to cancel.
    ``restore_shape`` (default) resamples the map back to the input's shape, the grid every
    geometric score is measured on; False keeps the network's square (the lab's files).
    The arguments are checked by :class:`~.options.PredictOptions`.
    """
    options = PredictOptions(resolution=resolution, tile=tile, overlap=overlap, precision=precision,
                             device=device, restore_shape=restore_shape)
    steps = predict_steps(model, image, options)
    return run_steps(steps, None if progress is None else lambda step: progress(*step))
