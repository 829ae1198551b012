"""The five widgets as a person uses them: opened from the Plugins menu on the NIST sample in a laptop-sized
window, every button pressed with a real mouse click in layout order, folders and files chosen through the
widgets' own buttons (the file dialog answers), and what the person sees checked: dropdowns filled, layer
order and visibility, notifications, the window's size."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import QPoint, Qt
from qtpy.QtTest import QTest
from widget_session import (
    LAPTOP,
    OWNER_KEY,
    PLUGIN,
    Dialogs,
    Notifications,
    bring_into_view,
    laptop_viewer,
    press,
    unexpected,
)

from napari_graintrace.core.cache import PredictionCache
from napari_graintrace.data import DEMO_CHECKPOINTS, DEMO_RUNS

WIDGETS = ("Inspect prediction", "Epoch sweep", "Clean tracing", "Aligned crops", "Grains")


@pytest.fixture
def notes():
    notifications = Notifications()
    yield notifications
    notifications.close()


def dock(viewer, name: str):
    return viewer.window.add_plugin_dock_widget(PLUGIN, name)[1]


def wait_idle(widget, qtbot, timeout_ms: int = 240_000) -> None:
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout_ms)


def names(viewer) -> list[str]:
    return [layer.name for layer in viewer.layers]


def visible_outputs_on_top(viewer, outputs=None) -> bool:
    """Our visible output layers (those named in ``outputs``, or all) are above every layer of the user's."""
    layers = list(viewer.layers)
    ours = [i for i, layer in enumerate(layers) if layer.visible and layer.metadata.get(OWNER_KEY)
            and (outputs is None or layer.metadata[OWNER_KEY] in outputs)]
    users = [i for i, layer in enumerate(layers) if not layer.metadata.get(OWNER_KEY)]
    return bool(ours) and (not users or max(users) < min(ours))


def choose_in_combo(combo, text: str) -> None:
    """Pick an entry of a visible dropdown (its Qt combo box) by its text."""
    index = combo.native.findText(text)
    assert index >= 0, f"{text!r} is not offered: {[combo.native.itemText(i) for i in range(combo.native.count())]}"
    combo.native.setCurrentIndex(index)


def click_on_plot(widget, line, index: int, qtbot) -> None:
    """A real mouse click on point ``index`` of a matplotlib line in the docked canvas."""
    canvas = widget.canvas
    canvas.draw()
    bring_into_view(widget, canvas, qtbot)
    x, y = line.axes.transData.transform((line.get_xdata()[index], line.get_ydata()[index]))
    ratio = canvas.device_pixel_ratio or 1
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(round(x / ratio), round(canvas.height() - y / ratio)))


