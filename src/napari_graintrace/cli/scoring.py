"""``graintrace score`` and ``graintrace overlay``."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from .options import add_score_options, read_pair


def register(subparsers: argparse._SubParsersAction) -> None:
    score = subparsers.add_parser(
        "score",
        help="print BCE, top-hat, normalized Gaussian and tolerant P/R/F of a prediction",
        description="Score a probability map (8/16-bit or float in [0, 1]) against a tracing.",
    )
    score.add_argument("pred", type=Path, metavar="PRED", help="prediction image")
    score.add_argument("trace", type=Path, metavar="TRACE", help="tracing image (either polarity)")
    add_score_options(score)
    score.add_argument("--match-distance", type=float, default=None, metavar="PX",
                       help="boundary benchmark: how far apart (Euclidean px) a predicted and a true boundary "
                            "pixel may be and still match (default 0.0075 x the image diagonal, the BSDS one)")
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
    from ..core.scoring import bce_parts_and_boundary, default_max_distance, score_all

    pred, trace, polarity = read_pair(args)
    scores = score_all(pred, trace, sigma=args.sigma, window=args.window, kernel=args.kernel)
    scores.update(bce_parts_and_boundary(pred, trace, max_distance=args.match_distance))
    not_finite = [key for key, value in scores.items() if not math.isfinite(value)]
    if not_finite:  # never print NaN: it is not JSON, and not a score
        raise InputError(f"{', '.join(not_finite)} cannot be computed for {args.pred} with sigma {args.sigma:g}, "
                         f"window {args.window}, kernel {args.kernel}")
    if args.json:
        print(json.dumps(scores, allow_nan=False))
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
        "boundary_precision": "boundary precision (BSDS)",
        "boundary_recall": "boundary recall (BSDS)",
        "boundary_f": "boundary F (BSDS)",
    }
    width = max(map(len, labels.values()))
    distance = default_max_distance(pred.shape) if args.match_distance is None else args.match_distance
    print(f"{args.pred} vs {args.trace} ({polarity} tracing, {pred.shape[0]} x {pred.shape[1]})")
    for key, label in labels.items():
        print(f"  {label:<{width}}  {scores[key]: .6f}")
    print(f"  (boundary: p >= 0.5 thinned, tracing skeletonized, pairs within {distance:.2f} px)")
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
