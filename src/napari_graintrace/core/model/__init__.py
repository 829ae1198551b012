"""The lab's U-Net and everything torch: checkpoints, tiled inference, the tolerant loss, training and its torchrun launcher.

Imports the base modules and ``scoring``. See docs/design.md, "Rooms".
"""

from __future__ import annotations

from .checkpoints import Checkpoint, find_checkpoints, load_checkpoint, read_state_dict, state_dict_width
from .inference import (
    DEFAULT_OVERLAP,
    DEFAULT_RESOLUTION,
    DEFAULT_TILE,
    PRECISIONS,
    Cancelled,
    choose_device,
    cpu_has_native_bf16,
    interruptible,
    predict,
    predict_steps,
    prepare_image,
    resolve_precision,
    tile_windows,
)
from .tolerant import TolerantPRFLoss, soft_dilation, tolerant_f_loss, tolerant_loss, tolerant_prf
from .torchrun import DataParallel, DistributedContext, init_from_env, parameter_hash, train_ddp
from .training import (
    LOSSES,
    SingleProcess,
    TrainOptions,
    TrainProgress,
    bce_with_logits,
    find_pairs,
    load_dataset,
    make_loss,
    train_steps,
)
from .unet import DEPTH, LAB_BASE_WIDTH, DoubleConvolution, UNet, UpSample, centre_crop, full_precision

__all__ = [
    "DEFAULT_OVERLAP",
    "DEFAULT_RESOLUTION",
    "DEFAULT_TILE",
    "DEPTH",
    "LAB_BASE_WIDTH",
    "LOSSES",
    "PRECISIONS",
    "Cancelled",
    "Checkpoint",
    "DataParallel",
    "DistributedContext",
    "DoubleConvolution",
    "SingleProcess",
    "TolerantPRFLoss",
    "TrainOptions",
    "TrainProgress",
    "UNet",
    "UpSample",
    "bce_with_logits",
    "centre_crop",
    "choose_device",
    "cpu_has_native_bf16",
    "find_checkpoints",
    "find_pairs",
    "full_precision",
    "init_from_env",
    "interruptible",
    "load_checkpoint",
    "load_dataset",
    "make_loss",
    "parameter_hash",
    "predict",
    "predict_steps",
    "prepare_image",
    "read_state_dict",
    "resolve_precision",
    "soft_dilation",
    "state_dict_width",
    "tile_windows",
    "tolerant_f_loss",
    "tolerant_loss",
    "tolerant_prf",
    "train_ddp",
    "train_steps",
]
