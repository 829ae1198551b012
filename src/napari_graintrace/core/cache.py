"""The one prediction cache: probability maps on disk, keyed by content, bounded in size.

Inference is the expensive step, so a prediction is kept under a key made of the checkpoint's
content hash, the micrograph's content hash, the resolution and the precision: a sweep re-scored
with other parameters, a resumed sweep, and the Inspect widget going back to an epoch all read it
instead of predicting again. Entries are ``.npy`` files written atomically (a killed run leaves no
torn entry), so several processes (Dask workers) can share a folder.

The folder is bounded: after every store the least recently used entries are deleted until the
total is under the limit (default :data:`DEFAULT_LIMIT`, or ``$GRAINTRACE_CACHE_LIMIT`` such as
``500M`` or ``8G``; ``0`` means no limit). "Used" is the file's modification time, which every hit
refreshes: access times are unreliable on ``noatime``/``relatime`` mounts. ``graintrace cache info``
and ``graintrace cache clear`` show and empty it.
"""

from __future__ import annotations

import functools
import hashlib
import io as _io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .io import atomic_path

__all__ = ["DEFAULT_LIMIT", "LIMIT_VARIABLE", "CacheInfo", "PredictionCache", "array_hash", "checkpoint_hash",
           "default_cache_dir", "file_hash", "parse_size"]

DEFAULT_LIMIT = 4 * 1024**3  # 4 GiB: ~1000 maps of 1024 x 1024, a long sweep over several images
LIMIT_VARIABLE = "GRAINTRACE_CACHE_LIMIT"
GRID_TAG = "micrograph-grid"  # in every key: maps are stored resampled to their micrograph's shape
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def default_cache_dir() -> Path:
    """The user's cache directory (``$XDG_CACHE_HOME`` or ``~/.cache``)/napari-graintrace/predictions."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "napari-graintrace" / "predictions"


def parse_size(text: str | int) -> int:
    """``"500M"``, ``"8G"``, ``"1.5g"``, ``"1048576"`` -> bytes (binary units); ``0`` = no limit."""
    if isinstance(text, int) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        raw = str(text).strip().lower().removesuffix("ib").removesuffix("b")
        unit = raw[-1:] if raw[-1:] in _UNITS else ""
        try:
            value = float(raw[: len(raw) - len(unit)])
        except ValueError:
            raise InputError(f"cache limit must be a size like 500M or 8G, got {text!r}") from None
    if not np.isfinite(value) or value < 0:
        raise InputError(f"cache limit must be a size >= 0 like 500M or 8G, got {text!r}")
    return int(value * _UNITS[unit])


def file_hash(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def array_hash(array: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and bytes: equal hashes mean equal images."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


@functools.lru_cache(maxsize=1024)
def _hash_of_version(path: str, mtime_ns: int, size: int) -> str:
    return file_hash(path)


def checkpoint_hash(path: str | os.PathLike) -> str:
    """:func:`file_hash`, remembered per process by (path, mtime, size): a checkpoint is read once."""
    path = Path(path).absolute()
    stat = path.stat()
    return _hash_of_version(str(path), stat.st_mtime_ns, stat.st_size)


@dataclass(frozen=True)
class CacheInfo:
    """What ``graintrace cache info`` prints."""

    root: Path
    entries: int
    size: int  # bytes
    limit: int  # bytes; 0 = unbounded


class PredictionCache:
    """Content-addressed ``.npy`` predictions under ``root``, at most ``limit`` bytes (LRU eviction)."""

    def __init__(self, root: str | os.PathLike | None = None, limit: int | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        if limit is None:
            limit = os.environ.get(LIMIT_VARIABLE, DEFAULT_LIMIT)
        self.limit = parse_size(limit)

    def path(self, checkpoint_hash: str, image_hash: str, resolution: int | None, precision: str) -> Path:
        """Where the map of this checkpoint on this image at this resolution and precision lives.

        Maps are stored on the micrograph's grid (``core.grid``); the key says so, so that a square map
        stored by an older version is never taken for one.
        """
        text = f"{checkpoint_hash}|{image_hash}|{resolution}|{precision}|{GRID_TAG}"
        key = hashlib.sha256(text.encode()).hexdigest()
        return self.root / key[:2] / f"{key}.npy"

    def load(self, path: Path, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
        """The stored map, or None (predict again) when it is missing, unreadable or damaged; a hit
        counts as use.

        Damaged = not a float map of ``shape`` with values in [0, 1]: a wrong shape would be scored
        against the wrong tracing size, a NaN would fail far from its cause; both are recomputed.
        """
        try:
            pred = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if (pred.ndim != 2 or (shape is not None and tuple(pred.shape) != tuple(shape))
                or not np.issubdtype(pred.dtype, np.floating) or not np.all(np.isfinite(pred))
                or (pred.size and (pred.min() < 0 or pred.max() > 1))):
            return None
        try:
            os.utime(path)  # most recently used: evicted last
        except OSError:
            pass  # evicted meanwhile by another process: the map read is still good
        return pred

    def store(self, path: Path, pred: np.ndarray) -> None:
        """Write the map atomically, then trim the folder to the limit (the new entry stays)."""
        buffer = _io.BytesIO()
        np.save(buffer, np.asarray(pred, dtype=np.float32), allow_pickle=False)
        with atomic_path(path, overwrite=True) as tmp:
            tmp.write_bytes(buffer.getvalue())
        if self.limit:
            self.evict(keep=path)

    def _entries(self) -> list[tuple[float, int, Path]]:
        """(last use, bytes, path) of every complete entry (temporary files of running writes excluded)."""
        found = []
        if not self.root.is_dir():
            return found
        for folder in self.root.iterdir():
            if not folder.is_dir():
                continue
            for entry in os.scandir(folder):
                if entry.name.endswith(".npy") and not entry.name.startswith("."):
                    try:
                        stat = entry.stat()
                    except OSError:
                        continue  # removed meanwhile
                    found.append((stat.st_mtime, stat.st_size, Path(entry.path)))
        return found

    def evict(self, limit: int | None = None, keep: Path | None = None) -> int:
        """Delete least recently used entries until the total is at most ``limit``; returns bytes freed."""
        limit = self.limit if limit is None else limit
        entries = sorted(self._entries())
        total = sum(size for _, size, _ in entries)
        freed = 0
        for _, size, path in entries:
            if total - freed <= limit:
                break
            if keep is not None and path == keep:
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                pass  # another process got there first
            freed += size
        return freed

    def info(self) -> CacheInfo:
        entries = self._entries()
        return CacheInfo(self.root, len(entries), sum(size for _, size, _ in entries), self.limit)

    def clear(self) -> CacheInfo:
        """Delete every entry (and the emptied sub-folders); returns what was removed."""
        removed = self.info()
        for _, _, path in self._entries():
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        if self.root.is_dir():
            for folder in self.root.iterdir():
                if folder.is_dir():
                    try:
                        folder.rmdir()
                    except OSError:
                        pass  # not empty: a write in flight, or files that are not ours
        return removed

