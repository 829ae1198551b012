"""The "Correct tracing" widget in a real napari viewer (Xvfb via pytest-xvfb), docked from the plugin menu.

Edits come from the mouse the way napari delivers them: ``mouse_press/move/release_callbacks`` with
napari's own read-only event objects; buttons are pressed with real Qt clicks; saved files are read back.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
from napari.utils._proxies import ReadOnlyWrapper
from napari.utils.interactions import mouse_move_callbacks, mouse_press_callbacks, mouse_release_callbacks
from PIL import Image
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest
from vispy.util import keys
from widget_session import PLUGIN, press

from napari_graintrace._widgets.correct import ENDS_NAME, GRAINS_NAME, TRACING_NAME, CorrectWidget
from napari_graintrace.core import grains
from napari_graintrace.core.draft import draft_tracing, faint_map

WIDGET = "Correct tracing"


def grid(size: int = 120, step: int = 30) -> np.ndarray:
    tracing = np.zeros((size, size), dtype=bool)
    tracing[step::step] = True
    tracing[:, step::step] = True
    return tracing


@pytest.fixture
def docked(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)  # shown, as a person sees it: controls are clicked where they are
    truth = grid()
    prob = faint_map(truth, faint_fraction=0.0, noise=0.01, seed=0)
    prob[54:67, 37:53] = 0.01  # a 16-px break in a line: too dark to close by itself; suggested
    viewer.add_image(prob, name="prediction")
    micrograph = (np.random.default_rng(0).random(truth.shape) * 255).astype(np.uint8)
    viewer.add_image(micrograph, name="micrograph")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    assert isinstance(widget, CorrectWidget)
    # the obvious layers are preselected: a float map in [0, 1] and a grey micrograph
    assert widget.source_layer.value.name == "prediction" and widget.micrograph_layer.value.name == "micrograph"
    QTest.mouseClick(widget.draft_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: widget.session is not None, timeout=30_000)
    return viewer, widget, prob, micrograph


def event(kind: str, position, modifiers=()):
    """A napari mouse event as the canvas delivers it (read-only, world coordinates)."""
    from napari.utils.events import Event

    return ReadOnlyWrapper(Event(kind, position=tuple(float(v) for v in position), button=1,
                                 modifiers=list(modifiers), dims_displayed=[0, 1], view_direction=None,
                                 is_dragging=kind == "mouse_move", pos=np.zeros(2)), exceptions=("handled",))


def click(layer, position, modifiers=()):
    mouse_press_callbacks(layer, event("mouse_press", position, modifiers))
    mouse_release_callbacks(layer, event("mouse_release", position, modifiers))


def drag(layer, points):
    mouse_press_callbacks(layer, event("mouse_press", points[0]))
    for point in points[1:]:
        mouse_move_callbacks(layer, event("mouse_move", point))
    mouse_release_callbacks(layer, event("mouse_release", points[-1]))


def test_draft_appears_as_editable_layers_over_the_micrograph(docked, errors):
    viewer, widget, prob, _ = docked
    names = [layer.name for layer in viewer.layers]
    assert names[:2] == ["prediction", "micrograph"] and {TRACING_NAME, GRAINS_NAME, ENDS_NAME} <= set(names)
    tracing = viewer.layers[TRACING_NAME]
    expected = draft_tracing(prob).tracing
    np.testing.assert_array_equal(tracing.data == 1, expected)
    np.testing.assert_array_equal(viewer.layers[GRAINS_NAME].data > 0, grains.label_grains(expected) > 0)
    assert viewer.layers.selection.active.name == TRACING_NAME
    assert "0 edits" in widget.status.value and not errors


def grain_count(viewer) -> int:
    return len(np.unique(viewer.layers[GRAINS_NAME].data)) - 1


def test_mouse_edits_redraw_the_layers_and_undo_restores_them(docked, errors):
    viewer, widget, _, _ = docked
    tracing = viewer.layers[TRACING_NAME]
    before = tracing.data.copy()
    grains_before = grain_count(viewer)
    click(tracing, (60, 75))  # on the line between two grains: its branch goes, two grains merge
    assert (tracing.data[60, 63:87] == 0).all() and grain_count(viewer) == grains_before - 1
    np.testing.assert_array_equal(viewer.layers[GRAINS_NAME].data > 0,
                                  grains.label_grains(widget.session.editor.tracing) > 0)
    # Shift-click twice: the line comes back along the ridge
    click(tracing, (60, 62), [keys.SHIFT])
    click(tracing, (60, 88), [keys.SHIFT])
    assert (tracing.data[60, 63:87] == 1).all() and grain_count(viewer) == grains_before
    # a drag draws a free path across a grain
    drag(tracing, [(60, 100), (75, 105), (90, 100)])  # from one line to the next: the grain splits
    assert tracing.data[75, 105] == 1 and grain_count(viewer) == grains_before + 1
    assert widget.session.editor.edits == 3 and "3 edits, 5 clicks" in widget.status.value
    for _ in range(3):
        widget.undo()
    np.testing.assert_array_equal(tracing.data, before)
    widget.redo()
    assert (tracing.data[60, 63:87] == 0).all()
    assert not errors


def test_ctrl_click_two_grains_merges_them(docked, errors):
    viewer, _, _, _ = docked
    tracing = viewer.layers[TRACING_NAME]
    labels = viewer.layers[GRAINS_NAME]
    a, b = labels.data[45, 75], labels.data[75, 75]
    assert a != b
    click(tracing, (45, 75), [keys.CONTROL])
    click(tracing, (75, 75), [keys.CONTROL])
    assert labels.data[45, 75] == labels.data[75, 75] != 0 and not errors


def test_suggested_gaps_close_with_one_key(docked, qtbot, errors):
    from app_model.types import KeyBinding

    from napari_graintrace.core.draft import DraftOptions

    viewer, widget, _, _ = docked
    # keep the stubs either side of the break; the draft does not close it (mean p 0.19 < 0.3), the
    # suggestions (looser: a person reviews them) do
    press(widget, widget.show_settings, qtbot)
    widget.prune.value, widget.gap_prob.value = 0, 0.3
    assert widget.draft_options == DraftOptions(prune=0, gap_prob=0.3)
    old_session = widget.session
    QTest.mouseClick(widget.draft_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: widget.session is not old_session, timeout=30_000)
    session, tracing = widget.session, viewer.layers[TRACING_NAME]
    assert {(int(r), int(c)) for r, c in viewer.layers[ENDS_NAME].data} == {tuple(e) for e in session.ends}
    near_break = [e for e in session.ends if abs(e[0] - 60) <= 2 and 30 < e[1] < 60]
    assert len(near_break) == 2 and session.suggestions  # the two ends of the break
    assert (tracing.data[54:67, 37:53] == 2).any()  # the suggested closure, in its own colour
    grains_before = grain_count(viewer)
    tracing.keymap[KeyBinding.from_str("G")](tracing)  # what pressing G over the canvas calls
    assert not (tracing.data == 2).any() and (tracing.data[54:67, 37:53] == 1).any()
    assert grain_count(viewer) == grains_before + 1 and widget.session.editor.clicks == 1
    tracing.keymap[KeyBinding.from_str("Ctrl+Z")](tracing)
    assert (tracing.data[54:67, 37:53] == 2).any() and grain_count(viewer) == grains_before
    assert not errors


def test_draft_settings_shape_the_draft_and_contradicting_ones_are_refused(docked, qtbot, errors):
    from napari_graintrace.core.draft import DraftOptions

    viewer, widget, prob, _ = docked
    assert not any(control.visible for control in widget.settings)  # a short dock until asked
    press(widget, widget.show_settings, qtbot)
    assert widget.show_settings.value and all(control.visible for control in widget.settings)
    assert widget.draft_options == DraftOptions()  # they start at the CLI's defaults
    widget.prune.value, widget.gap_radius.value = 0, 0  # every spur kept, no gap closed
    old_session = widget.session
    QTest.mouseClick(widget.draft_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: widget.session is not old_session, timeout=30_000)
    expected = draft_tracing(prob, DraftOptions(prune=0, gap_radius=0)).tracing
    np.testing.assert_array_equal(viewer.layers[TRACING_NAME].data == 1, expected)
    assert not np.array_equal(expected, draft_tracing(prob).tracing)  # the settings made a difference
    assert widget.session.options.gap_radius == 0  # G suggests with the same settings
    # a low threshold above the high one: said in a notification; the draft on screen stays
    session, shown = widget.session, viewer.layers[TRACING_NAME].data.copy()
    widget.low.value = 0.9
    QTest.mouseClick(widget.draft_button.native, Qt.MouseButton.LeftButton)
    assert errors and "must not exceed the high one" in errors[-1]
    assert widget.session is session and np.array_equal(viewer.layers[TRACING_NAME].data, shown)
    assert widget.draft_button.enabled


def test_save_to_dataset_writes_the_pair_and_the_manifest_never_overwriting(docked, tmp_path, monkeypatch, errors):
    from magicgui.backends._qtpy import widgets as magicgui_qt
    from magicgui.types import FileDialogMode

    viewer, widget, _, micrograph = docked
    widget.checkpoint.value = "demo_59.pth"
    click(viewer.layers[TRACING_NAME], (60, 75))
    dataset = tmp_path / "training"
    dataset.mkdir()
    # the folder button's QFileDialog.getExistingDirectory (magicgui keeps it in a table) answers at once
    monkeypatch.setitem(magicgui_qt.QFILE_DIALOG_MODES, FileDialogMode.EXISTING_DIRECTORY,
                        lambda *a, **k: str(dataset))
    QTest.mouseClick(widget.dataset.native.findChild(type(widget.save_button.native)), Qt.MouseButton.LeftButton)
    assert widget.pair_name.value == "corrected_001"
    widget.thickness.value = "3"
    QTest.mouseClick(widget.save_button.native, Qt.MouseButton.LeftButton)
    image = np.asarray(Image.open(dataset / "image" / "corrected_001_1.png"))
    label = np.asarray(Image.open(dataset / "label" / "corrected_001_1.png"))
    np.testing.assert_array_equal(image, micrograph)
    assert set(np.unique(label)) == {0, 255} and label.shape == micrograph.shape
    one_px = widget.session.editor.tracing
    assert (label[one_px] == 255).all() and (label == 255).sum() > 2 * one_px.sum()
    with open(dataset / "corrections.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["source_checkpoint"] == "demo_59.pth" and row["source_prediction"] == "prediction"
    assert row["edits"] == "1" and row["clicks"] == "1" and float(row["seconds"]) >= 0
    # the next save takes the next name; an existing pair is never replaced
    assert widget.pair_name.value == "corrected_002"
    widget.pair_name.value = "corrected_001"
    QTest.mouseClick(widget.save_button.native, Qt.MouseButton.LeftButton)
    assert errors and "already exists" in errors[-1]
    np.testing.assert_array_equal(np.asarray(Image.open(dataset / "label" / "corrected_001_1.png")), label)
