"""The command line: real files in, exit codes and files out."""

from __future__ import annotations

import json
import subprocess
import sys

import brute_force as ref
import numpy as np
import pytest
from PIL import Image

from napari_graintrace.cli import main
from napari_graintrace.core.io import read_image, read_trace


@pytest.fixture
def shifted_pair(tmp_path, nist_trace):
    """The NIST tracing shifted by 2 px as an 8-bit prediction file."""
    pred = np.zeros(nist_trace.shape, np.uint8)
    pred[:, 2:] = nist_trace[:, :-2] * 255
    path = tmp_path / "pred.png"
    Image.fromarray(pred).save(path)
    return path, nist_trace


def test_score_json_agrees_with_brute_force(shifted_pair, nist_trace_path, capsys):
    pred_path, trace = shifted_pair
    assert main(["score", str(pred_path), str(nist_trace_path), "--json", "--sigma", "2", "--window", "9"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert set(got) == {"bce", "tophat", "gaussian", "precision", "recall", "f", "bce_missed", "bce_false",
                        "bce_clamped", "boundary_precision", "boundary_recall", "boundary_f", "boundary_match_distance",
                        "grid"}
    assert got["grid"] == "600x800"  # the grid every score was computed on
    pred = read_image(pred_path) / 255.0
    assert got["bce"] == pytest.approx(ref.bce(pred, trace), rel=1e-9)
    assert got["tophat"] == pytest.approx(ref.tophat_loss(pred, trace, 3), abs=1e-9)
    assert got["gaussian"] == pytest.approx(ref.gaussian_loss(pred, trace, 2.0, 9), abs=1e-6)


def test_score_table(shifted_pair, nist_trace_path, capsys):
    assert main(["score", str(shifted_pair[0]), str(nist_trace_path)]) == 0
    out = capsys.readouterr().out
    assert "white-on-black" in out and "Gaussian loss (sigma 3, window 15)" in out and "tolerant F" in out


def test_overlay_writes_pngs_and_refuses_to_overwrite(shifted_pair, nist_trace_path, tmp_path, capsys):
    out = tmp_path / "overlays"
    assert main(["overlay", str(shifted_pair[0]), str(nist_trace_path), "-o", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        ["bce_overlay.png", "tophat_reward.png", "tophat_composite.png", "gaussian_reward.png",
         "gaussian_composite.png"]
    )
    bce_rgb = np.asarray(Image.open(out / "bce_overlay.png"))
    trace = read_trace(nist_trace_path)[0]
    assert (bce_rgb[trace & ~np.roll(trace, 2, axis=1)] == [255, 0, 0]).all()  # missed: red
    before = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["overlay", str(shifted_pair[0]), str(nist_trace_path), "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert before == {p: p.stat().st_mtime_ns for p in out.iterdir()}


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_bad_inputs_are_one_line_errors(tmp_path, nist_trace_path, capsys):
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "small.png")
    Image.fromarray(np.zeros((600, 800), np.uint8)).save(tmp_path / "blank.png")
    (tmp_path / "junk.png").write_bytes(b"junk")
    import tifffile

    tifffile.imwrite(tmp_path / "nan.tif", np.full((600, 800), np.nan, np.float32))
    cases = {
        (str(tmp_path / "missing.png"), str(nist_trace_path)): "missing.png: no such file",
        (str(tmp_path / "junk.png"), str(nist_trace_path)): "junk.png: cannot be read",
        (str(tmp_path / "small.png"), str(nist_trace_path)): "small.png is 5 x 5 but",
        (str(tmp_path / "nan.tif"), str(nist_trace_path)): "nan.tif: prediction contains NaN",
        (str(nist_trace_path), str(tmp_path / "blank.png")): "blank.png: the tracing has no boundary",
    }
    for (pred, trace), message in cases.items():
        assert main(["score", pred, trace]) == 2
        assert message in _err(capsys)
    assert main(["score", str(nist_trace_path), str(nist_trace_path), "--window", "4"]) == 2
    assert "--window must be an odd" in _err(capsys)
    out = tmp_path / "never"
    assert main(["overlay", str(tmp_path / "small.png"), str(nist_trace_path), "-o", str(out)]) == 2
    assert not out.exists()


def test_console_script_runs(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "napari_graintrace", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("score", "overlay", "demo"):
        assert command in result.stdout


def test_demo_headless(tmp_path, capsys):
    assert main(["demo", "--headless", "-o", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "BCE prefers the blank map to the 3-px shift." in out
    assert len(list((tmp_path / "demo").glob("*.png"))) == 3


def test_demo_opens_napari_and_writes_a_screenshot(tmp_path, capsys, qapp):
    """The README's demo: the sample, the demo checkpoints, the docked widget, a real prediction."""
    assert main(["demo", "--screenshot", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "BCE" in out and "Gaussian (sigma=3" in out
    shot = np.asarray(Image.open(tmp_path / "demo_screenshot.png"))
    assert shot.ndim == 3 and shot.shape[0] > 500 and shot.std() > 10  # a real picture, not a blank frame
