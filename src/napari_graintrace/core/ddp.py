"""Data-parallel training across processes (torchrun / ``DistributedDataParallel``).

Started as ``torchrun --nproc-per-node N -m napari_graintrace.train DATASET -o DIR ...``: every
process holds the whole (small) training set in memory, a ``DistributedSampler`` gives each its
share of every epoch's shuffled order, and DDP averages the gradients, so all ranks keep identical
weights. Backend: NCCL on CUDA (one GPU per process, ``cuda:LOCAL_RANK``), gloo on the CPU. Only
rank 0 writes the lab-format ``NAME_EPOCH.pth`` files (plain ``state_dict`` of the unwrapped
model, no ``module.`` prefix) and the optimiser sidecar, through ``training``'s own writer, so they
load and resume like any other checkpoint.

The data, loss, flips, file naming, resuming and saving are ``core.training``'s; what differs is
the batch: ``batch_size`` is per process, so one optimiser step sees ``N x batch_size`` pairs
(scale the learning rate yourself if you want the single-process trajectory).
"""

from __future__ import annotations

import gc
import hashlib
import os
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from . import training
from .checkpoints import find_checkpoints, load_checkpoint
from .errors import InputError
from .inference import GRID, choose_device
from .model import UNet
from .steps import run_steps

__all__ = ["DistributedContext", "init_from_env", "parameter_hash", "train_ddp_steps", "train_ddp"]


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in the job: its rank, the world size, its device and the backend."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str


def init_from_env(device: str | torch.device | None = "auto") -> DistributedContext:
    """Join the process group torchrun describes in the environment (RANK, WORLD_SIZE, MASTER_ADDR, ...).

    NCCL with one GPU per process (``cuda:LOCAL_RANK``) when the device is CUDA, gloo otherwise.
    """
    missing = [key for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if key not in os.environ]
    if missing:
        raise InputError(f"not started by torchrun (no {', '.join(missing)} in the environment); run "
                         "torchrun --nproc-per-node N -m napari_graintrace.train ...")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = choose_device(device)
    if chosen.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise InputError(f"local rank {local_rank} but only {torch.cuda.device_count()} CUDA GPU(s): start at "
                             "most one process per GPU")
        chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
        backend = "nccl"
    elif chosen.type == "cpu":
        backend = "gloo"
    else:
        raise InputError(f"distributed training runs on CUDA (nccl) or the CPU (gloo), not {chosen.type}")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, chosen, backend)


