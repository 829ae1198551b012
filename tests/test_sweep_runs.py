"""Loss-vs-epoch sweeps: the table, the cache, resuming, live re-scoring, the CLI."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from skimage.transform import resize
from synthetic import tiny_series

from napari_graintrace.cli import main
from napari_graintrace.core import InputError, sweep
from napari_graintrace.core.cache import PredictionCache
from napari_graintrace.core.model import find_checkpoints
from napari_graintrace.core.options import SweepOptions
from napari_graintrace.core.scoring import scores
from napari_graintrace.core.steps import run_steps
from napari_graintrace.core.sweep import execute as execute_module

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
    from napari_graintrace.core.io import read_micrograph, read_trace
    from napari_graintrace.core.model import load_checkpoint, predict

    result = run_steps(sweep.sweep_steps(series, pairs,
                                         SweepOptions(resolution=64, sigmas=(1.0, 3.0), kernels=(3,)),
                                         cache=PredictionCache(tmp_path / "cache")))
    assert result.epochs == list(EPOCHS) and result.failures == []
    assert len(result.rows) == len(EPOCHS) * (1 + 1 + 2 * 2 + 1 + 3)  # ... + boundary_f + BCE in 3 parts
    # the network saw 64 x 64; the scores are on the micrograph's 600 x 800 grid, the tracing untouched
    square = predict(load_checkpoint(series / "tiny_10.pth"), read_micrograph(pairs[0].image), resolution=64,
                     precision="fp32", restore_shape=False)
    assert square.shape == (64, 64)
    trace = read_trace(pairs[0].trace)[0]
    pred = resize(square, trace.shape, order=1, anti_aliasing=False)  # bilinear, pixel centres aligned
    got = {(r["metric"], r["parameters"]): r["value"] for r in result.rows if r["epoch"] == 10}
    assert {r["grid"] for r in result.rows} == {"600x800"}
    assert got[("bce", "")] == pytest.approx(scores.bce(pred, trace), rel=1e-4)
    assert got[("gaussian", "sigma=3 window=15")] == pytest.approx(scores.gaussian_loss(pred, trace, 3.0), rel=1e-3)
    assert got[("tolerant_f", "sigma=1 window=15")] == pytest.approx(scores.tolerant_prf(pred, trace, 1.0)[2],
                                                                    rel=1e-3)

    rows = list(csv.DictReader(io.StringIO(result.to_csv())))
    assert list(rows[0]) == list(sweep.CSV_FIELDS) and len(rows) == len(result.rows)


def test_cache_means_no_inference_and_same_values(series, pairs, tmp_path, monkeypatch):
    cache = PredictionCache(tmp_path / "cache")
    first = run_steps(sweep.sweep_steps(series, pairs, SweepOptions(resolution=64), cache=cache))
    from napari_graintrace.core.model import inference

    def no_inference(*args, **kwargs):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(inference, "predict_steps", no_inference)
    again = run_steps(sweep.sweep_steps(series, pairs,
                                        SweepOptions(resolution=64, sigmas=(2.0,), kernels=(5,)),
                                        cache=cache))
    fresh_scores = {(r["epoch"], r["metric"]): r["value"] for r in first.rows if r["metric"] == "bce"}
    assert {(r["epoch"], r["metric"]): r["value"] for r in again.rows if r["metric"] == "bce"} == fresh_scores


def test_live_gaussian_curve_equals_a_fresh_sweep(series, pairs, tmp_path):
    cache = PredictionCache(tmp_path / "cache")
    result = run_steps(sweep.sweep_steps(series, pairs, SweepOptions(resolution=64, sigmas=(3.0,)),
                                         cache=cache))
    rescored = run_steps(sweep.sweep_steps(series, pairs, SweepOptions(resolution=64, sigmas=(1.7,)),
                                           cache=cache))
    epochs, curve = result.gaussian_curve(1.7)
    assert epochs == list(EPOCHS)
    np.testing.assert_allclose(curve, rescored.values("gaussian", "sigma=1.7 window=15")[1], atol=1e-12)
    rescored = run_steps(sweep.sweep_steps(series, pairs, SweepOptions(resolution=64, kernels=(7,)),
                                           cache=cache))
    np.testing.assert_allclose(result.tophat_curve(7)[1], rescored.values("tophat", "kernel=7")[1], atol=1e-12)


def test_interrupt_and_resume_gives_the_same_table(series, pairs, tmp_path):
    cache = PredictionCache(tmp_path / "cache")
    steps = sweep.sweep_steps(series, pairs, SweepOptions(resolution=64), cache=cache)
    assert next(steps) == (1, 3, "epoch 0 / steel_micrograph")
    steps.close()  # interrupted after the first prediction
    assert len(list(cache.root.rglob("*.npy"))) == 1
    resumed = run_steps(sweep.sweep_steps(series, pairs, SweepOptions(resolution=64), cache=cache))
    uninterrupted = run_steps(sweep.sweep_steps(series, pairs, SweepOptions(resolution=64),
                                                cache=PredictionCache(tmp_path / "other")))
    assert resumed.to_csv() == uninterrupted.to_csv()


def test_bad_checkpoint_is_reported_and_skipped(series, pairs, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for path in series.glob("*.pth"):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "tiny_5.pth").write_bytes(b"truncated")
    result = run_steps(sweep.sweep_steps(folder, pairs, SweepOptions(resolution=64),
                                         cache=PredictionCache(tmp_path / "cache")))
    assert result.epochs == list(EPOCHS)
    assert len(result.failures) == 1 and "tiny_5.pth" in result.failures[0]


def test_bad_input(tmp_path, pairs, series, nist_micrograph_path, al_film_trace_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no NAME_EPOCH.pth"):
        run_steps(sweep.sweep_steps(tmp_path / "empty", pairs))
    with pytest.raises(InputError, match="is \\(600, 800\\) but its tracing"):
        run_steps(sweep.sweep_steps(series, [sweep.Pair(nist_micrograph_path, al_film_trace_path)]))


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


# --------------------------------------------------------------------------------------------
# several runs
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def other_series(tmp_path_factory):
    """A second run: other weights, other epochs, and one file identical to the first run's epoch 2."""
    folder = tiny_series(tmp_path_factory.mktemp("other"), (1, 4), base_width=4)
    return folder


