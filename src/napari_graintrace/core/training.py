"""Train the lab's U-Net on an ``image/`` + ``label/`` folder and write lab-format checkpoints.

The lab's convention, kept so the files mix with theirs: images and labels are paired by sorted
file name (the same name in both folders), every pair is resized to ``size x size`` (the lab
trains at 256), image and label are flipped together at random, the loss is BCE on the logits,
the optimiser is Adam, and the weights are saved as plain ``state_dict``s named ``NAME_EPOCH.pth``.

Epoch numbering follows the lab's trainer: epochs count from 0 and ``NAME_e.pth`` holds the
weights *after* epoch ``e`` (so after ``e + 1`` passes over the data); a file is written when
``e % save_every == 0`` and after the last epoch. Two epochs therefore write ``NAME_0`` and
``NAME_1``. Every file goes through a temporary name (``io.atomic_path``), so Ctrl-C leaves only
complete checkpoints, and a later run with the same output folder and name resumes after the
last one (Adam's moments come from a hidden ``.NAME.train_state.pth`` beside it when present).

Losses are looked up in :data:`LOSSES` by name: a loss is ``f(logits, target) -> scalar tensor``.
``"tolerant"`` is 1 - the mean tolerant F of ``sigmoid(logits)`` (the differentiable twin of
``scores.tolerant_prf``, in ``core.tolerant``), ``"bce+tolerant"`` is BCE + W (1 - F);
:func:`make_loss` sets sigma, window and the weight W.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import options
from .checkpoints import find_checkpoints, load_checkpoint
from .errors import InputError
from .inference import GRID, choose_device
from .io import as_trace, atomic_path, read_image, to_unit_float
from .model import UNet
from .steps import run_steps
from .tolerant import TolerantPRFLoss, tolerant_loss, tolerant_prf

__all__ = ["LOSSES", "TrainProgress", "TolerantPRFLoss", "bce_with_logits", "find_pairs", "load_dataset",
           "make_loss", "tolerant_loss", "tolerant_prf", "train_steps", "train"]

IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"}
LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def bce_with_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The lab's loss: binary cross-entropy on logits (numerically safer than sigmoid + BCE)."""
    return F.binary_cross_entropy_with_logits(logits, target)


# name -> loss on (logits, target in [0, 1]) at the default sigma 3, window 15, weight 1
LOSSES: dict[str, LossFunction] = {
    "bce": bce_with_logits,
    "tolerant": TolerantPRFLoss(),
    "bce+tolerant": TolerantPRFLoss(bce_weight=1.0),
}


def make_loss(name: str, tolerant_weight: float = 1.0, sigma: float = 3.0, window: int = 15) -> LossFunction:
    """The loss called ``name`` with these tolerant-loss parameters (ignored by ``"bce"``).

    ``"tolerant"`` = W (1 - F), ``"bce+tolerant"`` = BCE + W (1 - F), F the mean tolerant F.
    """
    if name not in LOSSES:
        raise InputError(f"unknown loss {name!r}; available: {', '.join(LOSSES)}")
    if name == "bce":
        return bce_with_logits
    _check_positive(tolerant_weight, "tolerant weight", float)
    return TolerantPRFLoss(sigma, window, tolerant_weight=float(tolerant_weight),
                           bce_weight=1.0 if name == "bce+tolerant" else 0.0)


@dataclass(frozen=True)
class TrainProgress:
    """One step of training, for progress bars: ``epoch`` counts from 0 like the file names."""

    epoch: int
    epochs: int
    batch: int
    batches: int
    loss: float
    saved: Path | None = None  # the checkpoint written at the end of this epoch, if any


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def _image_files(folder: Path) -> dict[str, Path]:
    return {
        p.name: p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    }


def find_pairs(dataset_dir: str | os.PathLike) -> list[tuple[Path, Path]]:
    """``(image, label)`` paths paired by sorted file name; unpaired files are an error."""
    root = Path(dataset_dir)
    folders = {name: root / name for name in ("image", "label")}
    for name, folder in folders.items():
        if not folder.is_dir():
            raise InputError(f"{root}: no {name}/ folder (a training set holds image/ and label/)")
    images, labels = _image_files(folders["image"]), _image_files(folders["label"])
    if not images:
        raise InputError(f"{folders['image']}: no image files")
    lonely = sorted(set(images) ^ set(labels))
    if lonely:
        more = f" (and {len(lonely) - 3} more)" if len(lonely) > 3 else ""
        raise InputError(f"{root}: image/ and label/ must hold the same file names; unpaired: "
                         f"{', '.join(lonely[:3])}{more}")
    return [(images[name], labels[name]) for name in sorted(images)]


