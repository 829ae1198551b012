"""Forward + backward of the differentiable tolerant loss against BCE, 256 x 256, batch 8, in one run.

Issue 9: the tolerant loss must be fast enough to train with. Both losses see the same logits and
the same real tracing (NIST crops); times are the best of several rounds after a warm-up. For
scale, one forward + backward of the demo-width (6) U-Net on the same batch is timed too: that is
what a training step costs anyway.

    python benchmarks/bench_tolerant_loss.py [--device cpu|cuda] [--lab-width]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _common import best_time, print_machine

from napari_graintrace.core.io import read_trace
from napari_graintrace.core.model import UNet, tolerant, training
from napari_graintrace.data import NIST_TRACE


def batch(device: torch.device, count: int = 8, size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Real tracing crops and logits of a plausible noisy prediction of them."""
    trace = read_trace(NIST_TRACE)[0]
    rng = np.random.default_rng(0)
    crops = [trace[top : top + size, left : left + size]
             for top, left in zip(rng.integers(0, trace.shape[0] - size, count),
                                  rng.integers(0, trace.shape[1] - size, count), strict=True)]
    target = torch.from_numpy(np.stack(crops).astype(np.float32))[:, None]
    logits = 4 * target - 2 + torch.randn(target.shape, generator=torch.Generator().manual_seed(0))
    return logits.to(device), target.to(device)


def make_step(loss_fn, logits: torch.Tensor, target: torch.Tensor, device: torch.device):
    def step() -> None:
        x = logits.detach().requires_grad_()
        loss_fn(x, target).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step


def interleaved_best(steps: dict[str, object], rounds: int = 15) -> dict[str, float]:
    """Best time of each step, the steps taking turns: on a shared machine all see the same load."""
    for step in steps.values():
        step()  # warm-up
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(rounds):
        for label, step in steps.items():
            best[label] = min(best[label], best_time(step, repeat=1))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--lab-width", action="store_true", help="also time the width-64 U-Net (slow on a CPU)")
    args = parser.parse_args()
    device = torch.device(args.device)
    print_machine()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    logits, target = batch(device)
    steps = {"BCE (the lab's)": make_step(training.bce_with_logits, logits, target, device)}
    for sigma, window in ((3.0, 15), (1.0, 5)):
        steps[f"tolerant 1 - F, sigma {sigma:g}, window {window}"] = make_step(
            lambda x, t, s=sigma, w=window: tolerant.tolerant_loss(x, t, s, w), logits, target, device)
    steps["bce+tolerant (sigma 3, window 15)"] = make_step(training.make_loss("bce+tolerant"), logits, target,
                                                           device)
    best = interleaved_best(steps)
    bce = best["BCE (the lab's)"]
    print("forward + backward of the loss alone, 8 x 1 x 256 x 256 float32, best of 15 interleaved rounds:")
    for label, seconds in best.items():
        print(f"  {label:<38} {seconds * 1e3:8.2f} ms   {seconds / bce:7.1f}x BCE")
    tolerant_default = best["tolerant 1 - F, sigma 3, window 15"]
    widths = (6, 64) if args.lab_width else (6,)
    for width in widths:
        torch.manual_seed(0)
        model = UNet(width).to(device).train()
        images = torch.rand(logits.shape, device=device)

        def model_step() -> None:
            model.zero_grad(set_to_none=True)
            training.make_loss("bce+tolerant")(model(images), target).backward()
            if device.type == "cuda":
                torch.cuda.synchronize()

        model_step()
        seconds = best_time(model_step, repeat=3)
        share = tolerant_default / seconds
        print(f"  width-{width} U-Net forward + backward with bce+tolerant: {seconds * 1e3:8.1f} ms "
              f"(the tolerant term is {100 * share:.0f} % of it)")


if __name__ == "__main__":
    main()