def parameter_hash(model: torch.nn.Module) -> str:
    """sha256 over the state_dict (sorted keys, exact bytes): equal hashes mean equal weights."""
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def train_ddp_steps(
    context: DistributedContext,
    dataset_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    name: str = "unet",
    epochs: int = 10,
    base_width: int = 64,
    lr: float = 1e-4,
    batch_size: int = 1,
    save_every: int = 1,
    size: int | None = 256,
    loss: str = "bce",
    seed: int = 0,
    **loss_options: object,
) -> Generator[training.TrainProgress, None, tuple[list[float], str]]:
    """:func:`core.training.train_steps` for one rank of a DDP job; every rank runs it in step.

    Yields a :class:`~core.training.TrainProgress` per batch (``loss`` of this rank's batch, the
    epoch mean over all ranks at the end of an epoch); ``saved`` is set on rank 0 only. Returns
    the epoch losses and :func:`parameter_hash` of this rank's weights in memory at the end.
    """
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DistributedSampler

    for value, label in ((epochs, "epochs"), (base_width, "width"), (batch_size, "batch size"),
                         (save_every, "save-every")):
        training._check_positive(value, label)
    training._check_positive(lr, "learning rate", float)
    if size is not None and (size <= 0 or size % GRID):
        raise InputError(f"size must be a positive multiple of {GRID}, got {size}")
    if not name or "/" in name or os.sep in name or name.startswith("."):
        raise InputError(f"invalid checkpoint name {name!r}")
    loss_fn = training.make_loss(loss, **loss_options)
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError(f"{output_dir}: exists and is not a folder")
    images, labels = training.load_dataset(dataset_dir, size)

    # every rank reads the folder before rank 0 writes anything, so all agree on where to start
    done = find_checkpoints(output_dir, name) if output_dir.is_dir() else []
    dist.barrier()
    start, optimizer_state = 0, None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = UNet(base_width)
    if done:
        last = done[-1]
        model = load_checkpoint(last.path)
        if model.base_width != base_width:
            raise InputError(f"{last.path}: has width {model.base_width}, not {base_width}; "
                             "resume with the same width or use another name or folder")
        start = last.epoch + 1
        state = training._read_train_state(training._state_path(output_dir, name))
        if state is not None and int(state.get("epoch", -1)) == last.epoch:
            optimizer_state = state["optimizer"]
    if start >= epochs:
        return [], parameter_hash(model)
    model.to(context.device).train()
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    ddp_model = DistributedDataParallel(model, device_ids=device_ids)  # broadcasts rank 0's weights
    optimizer = torch.optim.Adam(ddp_model.parameters(), lr=lr)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    count = images.shape[0]
    sampler = DistributedSampler(range(count), num_replicas=context.world_size, rank=context.rank,
                                 shuffle=True, seed=seed)
    generator = torch.Generator()
    losses: list[float] = []
    for epoch in range(start, epochs):
        sampler.set_epoch(epoch)  # the same shuffled order on every rank, a different share each
        order = torch.tensor(list(sampler), dtype=torch.long)
        generator.manual_seed((seed * 100_003 + epoch) * 1_009 + context.rank)  # flips differ per rank
        batches = (len(order) + batch_size - 1) // batch_size
        totals = torch.zeros(2, dtype=torch.float64)  # sum of loss x pairs, pairs
        for batch in range(batches):
            index = order[batch * batch_size : (batch + 1) * batch_size]
            x, y = training._flip_jointly(images[index], labels[index], generator)
            optimizer.zero_grad(set_to_none=True)
            value = loss_fn(ddp_model(x.to(context.device)), y.to(context.device))
            value.backward()  # DDP averages the gradients over the ranks here
            optimizer.step()
            totals += torch.tensor([float(value.detach()) * len(index), len(index)], dtype=torch.float64)
            if batch < batches - 1:
                yield training.TrainProgress(epoch, epochs, batch + 1, batches, float(value.detach()))
        reduced = totals.to(context.device) if context.backend == "nccl" else totals
        dist.all_reduce(reduced)
        losses.append(float(reduced[0] / reduced[1]))
        saved = None
        if context.rank == 0 and (epoch % save_every == 0 or epoch == epochs - 1):
            saved = training._save(model, optimizer, output_dir, name, epoch)
        dist.barrier()  # nobody runs ahead of (or exits before) rank 0's write
        yield training.TrainProgress(epoch, epochs, batches, batches, losses[-1], saved)
    model.eval()
    # drop DDP's reducer (and its communication hooks) while the process group is still alive:
    # leaving it to the interpreter's exit can abort the process after the work is done
    del ddp_model, optimizer
    gc.collect()
    dist.barrier()
    return losses, parameter_hash(model)


def train_ddp(
    context: DistributedContext,
    dataset_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    progress: Callable[[training.TrainProgress], object] | None = None,
    **options: object,
) -> tuple[list[float], str]:
    """Run :func:`train_ddp_steps` to the end; return the epoch losses and this rank's parameter hash.

    The hashes of all ranks are compared; differing weights (which DDP should make impossible)
    raise ``RuntimeError`` on every rank rather than leaving a silently wrong checkpoint.
    """
    steps = train_ddp_steps(context, dataset_dir, output_dir, **options)
    losses, model_hash = run_steps(steps, progress)
    hashes: list[str | None] = [None] * context.world_size
    dist.all_gather_object(hashes, model_hash)
    if len(set(hashes)) != 1:
        raise RuntimeError(f"ranks ended with different weights: {hashes}")
    return losses, model_hash

