"""``graintrace sweep``: loss against epoch for one or more checkpoint series (runs), cached and resumable."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .options import add_match_distance_options


def register(subparsers: argparse._SubParsersAction) -> None:
    sweep = subparsers.add_parser(
        "sweep",
        help="score every checkpoint of one or more runs on (image, tracing) pairs: a loss-vs-epoch table and plot",
        description=(
            "Runs every NAME_EPOCH.pth of each RUN on each --image and scores it against the --trace given after "
            "it. A RUN is a checkpoint folder or NAME=FOLDER (the table's first column, 'run', and one colour in "
            "the plot). Predictions are cached (by content hash), so a re-run with other score parameters or "
            "with a run added does no inference for what was done, and an interrupted sweep resumes where it "
            "stopped."
        ),
    )
    sweep.add_argument("runs", nargs="+", metavar="RUN",
                       help="a folder of a checkpoint series NAME_EPOCH.pth (other files are ignored), or "
                            "NAME=FOLDER to name it in the table and plot (repeatable)")
    sweep.add_argument("--image", type=Path, action="append", required=True, help="a micrograph (repeatable)")
    sweep.add_argument("--trace", type=Path, action="append", required=True, help="its tracing (one per --image)")
    sweep.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.csv", help="the tidy table")
    sweep.add_argument("--plot", type=Path, metavar="OUT.png", help="also write the plot")
    sweep.add_argument("--resolution", default="native", metavar="PX|native",
                       help="the network's input: 'native' (default, as predict) or a square size such as 256 "
                            "(cheaper on large micrographs); every map is scored on its micrograph's grid "
                            "(the CSV's grid column)")
    sweep.add_argument("--precision", default="fp32", choices=("auto", "fp32", "bf16"),
                       help="inference precision: fp32 (default, exact and reproducible), bf16, or auto "
                            "(bf16 where the CPU has native bf16); part of the cache key")
    sweep.add_argument("--sigma", type=float, nargs="+", default=[1.0, 3.0], help="Gaussian sigmas (default 1 3)")
    sweep.add_argument("--kernel", type=int, nargs="+", default=[3, 5], help="top-hat kernels (default 3 5)")
    sweep.add_argument("--window", type=int, default=15,
                       help="odd window of the Gaussian loss and tolerant F, in pixels (default 15)")
    sweep.add_argument("--cache", type=Path, help="prediction cache folder (default: the user's cache directory)")
    sweep.add_argument("--best", action="append", metavar="METRIC[:PARAMS]", default=[],
                       help="print each run's epoch with the best mean over images: bce, tophat, gaussian, "
                            "tolerant_f (lower is better for losses, higher for F); default parameters sigma 3, "
                            "window 15, kernel 3, or give them: gaussian:sigma=1, tophat:kernel=5 (repeatable)")
    sweep.add_argument("--boundary-ods", action="store_true",
                       help="also the boundary benchmark's ODS per epoch (best boundary F over 99 thresholds, and "
                            "its threshold). boundary_f at 0.5 is always in the table")
    add_match_distance_options(sweep)
    sweep.add_argument("--overwrite", action="store_true", help="replace OUT.csv / OUT.png")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="run one task per (checkpoint, image) on a Dask cluster: tcp://HOST:PORT, or local:N "
                            "for N worker processes here (needs the [dask] extra; see docs/scale-out.md)")
    sweep.add_argument("--retries", type=int, default=2, metavar="N",
                       help="with --scheduler: re-run a failing task up to N times (default 2)")
    sweep.add_argument("--worker-threads", type=int, metavar="N",
                       help="with --scheduler: torch threads per task (default: cores / N for local:N, else "
                            "the workers' own setting, which Dask makes 1)")
    sweep.add_argument("--grains", action="store_true",
                       help="also grain metrics per prediction (vi_merge, vi_split, grain_f1, orphan_fraction, "
                            "size_ks; the lab's post-processing at its defaults): pick a checkpoint by grains")
    sweep.add_argument("--follow", action="store_true",
                       help="keep scoring checkpoints as they land in the RUN folders (a training beside it), "
                            "rewriting OUT.csv and the plot after each one; ends when every run's trainer has "
                            "finished, after --idle seconds without a new checkpoint, or on Ctrl-C (the CSV stays "
                            "complete)")
    sweep.add_argument("--idle", type=float, default=600.0, metavar="S",
                       help="with --follow: stop after S seconds without a new checkpoint (default 600)")
    sweep.set_defaults(run=run_sweep)


GRAIN_METRICS = ("vi_merge", "vi_split", "grain_f1", "orphan_fraction", "size_ks")  # core.grains.SWEEP_METRICS


def run_sweep(args: argparse.Namespace) -> int:
    from ..core import sweep
    from ..core.cache import PredictionCache, default_cache_dir
    from ..core.errors import InputError
    from ..core.io import check_output_folder, check_writable, image_shape
    from ..core.model import check_resolution
    from ..core.options import SweepOptions
    from ..core.steps import run_steps
    from .options import parse_resolution, progress_printer, require_files

    if len(args.image) != len(args.trace):
        raise InputError(f"{len(args.image)} --image but {len(args.trace)} --trace: give one tracing per image")
    require_files([*args.image, *args.trace])
    best = [sweep.parse_metric(text, args.window) for text in args.best]
    if args.follow:
        from ..core.sweep import followed_runs

        for flag, given in (("--scheduler", args.scheduler), ("--boundary-ods", args.boundary_ods)):
            if given:
                raise InputError(f"{flag} is not available with --follow (run a plain sweep when training is done)")
        if not args.idle > 0:
            raise InputError(f"--idle must be a positive number of seconds, got {args.idle:g}")
        runs, folders = [], [folder for _, folder in followed_runs(args.runs)]  # they may be empty yet
        checkpoints = []
    else:
        runs = sweep.as_runs(args.runs)  # checked (and named) before any work
        checkpoints = [item.path for run in runs for item in run.series]
        folders = [run.folder for run in runs if run.folder is not None]
    # every output before any inference: the table, the plot and the cache; no input is an output
    check_writable([p for p in (args.output, args.plot) if p is not None], args.overwrite,
                   inputs=[*args.image, *args.trace, *folders, *checkpoints])
    check_output_folder(args.cache if args.cache is not None else default_cache_dir(), replaced=False)
    resolution = parse_resolution(args.resolution)
    for image in args.image if resolution is not None else ():  # refused before the first prediction
        shape = image_shape(image)  # its own errors name the file
        try:
            check_resolution(shape, resolution)
        except InputError as exc:
            raise InputError(f"{image}: {exc}") from None
    pairs = [sweep.Pair(image, trace) for image, trace in zip(args.image, args.trace, strict=True)]
    # a --best at another sigma or kernel is scored in the same pass
    sigmas = [*args.sigma, *(c.sigma for c in best if c.sigma is not None and c.sigma not in args.sigma)]
    kernels = [*args.kernel, *(c.kernel for c in best if c.kernel is not None and c.kernel not in args.kernel)]
    for choice in best:
        if choice.window is not None and choice.window != args.window:
            raise InputError(f"--best {choice}: the sweep's window is {args.window} (give --window {choice.window})")
    options = SweepOptions(resolution=resolution, precision=args.precision, sigmas=tuple(sigmas),
                           kernels=tuple(kernels), window=args.window,
                           # a --best on a grain metric turns the grain rows on
                           grains=args.grains or any(c.metric in GRAIN_METRICS for c in best),
                           match_distance=args.match_distance, pixel_size=args.pixel_size)
    cache, progress = PredictionCache(args.cache), progress_printer("sweep")
    if args.follow:
        return _follow(args, pairs, options, cache, best)
    if args.scheduler is None:
        result = run_steps(sweep.sweep_steps(runs, pairs, options, cache), lambda step: progress(*step))
    else:  # Dask is imported only here, inside run_sweep
        result = sweep.run_sweep(args.scheduler, runs, pairs, options, cache, progress,
                                 retries=args.retries, torch_threads=args.worker_threads)
    if args.boundary_ods:
        sweep.add_boundary_ods(result, pairs, cache=cache, match_distance=options.match_distance,
                               pixel_size=options.pixel_size)
    for failure in result.failures:
        print(f"graintrace sweep: skipped {failure}", file=sys.stderr)
    if not result.rows:
        raise InputError("no checkpoint could be evaluated")
    sweep.write_csv(result, args.output, args.overwrite)
    print(f"wrote {args.output} ({_sizes(result)})")
    if args.plot is not None:
        sweep.save_plot(result, args.plot, args.overwrite)
        print(f"wrote {args.plot}")
    _print_best(result, best)
    return 1 if result.failures else 0


def _sizes(result) -> str:
    sizes = ", ".join(f"{run} {len(result.epochs_of(run))} epochs" for run in result.runs)
    return f"{len(result.rows)} rows; {sizes}; x {len(result.images)} images"


def _follow(args: argparse.Namespace, pairs, options, cache, best) -> int:
    """``sweep --follow``: the CSV (and plot) rewritten whole, atomically, after each new checkpoint."""
    from ..core import sweep
    from ..core.errors import InputError
    from ..core.sweep import follow_steps

    print(f"following {', '.join(map(str, args.runs))} (ends when training has finished, or after "
          f"{args.idle:g} s without a new checkpoint; Ctrl-C keeps the table)", file=sys.stderr, flush=True)
    steps = follow_steps(args.runs, pairs, options, cache, idle=args.idle)
    written = False
    result = None
    try:
        while True:
            try:
                step = next(steps)
            except StopIteration as end:
                result = end.value
                break
            if step.scored is None:
                continue
            result = step.result
            overwrite = written or args.overwrite
            sweep.write_csv(result, args.output, overwrite)
            if args.plot is not None:
                sweep.save_plot(result, args.plot, overwrite)
            written = True
            run, epoch = step.scored
            print(f"{run} epoch {epoch}: scored -> {args.output} ({len(result.rows)} rows)", flush=True)
    except KeyboardInterrupt:
        steps.close()
        held = f"{args.output} holds {len(result.rows)} rows" if written else "nothing was written"
        print(f"graintrace sweep: interrupted; {held}", file=sys.stderr)
        return 130
    for failure in result.failures:
        print(f"graintrace sweep: skipped {failure}", file=sys.stderr)
    if not result.rows:
        raise InputError(f"no checkpoint could be evaluated (none landed within {args.idle:g} s)")
    print(f"wrote {args.output} ({_sizes(result)})")
    _print_best(result, best)
    return 1 if result.failures else 0


def _print_best(result, best) -> None:
    for choice in best:
        better = "lowest" if choice.lower_is_better else "highest"
        print(f"best {choice} ({better} mean over {len(result.images)} image(s)):")
        width = max(map(len, result.runs))
        for run, found in result.best(choice).items():
            print(f"  {run:<{width}}  epoch {found.epoch:>4}  {found.value:.6g}  ({result.checkpoints[(run, found.epoch)].name})")
