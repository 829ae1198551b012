"""A corrected tracing and its micrograph(s) into a training set in the lab's layout, never overwriting.

Layout (the trainer pairs ``image/`` and ``label/`` by sorted file name)::

    DATASET/image/NAME_n.png     micrograph n (1-based; tilts or fields of view of one area)
    DATASET/label/NAME_n.png     the tracing, white on black 0/255, one copy per micrograph
    DATASET/corrections.csv      one row per pair: where it came from (checkpoint, prediction),
                                 how many edits and clicks, the seconds spent, when, sha256s

Everything is checked before the first byte is written: a pair whose name is taken (in ``image/`` or
``label/``) is refused, never replaced; the micrographs must have the tracing's shape. Files are
written to temporary names and renamed into place (``io.write_image``).
"""

from __future__ import annotations

import csv
import datetime as _dt
import io as _stdio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cache import file_hash
from ..data import prepare_image
from ..errors import InputError
from ..io import OutputExistsError, check_writable, write_image, write_text
from ..options import dataset_name
from .pipeline import thicken

__all__ = ["CORRECTION_FIELDS", "SavedPair", "free_name", "save_to_dataset"]

CORRECTION_FIELDS = ("file", "micrograph", "source_checkpoint", "source_prediction", "edits", "clicks",
                     "seconds", "thickness", "saved_utc", "image_sha256", "label_sha256")
MANIFEST = "corrections.csv"


@dataclass(frozen=True)
class SavedPair:
    image: Path
    label: Path


def _pair_names(name: str, count: int) -> list[str]:
    return [f"{name}_{n}.png" for n in range(1, count + 1)]


def free_name(dataset: str | os.PathLike, stem: str = "corrected", count: int = 1) -> str:
    """``stem_001``, ``stem_002``, ...: the first name none of whose pairs exists in the dataset yet."""
    dataset = Path(dataset)
    for number in range(1, 100_000):
        name = f"{stem}_{number:03d}"
        if not any((dataset / folder / file).exists() for folder in ("image", "label")
                   for file in _pair_names(name, count)):
            return name
    raise InputError(f"{dataset}: no free name left for {stem}")  # pragma: no cover


def save_to_dataset(dataset: str | os.PathLike, name: str, tracing: np.ndarray, micrographs: Sequence[np.ndarray],
                    thickness: int = 1, record: dict | None = None) -> list[SavedPair]:
    """Write ``image/NAME_n.png`` + ``label/NAME_n.png`` for each micrograph and a row each in corrections.csv.

    ``tracing``: the 1-px corrected tracing (True on a boundary), thickened to ``thickness`` px;
    ``record``: what the manifest says besides the files (``source_checkpoint``, ``source_prediction``,
    ``edits``, ``clicks``, ``seconds``). Refuses (nothing written) a taken name or a shape mismatch.
    """
    name = dataset_name(name)
    tracing = np.asarray(tracing, dtype=bool)
    if tracing.ndim != 2:
        raise InputError(f"a tracing must be a 2-D image, got shape {tracing.shape}")
    if not micrographs:
        raise InputError("give the micrograph(s) the tracing belongs to")
    images = [prepare_image(m, f"micrograph {n}") for n, m in enumerate(micrographs, start=1)]
    for n, image in enumerate(images, start=1):
        if image.shape != tracing.shape:
            raise InputError(f"micrograph {n} is {image.shape[0]} x {image.shape[1]} but the tracing is "
                             f"{tracing.shape[0]} x {tracing.shape[1]}; they must match")
    label = thicken(tracing, thickness).astype(np.uint8) * np.uint8(255)
    dataset = Path(dataset)
    if dataset.exists() and not dataset.is_dir():
        raise InputError(f"{dataset}: exists and is not a folder")
    files = _pair_names(name, len(images))
    targets = [dataset / "image" / f for f in files] + [dataset / "label" / f for f in files]
    taken = [t for t in targets if t.exists()]
    if taken:
        raise OutputExistsError(taken[0], len(taken) - 1)
    check_writable(targets)
    manifest = dataset / MANIFEST
    rows: list[dict] = []
    if manifest.exists():
        with manifest.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    record = record or {}
    for folder in ("image", "label"):
        (dataset / folder).mkdir(parents=True, exist_ok=True)
    saved = []
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for n, (file, image) in enumerate(zip(files, images, strict=True), start=1):
        image_path = write_image(dataset / "image" / file, image)
        label_path = write_image(dataset / "label" / file, label)
        saved.append(SavedPair(image_path, label_path))
        rows.append({"file": file, "micrograph": n, "thickness": thickness, "saved_utc": now,
                     **{key: record.get(key, "") for key in ("source_checkpoint", "source_prediction", "edits",
                                                             "clicks", "seconds")},
                     "image_sha256": file_hash(image_path), "label_sha256": file_hash(label_path)})
    text = _stdio.StringIO()
    writer = csv.DictWriter(text, fieldnames=CORRECTION_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(manifest, text.getvalue(), overwrite=True)
    return saved
