"""The "Epoch sweep" widget in a real napari viewer: worker, live curves, picking an epoch, export."""

from __future__ import annotations

import numpy as np
import pytest

from napari_graintrace._widgets import _common
from napari_graintrace._widgets.sweep import SweepWidget
from napari_graintrace.core import sweep
from napari_graintrace.core.io import read_image, read_trace
from napari_graintrace.data import NIST_MICROGRAPH, NIST_TRACE
from synthetic import tiny_series


@pytest.fixture
def series(tmp_path):
    return tiny_series(tmp_path / "series", (0, 5))


@pytest.fixture
def errors(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(_common, "show_error", shown.append)
    return shown


def test_sweep_widget_runs_and_redraws_live(make_napari_viewer, qtbot, series, tmp_path, errors):
    viewer = make_napari_viewer()
    viewer.add_image(read_image(NIST_MICROGRAPH), name="micrograph")
    viewer.add_labels(read_trace(NIST_TRACE)[0].astype(np.uint8), name="trace")
    widget = SweepWidget(viewer)
    qtbot.addWidget(widget.native)
    widget.cache = sweep.PredictionCache(tmp_path / "cache")
    widget.checkpoint_folder.value = series
    widget.image_layer.value = viewer.layers["micrograph"]
    widget.trace_layer.value = viewer.layers["trace"]
    widget.resolution.value = "256"
    widget.run()
    qtbot.waitUntil(lambda: not widget.busy, timeout=120_000)
    assert errors == [] and widget.result is not None and widget.result.epochs == [0, 5]

    widget.sigma.value = 1.3
    widget.kernel.value = 7
    curves = widget.live_curves()
    fresh = sweep.run_sweep(series, [sweep.Pair(NIST_MICROGRAPH, NIST_TRACE)], resolution=256, sigmas=(1.3,),
                            kernels=(7,), cache=widget.cache)
    assert curves["gaussian"][0] == [0, 5]
    np.testing.assert_allclose(curves["gaussian"][1], fresh.values("gaussian", "sigma=1.3 window=15")[1], atol=1e-9)
    np.testing.assert_allclose(curves["tophat"][1], fresh.values("tophat", "kernel=7")[1], atol=1e-9)

    widget.show_epoch(5)
    assert viewer.layers["prediction"].data.shape == (256, 256)
    np.testing.assert_allclose(viewer.layers["prediction"].scale, (600 / 256, 800 / 256))

    widget.export_path.value = tmp_path / "curves.csv"
    widget.export_csv()
    widget.export_png()
    assert (tmp_path / "curves.csv").read_text().startswith("epoch,checkpoint,image,metric")
    assert (tmp_path / "curves.png").stat().st_size > 1000
    widget.export_csv()  # exists and no overwrite: a notification, the file is kept
    assert errors and "already exists" in errors[-1]


def test_sweep_widget_bad_input_notifies(make_napari_viewer, qtbot, tmp_path, errors):
    viewer = make_napari_viewer()
    widget = SweepWidget(viewer)
    qtbot.addWidget(widget.native)
    widget.run()
    assert errors and "choose a micrograph" in errors[-1]
    viewer.add_image(np.zeros((10, 10), np.float32), name="img")
    viewer.add_labels(np.zeros((12, 12), np.uint8), name="lab")
    widget.image_layer.value = viewer.layers["img"]
    widget.trace_layer.value = viewer.layers["lab"]
    widget.add_pair()
    assert "img is (10, 10) but lab is (12, 12)" in errors[-1]
