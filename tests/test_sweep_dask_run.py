"""Scale-out: sweeps and prediction on a real Dask LocalCluster, and 2-process DDP training (gloo, CPU)."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_graintrace.cli import main
from napari_graintrace.core import InputError, sweep
from napari_graintrace.core.cache import PredictionCache
from napari_graintrace.core.io import read_image, read_micrograph, read_trace
from napari_graintrace.core.model import checkpoints
from napari_graintrace.data import DEMO_CHECKPOINTS, NIST_MICROGRAPH, NIST_TRACE

distributed = pytest.importorskip("distributed")  # the [dask] extra; `make test` installs it
from synthetic import tiny_dataset

from napari_graintrace.core.options import SweepOptions
from napari_graintrace.core.steps import run_steps
from napari_graintrace.core.sweep import dask_run as dist_sweep

RESOLUTION = 64
WORKERS = 2
WORKER_THREADS = max(1, (os.cpu_count() or 1) // WORKERS)  # what connect("local:2") gives each worker's torch


@contextlib.contextmanager
def torch_threads(count: int):
    """The in-process reference computes with the workers' thread count: oneDNN sums depend on it."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def client():
    """One real 2-process LocalCluster on 127.0.0.1 for the module; always shut down."""
    with dist_sweep.connect(f"local:{WORKERS}") as client:
        yield client


@pytest.fixture(scope="module")
def pairs():
    """The bundled NIST pair from its files, and a mirrored copy in memory: two images per checkpoint."""
    image, trace = read_micrograph(NIST_MICROGRAPH), read_trace(NIST_TRACE)[0]
    return [sweep.Pair(NIST_MICROGRAPH, NIST_TRACE),
            sweep.LoadedPair("mirrored", np.ascontiguousarray(image[:, ::-1]), np.ascontiguousarray(trace[:, ::-1]))]


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """The shipped demo series plus a damaged file, which both paths must report once and skip."""
    folder = tmp_path_factory.mktemp("series")
    for item in checkpoints.find_checkpoints(DEMO_CHECKPOINTS):
        (folder / item.path.name).write_bytes(item.path.read_bytes())
    (folder / "demo_5.pth").write_bytes(b"truncated")
    return folder


@pytest.fixture(scope="module")
def reference(series, pairs, tmp_path_factory):
    with torch_threads(WORKER_THREADS):
        cache = PredictionCache(tmp_path_factory.mktemp("reference-cache"))
        return run_steps(sweep.sweep_steps(series, pairs, SweepOptions(resolution=RESOLUTION), cache=cache))


def _complete_entries(cache_root: Path) -> list[Path]:
    entries = [p for p in cache_root.rglob("*.npy") if not p.name.startswith(".")]
    for entry in entries:
        assert np.load(entry, allow_pickle=False).dtype == np.float32  # every visible entry is whole
    return entries


def test_dask_sweep_equals_the_single_process_table_exactly(client, series, pairs, reference, tmp_path):
    seen = []
    result = dist_sweep.run_sweep(client, series, pairs, options=SweepOptions(resolution=RESOLUTION),
                                  torch_threads=WORKER_THREADS,
                                  cache=PredictionCache(tmp_path / "cache"),
                                  progress=lambda done, total, what: seen.append((done, total)))
    assert result.to_csv() == reference.to_csv()
    assert result.failures == reference.failures and len(result.failures) == 1 and "demo_5.pth" in result.failures[0]
    assert seen == [(i, 8 * 2) for i in range(1, 17)]  # every task reported as it finished
    assert set(result.summaries) == set(reference.summaries)
    for key, summary in reference.summaries.items():
        np.testing.assert_array_equal(result.summaries[key].gaussian_mass, summary.gaussian_mass)
    # the workers filled the cache: the same sweep in-process now only reads it
    assert len(_complete_entries(tmp_path / "cache")) == 7 * 2
    again = run_steps(sweep.sweep_steps(series, pairs, SweepOptions(resolution=RESOLUTION),
                                        cache=PredictionCache(tmp_path / "cache")))
    assert again.to_csv() == reference.to_csv()


