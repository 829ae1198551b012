"""Sweeps and batch prediction on a Dask cluster: one task per (checkpoint, image).

Only ``--scheduler`` brings this module in, and it imports ``dask.distributed`` inside its
functions, so the default in-process path never loads Dask (an optional extra:
``pip install "napari-graintrace[dask]"``).

What travels: the client sends each (image, tracing) pair once per worker (``scatter``), then
small task descriptions: the checkpoint's *path* (workers read the file themselves, so the
checkpoint folder and the prediction cache must be on a filesystem every worker sees at the same
path), the sweep options and the cache's root. A sweep task sends back its score rows and the
small live-rescoring summary, never the prediction (that goes into the shared cache); a predict
task sends back the 8-bit map.

A worker keeps the last few models it loaded (keyed by path and content hash), so a checkpoint is
loaded once per worker however many images it is run on. Cache entries are content-addressed and
written through a unique temporary name then renamed, so two workers computing the same entry
both write the same bytes and neither can leave a torn file; a cancelled or killed run leaves
only complete entries. A task that raises is retried ``retries`` times; a task whose worker dies
is re-run elsewhere by the scheduler (``distributed.scheduler.allowed-failures``, default 3) and
reported as lost after that; in both cases the other tasks go on.

Results are bit-identical to the in-process sweep when the workers compute with the same number
of torch threads on the same kind of CPU (oneDNN's float sums depend on the thread split: one
thread against two changes some probabilities by one float32 ulp, ~1e-7).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import PredictionCache, checkpoint_hash
from ..errors import InputError
from ..model.checkpoints import Checkpoint, load_checkpoint
from ..model.unet import UNet
from ..options import PredictOptions, SweepOptions
from ..steps import run_steps
from .execute import evaluate_pair, new_result, prepare_sweep, reusable
from .runs import LoadedPair, Pair
from .table import PairOutcome, SweepResult, add_outcome

__all__ = ["PredictOutcome", "connect", "default_torch_threads", "local_cluster", "parse_scheduler", "predict_many",
           "run_sweep"]

INSTALL_HINT = 'Dask is not installed: pip install "napari-graintrace[dask]"'
MODELS_PER_WORKER = 2  # the lab's model is 124 MB; two cover a checkpoint change-over


# --------------------------------------------------------------------------------------------
# connecting
# --------------------------------------------------------------------------------------------
def parse_scheduler(address: str) -> tuple[str, int | None]:
    """``"local:N"`` -> ("local", N); ``"tcp://host:port"`` (any Dask address) -> (address, None)."""
    text = str(address).strip()
    if text.lower() == "local" or text.lower().startswith("local:"):
        count = text.partition(":")[2] or str(os.cpu_count() or 1)
        if not count.isdigit() or int(count) < 1:
            raise InputError(f"--scheduler local:N needs a positive number of workers, got {address!r}")
        return "local", int(count)
    if not text or any(c.isspace() for c in text):
        raise InputError(f"--scheduler: expected local:N or a scheduler address like tcp://host:8786, "
                         f"got {address!r}")
    return text, None


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    return distributed


def local_cluster(workers: int) -> Any:
    """A ``LocalCluster`` of ``workers`` processes, one task thread each, on 127.0.0.1 only.

    The scheduler's HTTP server takes a free loopback port rather than 8787, so several clusters
    (or another user's) can coexist. Torch threads are set per task (see :func:`run_sweep`).
    """
    distributed = _import_distributed()
    return distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
    )


def default_torch_threads(scheduler: Any) -> int | None:
    """``cores // N`` for ``local:N`` (N workers share this machine); None (the workers' own) otherwise.

    Dask starts worker processes with ``OMP_NUM_THREADS=1``, so without this a worker's torch
    would use one core whatever the machine has.
    """
    if isinstance(scheduler, str):
        _target, workers = parse_scheduler(scheduler)
        if workers is not None:
            return max(1, (os.cpu_count() or 1) // workers)
    return None


@contextlib.contextmanager
def connect(address: str, timeout: float = 30.0) -> Iterator[Any]:
    """A ``distributed.Client`` for ``address``; ``local:N`` starts (and afterwards stops) a LocalCluster.

    The local cluster listens on 127.0.0.1 only and runs N worker processes with one task
    thread each.
    """
    distributed = _import_distributed()
    target, workers = parse_scheduler(address)
    cluster = None
    try:
        if workers is not None:
            cluster = local_cluster(workers)
            client = distributed.Client(cluster)
        else:
            try:
                client = distributed.Client(target, timeout=timeout)
            except (OSError, TimeoutError, ValueError) as exc:
                raise InputError(f"cannot reach the Dask scheduler at {target}: {exc}") from None
        try:
            yield client
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


@contextlib.contextmanager
def _client(scheduler: Any) -> Iterator[Any]:
    """Use a given Client as is, or connect to an address for the duration of one call."""
    if isinstance(scheduler, str):
        with connect(scheduler) as client:
            yield client
    else:
        yield scheduler


# --------------------------------------------------------------------------------------------
# what runs on a worker
# --------------------------------------------------------------------------------------------
_LOCK = threading.Lock()
_MODELS: OrderedDict[tuple[str, str], UNet] = OrderedDict()


def _worker_model(path: Path, digest: str) -> UNet:
    """The loaded model, from this worker's small LRU cache of models."""
    key = (str(path), digest)
    with _LOCK:  # a worker with several task threads loads a checkpoint once
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
        model = load_checkpoint(path)
        _MODELS[key] = model
        while len(_MODELS) > MODELS_PER_WORKER:
            _MODELS.popitem(last=False)
        return model


def _same(pair: LoadedPair) -> LoadedPair:
    """A pair held as a task's result, so the scheduler can make it again if its worker dies."""
    return pair


def _set_torch_threads(count: int | None) -> None:
    """Give this worker's torch ``count`` threads (torch reads OMP_NUM_THREADS too early to rely on it)."""
    if count is not None:
        import torch

        if torch.get_num_threads() != count:
            torch.set_num_threads(count)


def sweep_task(item: Checkpoint, pair: LoadedPair, image_hash: str, options: SweepOptions,
               cache_root: str, torch_threads: int | None = None, run: str = "") -> PairOutcome:
    """One (run, checkpoint, pair) on a worker: the in-process unit of work with a per-worker model cache."""
    _set_torch_threads(torch_threads)
    try:
        digest = checkpoint_hash(Path(item.path))
    except OSError as exc:
        return PairOutcome(item.epoch, item.path.name, pair.name, failure=f"{item.path}: {exc}", run=run)
    return evaluate_pair(item, digest, pair, image_hash, options, PredictionCache(cache_root),
                         lambda: _worker_model(Path(item.path), digest), run)


def predict_task(checkpoint: str, image: np.ndarray, options: PredictOptions,
                 torch_threads: int | None = None) -> np.ndarray | str:
    """One image through one checkpoint on a worker: the 8-bit map, or why the input was refused.

    A user error (``InputError``: unreadable checkpoint, fp16 on a CPU worker) comes back as text
    rather than an exception, so it is reported at once instead of retried.
    """
    from ..io import unit_float_to_uint8
    from ..model.inference import predict_steps

    _set_torch_threads(torch_threads)
    path = Path(checkpoint)
    try:
        model = _worker_model(path, checkpoint_hash(path))
        return unit_float_to_uint8(run_steps(predict_steps(model, image, options)))
    except InputError as exc:
        return str(exc)
    except OSError as exc:
        return f"{path}: {exc}"


# --------------------------------------------------------------------------------------------
# the client side
# --------------------------------------------------------------------------------------------
def _describe_error(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "KilledWorker":
        return "lost: its worker died while running it too many times (KilledWorker)"
    text = str(exc).strip().splitlines()
    return f"{name}: {text[0][:200]}" if text else name


def _gather(client: Any, futures: dict[Any, str], progress: Callable[[int, int, str], None] | None,
            on_result: Callable[[Any, Any], None], on_error: Callable[[Any, str], None]) -> None:
    """Wait for ``futures`` as they finish, reporting progress; on any exit cancel what is left."""
    distributed = _import_distributed()
    total, done = len(futures), 0
    try:
        for future in distributed.as_completed(list(futures)):
            if future.status == "finished":
                on_result(future, future.result())
            elif future.status == "cancelled":
                on_error(future, "cancelled")
            else:
                on_error(future, _describe_error(future.exception()))
            done += 1
            if progress is not None:
                progress(done, total, futures[future])
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:  # Ctrl-C or an error here: stop the cluster's work; written entries are complete
            client.cancel(pending)


def _check_counts(retries: int, torch_threads: int | None) -> None:
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InputError(f"retries must be a non-negative integer, got {retries!r}")
    if torch_threads is not None and (isinstance(torch_threads, bool) or not isinstance(torch_threads, int)
                                      or torch_threads < 1):
        raise InputError(f"torch threads per worker must be a positive integer, got {torch_threads!r}")


def run_sweep(
    scheduler: Any,
    runs: object,
    pairs: Sequence[Pair | LoadedPair],
    options: SweepOptions | None = None,
    cache: PredictionCache | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    retries: int = 2,
    torch_threads: int | None = None,
    previous: SweepResult | None = None,
) -> SweepResult:
    """:func:`core.sweep.sweep_steps` on a Dask cluster: one task per (run, checkpoint, pair), same table.

    ``scheduler``: a ``distributed.Client``, ``"local:N"`` or a scheduler address. ``options``: what
    to compute, as in :func:`core.sweep.sweep_steps`. ``progress`` is called as tasks finish, in
    completion order. Tasks that fail after ``retries`` retries, or whose worker keeps dying, are
    listed in ``result.failures``; the others still count.
    ``torch_threads``: torch threads per task (default :func:`default_torch_threads`).
    ``previous``: as in :func:`core.sweep.sweep_steps`, its units are not sent again.
    """
    _check_counts(retries, torch_threads)
    torch_threads = torch_threads or default_torch_threads(scheduler)
    prepared = prepare_sweep(runs, pairs, options)
    options = prepared.options
    cache = cache or PredictionCache()
    cache_root = str(Path(cache.root).absolute())
    result = new_result(prepared)
    several = len(prepared.runs) > 1
    with _client(scheduler) as client:
        # each pair travels once to the scheduler and once per worker; as a task (not scattered
        # data) it is recomputed from the scheduler's copy if the worker holding it dies
        scattered = [client.submit(_same, pair, pure=False, key=f"graintrace-pair-{h[:16]}-{os.urandom(4).hex()}")
                     for pair, h in zip(prepared.pairs, prepared.image_hashes, strict=True)]
        futures: dict[Any, str] = {}
        for order, (run, item) in enumerate(prepared.units()):
            checkpoint_hash = _reuse_hash(previous, item)
            for pair, remote, image_hash in zip(prepared.pairs, scattered, prepared.image_hashes, strict=True):
                key = (run.name, item.epoch, pair.name)
                if checkpoint_hash and reusable(previous, options, key, cache.path(
                        checkpoint_hash, image_hash, options.resolution, options.precision)):
                    add_outcome(result, previous.outcome(key))
                    continue
                future = client.submit(sweep_task, item, remote, image_hash, options, cache_root, torch_threads,
                                       run.name, retries=retries, pure=False, priority=-order,
                                       key=f"graintrace-sweep-{item.epoch}-{pair.name}-{os.urandom(4).hex()}")
                futures[future] = f"{run.name}: " * several + f"epoch {item.epoch} / {pair.name}"

        failures: dict[str, None] = {}  # ordered set: one line per bad checkpoint, not per image

        def on_result(_future: Any, outcome: PairOutcome) -> None:
            if outcome.failure:
                failures[outcome.failure] = None
            else:
                add_outcome(result, outcome)

        def on_error(future: Any, message: str) -> None:
            failures[f"{futures[future]}: {message}"] = None

        _gather(client, futures, progress, on_result, on_error)
    result.failures.extend(failures)
    return result


def _reuse_hash(previous: SweepResult | None, item: Checkpoint) -> str:
    """The checkpoint's content hash when a previous result might hold its units, else '' (not read)."""
    if previous is None:
        return ""
    try:
        return checkpoint_hash(item.path)
    except OSError:
        return ""


@dataclass(frozen=True)
class PredictOutcome:
    """One image's map (uint8) or why it failed."""

    index: int
    image: np.ndarray | None
    failure: str = ""


def predict_many(
    scheduler: Any,
    checkpoint: str | os.PathLike,
    images: Sequence[np.ndarray],
    options: PredictOptions,
    progress: Callable[[int, int, str], None] | None = None,
    on_done: Callable[[PredictOutcome], None] | None = None,
    names: Sequence[str] | None = None,
    retries: int = 2,
    torch_threads: int | None = None,
) -> list[PredictOutcome]:
    """Run ``inference.predict_steps(model, image, options)`` for every image as one task each; 8-bit maps back.

    ``on_done`` sees each outcome as it arrives (the CLI writes the file then), so a cancelled
    run keeps what was finished.
    """
    _check_counts(retries, torch_threads)
    torch_threads = torch_threads or default_torch_threads(scheduler)
    path = str(Path(checkpoint).absolute())
    names = list(names) if names is not None else [f"image {i + 1}" for i in range(len(images))]
    outcomes: list[PredictOutcome] = []
    with _client(scheduler) as client:
        futures: dict[Any, str] = {}
        index_of: dict[Any, int] = {}
        for index, image in enumerate(images):
            future = client.submit(predict_task, path, image, options, torch_threads, retries=retries,
                                   pure=False)
            futures[future], index_of[future] = names[index], index

        def record(outcome: PredictOutcome) -> None:
            outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome)

        def on_result(future: Any, value: np.ndarray | str) -> None:
            if isinstance(value, str):
                record(PredictOutcome(index_of[future], None, value))
            else:
                record(PredictOutcome(index_of[future], value))

        _gather(client, futures, progress, on_result,
                lambda future, message: record(PredictOutcome(index_of[future], None, message)))
    return sorted(outcomes, key=lambda o: o.index)
