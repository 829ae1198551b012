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


def visible_outputs_on_top(viewer) -> bool:
    """Our visible output layers are the topmost layers of the list."""
    flags = [bool(layer.metadata.get(OWNER_KEY)) and layer.visible for layer in viewer.layers]
    ours = sum(flags)
    return ours > 0 and all(flags[len(flags) - ours:])


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

    dialogs.choose(widget, widget.export_path, tmp_path / "curves.csv", qtbot)
    press(widget, widget.overwrite, qtbot)
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
