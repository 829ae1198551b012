"""``graintrace sweep``: loss against epoch for a checkpoint series, cached and resumable."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    sweep = subparsers.add_parser(
        "sweep",
        help="score every checkpoint of a series on (image, tracing) pairs: a loss-vs-epoch table and plot",
        description=(
            "Runs every NAME_EPOCH.pth in CHECKPOINT_DIR on each --image and scores it against the --trace given "
            "after it. Predictions are cached (by content hash), so a re-run with other score parameters does "
            "no inference and an interrupted sweep resumes where it stopped."
        ),
    )
    sweep.add_argument("checkpoints", type=Path, metavar="CHECKPOINT_DIR",
                       help="folder of a checkpoint series NAME_EPOCH.pth (other files are ignored)")
    sweep.add_argument("--image", type=Path, action="append", required=True, help="a micrograph (repeatable)")
    sweep.add_argument("--trace", type=Path, action="append", required=True, help="its tracing (one per --image)")
    sweep.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.csv", help="the tidy table")
    sweep.add_argument("--plot", type=Path, metavar="OUT.png", help="also write the plot")
    sweep.add_argument("--resolution", default="256",
                       help="square size each image is resized to, or 'native' (default 256: the lab trains at "
                            "256, and a sweep runs every epoch, so it is 16x cheaper than predict's 1024)")
    sweep.add_argument("--precision", default="fp32", choices=("auto", "fp32", "bf16"),
                       help="inference precision: fp32 (default, exact and reproducible), bf16, or auto "
                            "(bf16 where the CPU has native bf16); part of the cache key")
    sweep.add_argument("--sigma", type=float, nargs="+", default=[1.0, 3.0], help="Gaussian sigmas (default 1 3)")
    sweep.add_argument("--kernel", type=int, nargs="+", default=[3, 5], help="top-hat kernels (default 3 5)")
    sweep.add_argument("--window", type=int, default=15,
                       help="odd window of the Gaussian loss and tolerant F, in pixels (default 15)")
    sweep.add_argument("--cache", type=Path, help="prediction cache folder (default: the user's cache directory)")
    sweep.add_argument("--overwrite", action="store_true", help="replace OUT.csv / OUT.png")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="run one task per (checkpoint, image) on a Dask cluster: tcp://HOST:PORT, or local:N "
                            "for N worker processes here (needs the [dask] extra; see docs/scale-out.md)")
    sweep.add_argument("--retries", type=int, default=2, metavar="N",
                       help="with --scheduler: re-run a failing task up to N times (default 2)")
    sweep.add_argument("--worker-threads", type=int, metavar="N",
                       help="with --scheduler: torch threads per task (default: cores / N for local:N, else "
                            "the workers' own setting, which Dask makes 1)")
    sweep.set_defaults(run=run_sweep)


def run_sweep(args: argparse.Namespace) -> int:
    from ..core import sweep
    from ..core.errors import InputError
    from ..core.io import check_output_folder, check_writable
    from .options import parse_resolution, progress_printer, require_files

    if len(args.image) != len(args.trace):
        raise InputError(f"{len(args.image)} --image but {len(args.trace)} --trace: give one tracing per image")
    require_files([*args.image, *args.trace])
    # every output before any inference: the table, the plot and the cache
    check_writable([p for p in (args.output, args.plot) if p is not None], args.overwrite,
                   inputs=[*args.image, *args.trace, args.checkpoints, *Path(args.checkpoints).glob("*.pth")])
    check_output_folder(args.cache if args.cache is not None else sweep.default_cache_dir(), replaced=False)
    pairs = [sweep.Pair(image, trace) for image, trace in zip(args.image, args.trace, strict=True)]
    options = dict(resolution=parse_resolution(args.resolution), precision=args.precision, sigmas=args.sigma,
                   kernels=args.kernel, window=args.window, cache=sweep.PredictionCache(args.cache),
                   progress=progress_printer("sweep"))
    if args.scheduler is None:
        result = sweep.run_sweep(args.checkpoints, pairs, **options)
    else:  # Dask is imported only here
        from ..core import distributed

        result = distributed.run_sweep(args.scheduler, args.checkpoints, pairs, retries=args.retries,
                                           torch_threads=args.worker_threads, **options)
    for failure in result.failures:
        print(f"graintrace sweep: skipped {failure}", file=sys.stderr)
    if not result.rows:
        raise InputError("no checkpoint could be evaluated")
    sweep.write_csv(result, args.output, args.overwrite)
    print(f"wrote {args.output} ({len(result.rows)} rows, {len(result.epochs)} epochs x {len(result.images)} images)")
    if args.plot is not None:
        sweep.save_plot(result, args.plot, args.overwrite)
        print(f"wrote {args.plot}")
    return 1 if result.failures else 0
