"""The lab's U-Net, module for module, so their ``NAME_EPOCH.pth`` state_dicts load as they are.

Layout (the state_dict keys are the contract): ``down_conv.{0..3}`` and ``middle_conv`` and
``up_conv.{0..3}`` are double 3x3 convolutions (``first``, ``second``, each followed by ReLU,
padding 1); a 2x2 max-pool follows each down block; ``up_sample.{0..3}.up`` are 2x2 stride-2
transposed convolutions; the skip feature is centre-cropped to the upsampled size and
concatenated *after* it (``cat([up, skip])``); dropout(0.5) follows the middle block (a no-op in
eval mode); ``final_conv`` is a 1x1 convolution to one channel. The output is logits: the
probability map is ``sigmoid(logits)``.

The lab's channels are 64-128-256-512-1024; ``base_width`` scales them all (w, 2w, 4w, 8w, 16w)
so small demo models use the same code and the same keys.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DEPTH", "LAB_BASE_WIDTH", "DoubleConvolution", "UNet", "UpSample", "centre_crop", "full_precision"]

LAB_BASE_WIDTH = 64
DEPTH = 4  # max-pools; inputs whose sides are multiples of 2**DEPTH keep their size


def full_precision(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run a cheap layer in fp32 even under autocast.

    Used for the one-channel input convolution (bf16 cannot hold the 8-bit grey levels i/255
    exactly) and the 1x1 output convolution (the logits); together they are under 1% of the work.
    """
    if torch.is_autocast_enabled(x.device.type):
        with torch.autocast(x.device.type, enabled=False):
            return layer(x.float())
    return layer(x)


class DoubleConvolution(nn.Module):
    """Two 3x3 convolutions with ReLU; the attribute names ``first``/``second`` are the lab's keys."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.fp32_first = in_channels == 1  # the input layer: see full_precision
        self.first = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.act1 = nn.ReLU(inplace=True)
        self.second = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.act2 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = full_precision(self.first, x) if self.fp32_first else self.first(x)
        return self.act2(self.second(self.act1(x)))


class UpSample(nn.Module):
    """2x2 stride-2 transposed convolution, held as ``.up`` as in the lab's files."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(x)


def centre_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Crop the last two axes to ``height x width`` around the centre (torchvision's rounding)."""
    height, width = int(height), int(width)
    if (int(x.shape[-2]), int(x.shape[-1])) == (height, width):
        return x  # the usual case: sides are multiples of 16
    top = round((int(x.shape[-2]) - height) / 2.0)
    left = round((int(x.shape[-1]) - width) / 2.0)
    return x[..., top : top + height, left : left + width]


class UNet(nn.Module):
    """The lab's U-Net for one grey input channel and one logit output channel.

    ``base_width=64`` is the lab's network (about 31 M parameters). Inputs whose sides are
    multiples of 16 come out at the same size; other sizes come out smaller (the skips are
    centre-cropped), which is why :func:`..inference.predict` pads to a multiple of 16.
    """

    def __init__(self, base_width: int = LAB_BASE_WIDTH) -> None:
        super().__init__()
        if isinstance(base_width, bool) or int(base_width) != base_width or base_width < 1:
            raise ValueError(f"base_width must be a positive integer, got {base_width!r}")
        w = int(base_width)
        self.base_width = w
        widths = [w * 2**i for i in range(DEPTH + 1)]  # 64, 128, 256, 512, 1024 for the lab
        self.dropout = nn.Dropout(0.5)
        self.down_conv = nn.ModuleList(
            DoubleConvolution(i, o) for i, o in zip([1, *widths[: DEPTH - 1]], widths[:DEPTH], strict=True)
        )
        self.down_sample = nn.ModuleList(nn.MaxPool2d(2) for _ in range(DEPTH))
        self.middle_conv = DoubleConvolution(widths[DEPTH - 1], widths[DEPTH])
        ups = list(zip(widths[:0:-1], widths[-2::-1], strict=True))  # (1024, 512) ... (128, 64)
        self.up_sample = nn.ModuleList(UpSample(i, o) for i, o in ups)
        self.up_conv = nn.ModuleList(DoubleConvolution(i, o) for i, o in ups)
        self.final_conv = nn.Conv2d(w, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips: list[torch.Tensor] = []
        for conv, pool in zip(self.down_conv, self.down_sample, strict=True):
            x = conv(x)
            skips.append(x)
            x = pool(x)
        x = self.dropout(self.middle_conv(x))
        for up, conv in zip(self.up_sample, self.up_conv, strict=True):
            x = up(x)
            skip = skips.pop()
            x = conv(torch.cat([x, centre_crop(skip, x.shape[-2], x.shape[-1])], dim=1))
        return full_precision(self.final_conv, x)
