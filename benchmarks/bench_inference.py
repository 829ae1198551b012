"""Lab-width U-Net inference: the lab's way (fp32, NCHW) against the fast path, and tiled memory.

    python benchmarks/bench_inference.py                      # defaults: 1024 px, 4096 px memory run
    python benchmarks/bench_inference.py --size 512 --memory-size 2048 --repeat 1   # a quick look
    python benchmarks/bench_inference.py --explore            # also channels-last fp32, bf16 NCHW, jit.freeze

The model is the lab's architecture at width 64 with seeded He-normal random weights, so its
probability map really varies (see ``he_init``; PyTorch's default initialisation gives a nearly
constant map, which would make any comparison trivially pass). The input
is the bundled NIST micrograph resized the lab's way; losses are scored against its tracing
resized to the same grid. Peak memory is a fresh child process's high-water mark (``VmHWM``;
torch allocates outside Python, so ``tracemalloc`` cannot see it, and ``ru_maxrss`` would inherit
the parent's peak across fork + exec) for a native-resolution tiled prediction.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _common import cpu_model, print_machine


def cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                wanted = [f for f in flags if f in {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}]
                return " ".join(wanted) or "none of avx2/avx512/amx"
    except OSError:
        pass
    return "unknown"


def lab_model(seed: int = 0):
    import torch

    from napari_graintrace.core.model import UNet

    torch.manual_seed(seed)
    return UNet(64).eval()


def he_init(model, x, seed: int = 0) -> None:
    """He-normal weights, zero biases, output bias centred: a lab-width net whose outputs vary.

    PyTorch's default initialisation shrinks activations layer by layer, so a fresh U-Net's map is
    flat (std ~3e-4) and any comparison passes trivially. He-normal (the lab's Keras U-Net used
    ``he_normal``) keeps activations at their scale, so the logits vary like a trained model's.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
                fan_in = module.weight[0].numel() if isinstance(module, torch.nn.Conv2d) else (
                    module.weight.shape[0] * module.weight[0, 0].numel() // 4)
                module.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=generator)
                module.bias.zero_()
        model.to(memory_format=torch.contiguous_format)
        logits = model(x[None, None])
        model.final_conv.bias.sub_(float(logits.mean()))


def inputs(size: int):
    import torch
    import torch.nn.functional as F

    from napari_graintrace.core.io import read_micrograph, read_trace
    from napari_graintrace.core.model import prepare_image
    from napari_graintrace.data import NIST_MICROGRAPH, NIST_TRACE

    x = prepare_image(read_micrograph(NIST_MICROGRAPH), size)
    trace = read_trace(NIST_TRACE)[0].astype(np.float32)
    trace = F.interpolate(torch.from_numpy(trace)[None, None], size=(size, size), mode="bilinear",
                          antialias=True)[0, 0].numpy() >= 0.5
    return x, trace


def timed(func, repeat: int) -> tuple[float, object]:
    func()  # warm-up: oneDNN picks and caches its kernels on the first call
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - start)
    return best, out


def compare(args: argparse.Namespace) -> None:
    import torch

    from napari_graintrace.core.model import inference
    from napari_graintrace.core.scoring import bce, gaussian_loss

    x, trace = inputs(args.size)
    model = lab_model()
    he_init(model, x)
    image = x.numpy()

    def run(precision: str):
        return lambda: inference.predict(model, image, resolution=None, tile=None, precision=precision, device="cpu")

    fast_precision = inference.resolve_precision("auto", torch.device("cpu"))

    def lab_way():  # the lab's own call: fp32, NCHW, one pass
        model.to(memory_format=torch.contiguous_format)
        with torch.no_grad():
            return torch.sigmoid(model(x[None, None]))[0, 0].numpy()

    variants = {"fp32 eager NCHW (lab)": lab_way}
    label = "bf16 autocast + channels_last" if fast_precision == "bf16" else "fp32 channels_last"
    variants[f"predict(precision='auto'): {label}"] = run("auto")
    if fast_precision == "fp32":
        variants["predict(precision='bf16') (not auto here)"] = run("bf16")
    else:
        variants["predict(precision='fp32'): channels_last"] = run("fp32")
    if args.explore:
        variants.update(explore_variants(model, x))
    print(f"lab-width U-Net (31.0 M parameters), {args.size} x {args.size}, best of {args.repeat} after a warm-up, "
          f"{torch.get_num_threads()} threads; auto precision here = {fast_precision}")
    base_time, base = None, None
    for label, func in variants.items():
        seconds, pred = timed(func, args.repeat)
        if base is None:
            base_time, base = seconds, pred
            ref = {"bce": bce(base, trace), "gauss": gaussian_loss(base, trace)}
            print(f"  {label:<48} {seconds:7.2f} s   1.00x   p in [{base.min():.3f}, {base.max():.3f}], "
                  f"std {base.std():.3f}, BCE {ref['bce']:.5f}, Gaussian {ref['gauss']:.5f}")
            continue
        d_bce = abs(bce(pred, trace) - ref["bce"])
        d_gauss = abs(gaussian_loss(pred, trace) - ref["gauss"])
        print(f"  {label:<48} {seconds:7.2f} s  {base_time / seconds:5.2f}x   max|dp| {np.abs(pred - base).max():.2e}, "
              f"|dBCE| {d_bce:.1e}, |dGaussian| {d_gauss:.1e}")


