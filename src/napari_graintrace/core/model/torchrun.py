"""Data-parallel training across processes (torchrun / ``DistributedDataParallel``).

Started as ``torchrun --nproc-per-node N -m napari_graintrace.train DATASET -o DIR ...``: every
process holds the whole (small) training set in memory, a ``DistributedSampler`` gives each its
share of every epoch's shuffled order, and DDP averages the gradients, so all ranks keep identical
weights. Backend: NCCL on CUDA (one GPU per process, ``cuda:LOCAL_RANK``), gloo on the CPU. Only
rank 0 writes the lab-format ``NAME_EPOCH.pth`` files (plain ``state_dict`` of the unwrapped
model, no ``module.`` prefix) and the optimiser sidecar, so they load and resume like any other
checkpoint.

There is one training loop, ``core.training.train_steps``; this module only supplies its
data-parallel strategy (:class:`DataParallel`: wrap the model, share the order, reduce the loss,
let rank 0 write). What differs is the batch: ``batch_size`` is per process, so one optimiser step
sees ``N x batch_size`` pairs (scale the learning rate yourself for the single-process trajectory).
"""

from __future__ import annotations

import gc
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import InputError
from ..options import TrainOptions
from ..steps import run_steps
from .inference import choose_device
from .training import SingleProcess, TrainProgress, train_steps
from .unet import UNet

__all__ = ["DataParallel", "DistributedContext", "init_from_env", "parameter_hash", "train_ddp"]


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


class DataParallel(SingleProcess):
    """:class:`core.training.SingleProcess`'s hooks for one rank of a DDP job: the loop is training's.

    Every rank holds the whole (small) training set; a ``DistributedSampler`` gives each its share
    of every epoch's shuffled order, DDP averages the gradients (so all ranks keep identical
    weights), the epoch loss is averaged over all ranks, and only rank 0 writes. The flips differ
    per rank. ``model`` is the trained model once the loop has finished.
    """

    stops_on_request = False  # the ranks could see a stop file at different batches and deadlock

    def __init__(self, context: DistributedContext) -> None:
        super().__init__(context.device)
        self.context = context
        self.is_main = context.rank == 0
        self.model: UNet | None = None
        self._sampler = None

    def wrap(self, model: UNet) -> torch.nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids)  # broadcasts rank 0's weights

    def epoch_order(self, count: int, epoch: int, seed: int, generator: torch.Generator) -> torch.Tensor:
        from torch.utils.data import DistributedSampler

        if self._sampler is None:
            self._sampler = DistributedSampler(range(count), num_replicas=self.context.world_size,
                                               rank=self.context.rank, shuffle=True, seed=seed)
        self._sampler.set_epoch(epoch)  # the same shuffled order on every rank, a different share each
        generator.manual_seed((seed * 100_003 + epoch) * 1_009 + self.context.rank)  # flips differ per rank
        return torch.tensor(list(self._sampler), dtype=torch.long)

    def reduce(self, totals: torch.Tensor) -> torch.Tensor:
        reduced = totals.to(self.device) if self.context.backend == "nccl" else totals
        dist.all_reduce(reduced)
        return reduced

    def barrier(self) -> None:
        dist.barrier()

    def finish(self, model: UNet) -> None:
        # drop DDP's reducer (and its communication hooks) while the process group is still alive:
        # leaving it to the interpreter's exit can abort the process after the work is done
        gc.collect()
        dist.barrier()
        self.model = model


def train_ddp(
    context: DistributedContext,
    dataset_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    options: TrainOptions | None = None,
    progress: Callable[[TrainProgress], object] | None = None,
    init: str | os.PathLike | None = None,
) -> tuple[list[float], str]:
    """``training.train_steps`` on this rank with :class:`DataParallel`; returns the epoch losses and
    :func:`parameter_hash` of this rank's weights.

    ``init``: a checkpoint to fine-tune (``training.train_steps``). ``options.batch_size`` is per process, so one optimiser step sees ``N x batch_size`` pairs.
    The hashes of all ranks are compared; differing weights (which DDP should make impossible)
    raise ``RuntimeError`` on every rank rather than leaving a silently wrong checkpoint.
    """
    strategy = DataParallel(context)
    losses = run_steps(train_steps(dataset_dir, output_dir, options, strategy, init), progress)
    model_hash = parameter_hash(strategy.model)
    hashes: list[str | None] = [None] * context.world_size
    dist.all_gather_object(hashes, model_hash)
    if len(set(hashes)) != 1:
        raise RuntimeError(f"ranks ended with different weights: {hashes}")
    return losses, model_hash
