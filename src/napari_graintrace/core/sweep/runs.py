"""What a sweep is given: runs (checkpoint series under a name) and (micrograph, tracing) pairs.

A *run* is one training run's checkpoint series (a folder of ``NAME_EPOCH.pth``) under a name, so
models trained on different data (the report's original set vs. the one with aligned crops) are
compared in one table, one plot and one ``best`` per run. Everything is checked here, once, before
any prediction starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cache import array_hash
from ..errors import InputError
from ..io import read_micrograph, read_trace
from ..model.checkpoints import Checkpoint, find_checkpoints

__all__ = [
    "LoadedPair",
    "Pair",
    "Run",
    "as_runs",
    "load_pairs",
    "parse_run",
]


@dataclass(frozen=True)
class Pair:
    """One micrograph and its tracing (files), named by the micrograph's stem in the table."""

    image: Path
    trace: Path

    @property
    def name(self) -> str:
        return Path(self.image).stem

    def load(self) -> LoadedPair:
        image = read_micrograph(self.image)
        trace, _ = read_trace(self.trace)
        if image.shape != trace.shape:
            raise InputError(f"{self.image} is {image.shape} but its tracing {self.trace} is {trace.shape}")
        return LoadedPair(self.name, image, trace)


@dataclass(frozen=True)
class LoadedPair:
    """A micrograph (float in [0, 1]) and its boolean tracing already in memory (napari layers)."""

    name: str
    image: np.ndarray
    trace: np.ndarray


@dataclass(frozen=True)
class Run:
    """One training run: its checkpoint series under a name (the table's ``run`` column)."""

    name: str
    series: tuple[Checkpoint, ...]
    folder: Path | None = None


def parse_run(text: str | os.PathLike) -> tuple[str, Path]:
    """``NAME=FOLDER`` -> (NAME, FOLDER); a folder alone is named by its last part.

    A path that exists as given is a folder even if it contains ``=`` (``runs/lr=0.1``).
    """
    if isinstance(text, os.PathLike) or Path(str(text)).exists() or "=" not in str(text):
        folder = Path(text)
        return (folder.resolve().name or str(folder)), folder
    name, _, folder = str(text).partition("=")
    name = name.strip()
    if not name:
        raise InputError(f"run {text!r}: the name before '=' is empty (give NAME=FOLDER or a folder)")
    if not folder:
        raise InputError(f"run {text!r}: no folder after '=' (give NAME=FOLDER)")
    return name, Path(folder)


def as_runs(runs: object) -> list[Run]:
    """Normalise what callers pass as runs: a folder, ``NAME=FOLDER`` text, a mapping name -> folder,
    a :class:`Run`, a list of any of these, or (one run) a list of :class:`Checkpoint`.

    Every run must have checkpoints and a name of its own.
    """
    if isinstance(runs, str | os.PathLike | Run):
        items: list = [runs]
    elif isinstance(runs, Mapping):
        items = [Run(str(name), (), Path(folder)) if isinstance(folder, str | os.PathLike)
                 else Run(str(name), tuple(folder)) for name, folder in runs.items()]
    else:
        items = list(runs)
        if items and all(isinstance(item, Checkpoint) for item in items):
            items = [Run(items[0].path.parent.name or "run", tuple(items))]
    if not items:
        raise InputError("give at least one run (a checkpoint folder, or NAME=FOLDER)")
    out: list[Run] = []
    for item in items:
        if not isinstance(item, Run):
            name, folder = parse_run(item)
            item = Run(name, (), folder)
        if not item.series:
            if item.folder is None:
                raise InputError(f"run {item.name!r} has no checkpoints")
            series = find_checkpoints(item.folder)
            if not series:
                raise InputError(f"{item.folder}: no NAME_EPOCH.pth checkpoints found (run {item.name!r})")
            item = Run(item.name, tuple(series), item.folder)
        out.append(item)
    names = [run.name for run in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"two runs are named {', '.join(map(repr, twice))}; name them: NAME=FOLDER")
    return out


def load_pairs(pairs: Sequence[Pair | LoadedPair]) -> tuple[list[LoadedPair], list[str]]:
    """The pairs in memory with their images' content hashes (the cache key); names must differ."""
    if not pairs:
        raise InputError("give at least one (image, tracing) pair")
    names = [pair.name for pair in pairs]
    if len(set(names)) != len(names):
        raise InputError(f"two images share a name: {sorted({n for n in names if names.count(n) > 1})}")
    loaded = [pair.load() if isinstance(pair, Pair) else pair for pair in pairs]
    return loaded, [array_hash(pair.image) for pair in loaded]
