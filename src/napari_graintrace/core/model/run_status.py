"""The small files a training run keeps beside its checkpoints, so other processes can follow it.

A run folder holds ``NAME_EPOCH.pth`` checkpoints (each written under a temporary name and renamed
into place, so a complete file or none) and, for the series ``NAME``, three hidden files:

- ``.NAME.progress.json``: where the trainer is (epoch, batch, loss, seconds left, its pid and
  ``state``: ``running``, ``stopped`` or ``finished``), rewritten atomically a few times a second
  at most. The Train widget shows it; nothing depends on it for correctness.
- ``.NAME.finished``: the trainer ran every epoch it was asked for. ``sweep --follow`` ends when it
  sees it (after scoring every checkpoint); a resumed run removes it when it starts.
- ``.NAME.stop``: a request to stop at the next batch, holding the pid of the trainer it is meant
  for (empty: any trainer of this series). A trainer removes a request meant for another process
  when it starts, so a stale one never stops a later run.

Why files and not pipes: the trainer is a separate process (napari must never freeze), possibly
started from a shell or on another machine with a shared folder; a file works for all of them.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..io import atomic_path

__all__ = [
    "ProgressWriter",
    "clear_stale_stop",
    "finished_path",
    "is_finished",
    "mark_finished",
    "progress_path",
    "read_progress",
    "request_stop",
    "stop_path",
    "stop_requested",
    "unmark_finished",
]

STATES = ("running", "stopped", "finished")


def progress_path(folder: str | os.PathLike, name: str) -> Path:
    return Path(folder) / f".{name}.progress.json"


def finished_path(folder: str | os.PathLike, name: str) -> Path:
    return Path(folder) / f".{name}.finished"


def stop_path(folder: str | os.PathLike, name: str) -> Path:
    return Path(folder) / f".{name}.stop"


def _write_json(path: Path, data: dict) -> None:
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")


def read_progress(folder: str | os.PathLike, name: str) -> dict | None:
    """The last progress the trainer wrote, or None (none yet, or unreadable)."""
    try:
        data = json.loads(progress_path(folder, name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def mark_finished(folder: str | os.PathLike, name: str, last_epoch: int) -> Path:
    path = finished_path(folder, name)
    _write_json(path, {"name": name, "last_epoch": last_epoch, "time": time.time()})
    return path


def unmark_finished(folder: str | os.PathLike, name: str) -> None:
    finished_path(folder, name).unlink(missing_ok=True)


def is_finished(folder: str | os.PathLike, name: str | None = None) -> bool:
    """True when series ``name`` (None: any series in ``folder``) has its finished marker."""
    folder = Path(folder)
    if name is not None:
        return finished_path(folder, name).is_file()
    try:
        return any(p.name.startswith(".") and p.name.endswith(".finished") for p in folder.iterdir())
    except OSError:
        return False


def request_stop(folder: str | os.PathLike, name: str, pid: int | None = None) -> Path:
    """Ask the trainer of series ``name`` (the process ``pid``, or any) to stop at its next batch."""
    path = stop_path(folder, name)
    Path(folder).mkdir(parents=True, exist_ok=True)
    _write_text(path, "" if pid is None else str(pid))
    return path


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _stop_target(path: Path) -> int | None | bool:
    """The pid a stop request names, None for 'any trainer', False when there is no request."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return False
    try:
        return int(text) if text else None
    except ValueError:
        return None


def stop_requested(folder: str | os.PathLike, name: str, pid: int | None = None) -> bool:
    """True when a stop request for this series names this process (``pid``, default ours) or no process."""
    target = _stop_target(stop_path(folder, name))
    return target is not False and (target is None or target == (os.getpid() if pid is None else pid))


def clear_stale_stop(folder: str | os.PathLike, name: str) -> None:
    """Remove a stop request left for another (earlier) trainer; one naming this process stays."""
    path = stop_path(folder, name)
    target = _stop_target(path)
    if target is not False and target != os.getpid():
        path.unlink(missing_ok=True)


class ProgressWriter:
    """Writes ``.NAME.progress.json`` at most every ``interval`` seconds (always at an epoch's end).

    The time left is the mean time per batch so far in this process times the batches left.
    """

    def __init__(self, folder: str | os.PathLike, name: str, interval: float = 0.5,
                 extra: dict | None = None) -> None:
        self.path = progress_path(folder, name)
        self.interval = interval
        self.extra = dict(extra or {})
        self.started = time.monotonic()
        self.started_wall = time.time()
        self._last = -float("inf")
        self._first_step: int | None = None

    def update(self, *, epoch: int, epochs: int, batch: int, batches: int, loss: float, state: str = "running",
               epoch_loss: float | None = None, checkpoint: str | None = None, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        step = epoch * batches + batch  # batches done since epoch 0
        if self._first_step is None:
            self._first_step = step - 1  # this process started one batch before its first report
        done_here = step - self._first_step
        elapsed = now - self.started
        left = max(epochs * batches - step, 0)
        seconds_left = elapsed / done_here * left if done_here > 0 and state == "running" else 0.0
        data = {"state": state, "pid": os.getpid(), "epoch": epoch, "epochs": epochs, "batch": batch,
                "batches": batches, "loss": loss, "elapsed_s": round(elapsed, 2),
                "seconds_left": round(seconds_left, 1), "started": self.started_wall, "updated": time.time(),
                **self.extra}
        if epoch_loss is not None:
            data["epoch_loss"] = epoch_loss
        if checkpoint is not None:
            data["checkpoint"] = checkpoint
        self.extra.update({k: data[k] for k in ("epoch_loss", "checkpoint") if k in data})  # kept across updates
        _write_json(self.path, data)
