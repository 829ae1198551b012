"""The lab's dataset folders: aligned crops, merging training sets, and the pairing check.

Layout written by :func:`write_aligned_steps` and read back by :func:`read_aligned` (docs/design.md, "Files")::

    ROOT/XXXX_validation/aligned/
      XXXX_1.png ... XXXX_n.png   originals (micrographs, in the order given)
      XXXX_trace.png              the shared tracing, white boundary on black, 0/255
      image/XXXX_n_m.png          crop m of micrograph n
      label/XXXX_n_m.png          crop m of the tracing: one copy per micrograph, same name as its image
      boxes.json                  the boxes (replayable by ``graintrace crop``)
      manifest.csv                file, kind, source, n, m, box, sha256 of every other file written

The lab's trainer pairs ``image/`` and ``label/`` by sorted file name, so every image needs exactly
one label of the same name and shape; :func:`check` lists every way that can fail and
:func:`merge` never drops or overwrites a pair. Everything is checked and computed before the first
byte is written, and each folder is written under a temporary name and renamed into place, so bad
input or a failure leaves nothing behind.
"""

from __future__ import annotations

import csv
import io as _stdio
import os
import shutil
import tempfile
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..cache import file_hash
from ..errors import InputError
from ..io import (
    OutputExistsError,
    as_trace,
    check_output_folder,
    clear_stale_temps,
    read_image,
    read_trace,
    temp_prefix,
    to_grey,
    write_image,
    write_text,
)
from ..options import CropOptions, dataset_name
from .cleanup import set_thickness
from .crops import CropBox, apply_boxes, boxes_to_json, check_boxes, read_boxes

__all__ = [
    "IMAGE_SUFFIXES",
    "MANIFEST_FIELDS",
    "MERGE_FIELDS",
    "AlignedDataset",
    "Problem",
    "aligned_folder",
    "check",
    "dataset_folders",
    "merge",
    "merge_plan",
    "prepare_image",
    "read_aligned",
    "write_aligned_steps",
]

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
MANIFEST_FIELDS = ("file", "kind", "source", "n", "m", "top", "left", "bottom", "right", "sha256")
MERGE_FIELDS = ("file", "source_dataset", "source_image", "source_label", "renamed_from",
                "image_sha256", "label_sha256")


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------
def aligned_folder(root: str | os.PathLike, name: str) -> Path:
    """``ROOT/NAME_validation/aligned``, the lab's place for one area's crops."""
    return Path(root) / f"{dataset_name(name)}_validation" / "aligned"


def prepare_image(array: np.ndarray, what: str) -> np.ndarray:
    """A micrograph as it will be saved: 2-D uint8/uint16 (RGB -> luma, float [0, 1] -> 8-bit)."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] in (2, 3, 4):
        array = to_grey(array)
    if array.ndim != 2 or array.size == 0:
        raise InputError(f"{what} must be a 2-D grey or RGB(A) image, got shape {array.shape}")
    if array.dtype in (np.uint8, np.uint16):
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        if low >= 0 and high <= 65535:
            return array.astype(np.uint8 if high <= 255 else np.uint16)
        raise InputError(f"{what} has integer values in [{low}, {high}], outside 0..65535")
    if np.issubdtype(array.dtype, np.floating):
        from ..io import to_unit_float, unit_float_to_uint8

        return unit_float_to_uint8(to_unit_float(array, what))
    raise InputError(f"{what} has unsupported pixel type {array.dtype}")


@contextmanager
def _folder_into_place(final: Path, overwrite: bool) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``final``; rename it into place if the block succeeds.

    Missing parents are created and removed again if the block fails. With ``overwrite`` an
    existing ``final`` is replaced as a whole (stale crops of an older layout would otherwise pair
    with nothing), and only once the new folder is complete.
    """
    if final.exists() and not final.is_dir():
        raise InputError(f"{final}: exists and is not a folder")
    if final.exists() and not overwrite:
        raise OutputExistsError(final)
    check_output_folder(final, overwrite)
    created = [parent for parent in [final.parent, *final.parent.parents] if not parent.exists()]
    final.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (".tmp", ".old"):  # what a killed run of this writer left behind
        clear_stale_temps(final, leftover)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(final), suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            if not overwrite:
                raise OutputExistsError(final)
            old = Path(tempfile.mkdtemp(prefix=temp_prefix(final), suffix=".old", dir=final.parent))
            os.rename(final, old / final.name)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for parent in created:  # innermost first
            try:
                parent.rmdir()
            except OSError:
                break
        raise


def _csv_text(fields: Sequence[str], rows: Iterable[dict]) -> str:
    buffer = _stdio.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# aligned crops
