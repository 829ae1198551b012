"""``graintrace demo``: the report's finding on the bundled NIST pair, in one command."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="score a perfect, a 3-px-shifted and a blank prediction of the bundled NIST tracing",
        description=(
            "Scores three predictions of the bundled NIST steel tracing (the tracing itself, the tracing "
            "shifted by 3 px, an all-zero map) and writes the shifted one's overlays into DIR."
        ),
    )
    demo.add_argument("-o", "--output", type=Path, default=Path("graintrace-demo"), metavar="DIR")
    demo.add_argument("--overwrite", action="store_true", help="replace files from an earlier demo run")
    demo.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    import numpy as np

    from ..core import overlays, scores
    from ..core.io import check_writable, read_trace, write_image
    from ..data import NIST_NOTICE, NIST_TRACE

    trace, _ = read_trace(NIST_TRACE)
    perfect = trace.astype(np.float32)
    shifted = np.zeros_like(perfect)
    shifted[:, 3:] = perfect[:, :-3]  # the tracing's lines are 3-5 px wide
    candidates = {"perfect": perfect, "shifted by 3 px": shifted, "blank": np.zeros_like(perfect)}
    print(NIST_NOTICE)
    print(f"{'prediction':<16} {'BCE':>9} {'top-hat k3':>11} {'Gauss s3':>9} {'tol. F s1':>9}")
    results = {}
    for name, pred in candidates.items():
        row = results[name] = scores.score_all(pred, trace, sigma=3.0, window=15, kernel=3)
        f_strict = scores.tolerant_prf(pred, trace, sigma=1.0, window=15)[2]
        print(f"{name:<16} {row['bce']:9.4f} {row['tophat']:11.4f} {row['gaussian']:9.4f} {f_strict:9.4f}")
    for metric, label in (("bce", "BCE"), ("gaussian", "the Gaussian loss")):
        prefers_blank = results["blank"][metric] < results["shifted by 3 px"][metric]
        verdict = "prefers the blank map to" if prefers_blank else "prefers"
        print(f"{label} {verdict} the 3-px shift{'' if prefers_blank else ' to the blank map'}.")

    reward = scores.gaussian_reward(trace, 3.0, 15)
    pictures = {
        "shifted_bce_overlay.png": overlays.bce_overlay(shifted, trace),
        "gaussian_reward.png": overlays.reward_rgb(reward),
        "shifted_gaussian_composite.png": overlays.composite_rgb(shifted, reward),
    }
    targets = [args.output / name for name in pictures]
    check_writable(targets, args.overwrite)
    for target, picture in zip(targets, pictures.values(), strict=True):
        write_image(target, picture, overwrite=args.overwrite)
        print(f"wrote {target}")
    return 0
