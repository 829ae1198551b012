"""``graintrace score`` and ``graintrace overlay``."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from .options import add_match_distance_options, add_score_options, read_pair


def register(subparsers: argparse._SubParsersAction) -> None:
    score = subparsers.add_parser(
        "score",
        help="print BCE, top-hat, normalized Gaussian and tolerant P/R/F of a prediction",
        description="Score a probability map (8/16-bit or float in [0, 1]) against a tracing.",
    )
    score.add_argument("pred", type=Path, metavar="PRED", help="prediction image")
    score.add_argument("trace", type=Path, metavar="TRACE", help="tracing image (either polarity)")
    add_score_options(score)
    add_match_distance_options(score)
    score.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    score.set_defaults(run=run_score)

    overlay = subparsers.add_parser(
        "overlay",
        help="write the BCE overlay, reward maps and prediction x reward composites as PNG",
        description="Write the BCE overlay (bce_overlay.png), the top-hat and Gaussian reward maps and the "
                    "prediction x reward composites as PNG files into DIR.",
    )
    overlay.add_argument("pred", type=Path, metavar="PRED", help="prediction image")
    overlay.add_argument("trace", type=Path, metavar="TRACE", help="tracing image (either polarity)")
    overlay.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="output folder")
    add_score_options(overlay)
    overlay.add_argument("--overwrite", action="store_true", help="replace existing files")
    overlay.set_defaults(run=run_overlay)


def run_score(args: argparse.Namespace) -> int:
    from ..core.errors import InputError
    from ..core.options import match_distance, positive_number
    from ..core.scoring import bce_parts_and_boundary, score_all

    distance = match_distance(args.match_distance, "--match-distance")
    pixel_size = None if args.pixel_size is None else positive_number(args.pixel_size, "--pixel-size")
    distance.pixels((1, 1), pixel_size)  # micrometres without a pixel size: refused before reading
    pred, trace, polarity = read_pair(args)
    scores = score_all(pred, trace, sigma=args.sigma, window=args.window, kernel=args.kernel)
    scores.update(bce_parts_and_boundary(pred, trace, max_distance=distance, pixel_size=pixel_size))
    not_finite = [key for key, value in scores.items() if not math.isfinite(value)]
    if not_finite:  # never print NaN: it is not JSON, and not a score
        raise InputError(f"{', '.join(not_finite)} cannot be computed for {args.pred} with sigma {args.sigma:g}, "
                         f"window {args.window}, kernel {args.kernel}")
    if args.json:
        from ..core.grid import grid_text

        print(json.dumps({**scores, "grid": grid_text(trace.shape)}, allow_nan=False))  # the grid scored on
        return 0
    labels = {
        "bce": "BCE",
        "tophat": f"top-hat loss (kernel {args.kernel})",
        "gaussian": f"Gaussian loss (sigma {args.sigma:g}, window {args.window})",
        "precision": "tolerant precision",
        "recall": "tolerant recall",
        "f": "tolerant F",
        "bce_missed": "BCE from missed trace (red)",
        "bce_false": "BCE from false boundary (blue)",
        "bce_clamped": "share of BCE at the log clamp",
        "boundary_precision": "boundary precision (matched)",
        "boundary_recall": "boundary recall (matched)",
        "boundary_f": "boundary F (matched)",
    }
    width = max(map(len, labels.values()))
    print(f"{args.pred} vs {args.trace} ({polarity} tracing, {pred.shape[0]} x {pred.shape[1]})")
    for key, label in labels.items():
        print(f"  {label:<{width}}  {scores[key]: .6f}")
    rule = "" if distance.unit == "px" else f" ({distance})"
    print(f"  (boundary: p >= 0.5 thinned, tracing skeletonized, pairs within "
          f"{scores['boundary_match_distance']:.2f} px{rule})")
    return 0


def run_overlay(args: argparse.Namespace) -> int:
    from ..core.io import check_writable, write_image
    from ..core.scoring import overlays, scores

    files = [overlay for overlay in overlays.OVERLAYS if overlay.file]
    targets = {overlay.key: args.output / f"{overlay.key}.png" for overlay in files}
    check_writable(targets.values(), args.overwrite, inputs=[args.pred, args.trace])
    pred, trace, _ = read_pair(args)
    inputs = overlays.OverlayInputs(pred, trace, scores.tophat_reward(trace, args.kernel),
                                    scores.gaussian_reward(trace, args.sigma, args.window))
    for overlay, picture in zip(files, overlays.draw(inputs, files).values(), strict=True):
        write_image(targets[overlay.key], picture, overwrite=args.overwrite)
        print(f"wrote {targets[overlay.key]}  ({overlay.description})")
    return 0