def by_hand(csv_text: str) -> dict[tuple[str, str, str], dict[int, float]]:
    """{(run, metric, parameters): {epoch: mean over images}} straight from the CSV text."""
    sums: dict[tuple[str, str, str], dict[int, list[float]]] = {}
    for row in csv.DictReader(io.StringIO(csv_text)):
        key = (row["run"], row["metric"], row["parameters"])
        sums.setdefault(key, {}).setdefault(int(row["epoch"]), []).append(float(row["value"]))
    return {key: {e: sum(v) / len(v) for e, v in epochs.items()} for key, epochs in sums.items()}


def test_two_runs_give_each_run_its_own_rows(series, other_series, pairs, tmp_path):
    cache = PredictionCache(tmp_path / "cache")
    both = run_steps(sweep.sweep_steps([f"first={series}", other_series], pairs,
                                       SweepOptions(resolution=64, kernels=(3,)), cache=cache))
    assert both.runs == ["first", other_series.name]
    assert both.epochs_of("first") == list(EPOCHS) and both.epochs_of(other_series.name) == [1, 4]
    rows = list(csv.DictReader(io.StringIO(both.to_csv())))
    assert next(iter(rows[0])) == "run" and [r["run"] for r in rows][:1] == ["first"]
    for run, folder in (("first", series), (other_series.name, other_series)):
        alone = run_steps(sweep.sweep_steps(folder, pairs, SweepOptions(resolution=64, kernels=(3,)),
                                            cache=cache))
        mine = [{k: v for k, v in r.items() if k != "run"} for r in both.rows if r["run"] == run]
        assert sorted(mine, key=str) == sorted(({k: v for k, v in r.items() if k != "run"} for r in alone.rows),
                                               key=str)
    with pytest.raises(ValueError, match="say which"):
        both.values("bce")


def test_the_cache_serves_every_run(series, pairs, tmp_path, monkeypatch):
    """The same checkpoint file in two runs is predicted once: the cache is keyed by content."""
    from napari_graintrace.core.model import inference

    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "again_2.pth").write_bytes((series / "tiny_2.pth").read_bytes())
    calls = []
    real = inference.predict_steps
    monkeypatch.setattr(inference, "predict_steps", lambda *a, **k: calls.append(1) or real(*a, **k))
    result = run_steps(sweep.sweep_steps({"a": series, "b": copy}, pairs, SweepOptions(resolution=64),
                                         cache=PredictionCache(tmp_path / "cache")))
    assert len(calls) == len(EPOCHS)  # b's only file was a's epoch 2
    assert result.values("bce", run="b")[1] == [result.values("bce", run="a")[1][EPOCHS.index(2)]]