# --------------------------------------------------------------------------------------------
def write_aligned_steps(
    root: str | os.PathLike,
    images: Sequence[np.ndarray],
    trace: np.ndarray,
    boxes: Sequence[CropBox],
    options: CropOptions,
    *,
    sources: Sequence[str] | None = None,
    trace_source: str = "",
) -> Generator[tuple[int, int, str], None, Path]:
    """Write ``ROOT/NAME_validation/aligned`` from micrographs, their tracing and one set of boxes.

    ``images`` are the fields of view (``NAME_1`` ... ``NAME_n`` in this order), all of one shape;
    ``trace`` is their tracing (either polarity, or boolean); ``sources`` and ``trace_source`` are
    recorded in the manifest; ``options`` name the dataset and say the tracing's polarity, an
    optional re-thickening (odd px, the cleanup core) and whether to replace an existing folder.

    Every check runs and every crop is computed *now*, in the caller (bad input raises here and
    nothing is written); the returned generator then writes, yielding ``(done, total, file)``
    before each file and ``(total, total, "manifest.csv")`` at the end, and returns the folder.
    The CLI drives it with ``steps.run_steps``, the widget in a worker: both write the same bytes.
    """
    name, overwrite = options.name, options.overwrite
    final = aligned_folder(root, name)
    if final.exists() and not overwrite:
        raise OutputExistsError(final)
    images = list(images)
    if not images:
        raise InputError("no micrographs to crop")
    sources = [""] * len(images) if sources is None else [str(s) for s in sources]
    if len(sources) != len(images):
        raise InputError(f"{len(images)} micrographs but {len(sources)} source names")
    prepared = [prepare_image(image, f"micrograph {n} ({sources[n - 1] or 'array'})")
                for n, image in enumerate(images, 1)]
    shape = prepared[0].shape
    for n, image in enumerate(prepared[1:], 2):
        if image.shape != shape:
            raise InputError(
                f"micrograph {n} ({sources[n - 1] or 'array'}) is {image.shape[0]} x {image.shape[1]} but "
                f"micrograph 1 ({sources[0] or 'array'}) is {shape[0]} x {shape[1]}; all must have one shape"
            )
    trace = np.asarray(trace)
    if trace.ndim == 3 and trace.shape[2] in (2, 3, 4):
        trace = to_grey(trace)
    if trace.shape != shape:
        raise InputError(
            f"the tracing ({trace_source or 'array'}) is {' x '.join(map(str, trace.shape))} but the "
            f"micrographs are {shape[0]} x {shape[1]}; the shapes must match"
        )
    mask, _ = as_trace(trace, options.polarity)
    if options.thickness is not None:
        mask = set_thickness(mask, options.thickness)
    label = mask.astype(np.uint8) * np.uint8(255)
    boxes = check_boxes(boxes, shape)
    windows = apply_boxes(boxes, label, *prepared)

    # plan: (relative path, array or text, manifest row without sha)
    plan: list[tuple[str, np.ndarray | str, dict]] = []
    for n, (image, source) in enumerate(zip(prepared, sources), 1):
        plan.append((f"{name}_{n}.png", image, {"kind": "original", "source": source, "n": n}))
    plan.append((f"{name}_trace.png", label, {"kind": "trace", "source": trace_source}))
    for box, (label_crop, *image_crops) in zip(boxes, windows):
        coords = {"m": box.index, "top": box.top, "left": box.left, "bottom": box.bottom, "right": box.right}
        for n, crop in enumerate(image_crops, 1):
            stem = f"{name}_{n}_{box.index}.png"
            plan.append((f"image/{stem}", crop, {"kind": "image", "source": sources[n - 1], "n": n, **coords}))
            plan.append((f"label/{stem}", label_crop, {"kind": "label", "source": trace_source, "n": n, **coords}))
    plan.append(("boxes.json", boxes_to_json(boxes, name=name, source_shape=list(shape)),
                 {"kind": "boxes", "source": ""}))

    return _write_plan(final, plan, overwrite)


def _write_plan(final: Path, plan: list[tuple[str, np.ndarray | str, dict]],
                overwrite: bool) -> Generator[tuple[int, int, str], None, Path]:
    total = len(plan) + 1
    with _folder_into_place(final, overwrite) as tmp:
        (tmp / "image").mkdir()
        (tmp / "label").mkdir()
        rows = []
        for done, (relative, content, row) in enumerate(plan):
            yield done, total, relative
            target = tmp / relative
            if isinstance(content, str):
                write_text(target, content)
            else:
                write_image(target, content)
            rows.append({"file": relative, **row, "sha256": file_hash(target)})
        write_text(tmp / "manifest.csv", _csv_text(MANIFEST_FIELDS, rows))
    yield total, total, "manifest.csv"
    return final