def explore_variants(model, x) -> dict:
    """Other CPU options, for the record: layout alone, bf16 without channels-last, oneDNN fusion."""
    import copy

    import torch

    batch = x[None, None]
    last = batch.contiguous(memory_format=torch.channels_last)

    def bf16_nchw():
        model.to(memory_format=torch.contiguous_format)
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16):
            return torch.sigmoid(model(batch).float())[0, 0].numpy()

    frozen = {}

    def fp32_frozen():
        if "m" not in frozen:
            scripted = torch.jit.trace(copy.deepcopy(model).to(memory_format=torch.channels_last), last)
            frozen["m"] = torch.jit.optimize_for_inference(torch.jit.freeze(scripted.eval()))
        with torch.inference_mode():
            return torch.sigmoid(frozen["m"](last))[0, 0].numpy()

    return {
        "bf16 autocast NCHW": bf16_nchw,
        "fp32 jit.freeze + optimize_for_inference": fp32_frozen,
    }


def peak_rss_gb() -> float:
    """This process's peak resident memory in GB (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def memory_child(size: int, tile: int, precision: str) -> None:
    """Run in a fresh process: a native tiled prediction of a size x size image; print peak RSS."""
    import torch

    from napari_graintrace.core.io import read_micrograph
    from napari_graintrace.core.model import inference
    from napari_graintrace.data import NIST_MICROGRAPH

    model = lab_model()
    micrograph = read_micrograph(NIST_MICROGRAPH)
    reps = (-(-size // micrograph.shape[0]), -(-size // micrograph.shape[1]))
    image = np.ascontiguousarray(np.tile(micrograph, reps)[:size, :size])
    before = peak_rss_gb()
    start = time.perf_counter()
    tiles = []
    pred = inference.predict(model, image, resolution=None, tile=tile, precision=precision, device="cpu",
                             progress=lambda done, total: tiles.append(total))
    seconds = time.perf_counter() - start
    peak = peak_rss_gb()
    print(json.dumps({"peak_gb": peak, "before_gb": before, "seconds": seconds, "tiles": tiles[-1],
                      "shape": list(pred.shape), "precision": inference.resolve_precision(precision, torch.device("cpu"))}))


def memory(args: argparse.Namespace) -> None:
    for tile in args.memory_tiles:
        cmd = [sys.executable, __file__, "--child-memory", str(args.memory_size), str(tile), args.memory_precision]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        got = json.loads(out)
        print(f"native {args.memory_size} x {args.memory_size}, tile {tile} (overlap 112), {got['precision']}: "
              f"peak RSS {got['peak_gb']:.2f} GB (process with torch + model before predicting: "
              f"{got['before_gb']:.2f} GB), {got['tiles']} tiles in {got['seconds']:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1024, help="side of the compared prediction (default 1024)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per variant after a warm-up")
    parser.add_argument("--explore", action="store_true", help="also time other CPU variants")
    parser.add_argument("--memory-size", type=int, default=4096, help="side of the tiled memory run (0: skip)")
    parser.add_argument("--memory-tiles", type=int, nargs="+", default=[1024], help="tile sides to measure")
    parser.add_argument("--memory-precision", default="auto")
    parser.add_argument("--child-memory", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory:
        size, tile, precision = args.child_memory
        memory_child(int(size), int(tile), precision)
        return 0
    print_machine()
    print(f"CPU model: {cpu_model()}; flags: {cpu_flags()}")
    compare(args)
    if args.memory_size:
        memory(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