def test_dask_sweep_over_two_runs_equals_the_single_process_table(client, series, pairs, tmp_path):
    """Runs travel as (run, checkpoint, pair) tasks; a run added to a finished sweep is the only work sent."""
    runs = {"damaged": series, "demo": DEMO_CHECKPOINTS}
    with torch_threads(WORKER_THREADS):
        local = run_steps(sweep.sweep_steps(runs, pairs, SweepOptions(resolution=RESOLUTION),
                                            cache=PredictionCache(tmp_path / "local")))
    cache = PredictionCache(tmp_path / "cache")
    first = dist_sweep.run_sweep(client, {"damaged": series}, pairs,
                                 options=SweepOptions(resolution=RESOLUTION), torch_threads=WORKER_THREADS,
                                 cache=cache)
    sent = []
    both = dist_sweep.run_sweep(client, runs, pairs, options=SweepOptions(resolution=RESOLUTION),
                                torch_threads=WORKER_THREADS, cache=cache, previous=first,
                                progress=lambda done, total, what: sent.append(what))
    assert both.to_csv() == local.to_csv() and both.runs == ["damaged", "demo"]
    # sent again: the new run's 7 x 2 units, and the damaged file's 2 (a failure is tried again), nothing else
    assert sorted(sent) == sorted([f"demo: epoch {item.epoch} / {pair.name}" for item in
                                   checkpoints.find_checkpoints(DEMO_CHECKPOINTS) for pair in pairs]
                                  + [f"damaged: epoch 5 / {pair.name}" for pair in pairs])
    assert len(_complete_entries(tmp_path / "cache")) == 7 * 2  # the two runs share their 7 files' entries


def test_workers_load_each_checkpoint_once(client, pairs, tmp_path):
    from napari_graintrace.core import cache
    from napari_graintrace.core.sweep import dask_run as module

    def loads() -> int:
        return cache._hash_of_version.cache_info().currsize

    client.run(lambda: module._MODELS.clear() or cache._hash_of_version.cache_clear())
    dist_sweep.run_sweep(client, DEMO_CHECKPOINTS, pairs, options=SweepOptions(resolution=RESOLUTION),
                         cache=PredictionCache(tmp_path / "cache"))
    per_worker = client.run(loads)
    # each of the 7 files is hashed (read) at most once per worker, although 14 tasks ran
    assert all(count <= 7 for count in per_worker.values()) and sum(per_worker.values()) >= 7


def test_cli_sweep_and_predict_with_scheduler(tmp_path, capsys):
    """The commands connect to a running scheduler by address; the CSV equals the in-process one."""
    cluster = dist_sweep.local_cluster(1)
    try:
        base = ["sweep", str(DEMO_CHECKPOINTS), "--image", str(NIST_MICROGRAPH), "--trace", str(NIST_TRACE),
                "--resolution", str(RESOLUTION), "--kernel", "3"]
        assert main([*base, "-o", str(tmp_path / "local.csv"), "--cache", str(tmp_path / "c1")]) == 0
        assert main([*base, "-o", str(tmp_path / "dask.csv"), "--cache", str(tmp_path / "c2"),
                     "--scheduler", cluster.scheduler_address]) == 0
        local, remote = (list(csv.DictReader(io.StringIO((tmp_path / n).read_text()))) for n in ("local.csv",
                                                                                                   "dask.csv"))
        assert [r["epoch"] for r in remote] == [r["epoch"] for r in local] and len(remote) == len(local)
        assert len({r["epoch"] for r in remote}) == 7 and {r["run"] for r in remote} == {DEMO_CHECKPOINTS.name}
        np.testing.assert_allclose([float(r["value"]) for r in remote], [float(r["value"]) for r in local],
                                   rtol=0, atol=1e-6)  # another torch thread count: float rounding only

        out = tmp_path / "maps"
        model = str(DEMO_CHECKPOINTS / "demo_59.pth")
        assert main(["predict", model, str(NIST_MICROGRAPH), "-o", str(out / "local"), "--resolution", "64",
                     "--precision", "fp32"]) == 0
        assert main(["predict", model, str(NIST_MICROGRAPH), "-o", str(out / "dask"), "--resolution", "64",
                     "--precision", "fp32", "--scheduler", cluster.scheduler_address]) == 0
        here, there = (read_image(out / d / "predict_steel_micrograph.png").astype(int) for d in ("local", "dask"))
        assert there.shape == (600, 800) and np.abs(here - there).max() <= 1  # at the micrograph's size
        # a user error on the workers (fp16 on a CPU) is reported per image, not retried
        assert main(["predict", model, str(NIST_MICROGRAPH), "-o", str(out / "fp16"), "--resolution", "64",
                     "--precision", "fp16", "--device", "cpu", "--scheduler", cluster.scheduler_address]) == 1
        assert "fp16 runs on GPUs only" in capsys.readouterr().err
    finally:
        cluster.close()


