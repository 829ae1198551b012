"""Sweeps with grain metrics (``grains=True`` / ``graintrace sweep --grains``), from cached predictions."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from skimage import filters
from synthetic import tiny_series

from napari_graintrace.cli import main
from napari_graintrace.core import grains, sweep
from napari_graintrace.core.cache import PredictionCache, array_hash, file_hash
from napari_graintrace.core.io import write_image
from napari_graintrace.core.model import find_checkpoints
from napari_graintrace.core.options import SweepOptions
from napari_graintrace.core.steps import run_steps

EPOCHS = (0, 5, 9)
BLUR = {0: 6.0, 5: 3.0, 9: 1.0}  # later epochs are sharper maps of the tracing


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return tiny_series(tmp_path_factory.mktemp("series"), EPOCHS)


@pytest.fixture
def setup(series, nist_trace, tmp_path):
    """A 200 x 240 crop as the pair; every epoch's prediction already in the cache (no inference)."""
    trace = nist_trace[:200, :240]
    image = np.where(trace, 0.2, 0.7).astype(np.float32)
    pair = sweep.LoadedPair("crop", image, trace)
    cache = PredictionCache(tmp_path / "cache")
    preds = {}
    for item in find_checkpoints(series):
        soft = filters.gaussian(trace.astype(float), BLUR[item.epoch])
        preds[item.epoch] = (soft / soft.max()).astype(np.float32)
        entry = cache.path(file_hash(item.path), array_hash(image), None, "fp32")
        cache.store(entry, preds[item.epoch])
    return pair, cache, preds, trace


def no_inference(*args, **kwargs):
    raise AssertionError("the sweep predicted instead of using the cache")


def test_grain_rows_come_from_the_cached_predictions(series, setup, monkeypatch):
    from napari_graintrace.core.model import inference

    pair, cache, preds, trace = setup
    monkeypatch.setattr(inference, "predict", no_inference)
    plain = run_steps(sweep.sweep_steps(series, [pair], SweepOptions(resolution=None), cache=cache))
    assert not {r["metric"] for r in plain.rows} & set(grains.SWEEP_METRICS)
    result = run_steps(sweep.sweep_steps(series, [pair], SweepOptions(resolution=None, grains=True),
                                         cache=cache))
    assert result.grains and result.failures == []
    for epoch in EPOCHS:
        got = {r["metric"]: r["value"] for r in result.rows if r["epoch"] == epoch and r["parameters"] == ""}
        expected = grains.grain_metrics(preds[epoch], trace)
        for metric in grains.SWEEP_METRICS:
            if expected[metric] is None:  # e.g. no interior grain at all in the blurriest map: no KS test
                assert metric not in got
            else:
                assert got[metric] == pytest.approx(expected[metric], rel=1e-12), (epoch, metric)
    assert sum(r["metric"] == "grain_f1" for r in result.rows) == len(EPOCHS)
    best = result.best(sweep.parse_metric("grain_f1"))
    assert next(iter(best.values())).epoch == 9  # the sharpest map keeps the most grains
    assert sweep.parse_metric("vi_merge").lower_is_better and not sweep.parse_metric("grain_f1").lower_is_better
    # a previous sweep without grain rows is not reused for one with them
    again = run_steps(sweep.sweep_steps(series, [pair], SweepOptions(resolution=None, grains=True),
                                        cache=cache, previous=plain))
    assert {r["metric"] for r in again.rows} >= set(grains.SWEEP_METRICS)


def test_cli_sweep_grains_flag(series, setup, tmp_path, capsys, monkeypatch):
    from napari_graintrace.core.model import inference

    pair, cache, _, trace = setup
    monkeypatch.setattr(inference, "predict", no_inference)
    image_path, trace_path = tmp_path / "crop.png", tmp_path / "crop_trace.png"
    write_image(image_path, np.rint(pair.image * 255).astype(np.uint8))
    write_image(trace_path, trace)
    # the files give the same image hash as the in-memory pair only if they read back equal
    from napari_graintrace.core.io import read_micrograph

    image = read_micrograph(image_path)
    for item in find_checkpoints(series):
        soft = filters.gaussian(trace.astype(float), BLUR[item.epoch])
        cache.store(cache.path(file_hash(item.path), array_hash(image), None, "fp32"),
                    (soft / soft.max()).astype(np.float32))
    out = tmp_path / "sweep.csv"
    argv = ["sweep", str(series), "--image", str(image_path), "--trace", str(trace_path), "-o", str(out),
            "--resolution", "native", "--cache", str(cache.root), "--best", "grain_f1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "best grain_f1" in printed and "(tiny_9.pth)" in printed  # --best grain_f1 turned the rows on
    with open(out, newline="") as handle:
        metrics = {row["metric"] for row in csv.DictReader(handle)}
    assert set(grains.SWEEP_METRICS) <= metrics
