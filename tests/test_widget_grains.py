"""The "Grains" widget docked the way users dock it (Plugins menu: a PublicOnlyProxy of the viewer)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from qtpy.QtCore import Qt
from skimage import filters
from widget_session import OWNER_KEY

from napari_graintrace.core import grains


@pytest.fixture
def crop(nist_trace) -> np.ndarray:
    return nist_trace[:240, :320]


@pytest.fixture
def soft(crop) -> np.ndarray:
    blurred = filters.gaussian(crop.astype(float), 2.0)
    return (blurred / blurred.max()).astype(np.float32)


def ours(viewer, name: str):
    found = [layer for layer in viewer.layers if layer.metadata.get(OWNER_KEY) == name]
    assert len(found) <= 1, [layer.name for layer in viewer.layers]
    return found[0] if found else None


def test_user_session(widget_session, qtbot, errors, crop, soft):
    session = widget_session("Grains")
    viewer = session.viewer
    viewer.add_image(soft, name="my prediction")
    viewer.add_labels(crop.astype(np.uint8), name="my tracing")  # Labels: non-zero = boundary
    widget = session.dock()
    widget.prediction_layer.value = viewer.layers["my prediction"]
    widget.trace_layer.value = viewer.layers["my tracing"]
    truth = grains.trace_labels(crop)

    widget.run_button.clicked.emit()
    session.wait_idle()  # segmented in a worker
    assert errors == []
    layer = ours(viewer, "grains")
    expected = grains.segment(soft)
    np.testing.assert_array_equal(widget.grain_labels, expected)
    # the layers hold each grain's fate (1 matched, 2 split, 3 merged, 4 spurious, 5 missed; 0 boundary)
    pred_fate, true_fate = grains.grain_fates(expected, truth)
    np.testing.assert_array_equal(layer.data, pred_fate[expected])
    np.testing.assert_array_equal(ours(viewer, "true grains").data, true_fate[truth])
    assert set(np.unique(layer.data)) <= {0, 1, 2, 3, 4} and 1 in layer.data
    result = grains.compare(expected, truth)
    assert f"grain F1  {result['grain_f1']:.4f}" in widget.metrics_panel.value
    assert f"VI merge  {result['vi_merge']:.4f}" in widget.metrics_panel.value
    # fate colours: matched green, missed blue, the boundary transparent
    np.testing.assert_allclose(layer.colormap.map(np.array([1]))[0], (0.2, 0.8, 0.2, 1.0), atol=1e-6)
    np.testing.assert_allclose(layer.colormap.map(np.array([5]))[0], (0.2, 0.4, 1.0, 1.0), atol=1e-6)
    assert layer.colormap.map(np.array([0]))[0][3] == 0

    widget.run_button.clicked.emit()  # again: updated in place, nothing doubled
    session.wait_idle()  # segmented in a worker
    assert len(viewer.layers) == 4
    first = ours(viewer, "grains").data.copy()

    # live controls after the re-run: one debounced re-segmentation
    widget.min_area.value = 0
    widget.prune.value = 0
    qtbot.waitUntil(lambda: not np.array_equal(ours(viewer, "grains").data, first), timeout=10_000)
    options = grains.GrainOptions(min_area=0, prune=0)
    moved = grains.segment(soft, options)
    np.testing.assert_array_equal(widget.grain_labels, moved)
    np.testing.assert_array_equal(ours(viewer, "grains").data, grains.grain_fates(moved, truth)[0][moved])
    assert widget.metrics["grains"] == grains.stats(moved)["grains"]

    # a control moved while a run segments (in its worker): shown after it, at the new value
    widget.run_button.clicked.emit()
    assert widget.busy and not widget.run_button.enabled
    widget.prune.value = 10
    later = grains.segment(soft, grains.GrainOptions(min_area=0, prune=10))
    qtbot.waitUntil(lambda: widget.grain_labels is not None and np.array_equal(widget.grain_labels, later),
                    timeout=20_000)
    session.wait_idle()
    np.testing.assert_array_equal(ours(viewer, "grains").data, grains.grain_fates(later, truth)[0][later])
    widget.prune.value = 0
    qtbot.waitUntil(lambda: np.array_equal(widget.grain_labels, moved), timeout=20_000)
    session.wait_idle()

    # a deleted output layer comes back on the next run; the user's layers are untouched
    viewer.layers.remove(ours(viewer, "grains"))
    widget.run_button.clicked.emit()
    session.wait_idle()  # segmented in a worker
    assert ours(viewer, "grains") is not None and len(viewer.layers) == 4
    np.testing.assert_array_equal(viewer.layers["my prediction"].data, soft)

    # tune in the worker: the sliders move to the result and the layer follows
    widget.tune_button.clicked.emit()
    assert widget.busy and not widget.run_button.enabled
    session.wait_idle(timeout_ms=300_000)
    assert errors == []
    tuned = widget.tuned
    assert tuned.scores["grain_f1"] > result["grain_f1"]
    assert widget.options().post_processing == tuned.options.post_processing
    tuned_labels = grains.segment(soft, tuned.options)
    np.testing.assert_array_equal(widget.grain_labels, tuned_labels)
    np.testing.assert_array_equal(ours(viewer, "grains").data, grains.grain_fates(tuned_labels, truth)[0][tuned_labels])
    assert widget.metrics["grain_f1"] == pytest.approx(tuned.scores["grain_f1"])
    session.close()


def test_cancel_leaves_the_controls(widget_session, qtbot, errors, crop, soft):
    session = widget_session("Grains")
    viewer = session.viewer
    viewer.add_image(soft, name="p")
    viewer.add_image(crop.astype(np.uint8) * 255, name="t")  # an Image tracing, white on black
    widget = session.dock()
    widget.prediction_layer.value = viewer.layers["p"]
    widget.trace_layer.value = viewer.layers["t"]
    widget.run_button.clicked.emit()
    session.wait_idle()  # segmented in a worker
    before, idle_status = widget.options(), widget.status.value
    qtbot.mouseClick(widget.tune_button.native, Qt.MouseButton.LeftButton)
    # Tune started: the widget is busy and its worker has reported a step of the search
    assert widget.cancel_button.enabled and not widget.tune_button.enabled
    qtbot.waitUntil(lambda: widget.status.value != idle_status, timeout=60_000)
    assert widget.tuned is None
    qtbot.mouseClick(widget.cancel_button.native, Qt.MouseButton.LeftButton)
    session.wait_idle(timeout_ms=120_000)
    assert widget.options() == before and widget.tuned is None and errors == []
    assert widget.tune_button.enabled and not widget.cancel_button.enabled
    session.close()


def test_copy_and_export(widget_session, errors, soft, tmp_path):
    session = widget_session("Grains")
    session.viewer.add_image(soft, name="p")
    widget = session.dock()
    widget.prediction_layer.value = session.viewer.layers["p"]
    widget.pixel_size.value = 0.5
    widget.run_button.clicked.emit()
    session.wait_idle()  # segmented in a worker
    np.testing.assert_array_equal(ours(session.viewer, "grains").data, grains.segment(soft))  # no tracing: ids
    table = widget.metrics_table().splitlines()
    assert table[0] == "metric\tvalue" and any(row.startswith("astm_g_intercept\t") for row in table)
    target = tmp_path / "metrics.json"
    widget.export_path.value = target
    widget.export_button.clicked.emit()
    saved = json.loads(target.read_text())
    assert saved["grains"] == grains.stats(grains.segment(soft))["grains"] and saved["prune"] == 30
    widget.export_button.clicked.emit()  # exists, overwrite unchecked: refused, file kept
    assert errors and "already exists" in errors[-1]
    assert json.loads(target.read_text()) == saved
    # undock and dock again: a fresh widget; the old one no longer follows the layer list
    old = widget
    widget = session.redock()
    session.viewer.add_image(soft, name="later")
    assert "later" in [name for name, _ in widget._prediction_choices()]
    assert all(getattr(c, "name", None) != "later" for c in old.prediction_layer.choices)
    session.close()


def test_bad_input_is_a_notification(widget_session, errors, soft):
    session = widget_session("Grains")
    viewer = session.viewer
    widget = session.dock()
    widget.run_button.clicked.emit()
    session.wait_idle()  # segmented in a worker
    assert "choose a prediction layer" in errors[-1]
    viewer.add_image(soft, name="p")
    viewer.add_labels(np.zeros((10, 10), np.uint8), name="small tracing")
    widget.prediction_layer.value = viewer.layers["p"]
    widget.trace_layer.value = viewer.layers["small tracing"]
    widget.run_button.clicked.emit()
    session.wait_idle()  # segmented in a worker
    assert "10 x 10" in errors[-1] and "240 x 320" in errors[-1]
    widget.trace_layer.value = None
    widget.low.value = 0.9  # above the high threshold
    widget.run_button.clicked.emit()
    session.wait_idle()  # segmented in a worker
    assert "must not exceed" in errors[-1]
    widget.tune_button.clicked.emit()
    assert "needs a tracing" in errors[-1]
    assert ours(viewer, "grains") is None
    session.close()
