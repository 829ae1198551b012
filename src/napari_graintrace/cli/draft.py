"""``graintrace draft``: a clean tracing from boundary probability maps, to correct into training data.

Thin over ``core.draft``: read the maps (several maps of one area are combined first, as ``grains``
does), draft the tracing (hysteresis, thinning, gap closing along the ridge, spur pruning), write it
white-on-black 0/255 at the maps' shape, 1 px or ``--thickness N``. Every input is read and checked
and the output refused (an input is never an output, even with ``--overwrite``) before anything is
written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..core.options import GRAIN_COMBINES
    from .options import add_maps_argument

    draft = subparsers.add_parser(
        "draft",
        help="a draft tracing from boundary maps (gaps closed along the ridge), to correct into training data",
        description=(
            "Draft a tracing from boundary probability maps of one area, with no truth: hysteresis threshold, "
            "thinning, dangling ends joined to the nearest line along the ridge of p, short spurs pruned, small "
            "grains kept. Writes a white-on-black 0/255 PNG/TIFF at the maps' shape (1-px 8-connected lines, or "
            "--thickness N). Correct it in napari with the 'Correct tracing' widget."
        ),
    )
    add_maps_argument(draft)
    draft.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.png", help="the tracing to write")
    draft.add_argument("--thickness", default=None, metavar="N", help="odd line width in px (default 1)")
    draft.add_argument("--combine", choices=GRAIN_COMBINES, default="max",
                       help="how several maps become one (default max of p)")
    # defaults: core.options.DraftOptions, not repeated here
    draft.add_argument("--high", default=None, metavar="P", help="hysteresis high threshold on p")
    draft.add_argument("--low", default=None, metavar="P", help="hysteresis low threshold on p")
    draft.add_argument("--gap-radius", default=None, metavar="PX",
                       help="how far a dangling end looks for a line to join")
    draft.add_argument("--gap-prob", default=None, metavar="P",
                       help="the mean p a gap-closing path needs along the ridge")
    draft.add_argument("--prune", default=None, metavar="PX", help="remove dangling spurs shorter than this")
    draft.add_argument("--json", action="store_true",
                       help="print one JSON object: branches, junctions, dangling_ends, grains, ...")
    draft.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    draft.set_defaults(run=run_draft)


def run_draft(args: argparse.Namespace) -> int:
    from ..core.draft import DraftOptions, draft_tracing, thicken
    from ..core.io import check_writable, write_image
    from .options import given, read_maps, require_files

    options = DraftOptions(combine=args.combine,
                           **given(args, ("high", "low", "gap_radius", "gap_prob", "prune", "thickness")))
    require_files(args.preds, "prediction")
    check_writable([args.output], args.overwrite, inputs=args.preds)
    maps = read_maps(args.preds)
    draft = draft_tracing(maps, options)
    lines = thicken(draft.tracing, options.thickness)
    write_image(args.output, lines.astype("uint8") * 255, overwrite=args.overwrite)
    summary = {"output": str(args.output), "shape": list(lines.shape), "thickness": options.thickness,
               **draft.summary()}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"wrote {args.output}  ({lines.shape[0]} x {lines.shape[1]}, {options.thickness} px lines): "
              f"{summary['branches']} branches, {summary['grains']} interior grains, "
              f"{summary['ends_closed']} dangling ends closed along the ridge, {summary['dangling_ends']} left")
    return 0
