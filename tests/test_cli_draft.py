"""``graintrace draft``: real files in; a 0/255 tracing, its JSON summary and one-line errors out."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_graintrace.cli import main
from napari_graintrace.core.draft import draft_tracing, faint_map, truth_skeleton
from napari_graintrace.core.io import read_prediction


@pytest.fixture(scope="module")
def pred_path(tmp_path_factory, nist_trace):
    """An 8-bit soft map of a 150 x 220 crop of the NIST tracing, with gaps and faint stretches."""
    prob = faint_map(truth_skeleton(nist_trace[:150, :220]), faint_fraction=0.2, gaps=4, seed=1)
    path = tmp_path_factory.mktemp("draft") / "pred.png"
    Image.fromarray(np.rint(prob * 255).astype(np.uint8)).save(path)
    return path


def test_writes_the_draft_white_on_black_at_the_maps_shape(pred_path, tmp_path, capsys):
    out = tmp_path / "draft.png"
    assert main(["draft", str(pred_path), "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    written = np.asarray(Image.open(out))
    assert written.dtype == np.uint8 and written.shape == (150, 220)
    assert set(np.unique(written)) == {0, 255}
    expected = draft_tracing(read_prediction(pred_path))
    assert np.array_equal(written == 255, expected.tracing)
    assert {"branches", "dangling_ends", "grains"} <= set(summary)
    assert summary["grains"] == expected.summary()["grains"]


def test_thickness_and_several_maps(pred_path, tmp_path, capsys):
    out = tmp_path / "thick.png"
    assert main(["draft", str(pred_path), str(pred_path), "-o", str(out), "--thickness", "3"]) == 0
    thick = np.asarray(Image.open(out)) == 255
    one = draft_tracing(read_prediction(pred_path)).tracing
    assert (thick & one).sum() == one.sum() and thick.sum() > 2 * one.sum()
    assert "wrote" in capsys.readouterr().out


def bad(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("graintrace draft: error:")
    return err


def test_bad_input_is_one_line_exit_2_and_writes_nothing(pred_path, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert "no such file" in bad(["draft", str(tmp_path / "missing.png"), "-o", str(out)], capsys)
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, np.zeros((5, 40, 40), dtype=np.uint8))
    assert "shape" in bad(["draft", str(stack), "-o", str(out)], capsys)
    assert not out.exists()
    before = pred_path.read_bytes()
    assert "also an input" in bad(["draft", str(pred_path), "-o", str(pred_path), "--overwrite"], capsys)
    assert pred_path.read_bytes() == before
    assert "thickness" in bad(["draft", str(pred_path), "-o", str(out), "--thickness", "2"], capsys)
    assert not out.exists()
    other = tmp_path / "small.png"
    Image.fromarray(np.zeros((20, 30), dtype=np.uint8)).save(other)
    assert "share a shape" in bad(["draft", str(pred_path), str(other), "-o", str(out)], capsys)
    assert not out.exists()


def test_an_existing_output_needs_overwrite(pred_path, tmp_path, capsys):
    out = tmp_path / "exists.png"
    out.write_bytes(b"keep")
    assert main(["draft", str(pred_path), "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == b"keep"
    assert main(["draft", str(pred_path), "-o", str(out), "--overwrite"]) == 0
    assert np.asarray(Image.open(out)).shape == (150, 220)
