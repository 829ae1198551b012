"""Sweep on 1 vs 2 local Dask workers against the in-process sweep; per-task overhead in ms.

    python benchmarks/bench_distributed.py [--resolution 1024] [--lab 3]

The series is the shipped demo series (7 checkpoints, base width 6) on two images (the NIST
micrograph and its mirror image), so 14 tasks; ``--lab K`` adds K random lab-width (31 M
parameter) checkpoints instead, closer to a real sweep. Every configuration starts from an
empty cache (cold: every task predicts); cluster start-up is timed apart. Then the same sweep
again with every prediction cached (warm: a task only scores), and a round of no-op tasks: the
difference to the in-process time is what Dask costs per task.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_machine

from napari_graintrace.core.cache import PredictionCache
from napari_graintrace.core.io import read_micrograph, read_trace
from napari_graintrace.core.model import UNet, find_checkpoints
from napari_graintrace.core.options import SweepOptions
from napari_graintrace.core.steps import run_steps
from napari_graintrace.core.sweep import dask_run as distributed
from napari_graintrace.core import sweep
from napari_graintrace.data import DEMO_CHECKPOINTS, NIST_MICROGRAPH, NIST_TRACE


@contextlib.contextmanager
def threads(count: int):
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def lab_series(folder: Path, count: int) -> Path:
    for epoch in range(count):
        torch.manual_seed(epoch)
        model = UNet(64)
        for module in model.modules():  # He-normal so the maps vary (as in bench_inference)
            if isinstance(module, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        torch.save(model.state_dict(), folder / f"lab_{epoch}.pth")
    return folder


def noop(x: int) -> int:
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--lab", type=int, default=0, metavar="K", help="use K random lab-width checkpoints")
    args = parser.parse_args()
    print_machine()
    cores = os.cpu_count() or 1
    image, trace = read_micrograph(NIST_MICROGRAPH), read_trace(NIST_TRACE)[0]
    pairs = [sweep.Pair(NIST_MICROGRAPH, NIST_TRACE),
             sweep.LoadedPair("mirrored", np.ascontiguousarray(image[:, ::-1]), np.ascontiguousarray(trace[:, ::-1]))]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.lab:
            series = lab_series(tmp, args.lab)
            what = f"{args.lab} random lab-width checkpoints (31.0 M parameters)"
        else:
            series, what = DEMO_CHECKPOINTS, "the demo series (7 checkpoints, base width 6)"
        tasks = len(find_checkpoints(series)) * len(pairs)
        print(f"sweep of {what} x {len(pairs)} images at {args.resolution} px, fp32: {tasks} tasks; torch "
              f"{torch.__version__}, dask.distributed {__import__('distributed').__version__}")
        options = SweepOptions(resolution=args.resolution, precision="fp32")
        rows = []

        def cache(name: str) -> PredictionCache:
            return PredictionCache(tmp / name)

        # warm-up: first-call costs (oneDNN kernels, lazy imports) would otherwise land on the first row
        first = find_checkpoints(series)[:1]
        for count in (cores, 1):
            with threads(count):
                run_steps(sweep.sweep_steps(first, pairs[:1], options, cache(f"warmup{count}")))
        tables = {}  # torch threads -> the in-process table
        for label, count in ((f"in-process, {cores} torch threads", cores), ("in-process, 1 torch thread", 1)):
            with threads(count):
                start = time.perf_counter()
                result = run_steps(sweep.sweep_steps(series, pairs, options, cache(f"inproc{count}")))
                rows.append((label, time.perf_counter() - start, None))
                tables[count] = result.to_csv()
        warm_inproc_start = time.perf_counter()
        run_steps(sweep.sweep_steps(series, pairs, options, cache(f"inproc{cores}")))
        warm_inproc = time.perf_counter() - warm_inproc_start

        warm, noop_ms, identical = {}, {}, {}
        for workers in (1, 2):
            per_worker = max(1, cores // workers)
            start = time.perf_counter()
            with distributed.connect(f"local:{workers}") as client:
                client.wait_for_workers(workers)
                started = time.perf_counter() - start
                start = time.perf_counter()
                result = distributed.run_sweep(client, series, pairs, options, cache=cache(f"dask{workers}"),
                                               torch_threads=per_worker)
                cold = time.perf_counter() - start
                rows.append((f"Dask local:{workers} ({workers} worker process(es) x {max(1, cores // workers)} "
                             f"torch thread(s))", cold, started))
                identical[workers] = result.to_csv()
                start = time.perf_counter()
                distributed.run_sweep(client, series, pairs, options, cache=cache(f"dask{workers}"),
                                      torch_threads=per_worker)
                warm[workers] = time.perf_counter() - start
                client.gather(client.map(noop, range(50)))  # warm-up
                start = time.perf_counter()
                client.gather(client.map(noop, range(500)))
                noop_ms[workers] = (time.perf_counter() - start) / 500 * 1e3

        base = rows[0][1]
        print(f"\n{'configuration':<58} {'cold sweep':>11} {'speed-up':>9} {'per task':>9}  cluster start")
        for label, seconds, started in rows:
            extra = f"  {started:.1f} s" if started is not None else ""
            print(f"{label:<58} {seconds:9.2f} s {base / seconds:8.2f}x {seconds / tasks * 1e3:7.0f} ms{extra}")
        print(f"\nwarm cache (every task only scores), {tasks} tasks: in-process {warm_inproc * 1e3 / tasks:.1f} ms "
              f"per task; Dask local:1 {warm[1] * 1e3 / tasks:.1f} ms, local:2 {warm[2] * 1e3 / tasks:.1f} ms")
        print(f"Dask overhead per task (warm sweep, local:1 minus in-process): "
              f"{(warm[1] - warm_inproc) * 1e3 / tasks:.1f} ms; a no-op task round trip: "
              f"{noop_ms[1]:.2f} ms (1 worker), {noop_ms[2]:.2f} ms (2 workers), 500 tasks in flight")
        same = {w: identical[w] == tables[max(1, cores // w)] for w in (1, 2)}
        print(f"CSV identical to the in-process table at the same torch thread count: local:1 {same[1]}, "
              f"local:2 {same[2]}; local:2 vs in-process at {cores} threads: "
              f"{identical[2] == tables[cores]} (oneDNN sums depend on the thread split, ~1 ulp)")


if __name__ == "__main__":  # worker processes are spawned and re-import this file
    main()
