"""The "Clean tracing" widget in a real napari viewer (Xvfb via pytest-xvfb)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from widget_session import PLUGIN, assert_no_doubled_layers, layer_names, output_layers

from napari_graintrace._widgets.cleanup import PREVIEW_NAME, CleanupWidget
from napari_graintrace.core.data import CleanupOptions, clean_trace
from napari_graintrace.core.io import read_image
from napari_graintrace.data import NIST_MICROGRAPH, NIST_TRACE, NIST_TRACED_ON_MICROGRAPH

WIDGET = "Clean tracing"


@pytest.fixture
def viewer_and_widget(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    black_on_white = 255 - read_image(NIST_TRACE)  # an exported tracing, the "wrong" polarity
    black_on_white[-30:-20, 10:200] = 0  # a scale bar
    viewer.add_image(black_on_white, name="export")
    viewer.add_image(read_image(NIST_MICROGRAPH), name="micrograph")
    viewer.add_image(read_image(NIST_TRACED_ON_MICROGRAPH), name="painted")
    widget = dock(viewer)
    snapshot = {layer.name: np.array(layer.data, copy=True) for layer in viewer.layers}
    return viewer, widget, snapshot


def dock(viewer) -> CleanupWidget:
    """Docked as Plugins > Grain Trace > Clean tracing does it (the widget sees a proxied viewer)."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    assert isinstance(widget, CleanupWidget)
    return widget


def choice_names(combo) -> list[str]:
    return [layer.name for layer in combo.choices if layer is not None]


def assert_user_layers_unchanged(viewer, snapshot):
    for name, data in snapshot.items():
        np.testing.assert_array_equal(viewer.layers[name].data, data)


def test_controls_drive_the_live_preview(viewer_and_widget, qtbot, errors):
    viewer, widget, snapshot = viewer_and_widget
    # the only two-level image is preselected as the tracing, and its live preview follows
    assert widget.trace_layer.value.name == "export" and widget.original_layer.value is None
    qtbot.waitUntil(lambda: PREVIEW_NAME in viewer.layers, timeout=3000)  # debounced update
    preview = viewer.layers[PREVIEW_NAME]
    expected, report = clean_trace(snapshot["export"], CleanupOptions())
    np.testing.assert_array_equal(preview.data, expected)
    assert report["polarity"] == "black-on-white" and "black-on-white" in widget.status.value
    assert PREVIEW_NAME not in choice_names(widget.trace_layer)  # our output is not an input

    widget.bottom.value = 40
    widget.min_size.value = 20
    widget.thickness.value = "3"
    widget.footprint.value = "square"
    widget.update_preview()
    params = CleanupOptions(margins=(0, 40, 0, 0), min_size=20, thickness=3, footprint="square")
    assert widget.params() == params
    expected = clean_trace(snapshot["export"], params)[0]
    np.testing.assert_array_equal(viewer.layers[PREVIEW_NAME].data, expected)
    assert not viewer.layers[PREVIEW_NAME].data[-40:].any()  # the scale bar is gone
    assert viewer.layers[PREVIEW_NAME].unique_id == preview.unique_id  # updated in place, never duplicated
    assert viewer.layers[PREVIEW_NAME].metadata["cleanup"] == params.to_dict()

    widget.border_mode.value = "crop"
    widget.update_preview()
    assert viewer.layers[PREVIEW_NAME].data.shape == (600 - 40, 800)
    widget.top.value = 10
    widget.update_preview()
    np.testing.assert_allclose(viewer.layers[PREVIEW_NAME].translate, (10, 0))  # stays on top of its source

    widget.otsu.value = False
    assert widget.threshold.enabled
    widget.threshold.value = 0.3
    widget.update_preview()
    assert widget.params().threshold == pytest.approx(0.3)
    assert errors == []
    assert len(viewer.layers) == 4
    assert_user_layers_unchanged(viewer, snapshot)


