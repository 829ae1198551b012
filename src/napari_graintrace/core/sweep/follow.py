"""Follow training runs as they write: score each checkpoint when it lands, until the runs are done.

The sweep (``core.sweep``) scores a finished series; this keeps looking at the run folders and adds
each new ``NAME_EPOCH.pth`` to the same table, so a table, a plot or a widget's curves grow while
the model trains. Two rules keep it honest:

- **Only complete files.** Our trainer writes every checkpoint under a temporary hidden name and
  renames it into place, and hidden names are never taken. A file written in place by another
  trainer (the lab's saves straight to ``NAME_EPOCH.pth``) is taken only once it kept the same size
  and age for a whole poll interval, or once its run says it has finished.
- **An end.** A run has finished when its trainer left the ``.NAME.finished`` marker
  (``core.model.run_status``); following ends when every run has finished and all its checkpoints are
  scored, or after ``idle`` seconds without a new checkpoint.

Each scored checkpoint is one step of the generator, with the table so far, so the caller rewrites
its CSV and plot whole (atomically) and they are complete at every moment.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..cache import PredictionCache, file_hash
from ..errors import InputError
from ..model import run_status
from ..model.checkpoints import Checkpoint, find_checkpoints, load_checkpoint
from ..options import SweepOptions
from .execute import evaluate_pair
from .runs import LoadedPair, Pair, load_pairs, parse_run
from .table import SweepResult, add_outcome

__all__ = ["DEFAULT_IDLE_S", "FollowStep", "follow_steps", "followed_runs"]

DEFAULT_IDLE_S = 600.0
Runs = Sequence[str | os.PathLike] | str | os.PathLike | Mapping[str, str | os.PathLike]
POLL_S = 1.0


@dataclass(frozen=True)
class FollowStep:
    """One look at the folders: the table so far and what this look added.

    ``scored`` = (run, epoch) of the checkpoint just scored, or None when the look found nothing
    new (a step is still yielded, so a widget can cancel while waiting). ``idle_s``: seconds since
    the last new checkpoint.
    """

    result: SweepResult
    scored: tuple[str, int] | None
    idle_s: float

    def snapshot(self) -> SweepResult:
        """A copy of the table that later steps do not change (for another thread to draw)."""
        r = self.result
        return dataclasses.replace(r, rows=list(r.rows), summaries=dict(r.summaries), predictions=dict(r.predictions),
                                   failures=list(r.failures), run_names=list(r.run_names),
                                   checkpoints=dict(r.checkpoints))


def followed_runs(runs: Runs) -> list[tuple[str, Path]]:
    """(name, folder) of each ``FOLDER`` or ``NAME=FOLDER`` (or of a mapping name -> folder); a folder
    may not exist yet (its training is starting)."""
    if isinstance(runs, Mapping):
        out = [(str(name), Path(folder)) for name, folder in runs.items()]
    else:
        out = [parse_run(item) for item in ([runs] if isinstance(runs, str | os.PathLike) else list(runs))]
    if not out:
        raise InputError("give at least one run (a checkpoint folder, or NAME=FOLDER)")
    for _, folder in out:
        if folder.exists() and not folder.is_dir():
            raise InputError(f"{folder}: not a folder")
    names = [name for name, _ in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"two runs are named {', '.join(map(repr, twice))}; name them: NAME=FOLDER")
    return out


def _listing(folder: Path) -> dict[Path, tuple[Checkpoint, tuple[int, int]]]:
    """The folder's checkpoints with (size, mtime) of each; nothing if the folder is not there (yet)."""
    try:
        found = find_checkpoints(folder)
    except InputError:
        return {}
    out = {}
    for item in found:
        try:
            stat = item.path.stat()
        except OSError:  # removed between the listing and now
            continue
        out[item.path] = (item, (stat.st_size, stat.st_mtime_ns))
    return out


def follow_steps(
    runs: Runs,
    pairs: Sequence[Pair | LoadedPair],
    options: SweepOptions | None = None,
    cache: PredictionCache | None = None,
    idle: float = DEFAULT_IDLE_S,
    poll: float = POLL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> Generator[FollowStep, None, SweepResult]:
    """Score every checkpoint of ``runs`` on ``pairs`` as it lands; return the table when following ends.

    Ends when every run has its finished marker and every checkpoint in it is scored, or when no
    new checkpoint came for ``idle`` seconds. Checkpoints already there at the start are scored
    first. A checkpoint that cannot be loaded is reported in ``result.failures`` and not retried.
    ``clock`` and ``sleep`` are injectable for tests; closing the generator stops it between looks.
    """
    followed = followed_runs(runs)
    loaded, hashes = load_pairs(pairs)
    options = options if options is not None else SweepOptions()
    cache = cache or PredictionCache()
    idle = float(idle)
    if not idle > 0:
        raise InputError(f"idle must be a positive number of seconds, got {idle}")
    result = SweepResult(sigmas=options.sigmas, kernels=options.kernels, window=options.window,
                         run_names=[name for name, _ in followed], grains=options.grains)
    done: set[Path] = set()  # scored or failed
    last_seen: dict[Path, tuple[tuple[int, int], float]] = {}  # size and age, and since when
    last_new = clock()
    while True:
        finished = {name: run_status.is_finished(folder) for name, folder in followed}
        ready: list[tuple[str, Checkpoint]] = []
        pending = False
        for name, folder in followed:
            for path, (item, signature) in _listing(folder).items():
                if path in done:
                    continue
                if last_seen.get(path, (None,))[0] != signature:
                    last_seen[path] = (signature, clock())  # new, or changed since the last look
                settled = finished[name] or clock() - last_seen[path][1] >= poll
                if settled:
                    ready.append((name, item))
                else:
                    pending = True
        ready.sort(key=lambda unit: (unit[1].epoch, unit[0]))
        for name, item in ready:
            done.add(item.path)
            _score(result, name, item, loaded, hashes, options, cache)
            last_new = clock()
            yield FollowStep(result, (name, item.epoch), 0.0)
        if ready:
            continue  # look again at once: more may have landed while these were scored
        if not pending and all(finished.values()):
            return result
        waited = clock() - last_new
        if waited >= idle:
            return result
        yield FollowStep(result, None, waited)
        sleep(min(poll, max(idle - waited, 0.0)))


def _score(result: SweepResult, run: str, item: Checkpoint, pairs: list[LoadedPair], hashes: list[str],
           options: SweepOptions, cache: PredictionCache) -> None:
    """Every pair of one checkpoint into ``result`` (or one failure); the sweep's unit of work."""
    try:
        checkpoint_hash = file_hash(item.path)
    except OSError as exc:
        result.failures.append(f"{item.path}: {exc}")
        return
    model = functools.cache(functools.partial(load_checkpoint, item.path))
    outcomes = []
    for pair, image_hash in zip(pairs, hashes, strict=True):
        outcome = evaluate_pair(item, checkpoint_hash, pair, image_hash, options, cache, model, run)
        if outcome.failure:
            result.failures.append(outcome.failure)
            return
        outcomes.append(outcome)
    result.checkpoints[(run, item.epoch)] = item.path
    for outcome in outcomes:  # all images of the checkpoint or none: the table never holds half an epoch
        add_outcome(result, outcome)
