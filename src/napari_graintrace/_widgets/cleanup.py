"""The "Clean tracing" dock widget: binarize, de-border, despeckle and re-thicken with a live preview.

Thin over ``core.cleanup``: the controls build a :class:`CleanupOptions`, :func:`clean_trace` runs
the whole pipeline and the result goes into one output Labels layer, ``cleaned tracing``, updated
in place. The pipeline is fast enough for the GUI thread (tens of ms at 1024 x 1024, see
``benchmarks/RESULTS.md``), so the preview runs there, debounced so that dragging a control
recomputes once per pause. "Apply" copies the preview into a new Labels layer the user owns and
may touch up with the paint and erase brushes; "Save…" writes that layer (or the preview) as a
0/255 PNG with the replayable ``NAME.cleanup.json`` sidecar of the CLI.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FloatSlider, Label, SpinBox
from napari.layers import Image, Labels
from napari.utils.notifications import show_info
from qtpy.QtCore import QTimer

from ..core.data import (
    BORDER_MODES,
    FOOTPRINTS,
    CleanupOptions,
    clean_trace,
    convert,
    sidecar_path,
    sidecar_record,
    write_cleaned,
)
from ..core.errors import InputError
from ..core.io import POLARITIES, check_writable
from ..core.options import THICKNESSES
from . import _common as ui

if TYPE_CHECKING:
    import napari

PREVIEW_NAME = "cleaned tracing"
THICKNESS_CHOICES = ("keep", *map(str, THICKNESSES))
DEBOUNCE_MS = 60


class CleanupWidget(Container):
    """Pick a tracing (and optionally the micrograph it was painted on); tune; apply or save."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.trace_layer = ComboBox(label="tracing", choices=ui.layer_choices(viewer, (Image, Labels)),
                                    nullable=True,
                                    tooltip="an exported tracing (either polarity), or a painted micrograph")
        self.original_layer = ComboBox(label="original micrograph", choices=ui.layer_choices(viewer, (Image,)),
                                       nullable=True, value=None,
                                       tooltip="set when the tracing was painted over this micrograph: "
                                               "the tracing is then their difference")
        self.top = SpinBox(label="top", min=0, max=100_000, value=0)
        self.bottom = SpinBox(label="bottom", min=0, max=100_000, value=0)
        self.left = SpinBox(label="left", min=0, max=100_000, value=0)
        self.right = SpinBox(label="right", min=0, max=100_000, value=0)
        self.border_box = Container(label="border (px)", layout="horizontal", labels=False,
                                 widgets=[self.top, self.bottom, self.left, self.right],
                                 tooltip="top, bottom, left, right: frame and scale bar to remove")
        self.border_mode = ComboBox(label="removed border", choices=BORDER_MODES, value="blank",
                                    tooltip="blank: becomes background; crop: cut away (apply the same crop "
                                            "to the micrograph: the box is in the layer's metadata)")
        self.otsu = CheckBox(label="automatic threshold", value=True,
                             tooltip="Otsu for a tracing; 0.05 of |painted - original| for a painted one")
        self.threshold = FloatSlider(label="threshold", min=0.0, max=1.0, step=0.01, value=0.5, enabled=False)
        self.polarity = ComboBox(label="polarity", choices=POLARITIES, value="auto",
                                 tooltip="auto: the minority class is boundary")
        self.min_size = SpinBox(label="drop specks < (px)", min=0, max=1_000_000, value=0)
        self.bridge = SpinBox(label="bridge gaps (px)", min=0, max=2, value=0,
                              tooltip="join line ends to a piece at most this many pixels away")
        self.thickness = ComboBox(label="thickness (px)", choices=THICKNESS_CHOICES, value="keep",
                                  tooltip="keep the binarized lines, or skeletonize (1) and re-thicken")
        self.footprint = ComboBox(label="thicken with", choices=FOOTPRINTS, value="disk",
                                  tooltip="gaussian: blur + threshold, as in the lab's report")
        self.status = Label(label="preview", value="choose a tracing layer")
        self.apply_button = ui.button("Apply as new layer", self.apply)
        self.overwrite = CheckBox(label="overwrite existing file", value=False)
        self.save_button = ui.button("Save…", self._save_clicked)
        super().__init__(
            widgets=[
                self.trace_layer, self.original_layer, self.border_box, self.border_mode, self.otsu,
                self.threshold, self.polarity, self.min_size, self.bridge, self.thickness, self.footprint,
                self.status, self.apply_button, self.overwrite, self.save_button,
            ],
        )
        self.result: tuple[np.ndarray, dict[str, Any], CleanupOptions] | None = None
        self.applied_layer: Labels | None = None
        self._timer = QTimer(self.native)  # dies with the dock: a pending preview never fires after close
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.update_preview)

        for control in (self.trace_layer, self.original_layer, self.top, self.bottom, self.left, self.right,
                        self.border_mode, self.otsu, self.threshold, self.polarity, self.min_size,
                        self.bridge, self.thickness, self.footprint):
            control.changed.connect(self._schedule)
        self.otsu.changed.connect(self._on_otsu_changed)
        self.thickness.changed.connect(self._on_thickness_changed)
        # a closed or undocked dock hears nothing; an empty tracing dropdown gets the obvious layer
        # (the original micrograph stays empty unless chosen: it changes how the tracing is read)
        ui.follow_layer_list(self, viewer, self.reset_choices, picks=lambda: [(self.trace_layer, ui.looks_like_tracing)])
        self._on_thickness_changed(self.thickness.value)
        ui.keep_narrow(self)
        ui.scroll_when_short(self)

    # ------------------------------------------------------------------------------------------
    # controls
    # ------------------------------------------------------------------------------------------
    def _on_otsu_changed(self, automatic: bool) -> None:
        self.threshold.enabled = not automatic

    def _on_thickness_changed(self, value: str) -> None:
        self.footprint.enabled = value not in ("keep", "1")

    def _schedule(self, *_: Any) -> None:
        """Restart the debounce timer: a dragged slider recomputes once it pauses."""
        self._timer.start()

    def params(self) -> CleanupOptions:
        """The controls as a validated, replayable parameter set."""
        thickness = None if self.thickness.value == "keep" else int(self.thickness.value)
        return CleanupOptions(
            margins=(self.top.value, self.bottom.value, self.left.value, self.right.value),
            border_mode=self.border_mode.value,
            threshold=None if self.otsu.value else float(self.threshold.value),
            polarity=self.polarity.value,
            min_size=self.min_size.value,
            bridge=self.bridge.value,
            thickness=thickness,
            footprint=self.footprint.value,
        )

    def _inputs(self) -> tuple[Any, np.ndarray, np.ndarray | None]:
        """The chosen layers' data, read only.

        A Labels tracing splits at non-zero, then the polarity control decides which side is
        boundary ("auto": the minority, the rule ``core.convert.tracing`` applies everywhere). A
        label image (one label per grain) becomes the boundaries between its grains, as there.
        """
        layer = self.trace_layer.value
        if layer is None:
            raise InputError(f"choose a tracing layer ({ui.SAMPLE_HINT})")
        data = np.asarray(layer.data)
        if convert.is_label_image(data, labels=isinstance(layer, Labels)):
            data = convert.grain_boundaries(data)  # one label per grain: the boundaries between them
        elif isinstance(layer, Labels):
            data = data != 0
        elif layer.rgb is False and data.ndim != 2:
            raise InputError(f"{ui.describe_layer('tracing', layer)} has shape {data.shape}; a tracing is a 2-D image")
        original = None
        if self.original_layer.value is not None:
            if ui.same_layer(self.original_layer.value, layer):
                raise InputError("the original micrograph and the tracing are the same layer")
            original = np.asarray(self.original_layer.value.data)
        return layer, data, original

    # ------------------------------------------------------------------------------------------
    # preview, apply, save
    # ------------------------------------------------------------------------------------------
    def compute(self) -> tuple[np.ndarray, dict[str, Any], CleanupOptions]:
        """Run the core pipeline on the chosen layers with the current controls."""
        layer, data, original = self._inputs()
        params = self.params()
        try:
            mask, report = clean_trace(data, params, original=original)
        except InputError as exc:
            raise InputError(f"{layer.name}: {exc}") from None
        return mask, report, params

    def _placement(self, report: dict[str, Any]) -> dict[str, Any]:
        """scale/translate that keep a cropped result on top of the source layer."""
        layer = self.trace_layer.value
        scale = np.asarray(layer.scale[-2:], dtype=float)
        translate = np.asarray(layer.translate[-2:], dtype=float) + np.asarray(report["box"][:2]) * scale * (
            self.border_mode.value == "crop"
        )
        return {"scale": tuple(scale), "translate": tuple(translate)}

    @ui.reports_errors
    def update_preview(self) -> None:
        """Recompute the cleanup and show it in the ``cleaned tracing`` Labels layer."""
        self._timer.stop()
        if self.trace_layer.value is None:
            self.status.value = "choose a tracing layer"
            return
        start = time.perf_counter()
        try:
            mask, report, params = self.compute()
        except Exception as exc:
            self.result = None  # never apply or save a stale result
            self.status.value = f"unusable: {exc}"
            raise
        elapsed = time.perf_counter() - start
        self.result = (mask, report, params)
        metadata = {"cleanup": params.to_dict(), "report": report}
        selection = ui.SavedSelection(self.viewer)
        ui.set_layer_data(self.viewer, PREVIEW_NAME, mask.astype(np.uint8), kind="labels",
                       metadata=metadata, **self._placement(report))
        ui.outputs_on_top(self.viewer, (PREVIEW_NAME,), selection)
        how = "extracted" if report["method"] == "extract" else f"{report['polarity']}"
        self.status.value = (f"{mask.shape[0]} x {mask.shape[1]}, {how}, "
                             f"{100 * report['boundary_fraction']:.1f}% boundary, {elapsed * 1e3:.0f} ms")

    @ui.reports_errors
    def apply(self) -> Labels | None:
        """Add the cleaned tracing as a new Labels layer the user owns (paint/erase to touch up)."""
        self.update_preview()
        if self.result is None:
            return None
        mask, report, params = self.result
        source = self.trace_layer.value
        layer = self.viewer.add_labels(
            mask.astype(np.uint8), name=f"{source.name} cleaned",
            metadata={"cleanup": params.to_dict(), "report": report, "source": source.name},
            **self._placement(report),
        )
        self.applied_layer = layer
        return layer

    def _save_source(self) -> tuple[np.ndarray, dict[str, Any]]:
        """The applied layer (with any touch-ups) if it is still in the viewer, else the preview."""
        layer = self.applied_layer
        if layer is not None and any(ui.same_layer(layer, other) for other in self.viewer.layers):
            return np.asarray(layer.data) != 0, {**layer.metadata, "layer": layer.name}
        self.update_preview()
        if self.result is None:
            raise InputError("nothing to save: choose a tracing layer")
        mask, report, params = self.result
        return mask, {"cleanup": params.to_dict(), "report": report, "layer": PREVIEW_NAME}

    @ui.reports_errors
    def save(self, path: str | Path) -> Path:
        """Write a 0/255 PNG and its ``.cleanup.json`` sidecar; never replace a file unless asked."""
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_name(path.name + ".png")
        sidecar = sidecar_path(path)
        check_writable([path, sidecar], self.overwrite.value)
        mask, info = self._save_source()
        source = self.trace_layer.value
        original = self.original_layer.value
        record = sidecar_record(source=source.name if source is not None else None,
                                original=original.name if original is not None else None, output=path,
                                params=info.get("cleanup"), report=info.get("report"), layer=info.get("layer"))
        write_cleaned(path, mask, record, overwrite=self.overwrite.value)
        show_info(f"saved {path.name} (from {info.get('layer')}) and {sidecar.name}")
        return path

    @ui.reports_errors
    def _save_clicked(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        # our "overwrite existing file" box decides, not the dialog's own question
        name, _ = QFileDialog.getSaveFileName(self.native, "Save cleaned tracing", "", "PNG image (*.png)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if name:
            self.save(name)
