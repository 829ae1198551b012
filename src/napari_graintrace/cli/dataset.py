"""``graintrace crop``, ``graintrace merge`` and ``graintrace check``: the lab's dataset folders.

``crop`` replays a ``boxes.json`` (drawn in the "Aligned crops" widget or by hand) on micrographs
and their tracing and writes exactly what the widget writes; ``merge`` combines training sets with
provenance; ``check`` lists every pairing problem and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    crop = subparsers.add_parser(
        "crop",
        help="cut micrographs and their tracing with one set of boxes into the lab's dataset layout",
        description=(
            "Write ROOT/NAME_validation/aligned/: NAME_n.png originals, NAME_trace.png, image/NAME_n_m.png, "
            "label/NAME_n_m.png (one label copy per micrograph), boxes.json and manifest.csv (sha256 of every "
            "file). Everything is checked before anything is written; an existing folder is kept unless "
            "--overwrite."
        ),
    )
    crop.add_argument("--boxes", type=Path, required=True, metavar="BOXES.json", help="crop boxes (boxes.json)")
    crop.add_argument("--images", type=Path, nargs="+", required=True, metavar="IMAGE",
                      help="micrographs of one area, all of one shape (become NAME_1 ... NAME_n in this order)")
    crop.add_argument("--trace", type=Path, required=True, metavar="TRACE", help="their shared tracing")
    crop.add_argument("--name", required=True, metavar="NAME", help="dataset name XXXX (no path separators)")
    crop.add_argument("--out", type=Path, required=True, metavar="ROOT", help="root folder of the datasets")
    crop.add_argument("--polarity", choices=("auto", "white-on-black", "black-on-white"), default="auto",
                      help="which colour is boundary in TRACE (default: the minority class)")
    crop.add_argument("--thickness", type=int, default=None, metavar="N",
                      help="skeletonize the tracing and re-thicken it to odd N px first (default: keep)")
    crop.add_argument("--overwrite", action="store_true", help="replace an existing NAME_validation/aligned")
    crop.set_defaults(run=run_crop)

    merge = subparsers.add_parser(
        "merge",
        help="merge image/label datasets into one training set with a provenance manifest",
        description=(
            "Copy the image/label pairs of every SRC (a dataset folder, or NAME_validation for its aligned/) "
            "into DEST/image and DEST/label, byte for byte, with DEST/manifest.csv naming each pair's source. "
            "A file name present in two sources is refused (default) or renamed NAME_srcK; never dropped."
        ),
    )
    merge.add_argument("sources", type=Path, nargs="+", metavar="SRC", help="source datasets")
    merge.add_argument("-o", "--output", type=Path, required=True, metavar="DEST", help="new dataset folder")
    merge.add_argument("--on-clash", choices=("refuse", "rename"), default="refuse",
                       help="what to do when two sources share a file name (default: refuse)")
    merge.add_argument("--overwrite", action="store_true", help="replace an existing DEST")
    merge.set_defaults(run=run_merge)

    check = subparsers.add_parser(
        "check",
        help="check the 1:1 image/label pairing of a dataset (exit 1 on any problem)",
        description=(
            "Report every image without a label, label without an image, image/label shape mismatch, "
            "non-binary label and stray file in DATASET/image and DATASET/label. Exit 0 if clean, 1 if not."
        ),
    )
    check.add_argument("dataset", type=Path, metavar="DATASET", help="dataset folder (with image/ and label/)")
    check.set_defaults(run=run_check)


def run_crop(args: argparse.Namespace) -> int:
    from ..core.data import aligned_folder, read_boxes, write_aligned_steps
    from ..core.io import check_output_folder, read_image
    from ..core.options import CropOptions
    from ..core.steps import run_steps
    from .options import require_files

    require_files([args.boxes, *args.images, args.trace])
    options = CropOptions(args.name, polarity=args.polarity, thickness=args.thickness, overwrite=args.overwrite)
    final = aligned_folder(args.out, options.name)
    # the folder is replaced whole: it may not hold an input, and must be writable before any work
    check_output_folder(final, args.overwrite, inputs=[args.boxes, *args.images, args.trace])
    boxes = read_boxes(args.boxes)
    images = [read_image(path) for path in args.images]
    trace = read_image(args.trace)
    run_steps(write_aligned_steps(args.out, images, trace, boxes, options,
                                  sources=[str(path) for path in args.images], trace_source=str(args.trace)))
    n, m = len(images), len(boxes)
    print(f"wrote {final}: {n} original(s), {n * m} image/label pairs ({n} x {m} boxes), boxes.json, manifest.csv")
    return 0


def run_merge(args: argparse.Namespace) -> int:
    import csv

    from ..core.data import merge
    from ..core.io import check_output_folder

    check_output_folder(args.output, args.overwrite, inputs=args.sources)
    dest = merge(args.sources, args.output, on_clash=args.on_clash, overwrite=args.overwrite)
    with open(dest / "manifest.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    renamed = sum(1 for row in rows if row["renamed_from"])
    note = f", {renamed} renamed on a name clash (see manifest.csv)" if renamed else ""
    print(f"wrote {dest}: {len(rows)} pairs from {len(args.sources)} datasets{note}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from ..core.data import check, dataset_folders

    root, image_dir, _ = dataset_folders(args.dataset)
    problems = check(args.dataset)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {root}")
        return 1
    pairs = sum(1 for p in image_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    print(f"{root}: {pairs} image/label pairs, no problems")
    return 0
