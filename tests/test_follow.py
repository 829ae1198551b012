"""``sweep --follow``: checkpoints scored as a training beside it writes them; complete files and tables only."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from synthetic import tiny_dataset, tiny_series

from napari_graintrace.cli import main
from napari_graintrace.core.cache import PredictionCache
from napari_graintrace.core.model import find_checkpoints, run_status
from napari_graintrace.core.options import SweepOptions
from napari_graintrace.core.sweep import Pair, follow_steps

SRC = Path(__file__).resolve().parents[1] / "src"
OPTIONS = SweepOptions(resolution=32, sigmas=(3.0,), kernels=(3,))


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "napari_graintrace", *map(str, args)]


def _with_default_sigint(command: list[str]) -> list[str]:
    """``command`` (a ``python -m`` line) run with SIGINT raising KeyboardInterrupt, whatever the parent ignores."""
    python, _, module, *args = command
    start = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
             f"sys.argv = [{module!r}, *sys.argv[1:]]; runpy.run_module({module!r}, run_name='__main__')")
    return [python, "-c", start, *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "OMP_NUM_THREADS": "1"}


def _epochs_in(path: Path) -> dict[int, int]:
    """Rows per epoch of a sweep CSV."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    counts: dict[int, int] = {}
    for row in rows:
        counts[int(row["epoch"])] = counts.get(int(row["epoch"]), 0) + 1
    return counts