def load_dataset(dataset_dir: str | os.PathLike, size: int | None = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """All pairs as float tensors (N, 1, S, S): grey images in [0, 1], labels in [0, 1].

    Labels are binarized with ``io.as_trace`` (either polarity) and then resized like the
    images (bilinear, antialiased), so a thin line shrunk below a pixel becomes a soft target
    rather than vanishing. ``size=None`` keeps the native size (all equal, multiples of 16).
    """
    images, labels = [], []
    for image_path, label_path in find_pairs(dataset_dir):
        image = to_unit_float(read_image(image_path), str(image_path))
        label, _ = as_trace(read_image(label_path))
        if image.shape != label.shape:
            raise InputError(f"{image_path.name}: image is {image.shape[0]} x {image.shape[1]} but its label "
                             f"is {label.shape[0]} x {label.shape[1]}")
        images.append(_resize(torch.from_numpy(image), size))
        labels.append(_resize(torch.from_numpy(label.astype(np.float32)), size).clamp_(0.0, 1.0))
    shapes = {tuple(t.shape) for t in images}
    if len(shapes) > 1:
        raise InputError(f"{dataset_dir}: images differ in size ({', '.join(map(str, sorted(shapes)[:3]))}); "
                         "give a training size to resize them")
    height, width = shapes.pop()
    if height % GRID or width % GRID:
        raise InputError(f"{dataset_dir}: images are {height} x {width}; the U-Net needs sides that are "
                         f"multiples of {GRID} (give a training size)")
    return torch.stack(images)[:, None], torch.stack(labels)[:, None]


def _resize(x: torch.Tensor, size: int | None) -> torch.Tensor:
    if size is None or tuple(x.shape) == (size, size):
        return x
    return F.interpolate(x[None, None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0, 0]


def _flip_jointly(images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Random horizontal and vertical flips, the same for an image and its label."""
    flips = torch.rand((images.shape[0], 2), generator=generator) < 0.5
    images, labels = images.clone(), labels.clone()
    for i, (horizontal, vertical) in enumerate(flips.tolist()):
        dims = [d for d, flip in ((-1, horizontal), (-2, vertical)) if flip]
        if dims:
            images[i] = images[i].flip(dims)
            labels[i] = labels[i].flip(dims)
    return images, labels


# --------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------
def _check_positive(value: object, name: str, kind: type = int) -> None:
    """A finite number > 0 (NaN and inf refused: NaN passes ``value <= 0``), an integer where asked."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0
            or (kind is int and value != int(value))):
        raise InputError(f"{name} must be a positive {'integer' if kind is int else 'number'}, got {value!r}")


def _state_path(output_dir: Path, name: str) -> Path:
    return output_dir / f".{name}.train_state.pth"


def train_steps(
    dataset_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    name: str = "unet",
    epochs: int = 10,
    base_width: int = 64,
    lr: float = 1e-4,
    batch_size: int = 1,
    save_every: int = 1,
    size: int | None = 256,
    device: str | torch.device | None = None,
    loss: str = "bce",
    seed: int = 0,
    resume: bool = True,
    *,
    tolerant_weight: float = 1.0,
    sigma: float = 3.0,
    window: int = 15,
) -> Generator[TrainProgress, None, list[float]]:
    """Generator form of :func:`train`: yields a :class:`TrainProgress` per batch, returns the losses."""
    for value, label in ((epochs, "epochs"), (batch_size, "batch size"), (save_every, "save-every")):
        _check_positive(value, label)
    options.base_width(base_width)  # bounded: a huge width is refused before allocating
    _check_positive(lr, "learning rate", float)
    if size is not None:
        _check_positive(size, "size")
        if size % GRID:
            raise InputError(f"size must be a multiple of {GRID}, got {size}")
    if loss not in LOSSES:
        raise InputError(f"unknown loss {loss!r}; available: {', '.join(LOSSES)}")
    if not name or "/" in name or os.sep in name or name.startswith("."):
        raise InputError(f"invalid checkpoint name {name!r}")
    loss_fn = make_loss(loss, tolerant_weight, sigma, window)
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError(f"{output_dir}: exists and is not a folder")
    images, labels = load_dataset(dataset_dir, size)
    device = choose_device(device)

    done = find_checkpoints(output_dir, name) if output_dir.is_dir() else []
    start = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = UNet(base_width)
    optimizer_state = None
    if done:
        if not resume:
            raise InputError(f"{done[-1].path}: already exists; resume, or choose another name or folder")
        last = done[-1]
        previous = load_checkpoint(last.path)
        if previous.base_width != base_width:
            raise InputError(f"{last.path}: has width {previous.base_width}, not {base_width}; "
                             "resume with the same width or use another name or folder")
        model = previous
        start = last.epoch + 1
        state_file = _state_path(output_dir, name)
        if state_file.is_file():
            state = _read_train_state(state_file)
            if state is not None and int(state.get("epoch", -1)) == last.epoch:
                optimizer_state = state["optimizer"]
    if start >= epochs:
        return []
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    generator = torch.Generator().manual_seed(seed)
    count = images.shape[0]
    batches = (count + batch_size - 1) // batch_size
    losses: list[float] = []
    for epoch in range(start, epochs):
        generator.manual_seed(seed * 100_003 + epoch)  # a resumed run sees the same batches
        order = torch.randperm(count, generator=generator)
        total = 0.0
        for batch in range(batches):
            index = order[batch * batch_size : (batch + 1) * batch_size]
            x, y = _flip_jointly(images[index], labels[index], generator)
            optimizer.zero_grad(set_to_none=True)
            value = loss_fn(model(x.to(device)), y.to(device))
            value.backward()
            optimizer.step()
            total += float(value.detach()) * len(index)
            if batch < batches - 1:
                yield TrainProgress(epoch, epochs, batch + 1, batches, float(value.detach()))
        losses.append(total / count)
        saved = None
        if epoch % save_every == 0 or epoch == epochs - 1:
            saved = _save(model, optimizer, output_dir, name, epoch)
        yield TrainProgress(epoch, epochs, batches, batches, losses[-1], saved)
    model.eval()
    return losses


def _read_train_state(path: Path) -> dict | None:
    """The optimiser sidecar, read with the weights-only loader; None if it is unusable."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a damaged sidecar only costs Adam's moments, never the run
        return None


def _save(model: UNet, optimizer: torch.optim.Optimizer, output_dir: Path, name: str, epoch: int) -> Path:
    path = output_dir / f"{name}_{epoch}.pth"
    state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    with atomic_path(_state_path(output_dir, name), overwrite=True) as tmp:
        torch.save({"epoch": epoch, "optimizer": optimizer.state_dict()}, tmp)
    return path


def train(
    dataset_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    name: str = "unet",
    epochs: int = 10,
    base_width: int = 64,
    lr: float = 1e-4,
    batch_size: int = 1,
    save_every: int = 1,
    size: int | None = 256,
    device: str | torch.device | None = None,
    loss: str = "bce",
    seed: int = 0,
    resume: bool = True,
    progress: Callable[[TrainProgress], object] | None = None,
    *,
    tolerant_weight: float = 1.0,
    sigma: float = 3.0,
    window: int = 15,
) -> list[float]:
    """Train and write ``NAME_EPOCH.pth`` into ``output_dir``; return each epoch's mean training loss.

    Resumes after the last ``NAME_*.pth`` already in ``output_dir`` (only the epochs run now are
    returned). ``progress`` is called with a :class:`TrainProgress` after every batch.
    ``tolerant_weight``, ``sigma`` and ``window`` configure the tolerant losses (:func:`make_loss`).
    """
    steps = train_steps(dataset_dir, output_dir, name, epochs, base_width, lr, batch_size, save_every,
                        size, device, loss, seed, resume, tolerant_weight=tolerant_weight, sigma=sigma,
                        window=window)
    return run_steps(steps, progress)