@dataclass(frozen=True)
class AlignedDataset:
    """An aligned folder read back: enough to carry on where it was left (the crops widget's "Open")."""

    folder: Path
    name: str
    originals: list[tuple[Path, np.ndarray]]  # NAME_1.png ... in order, as stored
    trace: np.ndarray  # bool, True = boundary
    polarity: str  # the polarity found in NAME_trace.png
    boxes: list[CropBox]


def read_aligned(path: str | os.PathLike) -> AlignedDataset:
    """Read ``NAME_validation/aligned`` (or the ``NAME_validation`` above it): originals, tracing, boxes.

    The tracing is read with polarity ``auto`` like every other tracing, so a ``NAME_trace.png``
    someone saved black-on-white still gives its boundaries. Everything is read before returning.
    """
    root = Path(path)
    folder = root / "aligned" if (root / "aligned" / "boxes.json").is_file() else root
    if not (folder / "boxes.json").is_file():
        raise InputError(f"{root}: no boxes.json here (choose a NAME_validation/aligned folder)")
    boxes = read_boxes(folder / "boxes.json")
    traces = sorted(folder.glob("*_trace.png"))
    if len(traces) != 1:
        raise InputError(f"{folder}: expected NAME_1.png ... and one NAME_trace.png")
    name = traces[0].stem[: -len("_trace")]
    numbered = [(path, path.stem[len(name) + 1 :]) for path in folder.glob(f"{name}_*.png")]
    originals = sorted(((path, int(n)) for path, n in numbered if n.isdigit()), key=lambda item: item[1])
    if not originals:
        raise InputError(f"{folder}: expected NAME_1.png ... and one NAME_trace.png")
    trace, polarity = read_trace(traces[0], "auto")
    return AlignedDataset(folder, name, [(p, read_image(p)) for p, _ in originals], trace, polarity, boxes)


