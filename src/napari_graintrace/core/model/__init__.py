"""The lab's U-Net and everything torch: checkpoints, tiled inference, the tolerant loss, training and its torchrun launcher.

Imports the base modules and ``scoring``. See docs/design.md, "Rooms".
"""

from __future__ import annotations

from .unet import (
    DEPTH, LAB_BASE_WIDTH, centre_crop, DoubleConvolution, full_precision, UNet, UpSample
)
from .checkpoints import (
    Checkpoint, find_checkpoints, load_checkpoint, read_state_dict, state_dict_width
)
from .inference import (
    DEFAULT_OVERLAP, DEFAULT_RESOLUTION, DEFAULT_TILE, PRECISIONS, Cancelled, check_resolution,
    choose_device, cpu_has_native_bf16, interruptible, predict, predict_steps, prepare_image,
    resolve_precision, tile_windows
)
from .tolerant import (
    soft_dilation, tolerant_f_loss, tolerant_loss, tolerant_prf, TolerantPRFLoss
)
from .training import (
    LOSSES, bce_with_logits, dataset_pairs, find_pairs, initial_model, load_dataset, make_loss,
    SingleProcess, train_steps, TrainProgress
)
from .run_status import (
    clear_stale_stop, finished_path, is_finished, mark_finished, progress_path, ProgressWriter,
    read_progress, request_stop, stop_path, stop_requested, unmark_finished
)
from .train_process import (
    train_command, TrainingProcess
)
from .torchrun import (
    DataParallel, DistributedContext, init_from_env, parameter_hash, train_ddp
)
from . import checkpoints, inference, run_status  # modules whose names are used with their prefix

__all__ = [  # grouped by module, as imported above
    # unet
    "DEPTH", "LAB_BASE_WIDTH", "centre_crop", "DoubleConvolution", "full_precision", "UNet", "UpSample",
    # checkpoints
    "Checkpoint", "find_checkpoints", "load_checkpoint", "read_state_dict", "state_dict_width",
    # inference
    "DEFAULT_OVERLAP", "DEFAULT_RESOLUTION", "DEFAULT_TILE", "PRECISIONS", "Cancelled", "check_resolution",
    "choose_device", "cpu_has_native_bf16", "interruptible", "predict", "predict_steps", "prepare_image",
    "resolve_precision", "tile_windows",
    # tolerant
    "soft_dilation", "tolerant_f_loss", "tolerant_loss", "tolerant_prf", "TolerantPRFLoss",
    # training
    "LOSSES", "bce_with_logits", "dataset_pairs", "find_pairs", "initial_model", "load_dataset", "make_loss",
    "SingleProcess", "train_steps", "TrainProgress",
    # run_status
    "clear_stale_stop", "finished_path", "is_finished", "mark_finished", "progress_path", "ProgressWriter",
    "read_progress", "request_stop", "stop_path", "stop_requested", "unmark_finished",
    # train_process
    "train_command", "TrainingProcess",
    # torchrun
    "DataParallel", "DistributedContext", "init_from_env", "parameter_hash", "train_ddp",
    # modules
    "checkpoints", "inference", "run_status",
]
