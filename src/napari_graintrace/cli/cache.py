"""``graintrace cache info`` / ``graintrace cache clear``: the prediction cache sweeps and Inspect share."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    cache = subparsers.add_parser(
        "cache",
        help="show or empty the prediction cache (sweeps and the Inspect widget)",
        description=(
            "Predictions are kept on disk, keyed by the checkpoint's and the image's content, so re-scoring "
            "and going back to an epoch need no inference. The folder is bounded (least recently used entries "
            "go first): 4 GiB unless $GRAINTRACE_CACHE_LIMIT says otherwise (e.g. 500M, 20G; 0 = no limit)."
        ),
    )
    actions = cache.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (("info", "where the cache is, how many predictions and bytes it holds, its limit"),
                       ("clear", "delete every cached prediction")):
        action = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        action.add_argument("--cache", type=Path, metavar="DIR",
                            help="cache folder (default: the user's cache directory, as sweeps use)")
        action.set_defaults(run=run_cache)


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def run_cache(args: argparse.Namespace) -> int:
    from ..core.cache import PredictionCache

    cache = PredictionCache(args.cache)
    if args.action == "clear":
        removed = cache.clear()
        print(f"removed {removed.entries} prediction(s), {_size(removed.size)}, from {removed.root}")
        return 0
    info = cache.info()
    limit = _size(info.limit) if info.limit else "none"
    print(f"{info.root}: {info.entries} prediction(s), {_size(info.size)} (limit {limit})")
    return 0
