"""The "Aligned crops" widget in a real napari viewer (Xvfb via pytest-xvfb)."""

from __future__ import annotations

import numpy as np
import pytest
from widget_session import PLUGIN, assert_no_doubled_layers, layer_names, output_layers

from napari_graintrace._widgets import _common
from napari_graintrace._widgets.crops import BOXES_LAYER, PREVIEW_LAYER, CropWidget
from napari_graintrace.cli import main
from napari_graintrace.core.data import (
    CropBox,
    apply_boxes,
    corners_and_centre,
    grid_boxes,
    read_boxes,
    write_boxes,
)
from napari_graintrace.core.io import read_image

WIDGET = "Aligned crops"


def tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def make_widget(viewer, qtbot, images, trace) -> CropWidget:
    """Docked as Plugins > Grain Trace > Aligned crops does it (the widget sees a proxied viewer)."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    assert isinstance(widget, CropWidget)
    widget.images.value = images
    widget.trace_layer.value = trace
    return widget


def write_and_wait(widget, qtbot):
    """Start "Write dataset" and wait for its background worker; returns what ``write`` returned."""
    folder = widget.write()
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    return folder


@pytest.fixture
def nist_viewer(make_napari_viewer, nist_micrograph_path, nist_trace_path):
    """The NIST pair opened from its files, as a user would (so the manifest names the files)."""
    viewer = make_napari_viewer()
    micrograph = viewer.open(nist_micrograph_path, plugin="napari")[0]
    trace = viewer.open(nist_trace_path, plugin="napari")[0]
    return viewer, micrograph, trace


def test_suggest_layout_makes_numbered_rectangles(nist_viewer, qtbot, errors):
    viewer, micrograph, trace = nist_viewer
    widget = make_widget(viewer, qtbot, [micrograph], trace)
    widget.box_size.value = 300
    widget.suggest()
    layer = viewer.layers[BOXES_LAYER]
    assert list(layer.shape_type) == ["rectangle"] * 5
    assert list(layer.features["index"]) == [1, 2, 3, 4, 5]
    assert layer.text.string.format == "{index}"
    assert widget.current_boxes() == corners_and_centre((600, 800), 300)
    assert widget.crop_count.value == "1 micrograph(s) x 5 box(es) = 5 image/label pairs"

    widget.layout_kind.value = "grid"
    widget.rows.value, widget.cols.value, widget.overlap.value = 2, 3, 40
    widget.suggest()
    assert widget.current_boxes() == grid_boxes((600, 800), 2, 3, 40)
    assert len(viewer.layers) == 4  # the boxes and preview layers are reused, never duplicated

    layer.add_rectangles(np.array([[10.0, 20.0], [110.0, 220.0]]))  # a box drawn by hand gets the next m
    assert list(layer.features["index"]) == [1, 2, 3, 4, 5, 6, 7]
    assert widget.current_boxes()[-1] == CropBox(7, 11, 21, 111, 221)
    assert errors == []
    assert np.array_equal(micrograph.data, read_image(micrograph.source.path))  # user layers untouched


def test_widget_writes_the_same_bytes_as_the_cli(nist_viewer, qtbot, errors, tmp_path, monkeypatch,
                                                 nist_micrograph_path, nist_trace_path):
    viewer, micrograph, trace = nist_viewer
    widget = make_widget(viewer, qtbot, [micrograph], trace)
    widget.suggest()
    widget.dataset_name.value = "S1"
    widget.out_dir.value = tmp_path / "widget"
    infos = []
    monkeypatch.setattr("napari_graintrace._widgets.crops.show_info", infos.append)
    written = widget.write()
    assert widget.busy and not widget.progress.native.isHidden()  # off the GUI thread, with a progress bar
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert widget.progress.native.isHidden()
    assert errors == []
    assert written == tmp_path / "widget" / "S1_validation" / "aligned"
    assert f"wrote {written}" in widget.status.value
    assert infos and f"wrote {written}" in infos[-1]

    widget.boxes_file.value = tmp_path / "boxes.json"
    widget.save_boxes()
    assert read_boxes(tmp_path / "boxes.json") == corners_and_centre((600, 800), 256)
    assert main(["crop", "--boxes", str(tmp_path / "boxes.json"), "--images", str(nist_micrograph_path),
                 "--trace", str(nist_trace_path), "--name", "S1", "--out", str(tmp_path / "cli")]) == 0
    assert tree(written) == tree(tmp_path / "cli" / "S1_validation" / "aligned")  # manifest included

    assert widget.write() is None  # the folder exists now: refused, as a notification
    assert "already exists" in errors[-1]
    widget.overwrite.value = True
    assert write_and_wait(widget, qtbot) == written
    assert len(errors) == 1  # the refusal above, nothing new
    assert tree(written) == tree(tmp_path / "cli" / "S1_validation" / "aligned")


def test_scaled_and_translated_layers_give_pixel_boxes(make_napari_viewer, qtbot, errors, tmp_path):
    viewer = make_napari_viewer()
    image = np.arange(60 * 80, dtype=np.uint16).reshape(60, 80)
    trace = np.zeros((60, 80), np.uint8)
    trace[::7] = 1
    scale, translate = (0.5, 2.0), (100.0, -30.0)
    micrograph = viewer.add_image(image, name="micrograph", scale=scale, translate=translate)
    tracing = viewer.add_labels(trace, name="trace", scale=scale, translate=translate)
    # pixels rows 10..29, columns 5..44 have edges at data -0.5 offsets; world = data * scale + translate
    top, left, bottom, right = 10, 5, 30, 45
    world = [((r - 0.5) * scale[0] + translate[0], (c - 0.5) * scale[1] + translate[1])
             for r, c in ((top, left), (bottom, right))]
    viewer.add_shapes([np.array(world)], shape_type="rectangle", name=BOXES_LAYER)
    widget = make_widget(viewer, qtbot, [micrograph], tracing)
    assert widget.current_boxes() == [CropBox(1, top, left, bottom, right)]
    assert list(viewer.layers[BOXES_LAYER].features["index"]) == [1]

    widget.dataset_name.value = "scaled"
    widget.out_dir.value = tmp_path
    folder = write_and_wait(widget, qtbot)
    assert errors == []
    np.testing.assert_array_equal(read_image(folder / "image" / "scaled_1_1.png"), image[top:bottom, left:right])
    np.testing.assert_array_equal(read_image(folder / "label" / "scaled_1_1.png") > 0,
                                  trace[top:bottom, left:right] > 0)

    # boxes loaded from JSON land on the same pixels of the scaled layer, and read back unchanged
    boxes = [CropBox(3, 0, 0, 60, 80), CropBox(4, 7, 9, 21, 33)]
    widget.boxes_file.value = write_boxes(tmp_path / "b.json", boxes)
    widget.load_boxes()
    assert widget.current_boxes() == boxes

    # a layer on another pixel grid cannot share the boxes
    other = viewer.add_image(image, name="unscaled")
    widget.images.value = [micrograph, other]
    assert widget.write() is None
    assert "not on one pixel grid" in errors[-1]


def test_rotated_rectangle_is_refused_and_writes_nothing(nist_viewer, qtbot, errors, tmp_path):
    viewer, micrograph, trace = nist_viewer
    widget = make_widget(viewer, qtbot, [micrograph], trace)
    widget.suggest()
    layer = viewer.layers[BOXES_LAYER]
    vertices = layer.data[1]
    centre = vertices.mean(axis=0)
    angle = np.deg2rad(10)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    data = list(layer.data)
    data[1] = (vertices - centre) @ rotation.T + centre
    layer.data = data
    layer.shape_type = ["rectangle"] * len(data)
    widget.dataset_name.value = "rot"
    widget.out_dir.value = tmp_path / "out"
    assert widget.write() is None
    assert len(errors) == 1 and "box 2 is rotated" in errors[0]
    assert not (tmp_path / "out").exists()
    widget.boxes_file.value = tmp_path / "b.json"
    widget.save_boxes()
    assert not (tmp_path / "b.json").exists()


def test_bad_input_becomes_a_notification(nist_viewer, qtbot, errors, tmp_path):
    viewer, micrograph, trace = nist_viewer
    widget = make_widget(viewer, qtbot, [micrograph], trace)
    widget.out_dir.value = tmp_path / "out"
    widget.dataset_name.value = "S1"
    assert widget.write() is None
    assert "no 'crop boxes' layer" in errors[-1]
    widget.suggest()
    widget.dataset_name.value = "a/b"
    assert widget.write() is None
    assert "path separator" in errors[-1]
    viewer.layers[BOXES_LAYER].add_polygons(np.array([[0.0, 0.0], [10.0, 10.0], [0.0, 20.0]]))
    widget.dataset_name.value = "S1"
    assert widget.write() is None
    assert "is a polygon; only rectangles" in errors[-1]
    assert not (tmp_path / "out").exists()


def test_open_a_written_dataset_to_continue(nist_viewer, make_napari_viewer, qtbot, errors, tmp_path):
    viewer, micrograph, trace = nist_viewer
    widget = make_widget(viewer, qtbot, [micrograph], trace)
    widget.layout_kind.value = "grid"
    widget.suggest()
    widget.dataset_name.value = "S1"
    widget.out_dir.value = tmp_path
    folder = write_and_wait(widget, qtbot)

    fresh = make_napari_viewer()  # another day, another viewer
    again = CropWidget(fresh)
    qtbot.addWidget(again.native)
    again.dataset_dir.value = folder.parent  # NAME_validation works as well as its aligned/
    again.open_dataset()
    assert errors == []
    assert [layer.name for layer in fresh.layers] == ["S1_1", "S1_trace", BOXES_LAYER, PREVIEW_LAYER]
    assert again.dataset_name.value == "S1"
    assert again.images.value == [fresh.layers["S1_1"]]
    assert again.current_boxes() == grid_boxes((600, 800), 2, 2, 32)



def test_preview_shows_the_crops_of_one_box(nist_viewer, qtbot, errors):
    viewer, micrograph, trace = nist_viewer
    second = viewer.add_image(255 - np.asarray(micrograph.data), name="second field")
    widget = make_widget(viewer, qtbot, [micrograph, second], trace)
    assert widget.preview_index.native.isHidden() and PREVIEW_LAYER not in viewer.layers
    widget.box_size.value = 200
    widget.suggest()
    assert not widget.preview_index.native.isHidden() and widget.preview_index.max == 5
    widget.preview_index.value = 5
    preview = viewer.layers[PREVIEW_LAYER]
    assert _common.is_output_layer(preview)
    box = next(b for b in corners_and_centre((600, 800), 200) if b.index == 5)
    assert (box.top, box.left) == (200, 300)  # the centre box
    trace_crop, first, other = apply_boxes([box], trace.data, micrograph.data, second.data)[0]
    assert preview.data.shape == (3, box.bottom - box.top, box.right - box.left)
    np.testing.assert_array_equal(preview.data[0], first)
    np.testing.assert_array_equal(preview.data[1], other)
    np.testing.assert_array_equal(preview.data[2] > 0, trace_crop > 0)  # the tracing is the last slice
    np.testing.assert_allclose(preview.translate[-2:], (box.top, box.left))  # over the box it shows

    # editing a box updates the same layer in place
    layer = viewer.layers[BOXES_LAYER]
    data = list(layer.data)
    data[4] = data[4] + np.array([10.0, -20.0])
    layer.data = data
    moved = widget.current_boxes()[4]
    assert moved == CropBox(5, box.top + 10, box.left - 20, box.bottom + 10, box.right - 20)
    assert viewer.layers[PREVIEW_LAYER] is preview
    np.testing.assert_array_equal(preview.data[0], apply_boxes([moved], micrograph.data)[0][0])
    assert [layer.name for layer in viewer.layers].count(PREVIEW_LAYER) == 1
    assert errors == []


def test_user_session_through_the_plugin_menu(widget_session, nist_micrograph_path, nist_trace_path, errors):
    session = widget_session(WIDGET)
    viewer = session.viewer
    micrograph = viewer.open(nist_micrograph_path, plugin="napari")[0]
    trace = viewer.open(nist_trace_path, plugin="napari")[0]
    widget = session.dock()
    widget.images.value = [viewer.layers[micrograph.name]]
    widget.trace_layer.value = viewer.layers[trace.name]
    widget.box_size.value = 200
    widget.suggest()
    names = layer_names(viewer)
    assert names == [micrograph.name, trace.name, BOXES_LAYER, PREVIEW_LAYER]
    preview = output_layers(viewer)[PREVIEW_LAYER]

    # run again, with another layout: the same layers, updated in place
    widget.layout_kind.value = "grid"
    widget.suggest()
    assert layer_names(viewer) == names
    assert_no_doubled_layers(viewer)
    assert output_layers(viewer)[PREVIEW_LAYER].unique_id == preview.unique_id
    boxes = grid_boxes((600, 800), widget.rows.value, widget.cols.value, widget.overlap.value)
    assert widget.current_boxes() == boxes

    # the live controls drive the visible preview
    widget.preview_index.value = 3
    box = boxes[2]
    np.testing.assert_array_equal(viewer.layers[PREVIEW_LAYER].data[0],
                                  micrograph.data[box.top:box.bottom, box.left:box.right])
    shapes = viewer.layers[BOXES_LAYER]
    moved = [np.asarray(v) + (0, 10) if i == 2 else np.asarray(v) for i, v in enumerate(shapes.data)]
    shapes.data = moved  # the user drags box 3 ten pixels right
    np.testing.assert_array_equal(viewer.layers[PREVIEW_LAYER].data[0],
                                  micrograph.data[box.top:box.bottom, box.left + 10:box.right + 10])

    # a deleted preview stays deleted: no layer event, selection change or unrelated layer brings it back
    viewer.layers.remove(PREVIEW_LAYER)
    viewer.add_image(np.zeros((20, 20), np.uint8), name="unrelated")
    widget.trace_layer.value = None
    widget.trace_layer.value = viewer.layers[trace.name]
    assert PREVIEW_LAYER not in viewer.layers
    widget.suggest()  # the next action of the user's shows it again, once
    assert layer_names(viewer).count(PREVIEW_LAYER) == 1
    assert_no_doubled_layers(viewer)

    # undock: the old widget stops listening; dock again: the new one picks up the boxes
    old = widget
    widget = session.redock()
    viewer.add_image(np.zeros((20, 20), np.uint8), name="later")
    assert viewer.layers["later"] not in old.images.choices
    assert viewer.layers["later"] in widget.images.choices
    widget.images.value = [viewer.layers[micrograph.name]]
    assert widget.current_boxes() == boxes  # (the last suggest replaced the moved box)
    assert errors == []
    session.close()  # used to spin forever (layers.clear -> preview re-added -> ...)


def test_unrelated_layers_never_spawn_a_preview(widget_session, nist_micrograph_path, errors):
    session = widget_session(WIDGET)
    viewer = session.viewer
    micrograph = viewer.open(nist_micrograph_path, plugin="napari")[0]
    viewer.add_shapes([np.array([[0.0, 0.0], [0.0, 99.0], [99.0, 99.0], [99.0, 0.0]])],
                      shape_type="rectangle", name=BOXES_LAYER)  # boxes drawn before the widget opened
    widget = session.dock()
    assert list(viewer.layers[BOXES_LAYER].features["index"]) == [1]  # numbered on sight ...
    assert PREVIEW_LAYER not in viewer.layers  # ... but nothing drawn the user did not ask for
    viewer.add_image(np.zeros((10, 10)), name="unrelated")
    viewer.layers.remove("unrelated")
    widget.images.value = [viewer.layers[micrograph.name]]
    assert PREVIEW_LAYER not in viewer.layers
    widget.preview_index.value = 1
    widget.update_preview()  # an explicit request does show it
    assert PREVIEW_LAYER in viewer.layers
    assert errors == []
    session.close()


def test_closing_with_the_preview_shown_returns(widget_session, nist_micrograph_path, nist_trace_path, errors):
    session = widget_session(WIDGET)
    viewer = session.viewer
    micrograph = viewer.open(nist_micrograph_path, plugin="napari")[0]
    trace = viewer.open(nist_trace_path, plugin="napari")[0]
    widget = session.dock()
    widget.images.value = [viewer.layers[micrograph.name]]
    widget.trace_layer.value = viewer.layers[trace.name]
    widget.suggest()
    assert PREVIEW_LAYER in viewer.layers
    session.close()
    assert errors == []