def test_follow_takes_only_settled_files_and_ends_when_the_run_has_finished(tmp_path):
    """A checkpoint still being written (changing between looks) is not read; the finished marker ends it."""
    source = tiny_series(tmp_path / "source", [0, 1, 2], base_width=2)
    data = tiny_dataset(tmp_path / "data", count=1)
    pair = Pair(data / "image" / "crop_0.png", data / "label" / "crop_0.png")
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(source / "tiny_0.pth", run / "tiny_0.pth")
    whole = (source / "tiny_1.pth").read_bytes()
    script = [  # what the "trainer" does during each wait of the follower
        lambda: (run / "tiny_1.pth").write_bytes(whole[: len(whole) // 3]),  # written in place, slowly
        lambda: (run / "tiny_1.pth").write_bytes(whole[: 2 * len(whole) // 3]),
        lambda: (run / "tiny_1.pth").write_bytes(whole),
        lambda: None,
        lambda: (shutil.copy(source / "tiny_2.pth", run / "tiny_2.pth"), run_status.mark_finished(run, "tiny", 2)),
    ]
    waits, now = [], [0.0]

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds
        script[len(waits) - 1]()

    steps = [(step, list(waits)) for step in follow_steps([run], [pair], OPTIONS, PredictionCache(tmp_path / "cache"),
                                                           idle=100, poll=0.5, clock=lambda: now[0], sleep=sleep)]
    scored = [(step.scored, len(waits_at)) for step, waits_at in steps if step.scored is not None]
    assert scored == [(("run", 0), 1), (("run", 1), 4), (("run", 2), 5)]  # tiny_1 once unchanged for a poll
    assert not steps[-1][0].result.failures  # the partial file was never loaded
    assert len(waits) == 5  # and it ended at the marker, not after 100 s


def test_follow_ends_after_idle_seconds_without_a_new_checkpoint(tmp_path):
    run = tiny_series(tmp_path / "run", [0], base_width=2)
    data = tiny_dataset(tmp_path / "data", count=1)
    pair = Pair(data / "image" / "crop_0.png", data / "label" / "crop_0.png")
    now = [0.0]
    steps = follow_steps([run], [pair], OPTIONS, PredictionCache(tmp_path / "cache"), idle=10, poll=1,
                         clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    result = None
    while True:
        try:
            next(steps)
        except StopIteration as end:
            result = end.value
            break
    assert result.epochs_of("run") == [0] and now[0] == pytest.approx(1 + 10)  # taken after a poll, then 10 s idle


def test_sweep_follow_beside_a_running_training_scores_every_epoch(tmp_path):
    """The issue's check: started beside a training, it scores every epoch written, also those after it started."""
    data = tiny_dataset(tmp_path / "data", count=12, size=64)
    run = tmp_path / "run"
    training = subprocess.Popen(_cli("train", data, "-o", run, "--epochs", 10, "--width", 4, "--size", "native",
                                     "--device", "cpu", "--name", "live"), env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (run / "live_0.pth").exists():  # the training is running: one epoch is there before we start
            assert training.poll() is None and time.monotonic() < deadline, training.stderr.read()
            time.sleep(0.05)
        table = tmp_path / "live.csv"
        seen: list[dict[int, int]] = []
        watching = threading.Event()

        def watch() -> None:  # read the CSV as it grows: it is complete whenever it exists
            while not watching.is_set():
                if table.exists():
                    seen.append(_epochs_in(table))
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        started = time.time()
        try:
            code = main([str(arg) for arg in (
                "sweep", f"live={run}", "--image", data / "image" / "crop_0.png", "--trace",
                data / "label" / "crop_0.png", "-o", table, "--plot", tmp_path / "live.png",
                "--resolution", "64", "--follow", "--idle", "120", "--cache", tmp_path / "cache")])
        finally:
            watching.set()
            watcher.join()
        assert code == 0
        assert training.wait(timeout=120) == 0
    finally:
        if training.poll() is None:
            training.kill()
        training.communicate()
    written = find_checkpoints(run)
    assert [c.epoch for c in written] == list(range(10))
    after = [c for c in written if c.path.stat().st_mtime > started]
    assert after, "every epoch was written before the sweep started: the test did not test following"
    final = _epochs_in(table)
    assert sorted(final) == list(range(10))  # every epoch written, before and after the sweep started
    assert len(set(final.values())) == 1  # each epoch whole
    rows_per_epoch = next(iter(final.values()))
    assert seen and all(set(counts.values()) == {rows_per_epoch} for counts in seen)  # no half epoch ever
    assert len({tuple(sorted(counts)) for counts in seen}) > 1  # and it grew while we watched
    assert (tmp_path / "live.png").stat().st_size > 0


def test_ctrl_c_leaves_a_complete_table(tmp_path):
    data = tiny_dataset(tmp_path / "data", count=1)
    run = tiny_series(tmp_path / "run", [0, 1], base_width=2)  # no finished marker: it would wait
    table = tmp_path / "out.csv"
    # Started as from a terminal, with Ctrl-C at its default: a parent started in the background (``make
    # test &``, some CI runners) ignores SIGINT, and a child inherits that, so the signal would not arrive.
    follower = subprocess.Popen(_with_default_sigint(_cli("sweep", run, "--image", data / "image" / "crop_0.png", "--trace",
                                     data / "label" / "crop_0.png", "-o", table, "--resolution", "32", "--follow",
                                     "--cache", tmp_path / "cache")),
                                env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (table.exists() and sorted(_epochs_in(table)) == [0, 1]):
            assert follower.poll() is None and time.monotonic() < deadline, follower.communicate()
            time.sleep(0.05)
        follower.send_signal(signal.SIGINT)
        _, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert follower.returncode == 130
    assert "interrupted" in err and err.strip().count("\n") <= 1
    counts = _epochs_in(table)
    assert sorted(counts) == [0, 1] and len(set(counts.values())) == 1
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_follow_bad_input_exits_2(tmp_path, capsys):
    data = tiny_dataset(tmp_path / "data", count=1)
    pair = ["--image", str(data / "image" / "crop_0.png"), "--trace", str(data / "label" / "crop_0.png")]
    for extra in (["--idle", "0"], ["--scheduler", "local:1"], ["--boundary-ods"]):
        assert main(["sweep", str(tmp_path / "run"), *pair, "-o", str(tmp_path / "o.csv"), "--follow", *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("graintrace sweep: error:") and err.count("\n") == 1
    assert not (tmp_path / "o.csv").exists()
