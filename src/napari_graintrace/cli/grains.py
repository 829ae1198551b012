"""``graintrace grains``: boundary map(s) -> grains, their statistics, and a comparison with a tracing.

Thin over ``core.grains``: read the maps (several maps of one area are combined first), segment them
the lab's way, measure, compare with ``--trace``, tune with ``--tune``; print a table or one JSON
object; ``-o DIR`` writes the labels, a per-grain CSV, the summary JSON and a size histogram. All
inputs are read and checked before anything is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# core.grains.OUTPUT_FILES, named here so --help stays fast (tests check they agree)
OUTPUT_NAMES = ("grains_labels.tif", "grains.csv", "grains_summary.json", "grain_sizes.png")


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..core.options import GRAIN_COMBINES, POLARITIES
    from .options import add_maps_argument

    grains = subparsers.add_parser(
        "grains",
        help="grains from boundary maps: count, sizes, intercepts; compared with a tracing (VI, grain F1)",
        description=(
            "Turn boundary probability maps (several maps of one area are combined first) into grains with "
            "the lab's post-processing (hysteresis threshold, dilations, small holes filled, skeleton, spurs "
            "pruned; a map of only 0 and 1 is a tracing and is only skeletonized), measure them, and with "
            "--trace compare them with the true grains. -o DIR writes " + ", ".join(OUTPUT_NAMES) + ". "
            "Everything is measured on the micrograph's grid: a map made at another size (the lab's 1024 x 1024 "
            "squares) is resampled to the tracing's or --micrograph's shape first."
        ),
    )
    add_maps_argument(grains)
    grains.add_argument("--trace", type=Path, default=None, metavar="T", help="the true tracing (either polarity)")
    grains.add_argument("--polarity", choices=POLARITIES, default="auto",
                        help="which colour is boundary in the tracing (default: the minority class)")
    grains.add_argument("--combine", choices=GRAIN_COMBINES, default="max",
                        help="how several maps become one (default max of p, the lab's min on its dark maps)")
    grains.add_argument("--micrograph", type=Path, default=None, metavar="IMAGE",
                        help="the micrograph the maps were predicted from: maps of another shape are resampled "
                             "to its grid (needed for a square map without --trace)")
    grains.add_argument("--pixel-size", type=float, default=None, metavar="UM",
                        help="micrometres per pixel: adds sizes in um and the ASTM E112 grain size numbers "
                             "(default: the micrograph's TIFF resolution tags, when --micrograph has them)")
    # defaults: core.options.GrainOptions (the lab's), not repeated here
    grains.add_argument("--high", default=None, metavar="P",
                        help="hysteresis high threshold on p (default 1 - 160/255 = 0.3725)")
    grains.add_argument("--low", default=None, metavar="P",
                        help="hysteresis low threshold on p (default 1 - 200/255 = 0.2157)")
    grains.add_argument("--dilations", default=None, metavar="N", help="binary dilations (default 3)")
    grains.add_argument("--min-area", default=None, metavar="PX",
                        help="fill holes (grains) smaller than this (default 100)")
    grains.add_argument("--prune", default=None, metavar="PX", help="remove spurs shorter than this (default 30)")
    grains.add_argument("--tune", action="store_true",
                        help="search the post-processing for the best grain F1 against --trace (under 'tuned')")
    grains.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    grains.add_argument("-o", "--output", type=Path, default=None, metavar="DIR", help="write the files here")
    grains.add_argument("--overwrite", action="store_true", help="replace existing output files")
    grains.set_defaults(run=run_grains)


def run_grains(args: argparse.Namespace) -> int:
    from ..core import grains
    from ..core.errors import InputError
    from ..core.grid import check_same_area, tiff_pixel_size, to_grid
    from ..core.io import check_writable, read_image, read_trace
    from ..core.options import GrainOptions
    from .options import given, read_maps

    options = GrainOptions(combine=args.combine, pixel_size=args.pixel_size,
                           **given(args, ("high", "low", "dilations", "min_area", "prune")))
    if args.tune and args.trace is None:
        raise InputError("--tune needs --trace: the tuning maximises the grain F1 against the tracing")
    # every output before any work; an input is never an output, even with --overwrite
    extra_inputs = [path for path in (args.trace, args.micrograph) if path is not None]
    targets = {key: args.output / name for key, name in grains.OUTPUT_FILES.items()} if args.output else {}
    check_writable(targets.values(), args.overwrite, inputs=[*args.preds, *extra_inputs])
    maps = read_maps(args.preds)
    grid = maps[0].shape  # the micrograph's grid: --micrograph's, else the tracing's, else the maps'
    if args.micrograph is not None:
        grid = read_image(args.micrograph).shape[:2]
        if options.pixel_size is None:
            options = options.replace(pixel_size=tiff_pixel_size(args.micrograph))
    truth = None
    if args.trace is not None:
        trace, _ = read_trace(args.trace, args.polarity)
        if args.micrograph is not None and trace.shape != grid:
            raise InputError(f"{args.micrograph} is {grid[0]} x {grid[1]} but {args.trace} is "
                             f"{trace.shape[0]} x {trace.shape[1]}; a tracing is drawn on its micrograph's grid")
        if args.micrograph is None and trace.shape != grid:
            raise InputError(f"{args.preds[0]} is {grid[0]} x {grid[1]} but {args.trace} is "
                             f"{trace.shape[0]} x {trace.shape[1]}; give --micrograph to measure the map on the "
                             "micrograph's grid (graintrace predict writes maps at the micrograph's size)")
        if not trace.any():
            raise InputError(f"{args.trace}: the tracing has no boundary pixels")
        truth = grains.trace_labels(trace)
    check_same_area(maps[0].shape, grid, str(args.preds[0]), str(args.micrograph or args.trace))
    maps = [to_grid(m, grid) for m in maps]  # one geometry: lengths and areas in the micrograph's pixels
    segmenter = grains.Segmenter(maps, options.combine)
    if args.tune and segmenter.tracing:
        raise InputError(f"{args.preds[0]} is a tracing (only 0 and 1): it is only skeletonized, nothing to tune")

    labels = segmenter.labels(options)
    table = grains.grain_table(labels)
    measured = grains.stats(labels, options.pixel_size, table)
    true_table = None
    if truth is not None:
        true_table = grains.grain_table(truth)
        measured.update(grains.compare(labels, truth, table, true_table))
    if args.tune:
        from .options import progress_printer

        result = grains.tune(segmenter, truth, options, progress=None if args.json else progress_printer("tuning"))
        measured["tuned"] = result.to_dict()
    summary = grains.grain_summary(labels, table, options, measured, predictions=args.preds, tracing=args.trace,
                                   is_tracing=segmenter.tracing)

    if args.output:
        grains.write_grain_files(args.output, labels, table, true_table, summary, args.overwrite)
    if args.json:
        print(json.dumps(summary))
        return 0
    _print_table(summary, args)
    for key, path in targets.items():
        print(f"wrote {path}  ({key})")
    return 0


def _print_table(summary: dict, args: argparse.Namespace) -> None:
    def show(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    kind = "tracing (skeletonized only)" if summary["is_tracing"] else "probability map"
    print(f"{', '.join(summary['prediction'])}: {kind}, measured on {summary['grid'].replace('x', ' x ')}")
    rows = [("interior grains", "grains"), ("edge grains", "edge_grains"), ("mean area (px)", "mean_area_px"),
            ("mean lineal intercept (px)", "mean_intercept_px"), ("mean area (um^2)", "mean_area_um2"),
            ("mean lineal intercept (um)", "mean_intercept_um"), ("ASTM G (intercept)", "astm_g_intercept"),
            ("ASTM G (planimetric)", "astm_g_planimetric"), ("true interior grains", "grains_truth"),
            ("VI split", "vi_split"), ("VI merge", "vi_merge"), ("adapted Rand error", "arand"),
            ("grain precision", "grain_precision"), ("grain recall", "grain_recall"), ("grain F1", "grain_f1"),
            ("orphan fraction", "orphan_fraction"), ("disregistry", "disregistry"), ("size KS", "size_ks"),
            ("size KS p-value", "size_ks_p")]
    rows = [(label, key) for label, key in rows if key in summary]
    width = max(len(label) for label, _ in rows)
    for label, key in rows:
        print(f"  {label:<{width}}  {show(summary[key])}")
    if "tuned" in summary:
        tuned = summary["tuned"]
        params = ", ".join(f"{k} {show(tuned[k])}" for k in ("high", "low", "dilations", "min_area", "prune"))
        print(f"  tuned ({tuned['evaluated']} settings tried): {params} -> grain F1 {show(tuned['grain_f1'])}, "
              f"{tuned['grains']} grains")
    sys.stdout.flush()
