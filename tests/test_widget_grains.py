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


# --------------------------------------------------------------------------------------------
# pressed as a person presses them: real clicks, folders through the FileEdit's own button
# --------------------------------------------------------------------------------------------
def click(button) -> None:
    """A real left click on a magicgui button's Qt widget."""
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    assert button.enabled, f"{button.text!r} is disabled"
    QTest.mouseClick(button.native, Qt.MouseButton.LeftButton)


def answer_folder_dialogs(monkeypatch, answers: list) -> None:
    """Every folder dialog answers the next path of ``answers`` (QFileDialog and magicgui's copy of it)."""
    from magicgui.backends._qtpy import widgets as qt_widgets
    from qtpy.QtWidgets import QFileDialog

    def directory(*_args, **_kwargs) -> str:
        assert answers, "a folder dialog opened with no answer queued"
        return str(answers.pop(0))

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(directory))
    for mode, function in list(qt_widgets.QFILE_DIALOG_MODES.items()):
        if getattr(function, "__name__", "") == "getExistingDirectory":
            monkeypatch.setitem(qt_widgets.QFILE_DIALOG_MODES, mode, directory)


@pytest.fixture
def files(tmp_path, crop, soft):
    """The map as a float TIFF whose resolution tags say 0.5 um/px, and the tracing as a PNG."""
    import tifffile
    from PIL import Image

    pred_path, trace_path = tmp_path / "pred.tif", tmp_path / "trace.png"
    tifffile.imwrite(pred_path, soft, resolution=(20_000, 20_000), resolutionunit="CENTIMETER")
    Image.fromarray(crop.astype(np.uint8) * 255).save(trace_path)
    return pred_path, trace_path


def test_export_grains_writes_what_the_cli_writes(widget_session, monkeypatch, errors, files, tmp_path):
    import csv

    import tifffile
    from napari.layers import Image as ImageLayer

    from napari_graintrace.cli import main

    pred_path, trace_path = files
    session = widget_session("Grains")
    viewer = session.viewer
    viewer.open(str(pred_path))
    viewer.open(str(trace_path))
    widget = session.dock()
    prediction, tracing = viewer.layers["pred"], viewer.layers["trace"]
    assert isinstance(prediction, ImageLayer)
    widget.prediction_layer.value = prediction
    widget.trace_layer.value = tracing
    assert widget.pixel_size.value == pytest.approx(0.5)  # from the TIFF's resolution tags, in the control
    click(widget.run_button)
    session.wait_idle()
    assert errors == []
    assert "measured on 240 x 320" in widget.status.value and "pred.tif's resolution tags" in widget.status.value
    shown = widget.metrics_panel.value
    intercept_px = widget.metrics["mean_intercept_px"]
    assert f"mean intercept (um)  {0.5 * intercept_px:.4f}" in shown and "ASTM G intercept" in shown
    assert widget.figure.axes[0].get_xlabel() == "equivalent diameter (um)"

    folder = tmp_path / "from the widget"
    answer_folder_dialogs(monkeypatch, [folder])
    click(widget.grains_folder.choose_btn)
    assert widget.grains_folder.value == folder
    click(widget.export_grains_button)
    assert errors == []
    cli = tmp_path / "from the cli"
    assert main(["grains", str(pred_path), "--trace", str(trace_path), "--pixel-size", "0.5", "-o", str(cli)]) == 0
    for name in ("grains.csv", "grains_summary.json"):
        assert (folder / name).read_text() == (cli / name).read_text(), name
    np.testing.assert_array_equal(tifffile.imread(folder / "grains_labels.tif"), tifffile.imread(cli / "grains_labels.tif"))
    assert (folder / "grain_sizes.png").stat().st_size > 10_000
    with open(folder / "grains.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["grid"] == "240x320" and "equivalent_diameter_um" in rows[0]
    summary = json.loads((folder / "grains_summary.json").read_text())
    assert summary["mean_intercept_px"] == pytest.approx(intercept_px) and summary["grid"] == "240x320"

    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    click(widget.export_grains_button)  # again, overwrite unticked: refused, nothing touched
    assert errors and "already exists" in errors[-1]
    assert before == {path.name: path.read_bytes() for path in folder.iterdir()}
    session.close()


def test_a_square_map_is_measured_on_the_tracing_grid(widget_session, errors, crop, soft):
    """The lab's square map of a 240 x 320 area: resampled to the tracing's grid, never measured stretched."""
    from napari_graintrace.core.grid import to_grid

    session = widget_session("Grains")
    viewer = session.viewer
    viewer.add_image(to_grid(soft, (512, 512)), name="square map")
    viewer.add_labels(crop.astype(np.uint8), name="tracing")
    widget = session.dock()
    widget.prediction_layer.value = viewer.layers["square map"]
    widget.trace_layer.value = viewer.layers["tracing"]
    click(widget.run_button)
    session.wait_idle()
    assert errors == []
    assert widget.grain_labels.shape == crop.shape == ours(viewer, "grains").data.shape
    assert "map 512 x 512 resampled" in widget.status.value
    native = grains.stats(grains.segment(soft))["mean_intercept_px"]
    assert widget.metrics["mean_intercept_px"] == pytest.approx(native, rel=0.10)
    session.close()


def test_pixel_size_from_the_layer_scale_and_the_themed_histogram(widget_session, errors, soft):
    session = widget_session("Grains")
    viewer = session.viewer
    viewer.add_image(soft, name="in um", scale=(0.25, 0.25))
    viewer.add_image(soft, name="in nm", scale=(125, 125), units=("nm", "nm"))
    widget = session.dock()
    widget.prediction_layer.value = viewer.layers["in um"]
    assert widget.pixel_size.value == pytest.approx(0.25)
    widget.prediction_layer.value = viewer.layers["in nm"]
    assert widget.pixel_size.value == pytest.approx(0.125)
    widget.pixel_size.value = 0.2  # the user's value wins until another layer brings one
    click(widget.run_button)
    session.wait_idle()
    assert errors == [] and "0.2 um/px" in widget.status.value and "scale" not in widget.status.value
    assert widget.metrics["mean_intercept_um"] == pytest.approx(0.2 * widget.metrics["mean_intercept_px"])

    # the histogram is core's drawing in napari-matplotlib's canvas, in the viewer's colours
    from matplotlib.colors import to_hex

    axes = widget.figure.axes[0]
    table = grains.grain_table(widget.grain_labels)
    edges, counts, _ = grains.size_distributions(table, None, 0.2)
    drawn = axes.patches[0].get_data()
    np.testing.assert_array_equal(drawn.values, counts)
    np.testing.assert_allclose(drawn.edges, edges)
    def label_colour() -> str:
        return to_hex(widget.figure.axes[0].xaxis.label.get_color())

    assert viewer.theme == "dark" and label_colour() != "#000000"  # light text on the dark theme
    dark = label_colour()
    viewer.theme = "light"
    assert label_colour() != dark
    assert widget.figure.axes[0].patches[0].get_data().values.tolist() == counts.tolist()
    session.close()
