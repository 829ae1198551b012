"""``graintrace grains``: real files in; the design's keys, files and one-line errors out."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import tifffile
from PIL import Image
from skimage import filters

from napari_graintrace.cli import main
from napari_graintrace.core import grains
from napari_graintrace.core.io import read_prediction

SUMMARY_KEYS = {"grains", "mean_area_px", "mean_intercept_px"}
ASTM_KEYS = {"astm_g_intercept", "astm_g_planimetric"}
COMPARE_KEYS = {"grains_truth", "vi_split", "vi_merge", "arand", "grain_precision", "grain_recall", "grain_f1",
                "orphan_fraction", "disregistry", "size_ks", "size_ks_p"}
CSV_COLUMNS = ["label", "area_px", "equivalent_diameter_px", "centroid_row", "centroid_col", "touches_edge", "grid"]


@pytest.fixture
def pair(tmp_path, nist_trace):
    """A soft 8-bit map of a 300 x 400 crop of the NIST tracing (blurred), and that crop as a tracing."""
    crop = nist_trace[:300, :400]
    soft = filters.gaussian(crop.astype(float), 2.0)
    pred_path, trace_path = tmp_path / "pred.png", tmp_path / "trace.png"
    Image.fromarray(np.rint(soft / soft.max() * 255).astype(np.uint8)).save(pred_path)
    Image.fromarray((~crop).astype(np.uint8) * 255).save(trace_path)  # black on white: polarity auto
    return pred_path, trace_path, crop


def run_json(argv, capsys) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_json_has_the_design_keys_and_the_core_values(pair, capsys):
    pred_path, trace_path, crop = pair
    got = run_json(["grains", str(pred_path), "--trace", str(trace_path), "--json", "--pixel-size", "0.5"], capsys)
    assert SUMMARY_KEYS | ASTM_KEYS | COMPARE_KEYS <= set(got)
    labels = grains.segment(read_prediction(pred_path))
    expected = {**grains.stats(labels, 0.5), **grains.compare(labels, grains.trace_labels(crop))}
    for key in SUMMARY_KEYS | ASTM_KEYS | COMPARE_KEYS:
        assert got[key] == pytest.approx(expected[key], rel=1e-12), key
    assert got["options"] == {"high": 1 - 160 / 255, "low": 1 - 200 / 255, "dilations": 3, "min_area": 100,
                              "prune": 30, "combine": "max", "pixel_size": 0.5}
    plain = run_json(["grains", str(pred_path), "--json"], capsys)
    assert SUMMARY_KEYS <= set(plain) and not (COMPARE_KEYS | ASTM_KEYS) & set(plain)


def test_options_reach_the_segmentation(pair, capsys):
    pred_path, _, _ = pair
    argv = ["grains", str(pred_path), "--json", "--high", "0.4", "--low", "0.4", "--dilations", "0",
            "--min-area", "0", "--prune", "0"]
    got = run_json(argv, capsys)
    options = grains.GrainOptions(high=0.4, low=0.4, dilations=0, min_area=0, prune=0)
    assert got["grains"] == grains.stats(grains.segment(read_prediction(pred_path), options))["grains"]
    assert got["grains"] != run_json(["grains", str(pred_path), "--json"], capsys)["grains"]


def test_several_maps_are_combined_first(pair, tmp_path, capsys):
    pred_path, _, _ = pair
    pred = read_prediction(pred_path)
    shifted_path = tmp_path / "shifted.png"
    Image.fromarray(np.rint(np.roll(pred, 3, axis=1) * 255).astype(np.uint8)).save(shifted_path)
    both = np.maximum(pred, read_prediction(shifted_path))
    got = run_json(["grains", str(pred_path), str(shifted_path), "--json"], capsys)
    assert got["grains"] == grains.stats(grains.segment(both))["grains"]
    mean = run_json(["grains", str(pred_path), str(shifted_path), "--json", "--combine", "mean"], capsys)
    assert mean["grains"] == grains.stats(grains.segment([pred, read_prediction(shifted_path)],
                                                         grains.GrainOptions(combine="mean")))["grains"]


def test_output_files(pair, tmp_path, capsys):
    pred_path, trace_path, _ = pair
    out = tmp_path / "out"
    assert main(["grains", str(pred_path), "--trace", str(trace_path), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "grain F1" in printed and "wrote" in printed
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["grains_labels.tif", "grains.csv", "grains_summary.json", "grain_sizes.png"])
    labels = tifffile.imread(out / "grains_labels.tif")
    np.testing.assert_array_equal(labels, grains.segment(read_prediction(pred_path)))
    with open(out / "grains.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == CSV_COLUMNS and {r["grid"] for r in rows} == {"300x400"}
    table = grains.grain_table(labels)
    assert [int(r["label"]) for r in rows] == table.label.tolist()
    assert [int(r["area_px"]) for r in rows] == table.area_px.tolist()
    assert [r["touches_edge"] == "true" for r in rows] == table.touches_edge.tolist()
    summary = json.loads((out / "grains_summary.json").read_text())
    assert summary["grains"] == sum(r["touches_edge"] == "false" for r in rows)
    assert COMPARE_KEYS <= set(summary) and summary["grid"] == "300x400"
    assert "measured on 300 x 400" in printed
    with Image.open(out / "grain_sizes.png") as picture:
        assert picture.format == "PNG" and picture.size[0] > 300
    # never overwritten without --overwrite: exit 2, one line, files untouched
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["grains", str(pred_path), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("graintrace grains: error:") and "already exists" in err and "\n" not in err
    assert before == {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["grains", str(pred_path), "-o", str(out), "--overwrite"]) == 0


def test_tune_reports_better_parameters(pair, capsys):
    pred_path, trace_path, _ = pair
    got = run_json(["grains", str(pred_path), "--trace", str(trace_path), "--tune", "--json"], capsys)
    tuned = got["tuned"]
    assert {"high", "low", "dilations", "min_area", "prune", "grain_f1", "evaluated"} <= set(tuned)
    assert tuned["grain_f1"] > got["grain_f1"]  # the defaults lose the small grains of a blurred map
    options = grains.GrainOptions(**{k: tuned[k] for k in ("high", "low", "dilations", "min_area", "prune")})
    again = run_json(["grains", str(pred_path), "--trace", str(trace_path), "--json",
                      *[f"--{k.replace('_', '-')}={v}" for k, v in options.post_processing.items()]], capsys)
    assert again["grain_f1"] == pytest.approx(tuned["grain_f1"])


@pytest.mark.parametrize("extra, words", [
    (["--high", "1.5"], "high threshold"),
    (["--low", "0.5", "--high", "0.3"], "must not exceed"),
    (["--tune"], "--tune needs --trace"),
    (["--trace", "MISSING.png"], "no such file"),
    (["--trace", "SMALL"], "give --micrograph"),
    (["--micrograph", "SMALL", "--trace", "TRACE"], "drawn on its micrograph's grid"),
    (["--micrograph", "SMALL"], "not a resized map of the same area"),
    (["OTHER"], "must share a shape"),
    (["--pixel-size", "-1"], "pixel size"),
])
def test_bad_input_is_one_line_and_writes_nothing(pair, tmp_path, capsys, extra, words):
    pred_path, trace_path, _ = pair
    small, other = tmp_path / "small.png", tmp_path / "other.png"
    Image.fromarray(np.zeros((50, 60), np.uint8)).save(small)
    Image.fromarray(np.zeros((50, 60), np.uint8)).save(other)
    named = {"SMALL": small, "OTHER": other, "TRACE": trace_path, "MISSING.png": tmp_path / "MISSING.png"}
    extra = [str(named[a]) if a in named else a for a in extra]
    out = tmp_path / "out"
    assert main(["grains", str(pred_path), *extra, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("graintrace grains: error:") and words in err and "\n" not in err
    assert not out.exists()


def test_a_tracing_cannot_be_tuned(pair, capsys):
    _, trace_path, _ = pair
    assert main(["grains", str(trace_path), "--trace", str(trace_path), "--tune"]) == 2
    assert "is a tracing" in capsys.readouterr().err


def test_sizes_in_micrometres(pair, tmp_path, capsys):
    pred_path, _, _ = pair
    out = tmp_path / "out"
    got = run_json(["grains", str(pred_path), "--json", "--pixel-size", "0.5", "-o", str(out)], capsys)
    assert got["mean_intercept_um"] == pytest.approx(0.5 * got["mean_intercept_px"])
    assert got["mean_area_um2"] == pytest.approx(0.25 * got["mean_area_px"])
    with open(out / "grains.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [*CSV_COLUMNS[:-1], "area_um2", "equivalent_diameter_um", "grid"]
    for row in rows[:20]:
        assert float(row["area_um2"]) == pytest.approx(0.25 * int(row["area_px"]), rel=1e-5)
        assert float(row["equivalent_diameter_um"]) == pytest.approx(0.5 * float(row["equivalent_diameter_px"]),
                                                                     rel=1e-4)
