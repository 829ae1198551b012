"""One geometry: whatever size the network saw, grains and intercepts are measured on the micrograph's grid.

The held-out check runs the shipped demo checkpoint on the bundled NIST micrograph (600 x 800) through
the command line twice, at the lab's 1024 x 1024 and natively, and asks for the same grains. The
stretched-grid failure it guards against is shown too: the lab's square map measured as it is.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image
from skimage import filters

from napari_graintrace.cli import main
from napari_graintrace.core import grains
from napari_graintrace.core.errors import InputError
from napari_graintrace.core.grid import check_same_area, grid_text, tiff_pixel_size, to_grid
from napari_graintrace.core.io import read_image, read_micrograph, write_image
from napari_graintrace.core.model import load_checkpoint, predict
from napari_graintrace.data import DEMO_RUNS, NIST_MICROGRAPH

CHECKPOINT = DEMO_RUNS["with_crops"] / "demo_59.pth"


def grains_json(argv, capsys) -> dict:
    assert main(["grains", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def predictions(tmp_path_factory) -> dict:
    """``graintrace predict`` of the NIST micrograph natively and at 1024, as a user runs it."""
    out = tmp_path_factory.mktemp("predict")
    maps = {}
    for resolution in ("native", "1024"):
        folder = out / resolution
        assert main(["predict", str(CHECKPOINT), str(NIST_MICROGRAPH), "-o", str(folder),
                     "--resolution", resolution]) == 0
        maps[resolution] = folder / f"predict_{NIST_MICROGRAPH.stem}.png"
    return maps


def test_predict_writes_maps_at_the_micrograph_size(predictions):
    shape = read_micrograph(NIST_MICROGRAPH).shape
    for path in predictions.values():
        assert read_image(path).shape == shape == (600, 800)


def test_same_grains_from_1024_and_native_through_the_cli(predictions, capsys):
    native = grains_json([predictions["native"]], capsys)
    square = grains_json([predictions["1024"]], capsys)
    assert native["grid"] == square["grid"] == "600x800"
    assert square["mean_intercept_px"] == pytest.approx(native["mean_intercept_px"], rel=0.10)
    assert square["grains"] == pytest.approx(native["grains"], rel=0.15)


def test_the_stretched_grid_would_fail_the_check(predictions, tmp_path, capsys):
    """The lab's 1024 x 1024 file measured as it is: rows x 1.71, columns x 1.28, a wrong intercept.
    Given the micrograph, the same file is resampled to its grid and agrees with the native map."""
    native = grains_json([predictions["native"]], capsys)
    micrograph = read_micrograph(NIST_MICROGRAPH)
    square = predict(load_checkpoint(CHECKPOINT), micrograph, resolution=1024, restore_shape=False)
    assert square.shape == (1024, 1024)
    lab_file = tmp_path / "lab_square.png"
    write_image(lab_file, np.rint(square * 255).astype(np.uint8))
    stretched = grains_json([lab_file], capsys)
    assert stretched["grid"] == "1024x1024"
    assert abs(stretched["mean_intercept_px"] / native["mean_intercept_px"] - 1) > 0.2  # the failure
    resampled = grains_json([lab_file, "--micrograph", NIST_MICROGRAPH], capsys)
    assert resampled["grid"] == "600x800"
    assert resampled["mean_intercept_px"] == pytest.approx(native["mean_intercept_px"], rel=0.10)


def test_to_grid_keeps_lengths(nist_trace):
    """A boundary map stretched to a square and brought back measures like the original (no network)."""
    blurred = filters.gaussian(nist_trace.astype(float), 1.5)
    soft = (blurred / blurred.max()).astype(np.float32)
    stretched = to_grid(soft, (1024, 1024))
    back = to_grid(stretched, soft.shape)
    assert back.shape == soft.shape and back.dtype == np.float32 and 0 <= back.min() and back.max() <= 1
    truth = grains.stats(grains.segment(soft))["mean_intercept_px"]
    assert grains.stats(grains.segment(back))["mean_intercept_px"] == pytest.approx(truth, rel=0.05)
    assert grains.stats(grains.segment(stretched))["mean_intercept_px"] > 1.2 * truth
    assert to_grid(soft, soft.shape) is soft
    assert grid_text((600, 800)) == "600x800"


def test_only_a_resized_map_of_the_same_area_is_resampled():
    check_same_area((600, 800), (600, 800), "map", "tracing")
    check_same_area((1024, 1024), (600, 800), "map", "tracing")  # the lab's square
    check_same_area((300, 400), (600, 800), "map", "tracing")  # same aspect ratio
    with pytest.raises(InputError, match="map is 300 x 500 but tracing is 600 x 800"):
        check_same_area((300, 500), (600, 800), "map", "tracing")


def test_pixel_size_from_tiff_resolution_tags(tmp_path):
    image = np.zeros((8, 8), np.uint8)
    tifffile.imwrite(tmp_path / "cm.tif", image, resolution=(20_000, 20_000), resolutionunit="CENTIMETER")
    assert tiff_pixel_size(tmp_path / "cm.tif") == pytest.approx(0.5)
    tifffile.imwrite(tmp_path / "inch.tif", image, resolution=(25_400 / 0.25, 25_400 / 0.25), resolutionunit="INCH")
    assert tiff_pixel_size(tmp_path / "inch.tif") == pytest.approx(0.25)
    tifffile.imwrite(tmp_path / "ij.tif", image, imagej=True, resolution=(4.0, 4.0), metadata={"unit": "um"})
    assert tiff_pixel_size(tmp_path / "ij.tif") == pytest.approx(0.25)
    tifffile.imwrite(tmp_path / "nm.tif", image, imagej=True, resolution=(0.5, 0.5), metadata={"unit": "nm"})
    assert tiff_pixel_size(tmp_path / "nm.tif") == pytest.approx(0.002)
    tifffile.imwrite(tmp_path / "screen.tif", image, resolution=(72, 72), resolutionunit="INCH")
    assert tiff_pixel_size(tmp_path / "screen.tif") is None  # an editor's default, not a calibration
    tifffile.imwrite(tmp_path / "plain.tif", image)
    assert tiff_pixel_size(tmp_path / "plain.tif") is None
    Image.fromarray(image).save(tmp_path / "plain.png")
    assert tiff_pixel_size(tmp_path / "plain.png") is None


def test_grains_takes_the_pixel_size_from_the_micrograph(tmp_path, capsys, nist_trace):
    micrograph = tmp_path / "micrograph.tif"
    tifffile.imwrite(micrograph, np.zeros(nist_trace.shape, np.uint8), resolution=(20_000, 20_000),
                     resolutionunit="CENTIMETER")
    trace = tmp_path / "trace.png"
    Image.fromarray(nist_trace.astype(np.uint8) * 255).save(trace)
    got = grains_json([trace, "--micrograph", micrograph], capsys)
    assert got["options"]["pixel_size"] == pytest.approx(0.5)
    assert got["mean_intercept_um"] == pytest.approx(0.5 * got["mean_intercept_px"])
    assert "astm_g_intercept" in got
