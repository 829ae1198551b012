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
Every epoch's randomness (order, flips, dropout) is seeded from ``seed`` and the epoch alone, so a
run resumed from its optimiser state gives the same weights as one trained in one go (CPU).

Fine-tuning (``init=CKPT``): the weights, and so the width, come from a checkpoint (the lab's or
ours, read weights-only), with a fresh optimiser and epochs counted from 0 in the new folder. Several
datasets train as one, the pairs and names :func:`dataset.merge_plan` gives (``merge``'s, clashing
names renamed). Beside the checkpoints the trainer keeps ``core.model.run_status``'s files: its progress,
a "finished" marker when every epoch ran, and it stops at the next batch when asked to there.

Losses are looked up in :data:`LOSSES` by name: a loss is ``f(logits, target) -> scalar tensor``.
``"tolerant"`` is 1 - the mean tolerant F of ``sigmoid(logits)`` (the differentiable twin of
``scores.tolerant_prf``, in ``core.tolerant``), ``"bce+tolerant"`` is BCE + W (1 - F);
:func:`make_loss` sets sigma, window and the weight W.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..io import as_trace, atomic_path, read_image, to_unit_float
from ..options import TrainOptions, positive_number
from .checkpoints import find_checkpoints, load_checkpoint
from .inference import GRID, choose_device
from .run_status import (
    ProgressWriter,
    clear_stale_stop,
    mark_finished,
    stop_path,
    stop_requested,
    unmark_finished,
)
from .tolerant import TolerantPRFLoss
from .unet import LAB_BASE_WIDTH, UNet

__all__ = ["LOSSES", "SingleProcess", "TrainProgress", "bce_with_logits", "dataset_pairs", "find_pairs",
           "initial_model", "load_dataset", "make_loss", "train_steps"]

IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"}
LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
DROPOUT_SEED_OFFSET = 0x5EED  # the dropout stream differs from the order-and-flips one of the same seed


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
    tolerant_weight = positive_number(tolerant_weight, "tolerant weight")
    return TolerantPRFLoss(sigma, window, tolerant_weight=tolerant_weight,
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
    stopped: bool = False  # the last step: a stop was requested (``run_status.request_stop``)


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


Datasets = str | os.PathLike | Sequence[str | os.PathLike]


def dataset_pairs(datasets: Datasets) -> list[tuple[Path, Path]]:
    """``(image, label)`` of one dataset (:func:`find_pairs`) or of several merged as ``merge`` does.

    Several: the pairs and names of :func:`dataset.merge_plan` with clashing names renamed (no pair
    is dropped), in the merged set's sorted-name order, so training on ``A B`` is training on
    ``merge A B --on-clash rename``.
    """
    if isinstance(datasets, str | os.PathLike):
        return find_pairs(datasets)
    datasets = list(datasets)
    if len(datasets) == 1:
        return find_pairs(datasets[0])
    from ..data.dataset import merge_plan

    rows = sorted(merge_plan(datasets, on_clash="rename"), key=lambda row: row["file"])
    return [(Path(row["source_image"]), Path(row["source_label"])) for row in rows]


def load_dataset(datasets: Datasets, size: int | None = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """All pairs as float tensors (N, 1, S, S): grey images in [0, 1], labels in [0, 1].

    Labels are binarized with ``io.as_trace`` (either polarity) and then resized like the
    images (bilinear, antialiased), so a thin line shrunk below a pixel becomes a soft target
    rather than vanishing. ``size=None`` keeps the native size (all equal, multiples of 16).
    ``datasets``: one folder, or several trained as one (:func:`dataset_pairs`).
    """
    images, labels = [], []
    for image_path, label_path in dataset_pairs(datasets):
        image = to_unit_float(read_image(image_path), str(image_path))
        label, _ = as_trace(read_image(label_path))
        if image.shape != label.shape:
            raise InputError(f"{image_path.name}: image is {image.shape[0]} x {image.shape[1]} but its label "
                             f"is {label.shape[0]} x {label.shape[1]}")
        images.append(_resize(torch.from_numpy(image), size))
        labels.append(_resize(torch.from_numpy(label.astype(np.float32)), size).clamp_(0.0, 1.0))
    shapes = {tuple(t.shape) for t in images}
    where = datasets if isinstance(datasets, str | os.PathLike) else ", ".join(map(str, datasets))
    if len(shapes) > 1:
        raise InputError(f"{where}: images differ in size ({', '.join(map(str, sorted(shapes)[:3]))}); "
                         "give a training size to resize them")
    height, width = shapes.pop()
    if height % GRID or width % GRID:
        raise InputError(f"{where}: images are {height} x {width}; the U-Net needs sides that are "
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
class SingleProcess:
    """How one process trains: the hooks :func:`train_steps` calls, which data parallelism overrides.

    ``core.ddp.DataParallel`` is the other strategy: it wraps the model in DDP, gives each rank its
    share of the epoch's order, averages the epoch loss over the ranks and lets rank 0 alone write.
    """

    is_main = True  # writes the checkpoints
    stops_on_request = True  # a stop request (a file) is honoured; ranks of a DDP job could not agree on it

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def wrap(self, model: UNet) -> torch.nn.Module:
        """The module that runs forward and backward (the model itself here)."""
        return model

    def epoch_order(self, count: int, epoch: int, seed: int, generator: torch.Generator) -> torch.Tensor:
        """This process's pairs for ``epoch`` in order; seeds ``generator``, which then draws the flips."""
        generator.manual_seed(seed * 100_003 + epoch)  # a resumed run sees the same batches
        return torch.randperm(count, generator=generator)

    def reduce(self, totals: torch.Tensor) -> torch.Tensor:
        """(sum of loss x pairs, pairs) over every process."""
        return totals

    def barrier(self) -> None:
        """Wait for the other processes (none here)."""

    def finish(self, model: UNet) -> None:
        """Called once at the end with the trained (unwrapped) model."""


def initial_model(path: str | os.PathLike, base_width: int | None = None) -> UNet:
    """The checkpoint to fine-tune from (weights-only, any layout ``load_checkpoint`` reads).

    ``base_width``: the width the caller asked for, None if it did not; a different one is refused
    (the width is the checkpoint's, it cannot change).
    """
    model = load_checkpoint(path)
    if base_width is not None and base_width != model.base_width:
        raise InputError(f"{Path(path).name}: has base width {model.base_width}, not {base_width}; fine-tuning "
                         "keeps the checkpoint's width (leave the width out)")
    return model


def train_steps(
    dataset_dir: Datasets,
    output_dir: str | os.PathLike,
    options: TrainOptions | None = None,
    strategy: SingleProcess | None = None,
    init: str | os.PathLike | None = None,
) -> Generator[TrainProgress, None, list[float]]:
    """Train and write ``NAME_EPOCH.pth`` into ``output_dir``; yields a :class:`TrainProgress` per batch.

    Returns each epoch's mean training loss (only the epochs run now: it resumes after the last
    ``NAME_*.pth`` already in ``output_dir``). ``strategy`` is how the work is shared: one process
    (default) or a rank of a data-parallel job (``core.ddp.DataParallel``); the loop is the same.
    Drive it with ``steps.run_steps`` or a napari ``thread_worker``. ``options`` None: the defaults.
    ``dataset_dir``: one dataset folder or several (:func:`dataset_pairs`). ``init``: a checkpoint
    to start from (:func:`initial_model`) when ``output_dir`` has none of this series yet; a run
    already there resumes (``init`` is still checked). A stop request (``run_status.request_stop``)
    ends the loop after the current batch with a last step whose ``stopped`` is True.
    """
    options = options or TrainOptions()
    loss_fn = make_loss(options.loss, options.tolerant_weight, options.sigma, options.window)
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError(f"{output_dir}: exists and is not a folder")
    images, labels = load_dataset(dataset_dir, options.size)
    start_model = initial_model(init, options.base_width) if init is not None else None
    strategy = strategy or SingleProcess(choose_device(options.device))
    name, epochs, batch_size, seed = options.name, options.epochs, options.batch_size, options.seed

    done = find_checkpoints(output_dir, name) if output_dir.is_dir() else []
    strategy.barrier()  # every process reads the folder before the main one writes: all start alike
    start = 0
    if start_model is not None:
        model = start_model
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = UNet(options.base_width or LAB_BASE_WIDTH)
    optimizer_state = None
    if done:
        if not options.resume:
            raise InputError(f"{done[-1].path}: already exists; resume, or choose another name or folder")
        last = done[-1]
        previous = load_checkpoint(last.path)
        if previous.base_width != model.base_width and (options.base_width is not None or init is not None):
            raise InputError(f"{last.path}: has width {previous.base_width}, not {model.base_width}; "
                             "resume with the same width or use another name or folder")
        model = previous
        start = last.epoch + 1
        state = _read_train_state(_state_path(output_dir, name))
        if state is not None and int(state.get("epoch", -1)) == last.epoch:
            optimizer_state = state["optimizer"]
    if strategy.is_main:
        output_dir.mkdir(parents=True, exist_ok=True)  # at once, so a follower finds the folder
    if start >= epochs:
        if strategy.is_main:
            mark_finished(output_dir, name, done[-1].epoch if done else epochs - 1)
        strategy.finish(model)
        return []
    stoppable = strategy.stops_on_request
    progress = None
    if strategy.is_main:
        unmark_finished(output_dir, name)
        clear_stale_stop(output_dir, name)
        progress = ProgressWriter(output_dir, name, extra={"init": str(init) if init is not None else None,
                                                            "start_epoch": start})
    device = strategy.device
    model.to(device).train()
    wrapped = strategy.wrap(model)
    optimizer = torch.optim.Adam(wrapped.parameters(), lr=options.lr)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    generator = torch.Generator()
    losses: list[float] = []
    for epoch in range(start, epochs):
        order = strategy.epoch_order(images.shape[0], epoch, seed, generator)
        # dropout draws from torch's global RNG: seeded per epoch (from this epoch's seed), a run
        # resumed at any epoch gives the model of one go, whatever the caller drew before
        torch.manual_seed(generator.initial_seed() + DROPOUT_SEED_OFFSET)
        batches = (len(order) + batch_size - 1) // batch_size
        totals = torch.zeros(2, dtype=torch.float64)  # sum of loss x pairs, pairs
        for batch in range(batches):
            index = order[batch * batch_size : (batch + 1) * batch_size]
            x, y = _flip_jointly(images[index], labels[index], generator)
            optimizer.zero_grad(set_to_none=True)
            value = loss_fn(wrapped(x.to(device)), y.to(device))
            value.backward()  # under DDP the gradients are averaged over the processes here
            optimizer.step()
            loss = float(value.detach())
            totals += torch.tensor([loss * len(index), len(index)], dtype=torch.float64)
            if progress is not None and batch < batches - 1:
                progress.update(epoch=epoch, epochs=epochs, batch=batch + 1, batches=batches, loss=loss)
            if stoppable and stop_requested(output_dir, name):
                if progress is not None:
                    progress.update(epoch=epoch, epochs=epochs, batch=batch + 1, batches=batches, loss=loss,
                                    state="stopped", force=True)
                stop_path(output_dir, name).unlink(missing_ok=True)  # answered: a rerun resumes
                yield TrainProgress(epoch, epochs, batch + 1, batches, loss, stopped=True)
                model.eval()
                strategy.finish(model)
                return losses
            if batch < batches - 1:
                yield TrainProgress(epoch, epochs, batch + 1, batches, loss)
        reduced = strategy.reduce(totals)
        losses.append(float(reduced[0] / reduced[1]))
        saved = None
        if strategy.is_main and (epoch % options.save_every == 0 or epoch == epochs - 1):
            saved = _save(model, optimizer, output_dir, name, epoch)
        if progress is not None:
            last_epoch = epoch == epochs - 1
            progress.update(epoch=epoch, epochs=epochs, batch=batches, batches=batches, loss=losses[-1],
                            epoch_loss=losses[-1], checkpoint=saved.name if saved else None,
                            state="finished" if last_epoch else "running", force=True)
            if last_epoch:
                mark_finished(output_dir, name, epoch)
        strategy.barrier()  # nobody runs ahead of (or exits before) the main process's write
        yield TrainProgress(epoch, epochs, batches, batches, losses[-1], saved)
    model.eval()
    del wrapped, optimizer  # DDP's reducer goes while its process group is still alive
    strategy.finish(model)
    return losses


def _state_path(output_dir: Path, name: str) -> Path:
    return output_dir / f".{name}.train_state.pth"


def _read_train_state(path: Path) -> dict | None:
    """The optimiser sidecar, read with the weights-only loader; None if it is missing or unusable."""
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a damaged sidecar only costs Adam's moments, never the run
        return None


def _save(model: UNet, optimizer: torch.optim.Optimizer, output_dir: Path, name: str, epoch: int) -> Path:
    path = output_dir / f"{name}_{epoch}.pth"
    state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    with atomic_path(_state_path(output_dir, name), overwrite=True) as tmp:
        torch.save({"epoch": epoch, "optimizer": optimizer.state_dict()}, tmp)
    return path
