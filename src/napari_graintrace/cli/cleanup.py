"""``graintrace clean``: binarize, de-border, despeckle and re-thicken tracings, one file or a folder.

Every output ``NAME.png`` (white boundary on black, 0/255) gets a sidecar ``NAME.cleanup.json``
with the parameters used; ``--params NAME.cleanup.json`` replays them (explicit options win).
All inputs are read and cleaned before the first file is written, so bad input writes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
SIDECAR_SUFFIX = ".cleanup.json"  # core.cleanup.SIDECAR_SUFFIX (not imported: --help stays fast)


def register(subparsers: argparse._SubParsersAction) -> None:
    clean = subparsers.add_parser(
        "clean",
        help="clean a tracing: border, binarize, despeckle, thickness (white-on-black 0/255 PNG)",
        description=(
            "Clean a tracing (or every image in a folder) into a white-on-black 0/255 PNG with a sidecar "
            f"NAME{SIDECAR_SUFFIX} of the parameters. Order: border, binarize (or extract from --original), "
            "despeckle, bridge gaps, thickness. Existing files are never replaced without --overwrite."
        ),
    )
    clean.add_argument("trace", type=Path, metavar="TRACE", help="tracing image, or a folder of them")
    clean.add_argument(
        "-o", "--output", type=Path, required=True, metavar="OUT",
        help="output .png file (single input) or folder (NAME.png per input)",
    )
    clean.add_argument("--thickness", type=int, default=None, metavar="N",
                       help="skeletonize, then re-thicken to odd N px (1 = skeleton; default: keep)")
    clean.add_argument("--footprint", choices=("disk", "square", "gaussian"), default=None,
                       help="how to re-thicken (default disk; gaussian = blur + threshold as in the report)")
    clean.add_argument("--sigma", type=float, default=None,
                       help="blur of --footprint gaussian (default max(1, N/3))")
    clean.add_argument("--border", default=None, metavar="T,B,L,R",
                       help="pixels to remove at top, bottom, left, right (scale bar, frame)")
    clean.add_argument("--keep", default=None, metavar="T,B,L,R",
                       help="keep only rows T..B-1 and columns L..R-1 (half-open; the same side order as "
                            "--border), instead of --border")
    clean.add_argument("--border-mode", choices=("blank", "crop"), default=None,
                       help="removed border becomes background (blank, default) or is cut away (crop)")
    clean.add_argument("--min-size", type=int, default=None, metavar="S",
                       help="drop connected pieces smaller than S px (default 0)")
    clean.add_argument("--bridge", type=int, choices=(0, 1, 2), default=None,
                       help="close gaps of up to 1 or 2 px at line ends (default 0)")
    clean.add_argument("--polarity", choices=("auto", "white-on-black", "black-on-white"), default=None,
                       help="which colour is boundary in TRACE (default: the minority class)")
    clean.add_argument("--threshold", type=float, default=None, metavar="T",
                       help="grey level in [0, 1] instead of Otsu (with --original: of |painted - original|)")
    clean.add_argument("--original", type=Path, default=None, metavar="MICROGRAPH",
                       help="the micrograph TRACE was painted over: extract the tracing from the difference "
                            "(a folder when TRACE is a folder; files matched by name)")
    clean.add_argument("--params", type=Path, default=None, metavar="JSON",
                       help=f"replay a {SIDECAR_SUFFIX} sidecar (options given here override it)")
    clean.add_argument("--overwrite", action="store_true", help="replace existing output files")
    clean.set_defaults(run=run_clean)


def _keep_rectangle(text: str | None) -> tuple[int, int, int, int] | None:
    """``--keep T,B,L,R`` (the side order of ``--border``) -> CleanupOptions.keep (top, left, bottom, right)."""
    from ..core.options import int_tuple

    if text is None:
        return None
    top, bottom, left, right = int_tuple(text, 4, "--keep T,B,L,R")
    return top, left, bottom, right


def _params_from_args(args: argparse.Namespace):
    from ..core.errors import InputError
    from ..core.options import CleanupOptions

    base: dict[str, Any] = {}
    if args.params is not None:
        try:
            data = json.loads(Path(args.params).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{args.params}: no such file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{args.params}: not a JSON parameter file ({exc})") from None
        base = data.get("params", data) if isinstance(data, dict) else data
        base = CleanupOptions.from_dict(base).to_dict()
    overrides = {
        "margins": args.border, "keep": _keep_rectangle(args.keep), "border_mode": args.border_mode,
        "threshold": args.threshold,
        "polarity": args.polarity, "min_size": args.min_size, "bridge": args.bridge,
        "thickness": args.thickness, "footprint": args.footprint, "sigma": args.sigma,
    }
    base.update({k: v for k, v in overrides.items() if v is not None})
    if args.border is not None and args.keep is None:
        base["keep"] = None  # --border given here replaces a replayed keep-rectangle
    return CleanupOptions.from_dict(base)


def _jobs(args: argparse.Namespace) -> list[tuple[Path, Path | None, Path]]:
    """(tracing, original or None, output) for every input, checked before anything is read."""
    from ..core.errors import InputError

    source, original, out = args.trace, args.original, args.output
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    if source.is_dir():
        inputs = sorted(p for p in source.iterdir()
                        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
        if not inputs:
            raise InputError(f"{source}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        if out.exists() and not out.is_dir():
            raise InputError(f"{out}: is a file; with a folder of tracings OUT must be a folder")
        if original is not None and not original.is_dir():
            raise InputError(f"{original}: with a folder of tracings, --original must be a folder")
        jobs = []
        for path in inputs:
            match = None
            if original is not None:
                candidates = sorted(p for p in original.iterdir() if p.stem == path.stem and p.suffix.lower()
                                    in IMAGE_SUFFIXES)
                if not candidates:
                    raise InputError(f"{original}: no micrograph named {path.stem}.* for {path.name}")
                match = candidates[0]
            jobs.append((path, match, out / f"{path.stem}.png"))
        stems = [job[2] for job in jobs]
        if len(set(stems)) != len(stems):
            raise InputError(f"{source}: two inputs share a name (a.png and a.tif): outputs would collide")
        return jobs
    if original is not None and original.is_dir():
        raise InputError(f"{original}: is a folder; with one tracing --original must be one micrograph")
    if out.is_dir() or out.suffix == "":
        target = out / f"{source.stem}.png"
    elif out.suffix.lower() == ".png":
        target = out
    else:
        raise InputError(f"{out}: the output is written as PNG; name it .png or give a folder")
    return [(source, original, target)]


def run_clean(args: argparse.Namespace) -> int:
    from ..core.data import clean_trace, sidecar_path, sidecar_record, write_cleaned
    from ..core.errors import InputError
    from ..core.io import check_writable, read_image

    params = _params_from_args(args)
    jobs = _jobs(args)
    targets = [path for _, _, out in jobs for path in (out, sidecar_path(out))]
    inputs = [path for source, original, _ in jobs for path in (source, original) if path is not None]
    check_writable(targets, args.overwrite, inputs=[*inputs, *([args.params] if args.params else [])])
    # every input is read before the first progress line, so an unreadable file is the only line
    loaded = [(read_image(source), read_image(original) if original is not None else None)
              for source, original, _ in jobs]
    results = []
    total = len(jobs)
    for i, ((source, original, out), (image, micrograph)) in enumerate(zip(jobs, loaded, strict=True), 1):
        if total > 1:
            print(f"[{i}/{total}] cleaning {source.name}", file=sys.stderr, flush=True)
        try:
            mask, report = clean_trace(image, params, original=micrograph)
        except InputError as exc:
            raise InputError(f"{source}: {exc}") from None
        record = sidecar_record(source=str(source), original=str(original) if original is not None else None,
                                output=out, params=params, report=report)
        results.append((out, mask, record))
    for out, mask, record in results:
        write_cleaned(out, mask, record, overwrite=args.overwrite)
        report = record["report"]
        print(f"wrote {out} ({report['output_shape'][0]} x {report['output_shape'][1]}, "
              f"{100 * report['boundary_fraction']:.1f}% boundary) and {sidecar_path(out).name}")
    return 0
