"""What a killed run leaves behind is cleared by the next run; damaged cache entries are recomputed.

kill -9 gives a writer no chance to clean up: its hidden temporary file (``.NAME.HOST-PID.XXXX.tmp.png``,
a cache ``.tmp.npy``, an ``.aligned.*.tmp/`` folder) stays. The next run writing the same output
removes those whose writer is gone (or, for names without a writer, that are older than an hour),
and never one a live writer is still filling.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from synthetic import tiny_series

from napari_graintrace.cli import main
from napari_graintrace.core import io, sweep
from napari_graintrace.core.cache import PredictionCache
from napari_graintrace.core.errors import InputError
from napari_graintrace.core.model import UNet, predict
from napari_graintrace.core.options import SweepOptions
from napari_graintrace.core.steps import run_steps

SRC = str(Path(io.__file__).parents[2])


def _killed_writer(target: Path, folder: bool = False, overwrite: bool = False) -> list[Path]:
    """Start a real writer of ``target`` in a child process and kill -9 it mid-write; return its leftovers."""
    body = (
        "import os, signal\n"
        "from pathlib import Path\n"
        "from napari_graintrace.core import io\n"
        "from napari_graintrace.core.data import dataset\n"
        f"target = Path({str(target)!r})\n"
        + ("with dataset._folder_into_place(target, False) as tmp:\n"
           "    (tmp / 'half.png').write_bytes(b'half')\n"
           "    os.kill(os.getpid(), signal.SIGKILL)\n"
           if folder else
           f"with io.atomic_path(target, overwrite={overwrite}) as tmp:\n"
           "    tmp.write_bytes(b'half a file')\n"
           "    os.kill(os.getpid(), signal.SIGKILL)\n")
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", body], env=env, timeout=120, check=False)
    assert done.returncode == -signal.SIGKILL
    return sorted(p for p in target.parent.iterdir() if p.name.startswith(f".{target.name.split('.')[0]}."))


def test_a_killed_write_is_cleared_by_the_next_write(tmp_path):
    target = tmp_path / "out" / "map.png"
    leftovers = _killed_writer(target)
    assert len(leftovers) == 1 and leftovers[0].name.endswith(".tmp.png") and not target.exists()
    io.write_image(target, np.zeros((4, 4), np.uint8))
    assert sorted(p.name for p in target.parent.iterdir()) == ["map.png"]


def test_a_killed_crop_folder_is_cleared_by_the_next_crop(tmp_path):
    final = tmp_path / "root" / "steel_validation" / "aligned"
    leftovers = _killed_writer(final, folder=True)
    assert len(leftovers) == 1 and leftovers[0].is_dir() and leftovers[0].name.endswith(".tmp")
    image = np.random.default_rng(0).integers(0, 255, (32, 32), dtype=np.uint8)
    trace = np.zeros((32, 32), np.uint8)
    trace[:, 10] = 255
    for name, array in (("i.png", image), ("t.png", trace)):
        Image.fromarray(array).save(tmp_path / name)
    (tmp_path / "boxes.json").write_text('{"boxes": [{"index": 1, "top": 0, "left": 0, "bottom": 16, "right": 16}]}')
    assert main(["crop", "--boxes", str(tmp_path / "boxes.json"), "--images", str(tmp_path / "i.png"),
                 "--trace", str(tmp_path / "t.png"), "--name", "steel", "--out", str(tmp_path / "root")]) == 0
    assert sorted(p.name for p in final.parent.iterdir()) == ["aligned"]


def test_only_stale_leftovers_are_removed(tmp_path):
    target = tmp_path / "curve.csv"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tag = io.temp_prefix(target).split(".")[2].split("-")[0]  # this machine's tag
    mine = tmp_path / f".curve.{tag}-{os.getpid()}.abc123.tmp.csv"  # a live writer (this process)
    gone = tmp_path / f".curve.{tag}-{dead.pid}.abc123.tmp.csv"  # its writer has exited
    old_style = tmp_path / ".curve.k2j4h5g6.tmp.csv"  # no writer in the name: judged by age
    fresh_style = tmp_path / ".curve.z9y8x7w6.tmp.csv"
    other_host = tmp_path / f".curve.{'0' * 6 if tag != '0' * 6 else '1' * 6}-1.abc.tmp.csv"
    unrelated = tmp_path / ".curves.k2j4h5g6.tmp.csv"  # another output's
    for path in (mine, gone, old_style, fresh_style, other_host, unrelated):
        path.write_text("x")
    hour_ago = time.time() - 2 * io.STALE_AFTER_S
    os.utime(old_style, (hour_ago, hour_ago))
    os.utime(unrelated, (hour_ago, hour_ago))
    removed = io.clear_stale_temps(target, ".tmp.csv")
    assert sorted(removed) == sorted([gone, old_style])
    assert all(p.exists() for p in (mine, fresh_style, other_host, unrelated))


def test_a_killed_cache_entry_is_cleared_and_damaged_entries_are_recomputed(tmp_path, nist_micrograph_path,
                                                                            nist_trace_path):
    series = tiny_series(tmp_path / "series", [0])
    cache = PredictionCache(tmp_path / "cache")
    pairs = [sweep.Pair(nist_micrograph_path, nist_trace_path)]
    first = run_steps(sweep.sweep_steps(series, pairs, SweepOptions(resolution=32), cache=cache))
    (entry,) = first.predictions.values()  # one checkpoint, one image
    good = np.load(entry)
    assert good.shape == (600, 800)  # kept on the micrograph's grid, whatever the network saw
    # a killed store left a temporary file beside the entry; the entry itself is damaged
    leftovers = _killed_writer(entry, overwrite=True)  # the cache replaces entries
    assert any(p.name.endswith(".tmp.npy") for p in leftovers)
    for damaged in (np.zeros((16, 16), np.float32), np.full((600, 800), np.nan, np.float32)):
        entry.unlink()
        np.save(entry, damaged)
        again = run_steps(sweep.sweep_steps(series, pairs, SweepOptions(resolution=32), cache=cache))
        assert np.array_equal(np.load(entry), good)  # recomputed, not used
        assert {(r["metric"], r["parameters"]): r["value"] for r in again.rows} == \
            {(r["metric"], r["parameters"]): r["value"] for r in first.rows}
    assert sorted(p.name for p in entry.parent.iterdir()) == [entry.name]


def test_a_network_that_outputs_nan_is_an_error_not_a_black_map():
    model = UNet(base_width=2)
    with torch.no_grad():  # a diverged run: load_checkpoint refuses such files, a script might not
        next(iter(model.parameters())).fill_(float("nan"))
    with pytest.raises(InputError, match="NaN"):
        predict(model, np.zeros((32, 32), np.float32), resolution=None, precision="fp32")
