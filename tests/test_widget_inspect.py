"""The "Inspect prediction" widget as users meet it: docked from the Plugins menu (a proxied viewer).

Every test docks through ``viewer.window.add_plugin_dock_widget`` (``tests/widget_session.py``) and
checks the readout against the core functions on independently prepared arrays.
"""

from __future__ import annotations

import numpy as np
import pytest
from widget_session import OWNER_KEY, assert_no_doubled_layers, layer_names, output_layers

from napari_graintrace._widgets import _common, inspect
from napari_graintrace.core.io import read_image, read_trace
from napari_graintrace.core.scoring import composite_rgb, resize_trace, reward_rgb, scores
from napari_graintrace.data import NIST_MICROGRAPH, NIST_TRACE

WIDGET = "Inspect prediction"
OUTPUTS = ["prediction", *_common.OUTPUT_LAYERS]


@pytest.fixture
def infos(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(inspect, "show_info", shown.append)
    return shown


@pytest.fixture
def nist() -> tuple[np.ndarray, np.ndarray]:
    return read_image(NIST_MICROGRAPH), read_trace(NIST_TRACE)[0]


def shifted_prediction(trace: np.ndarray, shift: int = 2, strength: float = 0.9) -> np.ndarray:
    pred = np.zeros(trace.shape, np.float32)
    pred[:, shift:] = trace[:, :-shift] * strength
    return pred


def choose(widget, viewer, image="micrograph", trace="trace", prediction=None) -> None:
    widget.image_layer.value = viewer.layers[image] if image else None
    widget.trace_layer.value = viewer.layers[trace]
    if prediction is not None:
        widget.source.value = "prediction layer"
        widget.prediction_layer.value = viewer.layers[prediction]


def test_user_session_through_the_plugin_menu(widget_session, nist, errors):
    micrograph, trace = nist
    session = widget_session(WIDGET)
    viewer = session.viewer
    viewer.add_image(micrograph, name="micrograph")
    viewer.add_labels(trace.astype(np.uint8), name="trace")
    first, second = shifted_prediction(trace, 2, 0.9), shifted_prediction(trace, 4, 0.6)
    viewer.add_image(first, name="pred A")
    viewer.add_image(second, name="pred B")
    widget = session.dock()
    choose(widget, viewer, prediction="pred A")
    widget.run()
    session.wait_idle()
    assert errors == []
    made = output_layers(viewer)
    assert sorted(made) == sorted(OUTPUTS)
    # the visible outputs (the prediction and the composite) on top, in their order; the hidden ones below
    visible = [name for name in OUTPUTS if made[name].visible]
    assert visible == ["prediction", "score overlay"] and layer_names(viewer)[-2:] == visible
    names = layer_names(viewer)

    # run again with another prediction: the same layers, updated in place, showing the latest
    widget.prediction_layer.value = viewer.layers["pred B"]
    widget.run()
    session.wait_idle()
    assert layer_names(viewer) == names
    assert_no_doubled_layers(viewer)
    for name, layer in output_layers(viewer).items():
        assert layer.unique_id == made[name].unique_id  # the very layers the user sees
    np.testing.assert_array_equal(viewer.layers["prediction"].data, second)
    assert viewer.layers["score overlay"].visible
    np.testing.assert_array_equal(viewer.layers["score overlay"].data,
                                  composite_rgb(second, scores.gaussian_reward(trace, 3.0, 15)))
    assert f"BCE  {scores.bce(second, trace):.4f}" in widget.score_panel.value

    # the live controls move the visible layers after the re-run
    widget.sigma.value = 1.4
    np.testing.assert_array_equal(viewer.layers["score overlay"].data,
                                  composite_rgb(second, scores.gaussian_reward(trace, 1.4, 15)))
    assert f"{scores.gaussian_loss(second, trace, 1.4, 15):.4f}" in widget.score_panel.value
    widget.window.value = 9
    np.testing.assert_array_equal(viewer.layers["score overlay"].data,
                                  composite_rgb(second, scores.gaussian_reward(trace, 1.4, 9)))
    widget.kernel.value = 5
    np.testing.assert_array_equal(viewer.layers["top-hat reward"].data,
                                  reward_rgb(scores.tophat_reward(trace, 5)))
    assert f"top-hat (k=5)  {scores.tophat_loss(second, trace, 5):.4f}" in widget.score_panel.value
    hidden = viewer.layers["Gaussian reward"]  # hidden layers catch up when shown
    hidden.visible = True
    np.testing.assert_array_equal(hidden.data, reward_rgb(scores.gaussian_reward(trace, 1.4, 9)))
    assert len(viewer.layers) == len(names)

    # delete an output layer and run again: it comes back, once
    viewer.layers.remove("score overlay")
    widget.run()
    session.wait_idle()
    assert sorted(layer_names(viewer)) == sorted(names)
    assert_no_doubled_layers(viewer)
    np.testing.assert_array_equal(viewer.layers["score overlay"].data,
                                  composite_rgb(second, scores.gaussian_reward(trace, 1.4, 9)))

    # undock: the old widget stops listening; dock again: a fresh one works on the same layers
    old = widget
    widget = session.redock()
    viewer.add_image(first, name="pred C")
    assert viewer.layers["pred C"] not in old.prediction_layer.choices  # did not hear the insertion
    assert viewer.layers["pred C"] in widget.prediction_layer.choices
    choose(widget, viewer, prediction="pred C")
    widget.run()
    session.wait_idle()
    assert_no_doubled_layers(viewer)
    np.testing.assert_array_equal(viewer.layers["prediction"].data, first)
    assert errors == []
    session.close()


def test_user_layer_with_an_output_name_is_never_touched(widget_session, nist, errors):
    micrograph, trace = nist
    session = widget_session(WIDGET)
    viewer = session.viewer
    viewer.add_image(micrograph, name="micrograph")
    viewer.add_labels(trace.astype(np.uint8), name="trace")
    mine = np.full(trace.shape, 0.25, np.float32)
    viewer.add_image(mine, name="prediction")  # the user's, with our output's name
    viewer.add_image(np.zeros((*trace.shape, 3), np.uint8), rgb=True, name="score overlay")
    widget = session.dock()
    choose(widget, viewer, prediction="prediction")
    widget.run()
    session.wait_idle()
    widget.run()
    session.wait_idle()
    widget.sigma.value = 2.0
    assert np.array_equal(viewer.layers["prediction"].data, mine)
    assert not viewer.layers["score overlay"].data.any()  # the slider never drew into the user's layer
    assert OWNER_KEY not in viewer.layers["prediction"].metadata
    ours = viewer.layers["score overlay (graintrace)"]
    np.testing.assert_array_equal(ours.data, composite_rgb(mine, scores.gaussian_reward(trace, 2.0, 15)))
    assert_no_doubled_layers(viewer)
    assert errors == []
    session.close()


def test_inverted_labels_tracing_takes_the_minority_and_says_so(widget_session, nist, errors):
    micrograph, trace = nist
    session = widget_session(WIDGET)
    viewer = session.viewer
    viewer.add_image(micrograph, name="micrograph")
    inverted = (~trace).astype(np.uint8)  # black-on-white painted as Labels: non-zero is background
    viewer.add_labels(inverted, name="trace")
    pred = shifted_prediction(trace)
    viewer.add_image(pred, name="pred")
    widget = session.dock()
    choose(widget, viewer, prediction="pred")
    # independent: the rarer of zero / non-zero is the boundary
    nonzero = inverted != 0
    boundary = nonzero if nonzero.mean() <= 0.5 else ~nonzero
    assert not nonzero.mean() <= 0.5  # this tracing really is inverted
    assert widget.trace_info.value.startswith("black-on-white")
    assert f"{100 * boundary.mean():.1f} % boundary" in widget.trace_info.value
    widget.run()
    session.wait_idle()
    assert errors == []
    assert f"BCE  {scores.bce(pred, boundary):.4f}" in widget.score_panel.value
    assert f"BCE  {scores.bce(pred, nonzero):.4f}" not in widget.score_panel.value
    session.close()


def test_mismatched_tracing_is_refused_unless_resize_is_asked(widget_session, nist, errors):
    micrograph, trace = nist
    session = widget_session(WIDGET)
    viewer = session.viewer
    viewer.add_image(micrograph, name="micrograph")
    small = trace[::2, ::2].copy()[:250]  # 250 x 400: another shape and aspect ratio
    viewer.add_labels(small.astype(np.uint8), name="trace")
    pred = shifted_prediction(trace)
    viewer.add_image(pred, name="pred")
    widget = session.dock()
    choose(widget, viewer, prediction="pred")
    before = layer_names(viewer)
    widget.run()
    session.wait_idle()
    assert errors and "250 x 400" in errors[-1] and "600 x 800" in errors[-1]
    assert layer_names(viewer) == before and widget.evaluation is None  # nothing scored or drawn
    assert "250 x 400" in widget.trace_info.value  # the widget says so before any run, too

    widget.resize_trace.value = True
    count = len(errors)
    widget.run()
    session.wait_idle()
    assert len(errors) == count
    expected = resize_trace(small, (600, 800))
    assert f"BCE  {scores.bce(pred, expected):.4f}" in widget.score_panel.value
    assert "resized to the micrograph (asked)" in widget.score_panel.value
    session.close()


def test_checkpoint_run_rerun_and_cancel(widget_session, nist, errors, infos, qtbot, monkeypatch):
    from napari_graintrace.core.model import checkpoints, inference
    from napari_graintrace.data import DEMO_CHECKPOINTS

    micrograph, trace = nist
    session = widget_session(WIDGET)
    viewer = session.viewer
    viewer.add_image(micrograph, name="micrograph")
    viewer.add_labels(trace.astype(np.uint8), name="trace")
    widget = session.dock()
    choose(widget, viewer)
    widget.checkpoint_folder.value = DEMO_CHECKPOINTS
    series = checkpoints.find_checkpoints(DEMO_CHECKPOINTS)
    widget.resolution.value = "256"

    # Cancel before the worker has done anything: idle at once, no layer made, nothing reported late
    widget.epoch.value = series[0]
    widget.run()
    worker = widget._worker
    assert worker is not None
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        widget.cancel()
        assert not widget.busy and widget.run_button.enabled  # effective at once
    qtbot.wait(50)
    assert output_layers(viewer) == {} and errors == []
    assert infos[-1].startswith("prediction cancelled")

    widget.epoch.value = series[-1]
    widget.run()
    session.wait_idle()
    assert errors == []
    layer = viewer.layers["prediction"]
    # the network saw 256 x 256; the map is back on the micrograph's grid and scored there
    assert layer.data.shape == (600, 800) and layer.data.dtype == np.float32
    np.testing.assert_allclose(layer.scale, (1, 1))
    expected = inference.predict(checkpoints.load_checkpoint(series[-1].path), micrograph, resolution=256)
    np.testing.assert_allclose(layer.data, expected, atol=1e-6)
    assert f"BCE  {scores.bce(expected, trace):.4f}  (float map" in widget.score_panel.value
    assert "scored on 600 x 800" in widget.score_panel.value
    names = layer_names(viewer)

    widget.epoch.value = series[0]  # another epoch: through the worker, into the same layers
    widget.run()
    session.wait_idle()
    assert layer_names(viewer) == names
    assert_no_doubled_layers(viewer)
    monkeypatch.setattr(inspect, "_predict_in_background", None)  # no prediction from here on
    widget.epoch.value = series[-1]  # an epoch already predicted is shown from the cache
    session.wait_idle()
    assert f"epoch {series[-1].epoch}" in widget.score_panel.value
    np.testing.assert_allclose(viewer.layers["prediction"].data, expected, atol=1e-6)
    widget.sigma.value = 2.5  # and the visible overlay follows the slider
    drawn = viewer.layers["score overlay"].data.astype(int)  # the scorer's float32 path: a level apart at most
    want = composite_rgb(viewer.layers["prediction"].data, scores.gaussian_reward(trace, 2.5, 15)).astype(int)
    assert np.abs(drawn - want).max() <= 1 and np.count_nonzero(drawn != want) < 10
    assert errors == []
    session.close()


def test_damaged_checkpoint_is_a_short_notification(widget_session, nist, errors, tmp_path):
    micrograph, trace = nist
    session = widget_session(WIDGET)
    viewer = session.viewer
    viewer.add_image(micrograph, name="micrograph")
    viewer.add_labels(trace.astype(np.uint8), name="trace")
    widget = session.dock()
    choose(widget, viewer)
    folder = tmp_path / ("a folder with a long name " * 4).strip()
    folder.mkdir()
    (folder / "unet_3.pth").write_bytes(b"not a checkpoint")
    widget.checkpoint_folder.value = folder
    widget.resolution.value = "256"
    widget.run()
    session.wait_idle()
    assert errors[-1].startswith("unet_3.pth: ")  # the collapsed notification says what, not a path
    assert str(folder / "unet_3.pth") in errors[-1]  # the full path is still there
    assert layer_names(viewer) == ["micrograph", "trace"]
    session.close()


def test_long_paths_and_notes_do_not_widen_the_dock(widget_session, make_napari_viewer, nist, errors):
    micrograph, trace = nist
    session = widget_session(WIDGET, make_napari_viewer(show=True))  # size hints need shown widgets
    viewer = session.viewer
    viewer.add_image(micrograph, name="micrograph")
    viewer.add_labels(trace.astype(np.uint8), name="trace")
    widget = session.dock()
    choose(widget, viewer)
    session.qtbot.wait(50)

    def widths() -> tuple[int, int]:
        return session.dock_widget.minimumSizeHint().width(), widget.native.minimumSizeHint().width()

    before = widths()
    long = "/data/" + "a-very-long-folder-name/" * 12 + "unet_300.pth"
    widget.score_panel.value = f"epoch 300 ({long})\nBCE 0.1234\n" + "a long note " * 30
    widget.trace_info.value = "unusable: " + long
    viewer.add_image(micrograph, name="micrograph " + "with a very long layer name " * 6)
    session.qtbot.wait(50)
    assert all(after <= width + 5 for after, width in zip(widths(), before, strict=True)), (widths(), before)
    assert widget.trace_info.native.toolTip().endswith("unet_300.pth")  # the full text stays reachable
    session.close()


def test_a_message_that_starts_with_a_long_path_leads_with_the_file_name():
    long = "/home/someone/projects/grains/2026/run-with-a-long-name/checkpoints/unet_30.pth"
    shown = _common.readable_message(f"{long}: not a readable PyTorch checkpoint")
    assert shown == f"unet_30.pth: not a readable PyTorch checkpoint (file: {long})"
    assert _common.readable_message("/tmp/a.png: no such file") == "/tmp/a.png: no such file"  # short: as is
    assert _common.readable_message("choose a tracing layer") == "choose a tracing layer"


def test_a_large_map_redraws_the_sigma_layers_off_the_gui_thread(widget_session, nist, errors, qtbot,
                                                                  monkeypatch):
    """Above LIVE_REDRAW_PIXELS a sigma move updates the readout at once and the visible layers from a
    worker, at the latest sigma; a hidden one is drawn when shown. (The NIST map stands in for a
    4096 x 4096 one: the threshold is lowered, the path is the same.)"""
    micrograph, trace = nist
    session = widget_session(WIDGET)
    viewer = session.viewer
    viewer.add_image(micrograph, name="micrograph")
    viewer.add_labels(trace.astype(np.uint8), name="trace")
    pred = shifted_prediction(trace, 2, 0.9)
    viewer.add_image(pred, name="pred")
    widget = session.dock()
    choose(widget, viewer, prediction="pred")
    widget.run()
    session.wait_idle()
    monkeypatch.setattr(inspect, "LIVE_REDRAW_PIXELS", 0)
    overlay = viewer.layers["score overlay"]
    assert overlay.visible and not viewer.layers["Gaussian reward"].visible
    for sigma in (1.4, 2.2, 4.0):  # moved faster than it draws: the last one is what stays
        widget.sigma.value = sigma
    assert f"Gaussian (sigma=4, w=15)  {scores.gaussian_loss(pred, trace, 4.0, 15):.4f}" in widget.score_panel.value
    expected = composite_rgb(pred, scores.gaussian_reward(trace, 4.0, 15))
    qtbot.waitUntil(lambda: np.array_equal(overlay.data, expected), timeout=30_000)
    qtbot.waitUntil(lambda: widget._redraw_worker is None, timeout=30_000)
    np.testing.assert_array_equal(overlay.data, expected)
    hidden = viewer.layers["Gaussian reward"]
    hidden.visible = True
    np.testing.assert_array_equal(hidden.data, reward_rgb(scores.gaussian_reward(trace, 4.0, 15)))
    assert errors == []
    session.close()
