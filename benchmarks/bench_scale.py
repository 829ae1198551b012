"""Every command at micrograph scale: time and peak memory from 1024^2 to 8192^2 (NIST pair mirror-tiled).

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/bench_scale.py [--sizes 1024 2048 4096 8192]
        [--commands predict score grains sweep draft ods] [--work DIR]

The NIST micrograph and its tracing are mirror-tiled (``numpy.pad(mode="symmetric")``) to each size, so
the grains keep their size while the frame grows, as on a large micrograph. ``predict`` runs the
shipped demo checkpoint (demo_59) at native resolution (tiled inference); its map is the input of
``score``, ``grains --trace``, ``draft`` and the boundary ODS. ``sweep`` is one checkpoint at native
resolution with an empty cache (prediction plus every score). Each command runs as a fresh
``graintrace`` process at its defaults; wall time, CPU time (user + system) and peak memory (max RSS)
are that process's own (``os.wait4``). ``ods`` is ``BoundaryScorer.ods`` (99 thresholds) in a child
process, tracing prepared, timed alone.

``per px`` is the CPU time divided by the 1024^2 CPU time times the pixel ratio: 1.0 is linear,
"within 1.5x of linear" is <= 1.5. On a shared machine compare CPU times, not wall times.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import print_machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from napari_graintrace.core.io import read_image  # noqa: E402
from napari_graintrace.data import DEMO_CHECKPOINTS, NIST_MICROGRAPH, NIST_TRACE  # noqa: E402

COMMANDS = ("predict", "score", "grains", "sweep", "draft", "ods")
CHECKPOINT = DEMO_CHECKPOINTS / "demo_59.pth"

ODS_CHILD = """
import sys, time
from napari_graintrace.core.scoring import BoundaryScorer
from napari_graintrace.core.io import read_prediction, read_trace
pred, trace = read_prediction(sys.argv[1]), read_trace(sys.argv[2])[0]
scorer = BoundaryScorer(trace)
start = time.process_time()
f, t = scorer.ods(pred, 99)
print(f"ods F {f:.4f} at {t:.2f}, cpu {time.process_time() - start:.2f} s", file=sys.stderr)
"""


def tiled(array: np.ndarray, size: int) -> np.ndarray:
    rows, cols = array.shape[:2]
    return np.pad(array, ((0, max(0, size - rows)), (0, max(0, size - cols))), mode="symmetric")[:size, :size]


def inputs(work: Path, size: int) -> dict[str, Path]:
    """The mirror-tiled micrograph and tracing at ``size`` (made once), and where the map goes."""
    from PIL import Image

    folder = work / str(size)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"micrograph": folder / "micrograph.png", "trace": folder / "trace.png",
             "maps": folder / "maps", "pred": folder / "maps" / "predict_micrograph.png"}
    for key, source in (("micrograph", NIST_MICROGRAPH), ("trace", NIST_TRACE)):
        if not paths[key].exists():
            Image.fromarray(tiled(read_image(source), size)).save(paths[key])
    return paths


def run(argv: list[str]) -> tuple[float, float, float, str]:
    """Wall s, CPU s (user + system) and peak RSS (GB) of one child process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    out, err = child.stdout.read(), child.stderr.read()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({child.returncode}):\n{err[-2000:]}")
    peak_gb = usage.ru_maxrss * 1024 / 1e9  # Linux: KiB
    return wall, usage.ru_utime + usage.ru_stime, peak_gb, (out + err).strip().splitlines()[-1] if out + err else ""


def command_line(command: str, paths: dict[str, Path], work: Path) -> list[str]:
    cli = [sys.executable, "-m", "napari_graintrace"]
    if command == "predict":
        return [*cli, "predict", str(CHECKPOINT), str(paths["micrograph"]), "-o", str(paths["maps"]),
                "--resolution", "native", "--overwrite"]
    if command == "score":
        return [*cli, "score", str(paths["pred"]), str(paths["trace"]), "--json"]
    if command == "grains":
        return [*cli, "grains", str(paths["pred"]), "--trace", str(paths["trace"]), "--json"]
    if command == "draft":
        return [*cli, "draft", str(paths["pred"]), "-o", str(paths["maps"] / "draft.png"), "--overwrite", "--json"]
    if command == "sweep":
        run_folder = work / "one_checkpoint"
        run_folder.mkdir(exist_ok=True)
        if not (run_folder / CHECKPOINT.name).exists():
            shutil.copy(CHECKPOINT, run_folder / CHECKPOINT.name)
        cache = paths["maps"].parent / "sweep_cache"
        shutil.rmtree(cache, ignore_errors=True)  # an empty cache: the prediction is part of the sweep
        return [*cli, "sweep", str(run_folder), "--image", str(paths["micrograph"]), "--trace", str(paths["trace"]),
                "--resolution", "native", "--cache", str(cache), "-o", str(paths["maps"].parent / "sweep.csv"),
                "--overwrite"]
    if command == "ods":
        return [sys.executable, "-c", ODS_CHILD, str(paths["pred"]), str(paths["trace"])]
    raise ValueError(command)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    parser.add_argument("--commands", nargs="+", default=list(COMMANDS), choices=COMMANDS)
    parser.add_argument("--work", type=Path, default=Path("/tmp/graintrace_bench_scale"))
    args = parser.parse_args()
    print_machine()
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, nice {os.nice(0)}")
    results: dict[tuple[str, int], tuple[float, float, float, str]] = {}
    for size in args.sizes:
        paths = inputs(args.work, size)
        for command in args.commands:
            if command != "predict" and not paths["pred"].exists():
                results[("predict", size)] = run(command_line("predict", paths, args.work))
            results[(command, size)] = run(command_line(command, paths, args.work))
            wall, cpu, peak, _ = results[(command, size)]
            print(f"  {size}^2 {command:<8} wall {wall:7.1f} s  cpu {cpu:7.1f} s  peak {peak:5.2f} GB", flush=True)
    base = min(args.sizes)
    print(f"\n| command | size | wall s | CPU s | peak GB | per px (CPU vs {base}^2) |")
    print("|---|---|---|---|---|---|")
    for command in args.commands:
        for size in args.sizes:
            if (command, size) not in results:
                continue
            wall, cpu, peak, _ = results[(command, size)]
            ratio = cpu / (results[(command, base)][1] * (size / base) ** 2) if (command, base) in results else float("nan")
            print(f"| {command} | {size}^2 | {wall:.1f} | {cpu:.1f} | {peak:.2f} | {ratio:.2f} |")
    print("\n" + json.dumps({f"{c} {s}": results[(c, s)][:3] for c, s in results}))


if __name__ == "__main__":
    main()