def test_bad_scheduler_options(tmp_path, capsys):
    for address in ("local:0", "local:two", "tcp://a b"):
        with pytest.raises(InputError, match="--scheduler"):
            dist_sweep.parse_scheduler(address)
    assert dist_sweep.parse_scheduler("local:3") == ("local", 3)
    with pytest.raises(InputError, match="cannot reach the Dask scheduler"), dist_sweep.connect(
            f"tcp://127.0.0.1:{_free_port()}", timeout=0.5):
        pass
    argv = ["sweep", str(DEMO_CHECKPOINTS), "--image", str(NIST_MICROGRAPH), "--trace", str(NIST_TRACE),
            "-o", str(tmp_path / "x.csv"), "--scheduler", "local:0"]
    assert main(argv) == 2 and "local:N needs a positive number" in capsys.readouterr().err


def test_default_path_never_imports_dask(tmp_path):
    code = (
        "import sys\n"
        "import napari_graintrace.core.sweep\n"
        "from napari_graintrace.cli import main\n"
        f"assert main(['sweep', {str(DEMO_CHECKPOINTS)!r}, '--image', {str(NIST_MICROGRAPH)!r}, '--trace', "
        f"{str(NIST_TRACE)!r}, '-o', {str(tmp_path / 'a.csv')!r}, '--resolution', '32', '--cache', "
        f"{str(tmp_path / 'cache')!r}]) == 0\n"
        f"assert main(['predict', {str(DEMO_CHECKPOINTS / 'demo_0.pth')!r}, {str(NIST_MICROGRAPH)!r}, '-o', "
        f"{str(tmp_path / 'maps')!r}, '--resolution', '32']) == 0\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "assert not loaded, loaded\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]


# --------------------------------------------------------------------------------------------
# a worker dies in the middle of a task
# --------------------------------------------------------------------------------------------
def _die_once(marker: str, epoch: int) -> None:
    """Run on each worker: the first task of ``epoch`` (on any worker) SIGKILLs its own process.

    The nanny starts a fresh worker (without this patch); the marker file makes it happen once.
    """
    from napari_graintrace.core.sweep import dask_run as module

    original = module.checkpoint_hash

    def crash(path: Path) -> str:
        if Path(path).name.endswith(f"_{epoch}.pth"):
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return original(path)
            os.kill(os.getpid(), signal.SIGKILL)
        return original(path)

    module.checkpoint_hash = crash


@contextlib.contextmanager
def _crashing_cluster(marker: Path, allowed_failures: int):
    import cloudpickle
    import dask

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import the tests
    try:
        with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}), \
                dist_sweep.connect(f"local:{WORKERS}") as client:
            before = set(client.run(os.getpid).values())
            client.run(_die_once, str(marker), 30)
            yield client, before
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_a_killed_worker_is_replaced_and_its_task_rerun(series, pairs, reference, tmp_path):
    marker = tmp_path / "died"
    with _crashing_cluster(marker, allowed_failures=3) as (client, before):
        result = dist_sweep.run_sweep(client, series, pairs, options=SweepOptions(resolution=RESOLUTION),
                                      torch_threads=WORKER_THREADS,
                                      cache=PredictionCache(tmp_path / "cache"))
        client.wait_for_workers(WORKERS, timeout=60)
        after = set(client.run(os.getpid).values())
    assert marker.exists() and after != before  # a worker really died and the nanny replaced it
    assert result.to_csv() == reference.to_csv() and result.failures == reference.failures
    _complete_entries(tmp_path / "cache")


def test_a_task_lost_with_its_worker_is_reported_and_the_rest_go_on(series, pairs, reference, tmp_path):
    marker = tmp_path / "died"
    with _crashing_cluster(marker, allowed_failures=0) as (client, _):
        result = dist_sweep.run_sweep(client, series, pairs, options=SweepOptions(resolution=RESOLUTION),
                                      torch_threads=WORKER_THREADS,
                                      cache=PredictionCache(tmp_path / "cache"))
    # every task the dead worker held (running or queued there) is lost, the one that killed it included
    lost = [f for f in result.failures if "KilledWorker" in f]
    assert any(f.startswith("epoch 30 / ") for f in lost), result.failures
    got = {(r["epoch"], r["image"], r["metric"], r["parameters"]): r["value"] for r in result.rows}
    want = {(r["epoch"], r["image"], r["metric"], r["parameters"]): r["value"] for r in reference.rows}
    assert got and all(want[key] == value for key, value in got.items())  # the others: exact
    missing = {(e, i) for e, i, _, _ in want} - {(e, i) for e, i, _, _ in got}
    assert {f"epoch {e} / {i}" for e, i in missing} == {f.split(":")[0] for f in lost}