# --------------------------------------------------------------------------------------------
# reading datasets: pairing and check
# --------------------------------------------------------------------------------------------
def dataset_folders(path: str | os.PathLike) -> tuple[Path, Path, Path]:
    """``(dataset, image/, label/)``; a ``NAME_validation`` folder stands for its ``aligned``."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path}: no such folder")
    for candidate in (path, path / "aligned"):
        if (candidate / "image").is_dir() and (candidate / "label").is_dir():
            return candidate, candidate / "image", candidate / "label"
    raise InputError(f"{path}: not a dataset (no image/ and label/ folders)")


def _listing(folder: Path) -> tuple[dict[str, Path], list[Path]]:
    """Image files by name, and other non-hidden entries (the trainer would trip on them)."""
    images, stray = {}, []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES:
            images[entry.name] = entry
        else:
            stray.append(entry)
    return images, stray


@dataclass(frozen=True)
class Problem:
    """One reason the trainer would mis-pair or mis-read a dataset."""

    kind: str  # "image without label", "label without image", "shape mismatch", "non-binary label", ...
    path: str  # relative to the dataset
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}" + (f" ({self.detail})" if self.detail else "")


def check(dataset: str | os.PathLike) -> list[Problem]:
    """Every problem of a dataset: unpaired files, shape mismatches, non-binary labels, stray files.

    A label is binary when it has at most two grey levels. An empty list means the trainer's
    sorted-name pairing gives one image and one label of one shape for every pair.
    """
    root, image_dir, label_dir = dataset_folders(dataset)
    images, stray_images = _listing(image_dir)
    labels, stray_labels = _listing(label_dir)
    problems: list[Problem] = []
    for entry in stray_images + stray_labels:
        problems.append(Problem("not an image", entry.relative_to(root).as_posix(),
                                "a folder" if entry.is_dir() else f"suffix {entry.suffix or '(none)'}"))
    for name in sorted(set(images) - set(labels)):
        problems.append(Problem("image without label", f"image/{name}"))
    for name in sorted(set(labels) - set(images)):
        problems.append(Problem("label without image", f"label/{name}"))
    for name in sorted(set(images) & set(labels)):
        try:
            image = read_image(images[name])
        except InputError as exc:
            problems.append(Problem("unreadable image", f"image/{name}", str(exc)))
            image = None
        try:
            label = read_image(labels[name])
        except InputError as exc:
            problems.append(Problem("unreadable label", f"label/{name}", str(exc)))
            continue
        if image is not None and image.shape != label.shape:
            problems.append(Problem("shape mismatch", name, f"image {_shape(image)}, label {_shape(label)}"))
        levels = np.unique(label)
        if levels.size > 2:
            problems.append(Problem("non-binary label", f"label/{name}", f"{levels.size} grey levels"))
    if not images and not labels:
        problems.append(Problem("empty dataset", ".", "no images and no labels"))
    return problems


def _shape(array: np.ndarray) -> str:
    return " x ".join(map(str, array.shape))


# --------------------------------------------------------------------------------------------
# merge
# --------------------------------------------------------------------------------------------
def _renamed(name: str, tag: str, taken: set[str]) -> str:
    stem, suffix = os.path.splitext(name)
    candidate, k = f"{stem}_{tag}{suffix}", 2
    while candidate.casefold() in taken:
        candidate, k = f"{stem}_{tag}_{k}{suffix}", k + 1
    return candidate


def merge_plan(
    sources: Sequence[str | os.PathLike],
    on_clash: Literal["refuse", "rename"] = "refuse",
    dest: str | os.PathLike | None = None,
) -> list[dict]:
    """What :func:`merge` would write, checked, without writing: one row per pair, in the merge's order.

    A row holds ``file`` (its name in the merged set), ``source_dataset``, ``source_image``,
    ``source_label`` and ``renamed_from``. Training on several datasets uses this too, so
    ``train A B`` sees exactly the pairs (and names, hence the order) of ``merge A B``.
    """
    if on_clash not in ("refuse", "rename"):
        raise InputError(f"on_clash must be 'refuse' or 'rename', got {on_clash!r}")
    if not sources:
        raise InputError("no source datasets to merge")
    resolved: list[tuple[Path, dict[str, Path], dict[str, Path]]] = []
    seen: dict[Path, int] = {}
    for k, source in enumerate(sources, 1):
        root, image_dir, label_dir = dataset_folders(source)
        real = root.resolve()
        if real in seen:
            raise InputError(f"{source}: given twice (sources {seen[real]} and {k})")
        seen[real] = k
        if dest is not None:
            dest_real = Path(dest).resolve()
            if dest_real == real or real in dest_real.parents or dest_real in real.parents:
                raise InputError(f"{dest}: the destination may not be (inside) a source dataset or contain one")
        images, _ = _listing(image_dir)
        labels, _ = _listing(label_dir)
        unpaired = sorted(set(images) ^ set(labels))
        if unpaired:
            more = f" (and {len(unpaired) - 1} more)" if len(unpaired) > 1 else ""
            raise InputError(
                f"{root}: {unpaired[0]} has no partner in {'label' if unpaired[0] in images else 'image'}/"
                f"{more}; run `graintrace check {root}` and fix the pairing first"
            )
        if not images:
            raise InputError(f"{root}: has no image/label pairs")
        resolved.append((root, images, labels))

    taken: set[str] = set()
    rows: list[dict] = []
    clashes: list[str] = []
    for k, (root, images, labels) in enumerate(resolved, 1):
        for name in sorted(images):
            target = name
            if name.casefold() in taken:
                if on_clash == "refuse":
                    clashes.append(f"{name} (from {root})")
                    continue
                target = _renamed(name, f"src{k}", taken)
            taken.add(target.casefold())
            rows.append({"file": target, "source_dataset": str(root), "source_image": str(images[name]),
                         "source_label": str(labels[name]), "renamed_from": name if target != name else ""})
    if clashes:
        more = f" and {len(clashes) - 1} more" if len(clashes) > 1 else ""
        raise InputError(f"name clash: {clashes[0]}{more} already comes from an earlier source; "
                         "nothing was written (use --on-clash rename to keep both)")
    return rows


def merge(
    sources: Sequence[str | os.PathLike],
    dest: str | os.PathLike,
    on_clash: Literal["refuse", "rename"] = "refuse",
    overwrite: bool = False,
) -> Path:
    """Combine datasets into ``DEST/image``, ``DEST/label`` and ``DEST/manifest.csv`` (provenance).

    Files are copied byte for byte. Every source must pair 1:1 by name (run :func:`check`). When
    two sources hold the same file name (compared case-insensitively, as on Windows and macOS)
    ``on_clash="refuse"`` stops before writing anything and ``"rename"`` gives the later pair a
    ``_srcK`` suffix (image and label alike, K = the source's position); a pair is never dropped
    or overwritten. Returns ``DEST``.
    """
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest}: exists and is not a folder")
    if dest.exists() and not overwrite:
        raise OutputExistsError(dest)
    rows = merge_plan(sources, on_clash, dest)

    with _folder_into_place(dest, overwrite) as tmp:
        (tmp / "image").mkdir()
        (tmp / "label").mkdir()
        for row in rows:
            for kind in ("image", "label"):
                target = tmp / kind / row["file"]
                shutil.copyfile(row[f"source_{kind}"], target)
                row[f"{kind}_sha256"] = file_hash(target)
        write_text(tmp / "manifest.csv", _csv_text(MERGE_FIELDS, rows))
    return dest