def test_extraction_from_the_painted_micrograph(viewer_and_widget, errors):
    viewer, widget, snapshot = viewer_and_widget
    widget.trace_layer.value = viewer.layers["painted"]
    widget.original_layer.value = viewer.layers["micrograph"]
    widget.update_preview()
    expected, report = clean_trace(snapshot["painted"], CleanupOptions(), original=snapshot["micrograph"])
    assert report["method"] == "extract" and "extracted" in widget.status.value
    np.testing.assert_array_equal(viewer.layers[PREVIEW_NAME].data, expected)
    assert errors == []
    assert_user_layers_unchanged(viewer, snapshot)


def test_bad_input_is_a_notification_not_an_exception(viewer_and_widget, errors):
    viewer, widget, snapshot = viewer_and_widget
    viewer.add_image(np.zeros((100, 120), np.uint8), name="small")
    widget.trace_layer.value = viewer.layers["export"]
    widget.original_layer.value = viewer.layers["small"]  # wrong shape
    widget.update_preview()
    assert errors and "shapes must match" in errors[-1] and "unusable" in widget.status.value
    assert widget.apply() is None  # nothing stale gets applied
    widget.original_layer.value = None
    widget.top.value, widget.bottom.value = 300, 300  # leaves nothing
    widget.update_preview()
    assert "leave nothing" in errors[-1]
    viewer.add_image(np.zeros((3, 50, 60), np.uint8), name="stack")
    widget.top.value = widget.bottom.value = 0
    widget.trace_layer.value = viewer.layers["stack"]
    widget.update_preview()
    assert "2-D" in errors[-1]
    assert_user_layers_unchanged(viewer, snapshot)


def test_apply_touch_up_save_reload(viewer_and_widget, tmp_path, errors):
    viewer, widget, snapshot = viewer_and_widget
    widget.trace_layer.value = viewer.layers["export"]
    widget.thickness.value = "1"
    layer = widget.apply()
    assert layer is not None and layer.name == "export cleaned"
    assert layer.metadata["cleanup"]["thickness"] == 1
    assert "export cleaned" in choice_names(widget.trace_layer)  # the user's own layer now
    layer.data[5, 5] = 1  # a touch-up with the paint brush
    layer.refresh()
    path = widget.save(tmp_path / "clean.png")
    saved = np.asarray(Image.open(path))
    assert saved.dtype == np.uint8 and set(np.unique(saved)) == {0, 255}
    np.testing.assert_array_equal(saved == 255, layer.data != 0)
    sidecar = json.loads((tmp_path / "clean.cleanup.json").read_text())
    assert sidecar["layer"] == "export cleaned" and CleanupOptions.from_dict(sidecar["params"]).thickness == 1
    # reload: the same tracing comes back
    np.testing.assert_array_equal(read_image(path) == 255, layer.data != 0)

    # a second save refuses to overwrite, unless the box is ticked
    before = path.stat().st_mtime_ns
    assert widget.save(path) is None and "already exists" in errors[-1]
    assert path.stat().st_mtime_ns == before
    widget.overwrite.value = True
    viewer.layers.remove(layer)  # no applied layer any more: the preview is saved
    assert widget.save(path) == path
    np.testing.assert_array_equal(np.asarray(Image.open(path)) == 255, viewer.layers[PREVIEW_NAME].data != 0)
    assert_user_layers_unchanged(viewer, snapshot)


def test_labels_tracing_layer(make_napari_viewer, qtbot, errors):
    viewer = make_napari_viewer()
    trace = read_image(NIST_TRACE) > 0
    viewer.add_labels(trace.astype(np.uint8) * 3, name="trace labels")
    widget = dock(viewer)
    widget.trace_layer.value = viewer.layers["trace labels"]
    widget.thickness.value = "5"
    widget.footprint.value = "gaussian"
    widget.update_preview()
    expected = clean_trace(trace, CleanupOptions(thickness=5, footprint="gaussian"))[0]
    np.testing.assert_array_equal(viewer.layers[PREVIEW_NAME].data, expected)
    assert errors == []