def _raise_on(epoch: int, marker: str | None) -> None:
    """Run on each worker: tasks of ``epoch`` raise (once in all, with a marker file; else always)."""
    from napari_graintrace.core.sweep import dask_run as module

    original = getattr(module, "_original_hash", module.checkpoint_hash)
    module._original_hash = original

    def flaky(path: Path) -> str:
        if Path(path).name.endswith(f"_{epoch}.pth"):
            if marker is None:
                raise RuntimeError("injected failure")
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return original(path)
            raise RuntimeError("injected failure")
        return original(path)

    module.checkpoint_hash = flaky


def _restore() -> None:
    from napari_graintrace.core.sweep import dask_run as module

    module.checkpoint_hash = module.__dict__.pop("_original_hash", module.checkpoint_hash)


def test_a_raising_task_is_retried_then_reported(client, series, pairs, reference, tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        client.run(_raise_on, 30, str(tmp_path / "raised"))
        once = dist_sweep.run_sweep(client, series, pairs, options=SweepOptions(resolution=RESOLUTION),
                                    retries=1, torch_threads=WORKER_THREADS,
                                    cache=PredictionCache(tmp_path / "c1"))
        assert (tmp_path / "raised").exists()
        assert once.to_csv() == reference.to_csv() and once.failures == reference.failures

        client.run(_raise_on, 30, None)
        always = dist_sweep.run_sweep(client, series, pairs, options=SweepOptions(resolution=RESOLUTION),
                                      retries=1, torch_threads=WORKER_THREADS,
                                      cache=PredictionCache(tmp_path / "c2"))
    finally:
        client.run(_restore)
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert sorted(f for f in always.failures if "injected" in f) == [
        "epoch 30 / mirrored: RuntimeError: injected failure",
        "epoch 30 / steel_micrograph: RuntimeError: injected failure",
    ]
    per_task = len(reference.rows) // (7 * 2)  # 7 good checkpoints x 2 images
    assert len(always.rows) == len(reference.rows) - 2 * per_task  # all but epoch 30's two tasks


def test_cancelled_sweep_leaves_only_complete_entries(client, series, pairs, tmp_path):
    def stop(done: int, total: int, what: str) -> None:
        if done >= 3:  # the series has one damaged file (2 failing tasks): 3 done include a prediction
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dist_sweep.run_sweep(client, series, pairs, options=SweepOptions(resolution=128),
                             cache=PredictionCache(tmp_path / "c"), progress=stop)
    entries = _complete_entries(tmp_path / "c")
    assert 1 <= len(entries) <= 14


# --------------------------------------------------------------------------------------------
# DDP training with torchrun (gloo on CPU)
# --------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _parameter_hash(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def test_torchrun_two_process_gloo_training_writes_one_set_of_checkpoints(tmp_path):
    data = tiny_dataset(tmp_path / "data", 6)
    out = tmp_path / "ckpt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--nnodes", "1",
               "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
               "-m", "napari_graintrace.train", str(data), "-o", str(out), "--name", "ddp", "--epochs", "1",
               "--width", "4", "--size", "native", "--batch-size", "2", "--lr", "1e-2", "--device", "cpu"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env, check=False)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    hashes = dict(re.findall(r"rank (\d+) of 2: parameters sha256 ([0-9a-f]{64})", run.stdout))
    assert set(hashes) == {"0", "1"} and hashes["0"] == hashes["1"], run.stdout
    files = sorted(p.name for p in out.iterdir())
    # one set (rank 0 alone writes, the run-status files too), no temp files
    assert files == [".ddp.finished", ".ddp.progress.json", ".ddp.train_state.pth", "ddp_0.pth"], files
    model = checkpoints.load_checkpoint(out / "ddp_0.pth")
    assert model.base_width == 4 and _parameter_hash(model) == hashes["0"]
    assert "gloo" in run.stdout and "2 processes" in run.stdout
