"""``graintrace grains``: boundary map(s) -> grains, their statistics, and a comparison with a tracing.

Thin over ``core.grains``: read the maps (several maps of one area are combined first), segment them
the lab's way, measure, compare with ``--trace``, tune with ``--tune``; print a table or one JSON
object; ``-o DIR`` writes the labels, a per-grain CSV, the summary JSON and a size histogram. All
inputs are read and checked before anything is written.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

OUTPUT_FILES = {
    "labels": "grains_labels.tif",  # grain labels (0 = boundary), uint16/uint32 TIFF
    "table": "grains.csv",  # one row per grain
    "summary": "grains_summary.json",  # what --json prints
    "histogram": "grain_sizes.png",  # interior grains' equivalent diameters, predicted vs true
}


def register(subparsers: argparse._SubParsersAction) -> None:
    grains = subparsers.add_parser(
        "grains",
        help="grains from boundary maps: count, sizes, intercepts; compared with a tracing (VI, grain F1)",
        description=(
            "Turn boundary probability maps (several maps of one area are combined first) into grains with "
            "the lab's post-processing (hysteresis threshold, dilations, small holes filled, skeleton, spurs "
            "pruned; a map of only 0 and 1 is a tracing and is only skeletonized), measure them, and with "
            "--trace compare them with the true grains. -o DIR writes " + ", ".join(OUTPUT_FILES.values()) + "."
        ),
    )
    grains.add_argument("preds", type=Path, nargs="+", metavar="PRED", help="probability map(s) of one area")
    grains.add_argument("--trace", type=Path, default=None, metavar="T", help="the true tracing (either polarity)")
    grains.add_argument("--polarity", choices=("auto", "white-on-black", "black-on-white"), default="auto",
                        help="which colour is boundary in the tracing (default: the minority class)")
    grains.add_argument("--combine", choices=("max", "mean"), default="max",
                        help="how several maps become one (default max of p, the lab's min on its dark maps)")
    grains.add_argument("--pixel-size", type=float, default=None, metavar="UM",
                        help="micrometres per pixel: adds the ASTM E112 grain size numbers")
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


def _clean(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN/inf to null."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_grains(args: argparse.Namespace) -> int:
    from ..core import grains
    from ..core.errors import InputError
    from ..core.io import check_writable, read_prediction, read_trace
    from ..core.options import GrainOptions

    given = {"high": args.high, "low": args.low, "dilations": args.dilations, "min_area": args.min_area,
             "prune": args.prune}
    options = GrainOptions(combine=args.combine, pixel_size=args.pixel_size,
                           **{key: value for key, value in given.items() if value is not None})
    if args.tune and args.trace is None:
        raise InputError("--tune needs --trace: the tuning maximises the grain F1 against the tracing")
    # every output before any work; an input is never an output, even with --overwrite
    targets = {key: args.output / name for key, name in OUTPUT_FILES.items()} if args.output else {}
    check_writable(targets.values(), args.overwrite, inputs=[*args.preds, *([args.trace] if args.trace else [])])
    maps = [read_prediction(path) for path in args.preds]
    shapes = {path: m.shape for path, m in zip(args.preds, maps, strict=True)}
    if len(set(shapes.values())) > 1:
        first, *rest = shapes.items()
        other = next(item for item in rest if item[1] != first[1])
        raise InputError(f"{first[0]} is {first[1][0]} x {first[1][1]} but {other[0]} is "
                         f"{other[1][0]} x {other[1][1]}; maps of one area must share a shape")
    truth = None
    if args.trace is not None:
        trace, _ = read_trace(args.trace, args.polarity)
        if trace.shape != maps[0].shape:
            raise InputError(f"{args.preds[0]} is {maps[0].shape[0]} x {maps[0].shape[1]} but {args.trace} is "
                             f"{trace.shape[0]} x {trace.shape[1]}; the shapes must match")
        if not trace.any():
            raise InputError(f"{args.trace}: the tracing has no boundary pixels")
        truth = grains.trace_labels(trace)
    segmenter = grains.Segmenter(maps, options.combine)
    if args.tune and segmenter.tracing:
        raise InputError(f"{args.preds[0]} is a tracing (only 0 and 1): it is only skeletonized, nothing to tune")

    labels = segmenter.labels(options)
    table = grains.grain_table(labels)
    summary: dict[str, Any] = {
        "prediction": [str(p) for p in args.preds],
        "tracing": str(args.trace) if args.trace else None,
        "is_tracing": segmenter.tracing,
        "options": {**options.post_processing, "combine": options.combine, "pixel_size": options.pixel_size},
        **grains.stats(labels, options.pixel_size, table),
    }
    true_table = None
    if truth is not None:
        true_table = grains.grain_table(truth)
        summary.update(grains.compare(labels, truth, table, true_table))
    if args.tune:
        from .options import progress_printer

        result = grains.tune(segmenter, truth, options, progress=None if args.json else progress_printer("tuning"))
        summary["tuned"] = result.to_dict()
    summary = _clean(summary)

    if args.output:
        _write_outputs(targets, labels, table, true_table, summary, args.overwrite)
    if args.json:
        print(json.dumps(summary))
        return 0
    _print_table(summary, args)
    for key, path in targets.items():
        print(f"wrote {path}  ({key})")
    return 0


def _write_outputs(targets: dict, labels, table, true_table, summary: dict, overwrite: bool) -> None:
    import numpy as np

    from ..core.grains import save_size_histogram
    from ..core.io import write_image, write_text

    dtype = np.uint16 if labels.max(initial=0) < 2**16 else np.uint32
    write_image(targets["labels"], labels.astype(dtype), overwrite=overwrite)
    write_text(targets["table"], table.to_csv(), overwrite=overwrite)
    write_text(targets["summary"], json.dumps(summary, indent=2) + "\n", overwrite=overwrite)
    save_size_histogram(targets["histogram"], table, true_table, summary.get("size_ks"),
                        summary["options"]["pixel_size"], overwrite)


def _print_table(summary: dict, args: argparse.Namespace) -> None:
    def show(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    kind = "tracing (skeletonized only)" if summary["is_tracing"] else "probability map"
    print(f"{', '.join(summary['prediction'])}: {kind}")
    rows = [("interior grains", "grains"), ("edge grains", "edge_grains"), ("mean area (px)", "mean_area_px"),
            ("mean lineal intercept (px)", "mean_intercept_px"), ("ASTM G (intercept)", "astm_g_intercept"),
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