def test_closing_the_dock_with_a_preview_pending_is_quiet(make_napari_viewer, qtbot, errors):
    """A control moved just before the dock (or the viewer) closes must not fire the debounced
    preview on deleted Qt widgets, and a closed dock must stop listening to layer events."""
    viewer = make_napari_viewer()
    viewer.add_image(read_image(NIST_TRACE), name="export")
    widget = dock(viewer)
    widget.trace_layer.value = viewer.layers["export"]
    widget.thickness.value = "3"  # schedules the preview
    assert widget._timer.isActive()
    with qtbot.waitSignal(widget.native.destroyed, timeout=3000):
        widget.native.deleteLater()
    qtbot.wait(200)  # longer than the debounce
    viewer.add_image(np.zeros((8, 8)), name="later")  # layer events reach no deleted widget
    viewer.layers.remove("later")
    qtbot.wait(200)
    assert errors == []
    assert PREVIEW_NAME not in viewer.layers


def test_user_session_through_the_plugin_menu(widget_session, errors):
    session = widget_session(WIDGET)
    viewer = session.viewer
    export = 255 - read_image(NIST_TRACE)  # black-on-white
    viewer.add_image(export, name="export")
    widget = session.dock()
    widget.trace_layer.value = viewer.layers["export"]
    session.wait_until(lambda: PREVIEW_NAME in viewer.layers, 5_000)  # the debounced preview
    names = layer_names(viewer)
    preview = output_layers(viewer)[PREVIEW_NAME]

    # run again (another setting): the same layer, in place, showing the latest result
    widget.thickness.value = "3"
    widget.update_preview()
    assert layer_names(viewer) == names
    assert output_layers(viewer)[PREVIEW_NAME].unique_id == preview.unique_id
    np.testing.assert_array_equal(viewer.layers[PREVIEW_NAME].data,
                                  clean_trace(export, CleanupOptions(thickness=3))[0])

    # a live control after the re-run: the visible layer follows (debounced)
    widget.min_size.value = 50
    expected = clean_trace(export, CleanupOptions(thickness=3, min_size=50))[0]
    session.wait_until(lambda: np.array_equal(viewer.layers[PREVIEW_NAME].data, expected), 5_000)

    # delete the output layer and run again: it comes back, once
    viewer.layers.remove(PREVIEW_NAME)
    widget.bottom.value = 20
    expected = clean_trace(export, CleanupOptions(margins=(0, 20, 0, 0), thickness=3, min_size=50))[0]
    session.wait_until(lambda: PREVIEW_NAME in viewer.layers, 5_000)
    np.testing.assert_array_equal(viewer.layers[PREVIEW_NAME].data, expected)
    assert layer_names(viewer) == names
    assert_no_doubled_layers(viewer)

    # undock (the old widget goes quiet), dock again, and it works
    old = session.widget
    widget = session.redock()
    viewer.add_image(export, name="another export")
    assert "another export" not in choice_names(old.trace_layer)
    widget.trace_layer.value = viewer.layers["another export"]
    widget.update_preview()
    np.testing.assert_array_equal(viewer.layers[PREVIEW_NAME].data, clean_trace(export, CleanupOptions())[0])
    assert_no_doubled_layers(viewer)
    assert errors == []
    session.close()


def test_inverted_labels_tracing_takes_the_minority(widget_session, errors):
    session = widget_session(WIDGET)
    viewer = session.viewer
    trace = read_image(NIST_TRACE) > 0
    inverted = (~trace).astype(np.uint8) * 2  # black-on-white painted as Labels: non-zero is background
    viewer.add_labels(inverted, name="inverted labels")
    widget = session.dock()
    widget.trace_layer.value = viewer.layers["inverted labels"]
    widget.update_preview()
    nonzero = inverted != 0  # independent: the rarer side is the boundary
    boundary = nonzero if nonzero.mean() <= 0.5 else ~nonzero
    np.testing.assert_array_equal(viewer.layers[PREVIEW_NAME].data != 0, boundary)
    assert "black-on-white" in widget.status.value
    assert f"{100 * boundary.mean():.1f}% boundary" in widget.status.value
    assert errors == []
    session.close()