def test_epoch_sweep_every_button(make_napari_viewer, qtbot, tmp_path, monkeypatch, notes, errors):
    from napari_graintrace.core import sweep

    viewer = laptop_viewer(make_napari_viewer)
    dialogs = Dialogs(monkeypatch)
    widget = dock(viewer, "Epoch sweep")
    widget.cache = PredictionCache(tmp_path / "cache")
    assert widget.image_layer.value.name == "steel micrograph" and widget.trace_layer.value.name == "steel trace"

    # two runs, each folder chosen through the dialog; "Add run" pressed with the mouse
    dialogs.choose(widget, widget.checkpoint_folder, DEMO_RUNS["original"], qtbot)
    press(widget, widget.add_run_button, qtbot)
    dialogs.choose(widget, widget.checkpoint_folder, DEMO_RUNS["with_crops"], qtbot)
    press(widget, widget.add_run_button, qtbot)
    assert errors == [] and widget.runs_list.choices == ("original", "with_crops")
    press(widget, widget.add_run_button, qtbot)  # the same folder again: refused by name, not replaced
    assert "already named 'with_crops'" in errors[-1]
    errors.clear()
    widget.runs_list.native.item(1).setSelected(True)
    press(widget, widget.remove_run_button, qtbot)
    assert widget.runs_list.choices == ("original",)
    widget.run_name.native.setText("crops")
    press(widget, widget.add_run_button, qtbot)
    assert widget.runs_list.choices == ("original", "crops")

    press(widget, widget.add_pair_button, qtbot)
    assert widget.pairs_label.value == "steel micrograph + steel trace"
    press(widget, widget.clear_pairs_button, qtbot)
    assert widget.pairs_label.value == "(the chosen pair)"
    choose_in_combo(widget.resolution, "256")

    press(widget, widget.run_button, qtbot)
    press(widget, widget.cancel_button, qtbot)  # at once: stops between predictions
    wait_idle(widget, qtbot)
    assert any("sweep cancelled" in m for m in notes.messages)
    press(widget, widget.run_button, qtbot)
    wait_idle(widget, qtbot)
    assert errors == [] and widget.result.runs == ["original", "crops"]
    assert widget.result.epochs_of("crops") == [0, 10, 20, 30, 40, 50, 59]

    # the best-epoch table: a run per column, every column on screen
    table = widget.best_table.native
    bring_into_view(widget, widget.best_table, qtbot)
    assert [table.horizontalHeaderItem(i).text() for i in range(table.columnCount())] == ["original", "crops"]
    header = table.horizontalHeader()
    for column in range(table.columnCount()):
        assert header.sectionViewportPosition(column) + header.sectionSize(column) <= table.viewport().width()
    # ... and every "epoch: value" whole in its cell (not cut to "59: 0..."), the grid in the heading
    metrics = table.fontMetrics()
    for row in range(table.rowCount()):
        for column in range(table.columnCount()):
            text = table.item(row, column).text()
            assert metrics.horizontalAdvance(text) < table.columnWidth(column), (text, table.columnWidth(column))
    assert widget.best_heading.text() == "best epoch (scored on 600x800)"

    dialogs.choose(widget, widget.export_path, tmp_path / "curves.csv", qtbot)
    press(widget, widget.overwrite, qtbot)
    assert widget.overwrite.value
    press(widget, widget.export_csv_button, qtbot)
    press(widget, widget.export_png_button, qtbot)
    assert (tmp_path / "curves.csv").read_text().startswith("run,epoch,checkpoint,image,metric")
    assert (tmp_path / "curves.png").stat().st_size > 1000

    # a click on a point of the plot shows that epoch's layers, on top, the selection kept
    viewer.layers.selection.active = viewer.layers["steel micrograph"]
    ax = widget.figure.axes[[m for m, _ in sweep.PANELS].index("bce")]
    line = next(line for line in ax.get_lines() if line.get_gid() == "mean|crops|")
    click_on_plot(widget, line, 4, qtbot)
    wait_idle(widget, qtbot)
    assert widget.marked == ("crops", 40)
    np.testing.assert_array_equal(viewer.layers["prediction"].data,
                                  widget.cache.load(widget.result.predictions[("crops", 40, "steel micrograph")]))
    assert visible_outputs_on_top(viewer) and viewer.layers.selection.active.name == "steel micrograph"
    assert unexpected(errors + notes.messages) == []


def test_inspect_results_on_top_after_the_user_opens_another_image(make_napari_viewer, qtbot, monkeypatch, notes,
                                                                    errors):
    viewer = laptop_viewer(make_napari_viewer)
    dialogs = Dialogs(monkeypatch)
    widget = dock(viewer, "Inspect prediction")
    assert widget.image_layer.value.name == "steel micrograph" and widget.trace_layer.value.name == "steel trace"
    dialogs.choose(widget, widget.checkpoint_folder, DEMO_CHECKPOINTS, qtbot)
    assert widget.epoch.value.epoch == 59
    choose_in_combo(widget.resolution, "256")
    press(widget, widget.run_button, qtbot)  # at once: choosing the folder never leaves Run disabled
    wait_idle(widget, qtbot)
    assert visible_outputs_on_top(viewer)

    viewer.add_image(np.random.default_rng(0).random((600, 800), dtype=np.float32), name="another micrograph")
    assert names(viewer)[-1] == "another micrograph" and viewer.layers.selection.active.name == "another micrograph"
    choose_in_combo(widget.epoch, "epoch 40  (demo_40.pth)")
    press(widget, widget.run_button, qtbot)
    wait_idle(widget, qtbot)
    shown = [layer.name for layer in viewer.layers if layer.visible]
    assert shown[-2:] == ["prediction", "score overlay"] or shown[-1] == "score overlay", shown
    assert visible_outputs_on_top(viewer)
    assert viewer.layers.selection.active.name == "another micrograph"  # the user's selection kept
    assert widget.epoch_label == "epoch 40" and unexpected(errors + notes.messages) == []


def test_all_five_docked_fit_a_laptop_screen(make_napari_viewer, qtbot, errors):
    """Every control of every widget can be reached in a 1366 x 768 window with all five docked."""
    from magicgui.widgets import PushButton

    viewer = laptop_viewer(make_napari_viewer)
    widgets = [dock(viewer, name) for name in WIDGETS]
    qtbot.wait(50)
    window = viewer.window._qt_window
    assert window.minimumSizeHint().height() <= LAPTOP[1] and window.minimumSize().height() <= LAPTOP[1]
    assert window.frameGeometry().height() <= LAPTOP[1] and window.width() <= LAPTOP[0]
    for widget in widgets:
        buttons = [w for w in widget_tree(widget) if isinstance(w, PushButton) and w.native.isVisibleTo(widget.native)]
        assert buttons
        for button in buttons:
            bring_into_view(widget, button, qtbot)
        # the dropdowns start filled with the sample's layers
        for attribute, expected in (("image_layer", "steel micrograph"), ("trace_layer", "steel trace")):
            if hasattr(widget, attribute):
                assert getattr(widget, attribute).value.name == expected
    assert errors == []


