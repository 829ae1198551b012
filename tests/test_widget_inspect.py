"""The "Inspect prediction" widget in a real napari viewer (Xvfb via pytest-xvfb)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_graintrace._widgets import _common
from napari_graintrace._widgets.inspect import InspectWidget
from napari_graintrace.core import scores
from napari_graintrace.core.evaluation import resize_trace
from napari_graintrace.core.io import read_image, read_trace
from napari_graintrace.data import NIST_MICROGRAPH, NIST_TRACE


@pytest.fixture
def errors(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(_common, "show_error", shown.append)
    return shown


@pytest.fixture
def nist_viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(read_image(NIST_MICROGRAPH), name="micrograph")
    trace = read_trace(NIST_TRACE)[0]
    viewer.add_labels(trace.astype(np.uint8), name="trace")
    return viewer, trace


def make_widget(viewer, qtbot) -> InspectWidget:
    widget = InspectWidget(viewer)
    qtbot.addWidget(widget.native)
    widget.image_layer.value = viewer.layers["micrograph"]
    widget.trace_layer.value = viewer.layers["trace"]
    return widget


def test_existing_prediction_layer_scores_and_live_sigma(nist_viewer, qtbot, errors):
    viewer, trace = nist_viewer
    pred = np.zeros(trace.shape, np.float32)
    pred[:, 2:] = trace[:, :-2] * 0.9
    viewer.add_image(pred, name="my prediction")
    widget = make_widget(viewer, qtbot)
    widget.source.value = "prediction layer"
    widget.prediction_layer.value = viewer.layers["my prediction"]
    assert widget.polarity.value.startswith("labels")
    widget.run()
    assert errors == []
    for name in ("prediction", "BCE overlay", "top-hat reward", "Gaussian reward", "score overlay", "missed trace"):
        assert viewer.layers[name].data.shape[:2] == trace.shape
    assert not viewer.layers["missed trace"].visible
    panel = widget.score_panel.value
    assert f"BCE  {scores.bce(pred, trace):.4f}" in panel
    assert f"{scores.gaussian_loss(pred, trace, 3.0, 15):.4f}" in panel
    assert f"{scores.tophat_loss(pred, trace, 3):.4f}" in panel

    widget.sigma.value = 1.2
    assert f"Gaussian (sigma=1.2, w=15)  {scores.gaussian_loss(pred, trace, 1.2, 15):.4f}" in widget.score_panel.value
    from napari_graintrace.core.overlays import composite_rgb, reward_rgb

    np.testing.assert_array_equal(viewer.layers["score overlay"].data,
                                  composite_rgb(pred, scores.gaussian_reward(trace, 1.2, 15)))
    hidden = viewer.layers["Gaussian reward"]  # hidden layers are redrawn when shown
    assert not hidden.visible
    hidden.visible = True
    np.testing.assert_array_equal(hidden.data, reward_rgb(scores.gaussian_reward(trace, 1.2, 15)))
    from napari_graintrace.core.overlays import recall_rgb

    missed = viewer.layers["missed trace"]  # follows sigma after the debounce, like the P/R/F
    qtbot.waitUntil(lambda: "tolerant P / R / F" in widget.score_panel.value, timeout=5_000)
    prf = scores.tolerant_prf(pred, trace, 1.2, 15)
    qtbot.waitUntil(lambda: "{:.3f} / {:.3f} / {:.3f}".format(*prf) in widget.score_panel.value, timeout=5_000)
    missed.visible = True
    np.testing.assert_array_equal(missed.data, recall_rgb(trace, scores.soft_dilation(pred, 1.2, 15)))
    widget.sigma.value = 2.0
    qtbot.waitUntil(lambda: np.array_equal(
        missed.data, recall_rgb(trace, scores.soft_dilation(pred, 2.0, 15))), timeout=5_000)
    widget.kernel.value = 5
    assert f"top-hat (k=5)  {scores.tophat_loss(pred, trace, 5):.4f}" in widget.score_panel.value
    table = widget.score_table()
    assert table.splitlines()[0] == "metric\tparameters\tvalue" and "tolerant F" in table

    widget.run()  # re-run: layers are updated in place, not duplicated
    assert len(viewer.layers) == 3 + 6
    assert np.array_equal(viewer.layers["my prediction"].data, pred)  # the user's layer is untouched


def test_user_layer_with_an_output_name_is_never_overwritten(nist_viewer, qtbot, errors):
    viewer, trace = nist_viewer
    mine = np.full(trace.shape, 0.25, np.float32)
    viewer.add_image(mine, name="prediction")
    widget = make_widget(viewer, qtbot)
    widget.source.value = "prediction layer"
    widget.prediction_layer.value = viewer.layers["prediction"]
    widget.run()
    assert np.array_equal(viewer.layers["prediction"].data, mine)
    assert "prediction (graintrace)" in viewer.layers


def test_bad_input_becomes_a_notification(nist_viewer, qtbot, errors, tmp_path):
    viewer, _ = nist_viewer
    widget = make_widget(viewer, qtbot)
    widget.trace_layer.value = None
    widget.run()
    assert errors and "choose a tracing layer" in errors[-1]
    widget.trace_layer.value = viewer.layers["trace"]
    (tmp_path / "unet_3.pth").write_bytes(b"not a checkpoint")
    widget.checkpoint_folder.value = tmp_path
    assert widget.epoch.value.epoch == 3
    widget.resolution.value = "256"
    widget.run()
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert "unet_3.pth" in errors[-1]
    assert [layer.name for layer in viewer.layers] == ["micrograph", "trace"]


def test_checkpoint_run_through_the_worker(nist_viewer, qtbot, errors):
    from napari_graintrace.core import checkpoints, inference
    from napari_graintrace.data import DEMO_CHECKPOINTS

    viewer, trace = nist_viewer
    widget = make_widget(viewer, qtbot)
    widget.checkpoint_folder.value = DEMO_CHECKPOINTS
    series = checkpoints.find_checkpoints(DEMO_CHECKPOINTS)
    widget.epoch.value = series[-1]
    widget.resolution.value = "256"
    widget.run()
    assert widget._worker is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=120_000)
    assert errors == []
    assert widget.epoch.value == series[-1]  # new layers reset the pickers, not the epoch
    layer = viewer.layers["prediction"]
    assert layer.data.shape == (256, 256) and layer.data.dtype == np.float32
    np.testing.assert_allclose(layer.scale, (600 / 256, 800 / 256))
    # the readout equals the core on the same arrays
    expected_pred = inference.predict(checkpoints.load_checkpoint(series[-1].path),
                                      read_image(NIST_MICROGRAPH), resolution=256)
    np.testing.assert_allclose(layer.data, expected_pred, atol=1e-6)
    small_trace = resize_trace(trace, (256, 256))
    assert f"BCE  {scores.bce(layer.data, small_trace):.4f}" in widget.score_panel.value
    # picking the same epoch again is served from the cache, without a worker
    widget.epoch.value = series[0]
    widget.epoch.value = series[-1]
    assert widget._worker is None and f"epoch {series[-1].epoch}" in widget.score_panel.value
