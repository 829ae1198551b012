"""The "Correct tracing" dock widget: a draft tracing from a prediction, corrected with the mouse, saved as training data.

Thin over ``core.draft``: "Draft" turns the chosen prediction (or any tracing) into a 1-px draft
(``draft_tracing``, in a worker thread) and a :class:`~napari_graintrace.core.draft.CorrectionSession`
keeps three output layers over the micrograph: ``draft tracing`` (yellow; suggested gap closures in
cyan), ``draft grains`` (each grain its own colour, so a missing boundary shows as one merged grain) and
``dangling ends`` (red rings). With the tracing layer selected the mouse edits it:

* click near a line: delete that branch;
* Shift-click two points: a path between them along the ridge of the prediction;
* Ctrl-click two grains: merge them (their shared boundary goes);
* drag: a free path where the mouse went.

Keys (tracing layer selected): ``G`` closes every suggested gap, ``Ctrl-Z`` undoes, ``Ctrl-Shift-Z``
(or ``Ctrl-Y``) redoes. Each edit redraws only the pixels it changed (``Labels.data_setitem``).
"Save to dataset" writes ``image/NAME_n.png`` + ``label/NAME_n.png`` (the chosen line thickness) and a
row in ``corrections.csv`` (source checkpoint and prediction, edits, clicks, seconds), never replacing
a file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, FloatSpinBox, Label, LineEdit, SpinBox
from napari.layers import Image, Labels
from napari.utils.notifications import show_info
from qtpy.QtCore import QTimer

from ..core.data import convert
from ..core.draft import CorrectionSession, DraftOptions, draft_tracing, free_name, save_to_dataset
from ..core.errors import InputError
from . import _common as ui

if TYPE_CHECKING:
    import napari

TRACING_NAME = "draft tracing"
GRAINS_NAME = "draft grains"  # not "grains": the Grains widget owns that output
ENDS_NAME = "dangling ends"
THICKNESSES = ("1", "3", "5", "7")
CLICK_PX = 2.0  # a press and release closer than this (data px) is a click, not a drag
DELETE_RADIUS = 5  # px: how close to a line a click must be to delete its branch


class CorrectWidget(Container):
    """Pick a prediction (or tracing) and its micrograph; draft; correct with the mouse; save."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.source_layer = ComboBox(label="prediction", choices=self._source_choices,
                                     nullable=True,
                                     tooltip="a boundary probability map (or a tracing) to draft from")
        self.micrograph_layer = ComboBox(label="micrograph", choices=ui.layer_choices(viewer, (Image,)),
                                         nullable=True, tooltip="the micrograph saved with the tracing")
        self.checkpoint = LineEdit(label="source checkpoint", value="",
                                   tooltip="the checkpoint that made the prediction (recorded in the manifest)")
        defaults = DraftOptions()  # the settings start at the defaults of `graintrace draft`, not repeated here
        self.show_settings = CheckBox(label="draft settings", value=False,
                                      tooltip="the draft's thresholds, gap closing and pruning "
                                              "(graintrace draft's flags)")
        self.high = FloatSpinBox(label="high threshold", min=0.0, max=1.0, step=0.01, value=defaults.high,
                                 visible=False, tooltip="hysteresis on p: a line starts where p reaches this")
        self.low = FloatSpinBox(label="low threshold", min=0.0, max=1.0, step=0.01, value=defaults.low,
                                visible=False, tooltip="hysteresis on p: a line is followed while p stays above it")
        self.gap_radius = SpinBox(label="gap radius (px)", min=0, max=1000, value=defaults.gap_radius,
                                  visible=False,
                                  tooltip="how far a dangling end looks for a line to join (0: no gap closing)")
        self.gap_prob = FloatSpinBox(label="gap mean p", min=0.0, max=1.0, step=0.01, value=defaults.gap_prob,
                                     visible=False, tooltip="the mean p a gap-closing path needs along the ridge")
        self.prune = SpinBox(label="prune (px)", min=0, max=1000, value=defaults.prune, visible=False,
                             tooltip="dangling spurs shorter than this are removed")
        self.settings = (self.high, self.low, self.gap_radius, self.gap_prob, self.prune)
        self.draft_button = ui.button("Draft", self._draft_clicked)
        self.status = Label(label="edits", value="draft a prediction to start")
        self.help = Label(label="mouse", value="click a line: delete it · Shift-click ×2: ridge path · "
                                               "Ctrl-click ×2: merge grains · drag: free path · G: close "
                                               "suggested gaps · Ctrl-Z / Ctrl-Shift-Z: undo / redo")
        self.dataset = FileEdit(label="dataset folder", mode="d", value="",
                                tooltip="the training set: image/ and label/ (made if absent)")
        self.pair_name = LineEdit(label="name", value="", tooltip="files image/NAME_1.png and label/NAME_1.png")
        self.thickness = ComboBox(label="line width (px)", choices=THICKNESSES, value="3",
                                  tooltip="the lab's training tracings are 3-5 px wide")
        self.save_button = ui.button("Save to dataset", self._save_clicked)
        super().__init__(widgets=[
            self.status, self.source_layer, self.micrograph_layer, self.checkpoint, self.show_settings,
            *self.settings, self.draft_button, self.help, self.dataset, self.pair_name, self.thickness,
            self.save_button,
        ])
        self.session: CorrectionSession | None = None
        self.source_name = ""
        self._worker = None
        self._hooked: set = set()  # tracing layers whose mouse and keys drive this widget
        self._ridge_start: tuple[float, float] | None = None
        self._merge_start: tuple[float, float] | None = None
        self._tick = QTimer(self.native)  # the time spent, shown every second; dies with the dock
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._show_status)
        self.show_settings.changed.connect(self._show_settings)
        self.dataset.changed.connect(self._suggest_name)
        self.source_layer.changed.connect(self._source_changed)
        ui.follow_layer_list(self, viewer, self.reset_choices, picks=lambda: [
            (self.source_layer, ui.looks_like_prediction), (self.micrograph_layer, ui.looks_like_micrograph)])
        self.reset_choices()
        ui.keep_narrow(self)
        metrics = self.status.native.fontMetrics()  # the status wraps to two lines: give it their height
        self.status.native.setMinimumHeight(2 * metrics.lineSpacing() + 4)
        ui.scroll_when_short(self)

    # ------------------------------------------------------------------------------------------
    # drafting
    # ------------------------------------------------------------------------------------------
    def _source_choices(self, _widget=None) -> list[tuple[str, Any]]:
        """The user's Image and Labels layers, and our own 'prediction' output (the Inspect widget's)."""
        return [(layer.name, layer) for layer in self.viewer.layers
                if isinstance(layer, Image | Labels) and not getattr(layer, "rgb", False)
                and (not ui.is_output_layer(layer) or layer.metadata.get(ui.OWNER_KEY) == "prediction")]

    def _show_settings(self, shown: bool) -> None:
        for control in self.settings:
            control.visible = shown

    @property
    def draft_options(self) -> DraftOptions:
        """The draft's options from the settings, checked there (a low threshold above the high is refused)."""
        return DraftOptions(high=self.high.value, low=self.low.value, gap_radius=self.gap_radius.value,
                            gap_prob=self.gap_prob.value, prune=self.prune.value)

    def _source_changed(self, layer) -> None:
        if layer is not None and not self.checkpoint.value:
            self.checkpoint.value = str(layer.metadata.get("checkpoint", "") or "")

    def _inputs(self) -> tuple[np.ndarray, str]:
        layer = self.source_layer.value
        if layer is None:
            raise InputError("choose a prediction (or tracing) layer to draft from")
        if isinstance(layer, Labels):
            data = (np.asarray(layer.data) > 0).astype(np.float32)
        else:
            data = convert.prediction(np.asarray(layer.data), f"layer {layer.name!r}", rgb=layer.rgb)
        micrograph = self.micrograph_layer.value
        if micrograph is not None and micrograph.data.shape[:2] != data.shape:
            raise InputError(f"the micrograph is {micrograph.data.shape[0]} x {micrograph.data.shape[1]} but the "
                             f"prediction is {data.shape[0]} x {data.shape[1]}; they must match")
        return data, layer.name

    @ui.reports_errors
    def _draft_clicked(self) -> None:
        from napari.qt.threading import create_worker

        prob, name = self._inputs()
        options = self.draft_options  # refused here, before any work, when the settings contradict
        self.draft_button.enabled = False
        self.status.value = "drafting…"
        self.source_name = name

        def work() -> CorrectionSession:
            draft = draft_tracing(prob, options)
            return CorrectionSession(draft.tracing, None if _is_tracing(prob) else draft.prob, options)

        worker = create_worker(work)
        worker.returned.connect(self._show_session)
        worker.errored.connect(self._draft_failed)
        worker.finished.connect(lambda: setattr(self.draft_button, "enabled", True))
        self._worker = worker
        worker.start()

    @ui.reports_errors
    def _draft_failed(self, exc: BaseException) -> None:
        self.status.value = "draft failed"
        raise exc

    def draft_now(self) -> None:
        """Draft in this thread (scripts and tests that do not want a worker)."""
        prob, self.source_name = self._inputs()
        options = self.draft_options
        draft = draft_tracing(prob, options)
        self._show_session(CorrectionSession(draft.tracing, None if _is_tracing(prob) else draft.prob, options))

    def _show_session(self, session: CorrectionSession) -> None:
        self.session = session
        selection = ui.SavedSelection(self.viewer)
        reference = self.micrograph_layer.value or self.source_layer.value
        place = {"scale": tuple(reference.scale[-2:]), "translate": tuple(reference.translate[-2:])}
        ui.set_layer_data(self.viewer, GRAINS_NAME, session.labels.copy(), kind="labels", opacity=0.3, **place)
        tracing = ui.set_layer_data(self.viewer, TRACING_NAME, session.picture.copy(), kind="labels", opacity=1.0,
                                 **place)
        tracing.colormap = _tracing_colours()
        self._show_ends(session.ends, place)
        self._hook_tracing_layer(tracing)
        ui.outputs_on_top(self.viewer, (GRAINS_NAME, TRACING_NAME, ENDS_NAME), selection)
        self.viewer.layers.selection.active = tracing  # the mouse edits the tracing layer
        self._tick.start()
        self._show_status()

    def _show_ends(self, ends: np.ndarray, place: dict | None = None) -> None:
        layer = ui.find_output_layer(self.viewer, ENDS_NAME)
        if layer is None:
            self.viewer.add_points(ends, name=ENDS_NAME, size=9, face_color="transparent", border_color="red",
                                   border_width=0.2, metadata={ui.OWNER_KEY: ENDS_NAME}, **(place or {}))
        else:
            layer.data = ends

    def _hook_tracing_layer(self, layer) -> None:
        if layer.unique_id in self._hooked:
            return
        layer.mouse_drag_callbacks.append(self.on_mouse_drag)
        layer.bind_key("g", lambda _layer: self.close_gaps(), overwrite=True)
        layer.bind_key("Control-z", lambda _layer: self.undo(), overwrite=True)
        layer.bind_key("Control-Shift-z", lambda _layer: self.redo(), overwrite=True)
        layer.bind_key("Control-y", lambda _layer: self.redo(), overwrite=True)
        layer.mouse_pan = False  # a drag draws; pan with another layer selected, zoom with the wheel
        layer.editable = False  # edits go through the editor (napari's brushes would bypass it)
        self._hooked.add(layer.unique_id)

    # ------------------------------------------------------------------------------------------
    # editing
    # ------------------------------------------------------------------------------------------
    def _redraw(self, redraw) -> None:
        if redraw is None:
            return
        tracing, grains_layer = ui.find_output_layer(self.viewer, TRACING_NAME), ui.find_output_layer(self.viewer, GRAINS_NAME)
        for layer, (indices, values) in ((tracing, redraw.tracing), (grains_layer, redraw.grains)):
            if layer is not None and indices[0].size:
                layer.data_setitem(indices, values)
        self._show_ends(redraw.ends)
        self._show_status()

    def _require_session(self) -> CorrectionSession:
        if self.session is None:
            raise InputError("draft a prediction first")
        return self.session

    def on_mouse_drag(self, layer, event):
        """The tracing layer's mouse callback: a click edits at a point, a drag draws a free path."""
        if self.session is None or event.button != 1:
            return
        start = tuple(layer.world_to_data(event.position)[-2:])
        points = [start]
        yield
        while event.type == "mouse_move":
            points.append(tuple(layer.world_to_data(event.position)[-2:]))
            yield
        end = tuple(layer.world_to_data(event.position)[-2:])
        points.append(end)
        if math.dist(start, end) < CLICK_PX and max(math.dist(start, p) for p in points) < CLICK_PX:
            self.click(start, modifiers={getattr(key, "name", str(key)) for key in event.modifiers})
        else:
            self.free_path(points)

    @ui.reports_errors
    def click(self, point: tuple[float, float], modifiers: set[str] = frozenset()) -> None:
        session = self._require_session()
        point = _clip(point, session.shape)
        if "Shift" in modifiers:
            if self._ridge_start is None:
                self._ridge_start = point
                self.status.value = "ridge path: Shift-click its other end"
                return
            start, self._ridge_start = self._ridge_start, None
            self._redraw(session.after(session.editor.ridge_path(start, point)))
        elif "Control" in modifiers:
            if self._merge_start is None:
                self._merge_start = point
                self.status.value = "merge: Ctrl-click the other grain"
                return
            start, self._merge_start = self._merge_start, None
            self._redraw(session.after(session.editor.merge_grains(start, point)))
        else:
            change = session.editor.delete_branch(point, DELETE_RADIUS)
            if change is None:
                show_info(f"no line within {DELETE_RADIUS} px of the click")
            self._redraw(session.after(change))

    @ui.reports_errors
    def free_path(self, points) -> None:
        session = self._require_session()
        self._redraw(session.after(session.editor.free_path([_clip(p, session.shape) for p in points])))

    @ui.reports_errors
    def close_gaps(self) -> None:
        self._redraw(self._require_session().close_suggested_gaps())

    @ui.reports_errors
    def undo(self) -> None:
        self._redraw(self._require_session().undo())

    @ui.reports_errors
    def redo(self) -> None:
        self._redraw(self._require_session().redo())

    def _show_status(self) -> None:
        if self.session is None:
            return
        editor, seconds = self.session.editor, int(self.session.seconds)
        self.status.value = (f"{editor.edits} edits, {editor.clicks} clicks, {seconds // 60}:{seconds % 60:02d}; "
                             f"{len(self.session.ends)} ends, {len(self.session.suggestions)} gaps suggested")

    # ------------------------------------------------------------------------------------------
    # saving
    # ------------------------------------------------------------------------------------------
    def _suggest_name(self, *_: Any) -> None:
        folder = Path(self.dataset.value)
        if str(folder) not in ("", ".") and not self.pair_name.value:
            self.pair_name.value = free_name(folder)

    @ui.reports_errors
    def _save_clicked(self) -> None:
        session = self._require_session()
        folder = Path(self.dataset.value)
        if str(folder) in ("", "."):
            raise InputError("choose the dataset folder to save into")
        micrograph = self.micrograph_layer.value
        if micrograph is None:
            raise InputError("choose the micrograph the tracing belongs to")
        name = self.pair_name.value or free_name(folder)
        image = convert.grey(np.asarray(micrograph.data), f"layer {micrograph.name!r}", rgb=micrograph.rgb)
        record = {"source_checkpoint": self.checkpoint.value, "source_prediction": self.source_name,
                  "edits": session.editor.edits, "clicks": session.editor.clicks,
                  "seconds": round(session.seconds, 1)}
        saved = save_to_dataset(folder, name, session.editor.tracing, [image], int(self.thickness.value), record)
        self.pair_name.value = free_name(folder)
        show_info(f"saved {saved[0].image.name} to {folder / 'image'} and {folder / 'label'}")


def _is_tracing(prob: np.ndarray) -> bool:
    return bool(np.all((prob == 0) | (prob == 1)))


def _clip(point, shape: tuple[int, int]) -> tuple[float, float]:
    return (min(max(float(point[0]), 0.0), shape[0] - 1.0), min(max(float(point[1]), 0.0), shape[1] - 1.0))


def _tracing_colours():
    from napari.utils.colormaps import DirectLabelColormap

    return DirectLabelColormap(color_dict={0: "transparent", 1: "yellow", 2: "cyan", None: "transparent"})