def widget_tree(container):
    """Every magicgui widget inside a container, depth first."""
    from magicgui.widgets import Container

    for child in container:
        yield child
        if isinstance(child, Container):
            yield from widget_tree(child)


def test_inspect_every_button(make_napari_viewer, qtbot, tmp_path, monkeypatch, notes, errors):
    from qtpy.QtGui import QGuiApplication

    from napari_graintrace.core.io import write_image

    viewer = laptop_viewer(make_napari_viewer)
    dialogs = Dialogs(monkeypatch)
    widget = dock(viewer, "Inspect prediction")
    widget.cache = PredictionCache(tmp_path / "cache")
    assert "white-on-black" in widget.trace_info.value  # the preselected tracing is read at once
    press(widget, widget.resize_trace, qtbot)  # a checkbox: on, then off again
    press(widget, widget.resize_trace, qtbot)
    dialogs.choose(widget, widget.checkpoint_folder, DEMO_CHECKPOINTS, qtbot)
    choose_in_combo(widget.resolution, "256")
    press(widget, widget.run_button, qtbot)
    press(widget, widget.cancel_button, qtbot)
    wait_idle(widget, qtbot)
    assert any("prediction cancelled" in m for m in notes.messages) or widget.evaluation is not None
    press(widget, widget.run_button, qtbot)
    wait_idle(widget, qtbot)
    assert widget.evaluation is not None and visible_outputs_on_top(viewer)
    press(widget, widget.copy_button, qtbot)
    assert QGuiApplication.clipboard().text().startswith("metric\tparameters\tvalue")

    # the other sources: a prediction layer of the user's (preselected as it comes), then a file
    viewer.add_image(np.array(viewer.layers["prediction"].data), name="my map")
    choose_in_combo(widget.source, "prediction layer")
    assert widget.prediction_layer.value.name == "my map"
    press(widget, widget.run_button, qtbot)
    wait_idle(widget, qtbot)
    assert widget.epoch_label == "my map" and visible_outputs_on_top(viewer)
    write_image(tmp_path / "map.png", (np.asarray(viewer.layers["prediction"].data) * 255).astype(np.uint8))
    choose_in_combo(widget.source, "prediction file")
    dialogs.choose(widget, widget.prediction_file, tmp_path / "map.png", qtbot)
    press(widget, widget.run_button, qtbot)
    wait_idle(widget, qtbot)
    assert widget.epoch_label == "map.png" and visible_outputs_on_top(viewer)
    assert unexpected(errors + notes.messages) == [] and errors == []


def test_clean_tracing_every_button(make_napari_viewer, qtbot, tmp_path, monkeypatch, notes, errors):
    viewer = laptop_viewer(make_napari_viewer)
    dialogs = Dialogs(monkeypatch)
    widget = dock(viewer, "Clean tracing")
    assert widget.trace_layer.value.name == "steel trace" and widget.original_layer.value is None
    qtbot.waitUntil(lambda: "cleaned tracing" in names(viewer), timeout=10_000)  # the live preview
    assert visible_outputs_on_top(viewer)
    viewer.layers.selection.active = viewer.layers["steel micrograph"]
    choose_in_combo(widget.thickness, "3")
    press(widget, widget.otsu, qtbot)  # the threshold slider becomes usable
    assert widget.threshold.enabled
    press(widget, widget.apply_button, qtbot)
    assert names(viewer)[-1] == "steel trace cleaned"  # the user's new layer, on top
    press(widget, widget.overwrite, qtbot)
    assert widget.overwrite.value
    dialogs.answers.append(str(tmp_path / "clean.png"))
    press(widget, widget.save_button, qtbot)
    assert not dialogs.answers and (tmp_path / "clean.png").exists() and (tmp_path / "clean.cleanup.json").exists()
    assert unexpected(errors + notes.messages) == [] and errors == []


