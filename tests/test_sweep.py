"""Loss-vs-epoch sweeps: the table, the cache, resuming, live re-scoring, the CLI."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from synthetic import tiny_series

from napari_graintrace.cli import main
from napari_graintrace.core import InputError, scores, sweep
from napari_graintrace.core.checkpoints import find_checkpoints
from napari_graintrace.core.evaluation import resize_trace

EPOCHS = (0, 2, 10)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """A tiny random series: same architecture, base width 4, three 'epochs'."""
    folder = tiny_series(tmp_path_factory.mktemp("series"), EPOCHS)
    (folder / "notes.txt").write_text("ignored")
    return folder


@pytest.fixture
def pairs(nist_micrograph_path, nist_trace_path):
    return [sweep.Pair(nist_micrograph_path, nist_trace_path)]


def test_table_values_equal_core_scores(series, pairs, tmp_path):
    from napari_graintrace.core.checkpoints import load_checkpoint
    from napari_graintrace.core.inference import predict
    from napari_graintrace.core.io import read_micrograph, read_trace

    result = sweep.run_sweep(series, pairs, resolution=64, sigmas=(1.0, 3.0), kernels=(3,),
                             cache=sweep.PredictionCache(tmp_path / "cache"))
    assert result.epochs == list(EPOCHS) and result.failures == []
    assert len(result.rows) == len(EPOCHS) * (1 + 1 + 2 * 2 + 1 + 3)  # ... + boundary_f + BCE in 3 parts
    pred = predict(load_checkpoint(series / "tiny_10.pth"), read_micrograph(pairs[0].image), resolution=64,
                   precision="fp32")
    trace = resize_trace(read_trace(pairs[0].trace)[0], (64, 64))
    got = {(r["metric"], r["parameters"]): r["value"] for r in result.rows if r["epoch"] == 10}
    assert got[("bce", "")] == pytest.approx(scores.bce(pred, trace), abs=1e-6)
    assert got[("gaussian", "sigma=3 window=15")] == pytest.approx(scores.gaussian_loss(pred, trace, 3.0), abs=1e-6)
    assert got[("tolerant_f", "sigma=1 window=15")] == pytest.approx(scores.tolerant_prf(pred, trace, 1.0)[2],
                                                                    abs=1e-6)

    rows = list(csv.DictReader(io.StringIO(result.to_csv())))
    assert list(rows[0]) == list(sweep.CSV_FIELDS) and len(rows) == len(result.rows)


def test_cache_means_no_inference_and_same_values(series, pairs, tmp_path, monkeypatch):
    cache = sweep.PredictionCache(tmp_path / "cache")
    first = sweep.run_sweep(series, pairs, resolution=64, cache=cache)
    from napari_graintrace.core import inference

    def no_inference(*args, **kwargs):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(inference, "predict", no_inference)
    again = sweep.run_sweep(series, pairs, resolution=64, sigmas=(2.0,), kernels=(5,), cache=cache)
    fresh_scores = {(r["epoch"], r["metric"]): r["value"] for r in first.rows if r["metric"] == "bce"}
    assert {(r["epoch"], r["metric"]): r["value"] for r in again.rows if r["metric"] == "bce"} == fresh_scores


def test_live_gaussian_curve_equals_a_fresh_sweep(series, pairs, tmp_path):
    cache = sweep.PredictionCache(tmp_path / "cache")
    result = sweep.run_sweep(series, pairs, resolution=64, sigmas=(3.0,), cache=cache)
    rescored = sweep.run_sweep(series, pairs, resolution=64, sigmas=(1.7,), cache=cache)
    epochs, curve = result.gaussian_curve(1.7)
    assert epochs == list(EPOCHS)
    np.testing.assert_allclose(curve, rescored.values("gaussian", "sigma=1.7 window=15")[1], atol=1e-12)
    rescored = sweep.run_sweep(series, pairs, resolution=64, kernels=(7,), cache=cache)
    np.testing.assert_allclose(result.tophat_curve(7)[1], rescored.values("tophat", "kernel=7")[1], atol=1e-12)


def test_interrupt_and_resume_gives_the_same_table(series, pairs, tmp_path):
    cache = sweep.PredictionCache(tmp_path / "cache")
    steps = sweep.sweep_steps(series, pairs, resolution=64, cache=cache)
    assert next(steps) == (1, 3, "epoch 0 / steel_micrograph")
    steps.close()  # interrupted after the first prediction
    assert len(list(cache.root.rglob("*.npy"))) == 1
    resumed = sweep.run_sweep(series, pairs, resolution=64, cache=cache)
    uninterrupted = sweep.run_sweep(series, pairs, resolution=64, cache=sweep.PredictionCache(tmp_path / "other"))
    assert resumed.to_csv() == uninterrupted.to_csv()


def test_bad_checkpoint_is_reported_and_skipped(series, pairs, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for path in series.glob("*.pth"):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "tiny_5.pth").write_bytes(b"truncated")
    result = sweep.run_sweep(folder, pairs, resolution=64, cache=sweep.PredictionCache(tmp_path / "cache"))
    assert result.epochs == list(EPOCHS)
    assert len(result.failures) == 1 and "tiny_5.pth" in result.failures[0]


def test_bad_input(tmp_path, pairs, series, nist_micrograph_path, al_film_trace_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no NAME_EPOCH.pth"):
        sweep.run_sweep(tmp_path / "empty", pairs)
    with pytest.raises(InputError, match="is \\(600, 800\\) but its tracing"):
        sweep.run_sweep(series, [sweep.Pair(nist_micrograph_path, al_film_trace_path)])


def test_cli_sweep_writes_csv_and_plot(series, nist_micrograph_path, nist_trace_path, tmp_path, capsys):
    out, plot = tmp_path / "sweep.csv", tmp_path / "sweep.png"
    argv = ["sweep", str(series), "--image", str(nist_micrograph_path), "--trace", str(nist_trace_path),
            "-o", str(out), "--plot", str(plot), "--resolution", "64", "--cache", str(tmp_path / "cache")]
    assert main(argv) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {int(r["epoch"]) for r in rows} == set(EPOCHS)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(argv) == 2 and "already exists" in capsys.readouterr().err
    mismatched = [*argv[:4], "--trace", str(nist_trace_path), "--trace", str(nist_trace_path), "-o",
                  str(tmp_path / "x.csv")]
    assert main(mismatched) == 2 and "give one tracing per image" in capsys.readouterr().err


def test_find_checkpoints_is_what_the_sweep_uses(series):
    assert [c.epoch for c in find_checkpoints(series)] == list(EPOCHS)
