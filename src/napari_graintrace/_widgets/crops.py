"""The "Aligned crops" dock widget: draw boxes once, cut every micrograph and the tracing alike.

The set of boxes *is* a Shapes layer named "crop boxes" (rectangles, each labelled with its crop
number m), so the user edits boxes with napari's own tools. Everything else is thin over
``core.crops`` and ``core.dataset``; "Write dataset" calls the same ``write_aligned_steps`` as
``graintrace crop``, so both write the same bytes.

Coordinates: a rectangle's vertices go shapes-data -> world -> each selected layer's data with
``data_to_world`` / ``world_to_data``, so scaled or translated layers stay aligned. Pixel ``i``
covers ``[i - 0.5, i + 0.5]`` in napari's data coordinates, so a box's edges sit on pixel edges
and are rounded to the nearest one. **Rotated rectangles are refused** (a notification, nothing
written) rather than silently replaced by their axis-aligned bounding box: the lab's crops are
axis-aligned windows, and a silently enlarged box would put pixels the user excluded into the
training set.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    Label,
    LineEdit,
    ProgressBar,
    Select,
    SpinBox,
)
from napari.layers import Image, Labels, Shapes
from napari.utils.notifications import show_info

from ..core.data import (
    CropBox,
    apply_boxes,
    box_from_corners,
    check_boxes,
    convert,
    corners_and_centre,
    dataset,
    grid_boxes,
    read_boxes,
    write_boxes,
)
from ..core.errors import InputError
from ..core.options import CropOptions
from . import _common as ui

if TYPE_CHECKING:
    import napari

BOXES_LAYER = "crop boxes"
PREVIEW_LAYER = "crop preview"
LAYOUTS = ("corners + centre", "grid")


def _layer_source(layer) -> str:
    """What the manifest records for a layer: its file when napari opened one, else its name."""
    path = getattr(getattr(layer, "source", None), "path", None)
    return str(path) if path else f"napari layer {layer.name!r}"


def _layer_array(layer, what: str) -> np.ndarray:
    """A layer's 2-D data (RGB kept for the core to convert); stacks and pyramids refused."""
    if getattr(layer, "multiscale", False):
        raise InputError(f"{what} {layer.name!r} is multiscale; open the full-resolution image instead")
    data = np.asarray(layer.data)
    spatial = data.ndim - (1 if getattr(layer, "rgb", False) else 0)
    if spatial != 2:
        raise InputError(f"{what} {layer.name!r} has shape {data.shape}; crops need a 2-D image")
    return data


def _spatial_shape(layer) -> tuple[int, int]:
    shape = np.shape(layer.data)
    if getattr(layer, "rgb", False):
        shape = shape[:-1]
    if len(shape) != 2:
        raise InputError(f"layer {layer.name!r} has shape {tuple(shape)}; crops need a 2-D image")
    return int(shape[0]), int(shape[1])