def test_aligned_crops_every_button(make_napari_viewer, qtbot, tmp_path, monkeypatch, notes, errors):
    viewer = laptop_viewer(make_napari_viewer)
    dialogs = Dialogs(monkeypatch)
    widget = dock(viewer, "Aligned crops")
    assert [layer.name for layer in widget.images.value] == ["steel micrograph"]
    assert widget.trace_layer.value.name == "steel trace"
    press(widget, widget.suggest_button, qtbot)
    assert len(viewer.layers["crop boxes"].data) == 5
    assert "5 box(es)" in widget.crop_count.value
    dialogs.choose(widget, widget.boxes_file, tmp_path / "boxes.json", qtbot)
    press(widget, widget.save_button, qtbot)
    assert (tmp_path / "boxes.json").exists()
    press(widget, widget.load_button, qtbot)
    widget.dataset_name.native.setText("steel")
    widget.dataset_name.native.editingFinished.emit()
    dialogs.choose(widget, widget.out_dir, tmp_path / "out", qtbot)
    press(widget, widget.write_button, qtbot)
    wait_idle(widget, qtbot)
    aligned = tmp_path / "out" / "steel_validation" / "aligned"
    assert len(list((aligned / "image").glob("*.png"))) == 5
    dialogs.choose(widget, widget.dataset_dir, aligned, qtbot)
    press(widget, widget.open_button, qtbot)
    assert "opened" in widget.status.value and "steel_trace" in names(viewer)
    assert unexpected(errors + notes.messages) == [] and errors == []


def test_grains_every_button(make_napari_viewer, qtbot, tmp_path, monkeypatch, notes, errors):
    from qtpy.QtGui import QGuiApplication

    viewer = laptop_viewer(make_napari_viewer)
    dialogs = Dialogs(monkeypatch)
    grains = dock(viewer, "Grains")
    assert grains.trace_layer.value.name == "steel trace" and grains.prediction_layer.value is None
    inspect = dock(viewer, "Inspect prediction")  # the prediction comes from Inspect, as a person would do it
    inspect.cache = PredictionCache(tmp_path / "cache")
    dialogs.choose(inspect, inspect.checkpoint_folder, DEMO_CHECKPOINTS, qtbot)
    choose_in_combo(inspect.resolution, "native")
    press(inspect, inspect.run_button, qtbot)
    wait_idle(inspect, qtbot)
    assert grains.prediction_layer.value.name == "prediction"  # filled as the layer came

    viewer.layers.selection.active = viewer.layers["steel micrograph"]
    press(grains, grains.run_button, qtbot)
    wait_idle(grains, qtbot)  # segmented in a worker
    assert visible_outputs_on_top(viewer, ("grains",)) and viewer.layers.selection.active.name == "steel micrograph"
    assert grains.metrics["grains"] > 0 and "grain_f1" in grains.metrics
    press(grains, grains.tune_button, qtbot)
    press(grains, grains.cancel_button, qtbot)
    wait_idle(grains, qtbot)
    press(grains, grains.copy_button, qtbot)
    assert QGuiApplication.clipboard().text().startswith("metric\tvalue")
    dialogs.choose(grains, grains.export_path, tmp_path / "metrics.csv", qtbot)
    press(grains, grains.overwrite, qtbot)
    assert grains.overwrite.value
    press(grains, grains.export_button, qtbot)
    assert (tmp_path / "metrics.csv").read_text().startswith("metric,value")
    assert unexpected(errors + notes.messages) == [] and errors == []


def test_words_for_a_stack_a_label_image_and_a_layer_named_prediction(make_napari_viewer, qtbot, errors):
    from skimage.measure import label

    from napari_graintrace.core.io import read_trace
    from napari_graintrace.data import NIST_TRACE

    viewer = make_napari_viewer()
    trace = read_trace(NIST_TRACE)[0]
    viewer.add_image(np.zeros((5, 64, 64), np.uint8), name="stack 5x64x64")
    viewer.add_labels(label(~trace, connectivity=1), name="grain labels")  # one label per grain
    inspect = dock(viewer, "Inspect prediction")
    inspect.image_layer.value = viewer.layers["stack 5x64x64"]
    inspect.trace_layer.value = viewer.layers["grain labels"]
    # the stack is named for what it is, not "resize the tracing"
    assert "micrograph 'stack 5x64x64' has shape (5, 64, 64)" in inspect.trace_info.value
    assert "resize" not in inspect.trace_info.value and "''s" not in inspect.trace_info.value
    viewer.add_image(np.zeros((600, 800), np.uint8) + np.arange(800, dtype=np.uint8)[None] // 4, name="micrograph")
    inspect.image_layer.value = viewer.layers["micrograph"]
    assert inspect.trace_info.value.startswith("a label image: the boundaries between its grains")

    # a layer named for its role is described once: "layer 'prediction'", never "prediction 'prediction'"
    from napari_graintrace._widgets._common import describe_layer
    from napari_graintrace.core.data import convert
    from napari_graintrace.core.errors import InputError

    viewer.add_image(np.zeros((300, 300), np.float32), name="prediction")
    with pytest.raises(InputError) as info:
        convert.match_shape(trace, (300, 300), what=describe_layer("tracing", viewer.layers["grain labels"]),
                            reference=describe_layer("prediction", viewer.layers["prediction"]))
    message = str(info.value)
    assert "the layer 'prediction' is 300 x 300 px" in message and "prediction prediction" not in message