def test_a_run_added_to_a_finished_sweep_is_the_only_work(series, other_series, pairs, tmp_path, monkeypatch):
    cache = PredictionCache(tmp_path / "cache")
    first = run_steps(sweep.sweep_steps({"a": series}, pairs, SweepOptions(resolution=64), cache=cache))
    evaluated = []
    real = execute_module.evaluate_pair  # sweep_steps looks it up in its module
    monkeypatch.setattr(execute_module, "evaluate_pair", lambda item, *a, **k: evaluated.append(item.epoch) or real(item, *a, **k))
    both = run_steps(sweep.sweep_steps({"a": series, "b": other_series}, pairs, SweepOptions(resolution=64),
                                       cache=cache, previous=first))
    assert evaluated == [1, 4]
    assert [r for r in both.rows if r["run"] == "a"] == first.rows
    fresh = run_steps(sweep.sweep_steps({"a": series, "b": other_series}, pairs, SweepOptions(resolution=64),
                                        cache=PredictionCache(tmp_path / "fresh")))
    assert both.to_csv() == fresh.to_csv()
    evaluated.clear()  # other score parameters: nothing is reused, every row is scored again (no inference)
    run_steps(sweep.sweep_steps({"a": series}, pairs, SweepOptions(resolution=64, sigmas=(2.0,)), cache=cache,
                                previous=first))
    assert evaluated == list(EPOCHS)


def test_best_is_the_best_mean_per_run(series, other_series, nist_micrograph_path, nist_trace_path, tmp_path):
    from napari_graintrace.core.io import read_micrograph, read_trace

    image, trace = read_micrograph(nist_micrograph_path), read_trace(nist_trace_path)[0]
    pairs = [sweep.Pair(nist_micrograph_path, nist_trace_path),
             sweep.LoadedPair("flipped", np.ascontiguousarray(image[::-1]), np.ascontiguousarray(trace[::-1]))]
    result = run_steps(sweep.sweep_steps({"a": series, "b": other_series}, pairs,
                                         SweepOptions(resolution=64, sigmas=(1.0, 3.0), kernels=(3, 5)),
                                         cache=PredictionCache(tmp_path / "cache")))
    table = by_hand(result.to_csv())
    for text, metric, params, lower in (("bce", "bce", "", True), ("gaussian", "gaussian", "sigma=3 window=15", True),
                                        ("gaussian:sigma=1", "gaussian", "sigma=1 window=15", True),
                                        ("tophat:kernel=5", "tophat", "kernel=5", True),
                                        ("tophat", "tophat", "kernel=3", True),
                                        ("tolerant_f", "tolerant_f", "sigma=3 window=15", False),
                                        ("tolerant_f:sigma=1", "tolerant_f", "sigma=1 window=15", False)):
        best = result.best(text)
        for run in ("a", "b"):
            means = table[(run, metric, params)]
            pick = (min if lower else max)(means, key=means.get)
            assert best[run].epoch == pick and best[run].value == pytest.approx(means[pick], abs=1e-12), text
    # a sigma the table lacks comes live from the summaries, equal to a sweep that scored it
    live = result.best("gaussian:sigma=2.5")
    scored = run_steps(sweep.sweep_steps({"a": series, "b": other_series}, pairs,
                                         SweepOptions(resolution=64, sigmas=(2.5,)),
                                         cache=PredictionCache(tmp_path / "cache")))
    assert {r: (b.epoch, round(b.value, 9)) for r, b in live.items()} == \
           {r: (b.epoch, round(b.value, 9)) for r, b in scored.best("gaussian:sigma=2.5").items()}
    with pytest.raises(InputError, match="the sweep has no tolerant_f"):
        result.best("tolerant_f:sigma=2")


@pytest.mark.parametrize(("text", "message"), [
    ("loss", "unknown metric 'loss'"),
    ("gaussian:kernel=3", "'kernel=3' is not a parameter of gaussian"),
    ("bce:sigma=1", "it takes no parameters"),
    ("gaussian:sigma=x", "sigma must be a number"),
    ("tophat:kernel=4", "kernel"),
    ("gaussian:sigma=0", "sigma"),
    ("tophat:kernel=nan", "kernel must be a number"),
    ("gaussian:window=inf", "window must be a number"),
    ("tolerant_f:sigma=-inf", "sigma must be a number"),
    ("tophat:kernel=1e400", "kernel must be a number"),
])
def test_bad_metric_text(text, message):
    with pytest.raises(InputError, match=message):
        sweep.parse_metric(text)


