"""Arguments and input handling shared by several subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def add_score_options(parser: argparse.ArgumentParser) -> None:
    """--sigma/--window/--kernel/--polarity with the design's defaults (text: parsed by ``ScoreOptions``)."""
    from ..core.options import POLARITIES

    parser.add_argument("--sigma", type=float, default=3.0, help="Gaussian width in pixels (default 3)")
    parser.add_argument("--window", type=int, default=15, help="odd Gaussian window in pixels (default 15)")
    parser.add_argument("--kernel", type=int, default=3, help="odd top-hat kernel in pixels (default 3)")
    parser.add_argument(
        "--polarity",
        default="auto",
        choices=POLARITIES,
        help="which colour is boundary in TRACE (default: the minority class)",
    )


def add_match_distance_options(parser: argparse.ArgumentParser) -> None:
    """--match-distance (text: parsed once, by ``core.options.match_distance``) and the --pixel-size it may need."""
    parser.add_argument(
        "--match-distance", default=None, metavar="PX|UMum|bsds",
        help="boundary benchmark: how far apart a predicted and a true boundary pixel may be and still match: "
             "pixels (3, 3px), micrometres with --pixel-size (0.5um), or 'bsds' (0.0075 x the image "
             "diagonal, the BSDS rule for 481 x 321 photographs). Default 3 px",
    )
    parser.add_argument("--pixel-size", type=float, default=None, metavar="UM",
                        help="micrometres per pixel (for a --match-distance in um)")


def require_files(paths, what: str = "") -> None:
    """Every input exists and is a file: said for the first missing one, before any work starts."""
    from ..core.errors import InputError

    for path in paths:
        path = Path(path)
        if not path.exists():
            raise InputError(f"{path}: no such file" + (f" ({what})" if what else ""))
        if path.is_dir():
            raise InputError(f"{path}: is a folder; expected a file" + (f" ({what})" if what else ""))


def add_maps_argument(parser: argparse.ArgumentParser) -> None:
    """PRED...: boundary probability maps of one area (``grains`` and ``draft`` combine them into one first)."""
    parser.add_argument("preds", type=Path, nargs="+", metavar="PRED", help="probability map(s) of one area")


def given(args: argparse.Namespace, names: tuple[str, ...]) -> dict:
    """The flags among ``names`` the user gave; the options object keeps its own defaults for the others."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def read_maps(paths: list[Path]) -> list[np.ndarray]:
    """Several probability maps of one area, read and checked to share a shape before any work."""
    from ..core.errors import InputError
    from ..core.io import read_prediction

    maps = [read_prediction(path) for path in paths]
    first = maps[0].shape
    for path, other in zip(paths[1:], maps[1:], strict=True):
        if other.shape != first:
            raise InputError(f"{paths[0]} is {first[0]} x {first[1]} but {path} is {other.shape[0]} x "
                             f"{other.shape[1]}; maps of one area must share a shape")
    return maps


def score_options(args: argparse.Namespace):
    """The ``ScoreOptions`` of ``score`` / ``overlay`` flags: every parameter checked there, once, before reading."""
    from ..core.options import ScoreOptions

    return ScoreOptions(sigma=args.sigma, window=args.window, kernel=args.kernel,
                        match_distance=getattr(args, "match_distance", None),
                        pixel_size=getattr(args, "pixel_size", None))


def read_pair(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str]:
    """Read ``args.pred`` and ``args.trace`` and check them against each other."""
    from ..core.errors import InputError
    from ..core.io import read_prediction, read_trace

    pred = read_prediction(args.pred)
    trace, polarity = read_trace(args.trace, args.polarity)
    if pred.shape != trace.shape:
        raise InputError(
            f"{args.pred} is {pred.shape[0]} x {pred.shape[1]} but {args.trace} is "
            f"{trace.shape[0]} x {trace.shape[1]}; the shapes must match: predict the map again (graintrace "
            f"predict writes it at the micrograph's size, whatever --resolution the network ran at), or measure "
            f"an older square map with graintrace grains --micrograph"
        )
    if not trace.any():
        raise InputError(f"{args.trace}: the tracing has no boundary pixels")
    return pred, trace, polarity


def parse_resolution(value: str) -> int | None:
    """``"1024"`` -> 1024 (the lab's square resize); ``"native"`` -> None: ``core.options.resolution``."""
    from ..core.options import resolution

    return resolution(value)


def progress_printer(label: str):
    """A ``progress(done, total, text)`` callback drawing a bar on stderr (plain lines when not a TTY)."""
    import sys
    import time

    interactive = sys.stderr.isatty()
    state = {"last": -1.0, "start": time.perf_counter()}

    def progress(done: int, total: int, text: str = "") -> None:
        fraction = done / total if total else 1.0
        elapsed = time.perf_counter() - state["start"]
        eta = elapsed / fraction * (1 - fraction) if fraction > 0 else 0.0
        bar = "#" * int(fraction * 30)
        line = f"{label} [{bar:<30}] {done}/{total} {text}  ({elapsed:.0f} s, ~{eta:.0f} s left)"
        if interactive:
            print("\r" + line, end="\n" if done >= total else "", file=sys.stderr, flush=True)
        elif fraction - state["last"] >= 0.1 or done >= total:
            print(line, file=sys.stderr, flush=True)
            state["last"] = fraction

    return progress