class CropWidget(Container):
    """Pick micrographs and their tracing, lay out crop boxes, write the lab's aligned dataset."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.images = Select(label="micrographs", choices=ui.layer_choices(viewer, (Image,)),
                             tooltip="fields of view of one area, all of one shape: NAME_1 ... NAME_n in this order")
        self.trace_layer = ComboBox(label="tracing", choices=ui.layer_choices(viewer, (Image, Labels)), nullable=True)
        self.layout_kind = ComboBox(label="layout", choices=LAYOUTS, value=LAYOUTS[0])
        self.box_size = SpinBox(label="box size (px)", min=1, max=100_000, value=256)
        self.rows = SpinBox(label="rows", min=1, max=50, value=2)
        self.cols = SpinBox(label="columns", min=1, max=50, value=2)
        self.overlap = SpinBox(label="overlap (px)", min=0, max=100_000, value=32)
        self.suggest_button = ui.button("Suggest layout", self.suggest)
        self.boxes_file = FileEdit(label="boxes file", mode="w", filter="*.json")
        self.load_button = ui.button("Load boxes", self.load_boxes)
        self.save_button = ui.button("Save boxes", self.save_boxes)
        self.crop_count = Label(label="crops", value="")
        self.preview_index = SpinBox(label="preview box", min=1, max=1, value=1, visible=False,
                                     tooltip=f"crop number m shown in the {PREVIEW_LAYER!r} layer: "
                                             "each micrograph's crop, then the tracing's (last slice)")
        self.dataset_name = LineEdit(label="name", value="", tooltip="dataset name XXXX (no path separators)")
        self.out_dir = FileEdit(label="output folder", mode="d", tooltip="ROOT: writes ROOT/NAME_validation/aligned")
        self.overwrite = CheckBox(text="overwrite existing files", value=False)
        self.write_button = ui.button("Write dataset", self.write)
        self.progress = ProgressBar(label="progress", value=0, max=1, visible=False)
        self.dataset_dir = FileEdit(label="dataset folder", mode="d", tooltip="an aligned folder written earlier")
        self.open_button = ui.button("Open dataset (originals + boxes)", self.open_dataset)
        self.status = Label(label="status", value="")
        super().__init__(widgets=[
            self.images, self.trace_layer, self.layout_kind, self.box_size, self.rows, self.cols, self.overlap,
            self.suggest_button, self.boxes_file, self.load_button, self.save_button, self.crop_count,
            self.preview_index, self.dataset_name, self.out_dir, self.overwrite, self.write_button,
            self.progress, self.dataset_dir,
            self.open_button, self.status,
        ])
        self._watched: Shapes | None = None
        self._worker = None
        self._previewing = False

        self.layout_kind.changed.connect(self._on_layout_changed)
        self.images.changed.connect(self._update_count)
        # a new choice of layers refreshes a preview that is there; it never makes one (these also
        # change while layers are being removed, e.g. while the viewer closes)
        self.images.changed.connect(self._refresh_preview)
        self.trace_layer.changed.connect(self._refresh_preview)
        self.preview_index.changed.connect(self._show_preview)
        # let go on close and undock; empty pickers get the obvious layers, now and as layers come
        ui.follow_layer_list(self, viewer, self._on_layers_changed, picks=lambda: [
            (self.images, ui.looks_like_micrograph), (self.trace_layer, ui.looks_like_tracing)])
        self.native.destroyed.connect(self._unwatch)
        self._on_layout_changed(self.layout_kind.value)
        self._on_layers_changed()
        ui.keep_narrow(self)
        ui.scroll_when_short(self)

    @property
    def _hook(self):
        """The layer-list hook (``connected`` is False once the widget is closed or undocked)."""
        return self._layer_list_hook[0]

    def _unwatch(self, *_: Any) -> None:
        self._watch(None)

    # ------------------------------------------------------------------------------------------
    # layers
    # ------------------------------------------------------------------------------------------
    def _on_layers_changed(self, event: Any = None) -> None:
        """Layers were added or removed: refresh the pickers and the boxes hook, nothing else.

        Never adds a layer: adding one from a removal handler is how ``viewer.close()`` (which
        removes every layer) used to loop forever.
        """
        if not self._hook.connected:  # undocked: a closed widget does nothing
            return
        self.reset_choices()
        self._watch(self._find_boxes_layer())
        self._update_count()

    def _on_layout_changed(self, layout: str) -> None:
        grid = layout == "grid"
        for widget in (self.rows, self.cols, self.overlap):
            widget.visible = grid
        self.box_size.visible = not grid

    def _find_boxes_layer(self) -> Shapes | None:
        for layer in self.viewer.layers:  # (a LayerList has no .get)
            if layer.name == BOXES_LAYER:
                return layer if isinstance(layer, Shapes) else None
        return None

    def boxes_layer(self) -> Shapes:
        """The Shapes layer that holds the boxes (an error, not None, when there is none)."""
        if BOXES_LAYER in self.viewer.layers and not isinstance(self.viewer.layers[BOXES_LAYER], Shapes):
            raise InputError(f"layer {BOXES_LAYER!r} is not a Shapes layer; rename it so the boxes can use the name")
        layer = self._find_boxes_layer()
        if layer is None:
            raise InputError(f"no {BOXES_LAYER!r} layer: suggest a layout, load boxes, or add a Shapes layer "
                             f"named {BOXES_LAYER!r} and draw rectangles")
        return layer

    def _watch(self, layer: Shapes | None) -> None:
        """Follow one boxes layer's edits (renumber new rectangles, live count); drop the old hook.

        Layers are compared by ``unique_id``: a docked widget sees a new proxy object on every
        access, so ``is`` would re-hook (and redraw) on every layer event.
        """
        if ui.same_layer(layer, self._watched):
            return
        if self._watched is not None:
            self._watched.events.data.disconnect(self._on_boxes_edited)
        self._watched = layer
        if layer is not None:
            layer.events.data.connect(self._on_boxes_edited)
            self._renumber(layer)  # a layer drawn before the widget opened gets its numbers now

    def _reference_layer(self):
        """The layer whose pixel grid the boxes are in: the first micrograph, else the tracing."""
        layers = list(self.images.value or [])
        if layers:
            return layers[0]
        if self.trace_layer.value is not None:
            return self.trace_layer.value
        raise InputError("choose the micrographs first: boxes are in their pixels")

    # ------------------------------------------------------------------------------------------
    # boxes <-> the Shapes layer
    # ------------------------------------------------------------------------------------------
    def _on_boxes_edited(self, event: Any = None) -> None:
        """A drawn rectangle gets the next free crop number; duplicates are renumbered."""
        action = str(getattr(event, "action", "added"))
        if action.lower().endswith(("adding", "removing", "changing")):
            return
        if self._watched is not None:
            self._renumber(self._watched)
        self._update_count()
        self._show_preview()

    def _renumber(self, layer: Shapes) -> None:
        """New rectangles get the next free crop number; duplicates are renumbered."""
        if len(layer.data):
            index = np.asarray(layer.features["index"] if "index" in layer.features else np.zeros(len(layer.data)))
            index = np.nan_to_num(index.astype(float), nan=0).astype(int)
            seen: set[int] = set()
            changed = False
            for i, value in enumerate(index):
                if value < 1 or value in seen:
                    index[i] = max([*index, 0]) + 1
                    changed = True
                seen.add(int(index[i]))
            if changed or "index" not in layer.features:
                self._set_index(layer, index)

    @staticmethod
    def _set_index(layer: Shapes, index: np.ndarray) -> None:
        features = layer.features.copy()
        features["index"] = np.asarray(index, dtype=int)
        layer.features = features
        layer.feature_defaults = {**layer.feature_defaults.iloc[0].to_dict(), "index": 0}
        layer.text = _TEXT
        layer.refresh_text()

    def show_boxes(self, boxes: list[CropBox]) -> Shapes:
        """Put boxes into the "crop boxes" layer (made if missing), in the reference layer's pixels."""
        boxes = check_boxes(boxes, _spatial_shape(self._reference_layer()))
        reference = self._reference_layer()
        layer = self._find_boxes_layer()
        if layer is None:
            if BOXES_LAYER in self.viewer.layers:
                self.boxes_layer()  # raises: the name is taken by a layer that is not Shapes
            layer = self.viewer.add_shapes(
                name=BOXES_LAYER, ndim=2, edge_color="yellow", face_color="transparent", edge_width=2,
                features={"index": np.zeros(0, dtype=int)}, text=_TEXT,
            )
        rectangles = []
        for box in boxes:
            corners = [(box.top, box.left), (box.top, box.right), (box.bottom, box.right), (box.bottom, box.left)]
            world = [reference.data_to_world(np.array(c, dtype=float) - 0.5) for c in corners]
            rectangles.append(np.array([layer.world_to_data(np.asarray(w, dtype=float)) for w in world]))
        self._watch(None)  # no renumbering while the whole set is replaced
        layer.data = rectangles
        layer.shape_type = ["rectangle"] * len(rectangles)
        self._set_index(layer, np.array([box.index for box in boxes], dtype=int))
        self._watch(layer)
        self._update_count()
        self._show_preview()
        return layer

    def current_boxes(self) -> list[CropBox]:
        """The boxes in the pixels of every selected layer (which must agree), checked to fit."""
        layer = self.boxes_layer()
        targets = list(self.images.value or []) + ([self.trace_layer.value] if self.trace_layer.value else [])
        if not targets:
            targets = [self._reference_layer()]
        if not len(layer.data):
            raise InputError(f"the {BOXES_LAYER!r} layer has no rectangles")
        indices = (np.asarray(layer.features["index"], dtype=int) if "index" in layer.features
                   else np.arange(1, len(layer.data) + 1))
        reference = self._boxes_in(layer, indices, targets[0])
        for target in targets[1:]:
            try:
                boxes = self._boxes_in(layer, indices, target)
            except InputError:
                boxes = None
            if boxes != reference:
                raise InputError(f"layers {targets[0].name!r} and {target.name!r} are not on one pixel grid "
                                 "(different scale or translate); the boxes would cut different windows")
        return check_boxes(reference, _spatial_shape(targets[0]))

    @staticmethod
    def _boxes_in(layer: Shapes, indices: np.ndarray, target) -> list[CropBox]:
        boxes = []
        for i, (vertices, kind) in enumerate(zip(layer.data, layer.shape_type)):
            m = int(indices[i])
            if kind != "rectangle":
                raise InputError(f"shape {i + 1} (box {m}) is a {kind}; only rectangles are crop boxes")
            points = np.array([target.world_to_data(np.asarray(layer.data_to_world(v), dtype=float))[-2:]
                               for v in np.asarray(vertices, dtype=float)])
            box = box_from_corners(m, points, repr(target.name))
            boxes.append(box)
        return boxes

    def _update_count(self, *_: Any) -> None:
        n = len(self.images.value or [])
        layer = self._find_boxes_layer()
        m = len(layer.data) if layer is not None else 0
        self.crop_count.value = f"{n} micrograph(s) x {m} box(es) = {n * m} image/label pairs"
        self.preview_index.visible = m > 0

    # ------------------------------------------------------------------------------------------
    # preview
    # ------------------------------------------------------------------------------------------
    def preview_stack(self, m: int) -> tuple[np.ndarray, CropBox]:
        """Box ``m`` cut from every selected micrograph (grey), then from the tracing: one stack.

        Only slicing (``core.crops.apply_boxes``), so it is cheap enough to redo on every edit. The
        tracing slice is scaled so that its highest value shows as bright as the micrographs' highest.
        """
        boxes = self.current_boxes()
        chosen = [box for box in boxes if box.index == m]
        if not chosen:
            raise InputError(f"there is no box {m}; the boxes are {', '.join(str(b.index) for b in boxes)}")
        layers = list(self.images.value or [])
        trace_layer = self.trace_layer.value
        arrays = [_layer_array(layer, "micrograph") for layer in layers]
        if trace_layer is not None:
            arrays.append(_layer_array(trace_layer, "tracing"))
        if not arrays:
            raise InputError("choose the micrographs and the tracing to preview a box")
        crops = list(apply_boxes(chosen, *arrays)[0])
        slices = [convert.grey(crop, "micrograph").astype(np.float32) for crop in crops[: len(layers)]]
        if trace_layer is not None:
            trace = convert.grey(crops[-1], "tracing").astype(np.float32)
            top = max((float(s.max()) for s in slices), default=1.0) or 1.0
            slices.append(trace * np.float32(top / (float(trace.max()) or 1.0)))
        return np.stack(slices), chosen[0]

    def _show_preview(self, *_: Any) -> None:
        """After the user's own action (boxes drawn, suggested, loaded; another box number): show it."""
        self.update_preview(create=True)

    def _refresh_preview(self, *_: Any) -> None:
        """After a change of chosen layers: refresh a preview that is there, never make one."""
        self.update_preview(create=False)

    def update_preview(self, create: bool = True) -> None:
        """Refresh the "crop preview" layer; quiet while input is incomplete.

        ``create=False`` only updates a preview the user still has (one they deleted stays deleted
        until they edit the boxes again).
        """
        if not self._hook.connected or self._previewing:
            return
        if not create and ui.find_output_layer(self.viewer, PREVIEW_LAYER) is None:
            return
        if self._find_boxes_layer() is None or not len(self._find_boxes_layer().data):
            return
        self._previewing = True
        try:
            layer = self._find_boxes_layer()
            if "index" in layer.features and len(layer.features["index"]):
                indices = sorted(int(i) for i in layer.features["index"] if int(i) >= 1)
                if indices:
                    self.preview_index.max = indices[-1]
                    if self.preview_index.value not in indices:  # a gap in the numbers: the next box
                        self.preview_index.value = next(i for i in indices if i >= self.preview_index.value)
            stack, box = self.preview_stack(self.preview_index.value)
            reference = self._reference_layer()
            scale = np.asarray(reference.scale[-2:], dtype=float)
            translate = np.asarray(reference.translate[-2:], dtype=float) + scale * (box.top, box.left)
            top = float(stack.max()) or 1.0
            selection = ui.SavedSelection(self.viewer)
            ui.set_layer_data(self.viewer, PREVIEW_LAYER, stack, scale=(1.0, *scale), translate=(0.0, *translate),
                           contrast_limits=(float(stack.min()), top), colormap="gray")
            ui.outputs_on_top(self.viewer, (PREVIEW_LAYER,), selection)
        except InputError:
            pass  # mid-edit (a rotated box, no layers chosen yet): the preview waits for valid input
        except Exception as exc:  # noqa: BLE001 - a GUI callback must never raise into Qt
            ui.notify_error(exc)
        finally:
            self._previewing = False

    # ------------------------------------------------------------------------------------------
    # buttons
    # ------------------------------------------------------------------------------------------
    @ui.reports_errors
    def suggest(self, *_: Any) -> None:
        """Replace the boxes with a starting layout for the user to edit."""
        shape = _spatial_shape(self._reference_layer())
        if self.layout_kind.value == "grid":
            boxes = grid_boxes(shape, self.rows.value, self.cols.value, self.overlap.value)
        else:
            boxes = corners_and_centre(shape, min(self.box_size.value, *shape))
        self.show_boxes(boxes)
        self.status.value = f"{len(boxes)} boxes suggested ({self.layout_kind.value}); edit them in {BOXES_LAYER!r}"

    @ui.reports_errors
    def load_boxes(self, *_: Any) -> None:
        path = Path(self.boxes_file.value)
        self.show_boxes(read_boxes(path))
        self.status.value = f"loaded {path.name}"

    @ui.reports_errors
    def save_boxes(self, *_: Any) -> None:
        path = Path(self.boxes_file.value)
        if path.suffix.lower() != ".json":
            raise InputError(f"{path}: choose a .json file for the boxes")
        boxes = self.current_boxes()
        extra: dict[str, Any] = {"name": self.dataset_name.value} if self.dataset_name.value else {}
        extra["source_shape"] = list(_spatial_shape(self._reference_layer()))
        write_boxes(path, boxes, overwrite=self.overwrite.value, **extra)
        self.status.value = f"saved {len(boxes)} boxes to {path}"
        show_info(f"saved {len(boxes)} crop boxes to {path}")

    @property
    def busy(self) -> bool:
        """True while a dataset is being written in the background."""
        return self._worker is not None

    @ui.reports_errors
    def write(self, *_: Any) -> Path:
        """Write ROOT/NAME_validation/aligned in a background worker; returns the folder it writes.

        Every check (layers, name, boxes, shapes, an existing folder) runs here, on the GUI thread,
        before the worker starts, so bad input is a notification and writes nothing. The worker only
        writes files; its progress shows in the bar, its errors as notifications.
        """
        if self._worker is not None:
            raise InputError("a dataset is being written; wait for it to finish")
        layers = list(self.images.value or [])
        if not layers:
            raise InputError("choose at least one micrograph layer")
        trace_layer = self.trace_layer.value
        if trace_layer is None:
            raise InputError("choose the tracing layer")
        options = CropOptions(self.dataset_name.value, overwrite=self.overwrite.value)
        out = str(self.out_dir.value or "")
        if out in ("", "."):
            raise InputError("choose an output folder")
        boxes = self.current_boxes()
        images = [_layer_array(layer, "micrograph") for layer in layers]
        trace = _layer_array(trace_layer, "tracing")
        steps = dataset.write_aligned_steps(  # checks everything and computes every crop now
            out, images, trace, boxes, options,
            sources=[_layer_source(layer) for layer in layers], trace_source=_layer_source(trace_layer),
        )
        message = f"({len(layers)} x {len(boxes)} image/label pairs)"
        self._worker = ui.start_worker(self, _drain, steps, yielded=self._on_progress,
                                    returned=lambda folder: self._on_written(folder, message),
                                    finished=self._on_worker_finished)
        self.write_button.enabled = False
        self.progress.value = 0
        self.progress.visible = True
        folder = dataset.aligned_folder(out, options.name)
        self.status.value = f"writing {folder} ..."
        return folder

    def _on_progress(self, update: tuple[int, int, str]) -> None:
        done, total, _ = update
        self.progress.max = max(total, 1)
        self.progress.value = done

    def _on_written(self, folder: Path, what: str) -> None:
        message = f"wrote {folder} {what}"
        self.status.value = message
        show_info(message)

    def _on_worker_finished(self) -> None:
        self._worker = None
        self.write_button.enabled = True
        self.progress.visible = False
        if self.status.value.startswith("writing "):
            self.status.value = "writing failed; nothing was written"

    @ui.reports_errors
    def open_dataset(self, *_: Any) -> None:
        """Continue another day: add a written dataset's originals, tracing and boxes to the viewer."""
        opened = dataset.read_aligned(self.dataset_dir.value)  # everything read before anything is added
        added = [self.viewer.add_image(array, name=path.stem) for path, array in opened.originals]
        labels = self.viewer.add_labels(opened.trace.astype(np.uint8), name=f"{opened.name}_trace")
        self.images.value = added
        self.trace_layer.value = self.viewer.layers[labels.name]
        self.dataset_name.value = opened.name
        self.show_boxes(opened.boxes)
        self.status.value = f"opened {opened.folder}"


def _drain(steps):
    """Worker body: write file by file; each yield is a progress update, the return the folder."""
    return (yield from steps)


_TEXT = {"string": "{index}", "size": 14, "color": "yellow", "anchor": "upper_left"}