@pytest.mark.parametrize(("text", "kwargs"), [
    ("bce", {}), ("tophat", {}), ("tophat:kernel=5", {"kernel": 5}), ("gaussian", {}),
    ("gaussian:sigma=1.5", {"sigma": 1.5}), ("tolerant_f:sigma=2,window=21", {"sigma": 2.0, "window": 21}),
    ("grain_f1", {}),
])
def test_a_metric_from_numbers_is_the_metric_from_text(text, kwargs):
    """The sweep widget builds its table's metrics from its slider's numbers; --best from text."""
    metric = text.partition(":")[0]
    assert sweep.metric_choice(metric, **kwargs) == sweep.parse_metric(text)


@pytest.mark.parametrize(("text", "message"), [("tophat:kernel=3.5", "kernel must be an odd integer"),
                                               ("gaussian:window=14.5", "window must be an odd integer")])
def test_a_fractional_kernel_or_window_is_refused(text, message):
    with pytest.raises(InputError, match=message):
        sweep.parse_metric(text)


def test_run_names(series, tmp_path):
    assert sweep.parse_run(f"x={series}") == ("x", series)
    assert sweep.parse_run(str(series)) == (series.name, series)
    odd = tmp_path / "lr=0.1"  # an existing folder whose name holds '=' is a folder, not NAME=FOLDER
    odd.mkdir()
    assert sweep.parse_run(str(odd)) == ("lr=0.1", odd)
    with pytest.raises(InputError, match="two runs are named 'series"):
        sweep.as_runs([series, series])
    with pytest.raises(InputError, match="the name before '=' is empty"):
        sweep.as_runs([f"={series}"])
    with pytest.raises(InputError, match="no NAME_EPOCH.pth checkpoints found \\(run 'empty'\\)"):
        sweep.as_runs({"empty": odd})


def test_cli_sweep_two_runs_and_best(series, other_series, nist_micrograph_path, nist_trace_path, tmp_path, capsys):
    out = tmp_path / "two.csv"
    argv = ["sweep", f"first={series}", f"second={other_series}", "--image", str(nist_micrograph_path), "--trace",
            str(nist_trace_path), "-o", str(out), "--plot", str(tmp_path / "two.png"), "--resolution", "64",
            "--cache", str(tmp_path / "cache"), "--best", "gaussian:sigma=2", "--best", "tolerant_f"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    table = by_hand(out.read_text())
    assert ("first", "gaussian", "sigma=2 window=15") in table  # the --best sigma was scored with the rest
    for run in ("first", "second"):
        for (metric, params), choose in ((("gaussian", "sigma=2 window=15"), min),
                                         (("tolerant_f", "sigma=3 window=15"), max)):
            means = table[(run, metric, params)]
            epoch = choose(means, key=means.get)
            assert f"{run:<6}  epoch {epoch:>4}  {means[epoch]:.6g}" in printed
    assert out.read_text().startswith("run,epoch,checkpoint,image,metric,parameters,value,grid\nfirst,0,")
    bad = [*argv[:1], f"first={series}", "first=" + str(other_series), *argv[3:], "--overwrite"]
    assert main(bad) == 2 and "two runs are named 'first'" in capsys.readouterr().err
    assert main([*argv, "--overwrite", "--best", "gaussian:window=9"]) == 2
    assert "the sweep's window is 15" in capsys.readouterr().err


def test_sweep_options_check_their_fields_once():
    from napari_graintrace.core.options import SweepOptions

    options = SweepOptions(resolution="native", sigmas=(3, "1", 3), kernels=[5, 3, 5], window="15")
    assert (options.resolution, options.sigmas, options.kernels, options.window) == (None, (3.0, 1.0), (5, 3), 15)
    assert SweepOptions(resolution="512").resolution == 512
    for bad, message in (({"resolution": 1000}, "multiple of 16"), ({"kernels": (4,)}, "kernel must be an odd"),
                         ({"sigmas": (0,)}, "sigma must be a positive"), ({"precision": "fp8"}, "precision"),
                         ({"window": 14}, "window must be an odd"), ({"sigmas": ()}, "at least one sigma")):
        with pytest.raises(InputError, match=message):
            SweepOptions(**bad)
