"""The "Grains" dock widget: a boundary map's grains, coloured by their fate against the true grains.

Thin over ``core.grains``: a :class:`~napari_graintrace.core.grains.Segmenter` keeps the stages of
the lab's post-processing, so a moved slider (debounced) re-runs only the stages after it; the
comparison, the fate colours, the metrics table and the size histogram follow. "Tune" searches the
parameters for the best grain F1 in a worker (progress bar, Cancel) and sets the sliders to them.
Everything is measured on the micrograph's grid (a map of another size is resampled to the
tracing's); the pixel size comes from the layers' scale or a TIFF's resolution tags and stays
editable. The histogram is core's ``SizeHistogram``, drawn in napari-matplotlib's themed canvas, and
"Export grains" writes the files ``graintrace grains -o`` writes, through the same core writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSlider,
    FloatSpinBox,
    Label,
    ProgressBar,
    SpinBox,
)
from napari.layers import Image, Labels
from napari.utils.notifications import show_info
from qtpy.QtCore import QTimer

from ..core import grains
from ..core.data import convert
from ..core.errors import InputError
from ..core.grid import check_same_area, grid_text, tiff_pixel_size, to_grid
from ..core.options import GrainOptions
from . import _common as ui
from ._plots import ThemedPlot

if TYPE_CHECKING:
    import napari

PREDICTED_LAYER = "grains"
TRUE_LAYER = "true grains"
# fate colours (RGBA): matched green, split orange, merged red, spurious magenta, missed blue
FATE_COLOURS = {
    "matched": (0.2, 0.8, 0.2, 1.0),
    "split": (1.0, 0.6, 0.0, 1.0),
    "merged": (0.9, 0.1, 0.1, 1.0),
    "spurious": (0.9, 0.2, 0.9, 1.0),
    "missed": (0.2, 0.4, 1.0, 1.0),
}
METRIC_ROWS = (  # (label, key) of the metrics table
    ("interior grains", "grains"), ("edge grains", "edge_grains"), ("mean area (px)", "mean_area_px"),
    ("mean intercept (px)", "mean_intercept_px"), ("mean area (um^2)", "mean_area_um2"),
    ("mean intercept (um)", "mean_intercept_um"), ("ASTM G intercept", "astm_g_intercept"),
    ("ASTM G planimetric", "astm_g_planimetric"), ("true interior grains", "grains_truth"),
    ("VI split", "vi_split"), ("VI merge", "vi_merge"), ("adapted Rand error", "arand"),
    ("grain precision", "grain_precision"), ("grain recall", "grain_recall"), ("grain F1", "grain_f1"),
    ("orphan fraction", "orphan_fraction"), ("disregistry", "disregistry"), ("size KS", "size_ks"),
    ("size KS p-value", "size_ks_p"),
)
DEBOUNCE_MS = 120


def _fate_colormap():
    """Labels colours for fate codes (1 matched .. 5 missed; 0, the boundary, transparent)."""
    from napari.utils.colormaps import DirectLabelColormap

    colours: dict[Any, Any] = {None: (0, 0, 0, 0), 0: (0, 0, 0, 0)}
    for code, name in enumerate(grains.FATES, start=1):
        colours[code] = FATE_COLOURS[name]
    return DirectLabelColormap(color_dict=colours)


def _grey_level(value: float) -> float:
    """A slider's threshold, exact where it stands on an 8-bit grey level k/255.

    The sliders keep 6 decimals, so the lab's ``1 - 160/255`` reads back as 0.372549, just below
    95/255: an 8-bit map's pixels at level 95 would pass a threshold the command line's exact value
    stops. Snapping within the sliders' precision gives the widget and ``graintrace grains`` the same
    grains.
    """
    level = round(float(value) * 255)
    return level / 255 if abs(float(value) - level / 255) < 1e-6 else float(value)


def layer_pixel_size(layer) -> tuple[float | None, str]:
    """Micrometres per pixel a layer carries, and where it was found (for the user to check).

    napari's ``scale`` is the physical pixel size: converted from the layer's length ``units`` when
    it has them, taken as micrometres when the units are napari's default "pixel" but the scale is
    not 1 (readers that set a scale work in um). Otherwise the resolution tags of the TIFF it was
    opened from. Rectangular pixels have no single size: None.
    """
    scale = [float(v) for v in layer.scale[-2:]]
    units = tuple(getattr(layer, "units", ())[-2:])
    if abs(scale[0] - scale[1]) <= 1e-9 * max(scale) and scale[0] > 0:
        unit = units[-1] if units else None
        if unit is not None and str(unit) not in ("pixel", "dimensionless", ""):
            try:
                import pint

                return float(pint.Quantity(scale[-1], unit).to("micrometer").magnitude), f"{layer.name}'s scale"
            except (pint.errors.DimensionalityError, pint.errors.UndefinedUnitError, AttributeError):
                pass
        elif scale[0] != 1.0:
            return scale[0], f"{layer.name}'s scale"
    path = getattr(getattr(layer, "source", None), "path", None)
    if path and str(path).lower().endswith((".tif", ".tiff")):
        size = tiff_pixel_size(path)
        if size is not None:
            return size, f"{Path(path).name}'s resolution tags"
    return None, ""


@dataclass
class _Inputs:
    """The chosen layers' arrays, taken on the GUI thread (cheap); read and checked in the worker."""

    pred: np.ndarray
    pred_name: str
    pred_rgb: bool
    trace: np.ndarray | None = None
    trace_name: str = ""
    trace_is_labels: bool = False
    trace_rgb: bool | None = None


@dataclass
class _Loaded:
    """A prediction ready to segment: its stages' cache, and the true grains if a tracing was given."""

    segmenter: grains.Segmenter
    truth: np.ndarray | None
    true_table: grains.GrainTable | None
    source_shape: tuple[int, ...] = ()  # the chosen map's own shape (the segmenter's is the tracing's grid)


def _load(inputs: _Inputs) -> _Loaded:
    pred = convert.prediction(inputs.pred, inputs.pred_name, rgb=inputs.pred_rgb)
    source_shape = pred.shape
    truth = None
    if inputs.trace is not None:
        tracing = convert.tracing(inputs.trace, labels=inputs.trace_is_labels, what=inputs.trace_name,
                                  rgb=inputs.trace_rgb)
        # one geometry: the tracing is drawn on the micrograph's grid, a map made at another size
        # (the lab's 1024 x 1024 squares) is measured there, never the other way round
        check_same_area(pred.shape, tracing.mask.shape, inputs.pred_name, inputs.trace_name)
        truth = grains.trace_labels(tracing.mask)
        pred = to_grid(pred, truth.shape)
    return _Loaded(grains.Segmenter(pred), truth, grains.grain_table(truth) if truth is not None else None,
                   source_shape)


def _segment_in_background(source: _Inputs | _Loaded, options: GrainOptions):
    """Worker body (Run and every settled slider move): read the layers if asked, segment, compare, and
    make the layers' data, so the GUI thread only swaps arrays in (seconds at 4096 x 4096)."""
    loaded = _load(source) if isinstance(source, _Inputs) else source
    labels = loaded.segmenter.labels(options)
    table = grains.grain_table(labels)
    metrics = grains.stats(labels, options.pixel_size, table)
    if loaded.truth is not None:
        scores, pred_fate, true_fate = grains.compare_with_fates(labels, loaded.truth, table, loaded.true_table)
        metrics.update(scores)
        # the layers hold fate codes (a fixed colour each): only their data changes on a slider move
        layers = {TRUE_LAYER: true_fate[loaded.truth], PREDICTED_LAYER: pred_fate[labels]}
    else:
        layers = {PREDICTED_LAYER: labels}
    return loaded, options, labels, table, metrics, layers


def _tune_in_background(segmenter: grains.Segmenter, truth: np.ndarray, start: GrainOptions):
    """Worker body: every step is a progress report and a Cancel point."""
    return (yield from grains.tune_steps(segmenter, truth, start))


class GrainsWidget(Container):
    """Pick a prediction (or the Inspect widget's) and a tracing; see the grains and how they fare."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        defaults = GrainOptions()
        self.prediction_layer = ComboBox(label="prediction", choices=self._prediction_choices, nullable=True,
                                         tooltip="a probability map (Image); the Inspect widget's "
                                                 "'prediction' layer is offered too")
        self.trace_layer = ComboBox(label="tracing", choices=self._trace_choices, nullable=True,
                                    tooltip="the true tracing (Image or Labels, either polarity); optional")
        self.run_button = ui.button("Run [segment and compare]", self.run)
        self.high = FloatSlider(label="high threshold", min=0.0, max=1.0, step=0.005, value=defaults.high)
        self.low = FloatSlider(label="low threshold", min=0.0, max=1.0, step=0.005, value=defaults.low)
        self.dilations = SpinBox(label="dilations", min=0, max=20, value=defaults.dilations)
        self.min_area = SpinBox(label="min area (px)", min=0, max=100_000, step=10, value=defaults.min_area)
        self.prune = SpinBox(label="prune (px)", min=0, max=1000, step=5, value=defaults.prune)
        self.pixel_size = FloatSpinBox(label="pixel size (um)", min=0.0, max=1e6, step=0.0001, value=0.0,
                                       tooltip="micrometres per pixel, for sizes in um and the ASTM G numbers "
                                               "(0: none); taken from the layers' scale or a TIFF's "
                                               "resolution tags when they have one, and yours to change")
        self.tune_button = ui.button("Tune [best grain F1]", self.tune)
        self.cancel_button = ui.button("Cancel", self.cancel, enabled=False)
        self.progress = ProgressBar(label="tuning", value=0, max=1, visible=False)
        self.status = Label(label="", value="choose a prediction layer, then Run")
        self.metrics_panel = Label(label="metrics", value="-")
        self.copy_button = ui.button("Copy metrics as table", self.copy_metrics)
        self.export_path = FileEdit(label="export to", mode="w", filter="*.csv *.json")
        self.overwrite = CheckBox(label="overwrite", value=False)
        self.export_button = ui.button("Export metrics", self.export_metrics)
        self.grains_folder = FileEdit(label="grains to", mode="d",
                                      tooltip="a folder for " + ", ".join(grains.OUTPUT_FILES.values()))
        self.export_grains_button = ui.button("Export grains [labels, per-grain CSV, summary]", self.export_grains)
        super().__init__(widgets=[
            self.prediction_layer, self.trace_layer, self.run_button, self.high, self.low, self.dilations,
            self.min_area, self.prune, self.pixel_size, self.tune_button, self.cancel_button, self.progress,
            self.status, self.metrics_panel, self.copy_button, self.export_path, self.overwrite,
            self.export_button, self.grains_folder, self.export_grains_button,
        ])
        # napari-matplotlib's canvas: colours follow napari's theme; its toolbar zooms and saves
        self.plot_widget = ThemedPlot(viewer)
        self.plot_widget.setMinimumHeight(260)
        self.native.layout().addWidget(self.plot_widget)
        self.figure = self.plot_widget.figure
        self.canvas = self.plot_widget.canvas
        self.histogram = grains.SizeHistogram(self.figure)  # core's drawing, the one grain_sizes.png shows
        self.table: grains.GrainTable | None = None
        self._pixel_size_source: tuple[str, float] = ("", 0.0)  # where the value came from, and the value

        self.segmenter: grains.Segmenter | None = None
        self.truth: np.ndarray | None = None
        self.true_table: grains.GrainTable | None = None
        self.grain_labels: np.ndarray | None = None
        self.metrics: dict[str, Any] = {}
        self._reference = None  # the layer the outputs are laid over (the grid they were measured on)
        self._source_shape: tuple[int, ...] = ()  # the chosen map's own shape
        self._prediction_source = None  # the prediction layer of the last run
        self.tuned: grains.TuneResult | None = None
        self._shown_with_fates = False
        self._worker = None  # tuning
        self._segmenting = None  # the running segmentation worker
        self._queued: str | None = None  # "run" or "resegment", asked for while one ran
        self._tune_queued = False  # Tune pressed before the first Run finished
        self._applying = False  # setting several controls at once: one re-segmentation at the end
        self._timer = QTimer(self.native)  # dies with the widget: never fires into a closed dock
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.resegment)

        for control in (self.high, self.low, self.dilations, self.min_area, self.prune, self.pixel_size):
            control.changed.connect(self._on_control_changed)
        # before the dropdowns are filled: a preselected layer brings its pixel size too
        self.prediction_layer.changed.connect(self._take_pixel_size)
        self.trace_layer.changed.connect(self._take_pixel_size)
        viewer.events.theme.connect(self._on_theme)
        self.native.destroyed.connect(self._disconnect_theme)
        # let go on close and undock; empty dropdowns get the obvious layers, now and as layers come
        ui.follow_layer_list(self, viewer, self.reset_choices, picks=lambda: [
            (self.prediction_layer, ui.looks_like_prediction), (self.trace_layer, ui.looks_like_tracing)])
        ui.keep_narrow(self)
        for label in (self.status, self.metrics_panel):  # short lines, all of them shown (a wrapped label
            label.native.setWordWrap(False)              # is squeezed to a line or two in the scroll area)
        ui.scroll_when_short(self)

    def _disconnect_theme(self, *_: Any) -> None:
        # napari-matplotlib's canvas listens to the theme too and never lets go
        for callback in (self._on_theme, self.plot_widget):  # an object given to disconnect() loses them all
            try:
                self.viewer.events.theme.disconnect(callback)
            except (RuntimeError, ValueError, TypeError):  # the viewer went first
                pass

    def _on_theme(self, *_: Any) -> None:
        """Draw the histogram afresh in the new theme's colours (its artists keep the colours they were made in)."""
        self.figure.clear()
        self.histogram = grains.SizeHistogram(self.figure)
        if self.table is not None:
            self._draw_histogram(self.table, self.metrics.get("size_ks"), self.options().pixel_size)

    # ------------------------------------------------------------------------------------------
    # inputs
    # ------------------------------------------------------------------------------------------
    def _prediction_choices(self, _widget=None) -> list[tuple[str, Any]]:
        """The user's Image layers, and our own 'prediction' output (the Inspect widget's)."""
        return [(layer.name, layer) for layer in self.viewer.layers
                if isinstance(layer, Image) and not layer.rgb
                and (not ui.is_output_layer(layer) or layer.metadata.get("napari-graintrace output") == "prediction")]

    def _trace_choices(self, _widget=None) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in self.viewer.layers
                if isinstance(layer, Image | Labels) and not ui.is_output_layer(layer)]

    def options(self) -> GrainOptions:
        """The controls as checked options (low above high is refused with a message)."""
        return GrainOptions(high=_grey_level(self.high.value), low=_grey_level(self.low.value),
                            dilations=self.dilations.value, min_area=self.min_area.value, prune=self.prune.value,
                            pixel_size=self.pixel_size.value or None)

    def _inputs(self) -> _Inputs:
        layer = self.prediction_layer.value
        if layer is None:
            raise InputError("choose a prediction layer: a probability map in [0, 1] or 8/16-bit, e.g. the "
                             "'prediction' of Inspect prediction")
        inputs = _Inputs(np.asarray(layer.data), ui.describe_layer("prediction", layer), layer.rgb)
        trace_layer = self.trace_layer.value
        if trace_layer is not None:
            inputs.trace, inputs.trace_name = np.asarray(trace_layer.data), ui.describe_layer("tracing", trace_layer)
            inputs.trace_is_labels = isinstance(trace_layer, Labels)
            inputs.trace_rgb = getattr(trace_layer, "rgb", None)
        return inputs

    def _take_pixel_size(self, *_: Any) -> None:
        """Fill the pixel size from the chosen layers (scale, or TIFF tags) where one is recorded; a value
        the user typed is replaced only by a recorded one."""
        for layer in (self.prediction_layer.value, self.trace_layer.value):
            if layer is None:
                continue
            size, source = layer_pixel_size(layer)
            if size is not None:
                self._pixel_size_source = (source, size)
                self.pixel_size.value = size
                return

    # ------------------------------------------------------------------------------------------
    # running
    # ------------------------------------------------------------------------------------------
    @ui.reports_errors
    def run(self) -> None:
        """Read the layers, segment with the controls' values, compare, draw (in a worker)."""
        if self._segmenting is not None:
            self._queued = "run"  # after the running one: the layers may have changed
            return
        inputs = self._inputs()
        prediction, tracing = self.prediction_layer.value, self.trace_layer.value
        self._prediction_source = prediction  # named in an exported summary
        # the outputs lie on the grid they were measured on: the tracing's when the map was resampled to it
        resampled = tracing is not None and np.shape(tracing.data)[:2] != np.shape(prediction.data)[:2]
        self._start_segmenting(inputs, tracing if resampled else prediction, place=True)

    def _on_control_changed(self, _value=None) -> None:
        if self.segmenter is not None and not self._applying:
            self._timer.start()  # debounced: a dragged slider re-segments once it rests

    @ui.reports_errors
    def resegment(self) -> None:
        """The live path: re-run the stages after the moved control (in a worker), then redraw."""
        if self._segmenting is not None:
            self._queued = self._queued or "resegment"  # once the running one is shown
            return
        if self.segmenter is not None:
            self._start_segmenting(_Loaded(self.segmenter, self.truth, self.true_table, self._source_shape),
                                   self._reference, place=False)

    def _start_segmenting(self, source: _Inputs | _Loaded, reference, place: bool) -> None:
        options = self.options()  # checked here: a bad combination is a notification, no work
        selection = ui.SavedSelection(self.viewer) if place else None
        self._segmenting = ui.start_worker(
            self, _segment_in_background, source, options,
            returned=lambda result: self._on_segmented(result, reference, place, selection),
            finished=self._on_segmenting_finished,
        )
        self.status.value = "segmenting..."
        self.run_button.enabled = False

    @ui.reports_errors
    def _on_segmented(self, result: tuple, reference, place: bool, selection=None) -> None:
        loaded, options, labels, table, metrics, layers = result
        self.segmenter, self.truth, self.true_table = loaded.segmenter, loaded.truth, loaded.true_table
        self._reference = reference
        for name, data in layers.items():
            extra = {"opacity": 0.5, "visible": False} if name == TRUE_LAYER else {"opacity": 0.6}
            self._show(name, data, place, **extra)
        self.grain_labels, self.metrics, self.table = labels, metrics, table
        self._source_shape = loaded.source_shape
        kind = "a tracing: only skeletonized" if loaded.segmenter.tracing else "probability map"
        notes = [f"measured on {labels.shape[0]} x {labels.shape[1]} ({kind})"]
        if loaded.source_shape and loaded.source_shape != labels.shape:
            notes.append(f"map {loaded.source_shape[0]} x {loaded.source_shape[1]} resampled to it")
        if options.pixel_size:
            source, value = self._pixel_size_source
            recorded = source and abs(value - options.pixel_size) <= 1e-12 * value
            notes.append(f"{options.pixel_size:g} um/px" + (f" from {source}" if recorded else ""))
        self.status.value = "\n".join(notes)  # a line each: a wrapped label is squeezed in the scroll area
        self.metrics_panel.value = "\n".join(
            f"{label}  {self._format(metrics[key])}" for label, key in METRIC_ROWS if key in metrics)
        self._draw_histogram(table, metrics.get("size_ks"), options.pixel_size)
        if selection is not None:
            ui.outputs_on_top(self.viewer, (TRUE_LAYER, PREDICTED_LAYER), selection)
        try:
            moved = options != self.options()
        except InputError:  # the controls are mid-move (low above high): the next settled move says so
            moved = False
        if moved:
            self._queued = self._queued or "resegment"  # a control moved while it ran

    def _on_segmenting_finished(self) -> None:
        self._segmenting = None
        self.run_button.enabled = self._worker is None
        queued, self._queued = self._queued, None
        if queued == "run":
            self.run()
        elif queued == "resegment":
            self.resegment()
        elif self._tune_queued:
            self._tune_queued = False
            self.tune()

    def _show(self, name: str, data: np.ndarray, place: bool, **new_layer: Any) -> None:
        layer = ui.find_output_layer(self.viewer, name)
        if layer is not None and not place and self._shown_with_fates == (self.truth is not None):
            layer.data = data  # one refresh, not one per property
            return
        from napari.utils.colormaps import label_colormap

        colormap = _fate_colormap() if self.truth is not None else label_colormap()
        where = ui.placement_on(self._reference, data.shape) if self._reference is not None else {}
        ui.set_layer_data(self.viewer, name, data, kind="labels", colormap=colormap, **where, **new_layer)
        self._shown_with_fates = self.truth is not None

    def _draw_histogram(self, table: grains.GrainTable, ks: float | None, pixel_size: float | None) -> None:
        """Core's histogram (the one ``graintrace grains -o`` saves) in the themed canvas; updated in place."""
        with self.plot_widget.theme_style():
            self.histogram.draw(table, self.true_table, ks, pixel_size)
        self.canvas.draw_idle()

    @staticmethod
    def _format(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    # ------------------------------------------------------------------------------------------
    # tuning
    # ------------------------------------------------------------------------------------------
    @ui.reports_errors
    def tune(self) -> None:
        """Search the post-processing for the best grain F1 (worker); the sliders follow the result."""
        if self.trace_layer.value is None:
            raise InputError("tuning needs a tracing: choose one, then Run")
        if self._segmenting is not None or self.segmenter is None:
            self._tune_queued = True  # after the Run that reads the layers
            if self._segmenting is None:
                self.run()
            return
        if self.truth is None:
            raise InputError("tuning needs a tracing: choose one, then Run")
        if self.segmenter.tracing:
            raise InputError("the prediction is a tracing (only 0 and 1): it is only skeletonized, nothing to tune")
        # a Segmenter of its own: the worker's stages never race the sliders' cache
        segmenter = grains.Segmenter(self.segmenter.pred)
        self._worker = ui.start_worker(self, _tune_in_background, segmenter, self.truth, self.options(),
                                    yielded=self._on_progress, returned=self._on_tuned,
                                    finished=self._on_worker_finished)
        ui.show_busy(self, True, self.tune_button)

    def _on_progress(self, step: tuple[int, int, str]) -> None:
        done, total, text = step
        self.progress.max = max(total, 1)
        self.progress.value = min(done, total)
        self.status.value = text

    @ui.reports_errors
    def _on_tuned(self, result: grains.TuneResult) -> None:
        self.tuned = result
        self.set_options(result.options)
        self.status.value = (f"tuned: grain F1 {result.scores['grain_f1']:.3f} "
                             f"({result.evaluated} settings tried)")

    def set_options(self, options: GrainOptions) -> None:
        """Move every control to ``options`` and re-segment once."""
        self._applying = True
        try:
            if options.low > self.high.value:  # keep low <= high at every intermediate step
                self.high.value = options.high
                self.low.value = options.low
            else:
                self.low.value = options.low
                self.high.value = options.high
            self.dilations.value = options.dilations
            self.min_area.value = options.min_area
            self.prune.value = options.prune
        finally:
            self._applying = False
        self.resegment()

    def _on_worker_finished(self) -> None:
        if self._worker is not None and self._worker.abort_requested:
            show_info("tuning cancelled; the controls were not changed")
        self._worker = None
        ui.show_busy(self, False, self.tune_button)

    def cancel(self) -> None:
        self._tune_queued = False
        if self._worker is not None:
            self._worker.quit()

    @property
    def busy(self) -> bool:
        """True while a segmentation or the tuning runs (or one is queued)."""
        return (self._worker is not None or self._segmenting is not None or self._queued is not None
                or self._tune_queued)

    # ------------------------------------------------------------------------------------------
    # export
    # ------------------------------------------------------------------------------------------
    def metrics_table(self) -> str:
        """Tab-separated metric / value rows with the parameters (paste into a spreadsheet)."""
        if not self.metrics:
            return ""
        options = self.options()
        rows = [("metric", "value"), *((k, str(v)) for k, v in options.post_processing.items())]
        rows += [(key, self._format(self.metrics[key])) for _, key in METRIC_ROWS if key in self.metrics]
        rows += [("pixel_size", self._format(options.pixel_size)), ("grid", grid_text(self.grain_labels.shape))]
        return "\n".join("\t".join(row) for row in rows)

    def copy_metrics(self) -> None:
        from qtpy.QtGui import QGuiApplication

        QGuiApplication.clipboard().setText(self.metrics_table())
        show_info("grain metrics copied as a tab-separated table")

    @ui.reports_errors
    def export_metrics(self) -> None:
        """Write the metrics as CSV (metric,value) or JSON by the file's suffix; never overwrites unasked."""
        import json

        from ..core.io import write_text

        if not self.metrics:
            raise InputError("run first: there are no metrics to export")
        path = Path(self.export_path.value)
        if path.suffix.lower() not in (".csv", ".json"):
            raise InputError(f"{path}: export to a .csv or a .json file")
        record = {**self.options().post_processing, "pixel_size": self.options().pixel_size, **self.metrics,
                  "grid": grid_text(self.grain_labels.shape)}
        if path.suffix.lower() == ".json":
            text = json.dumps(record, indent=2) + "\n"
        else:
            text = "metric,value\n" + "".join(f"{k},{'' if v is None else v}\n" for k, v in record.items())
        write_text(path, text, overwrite=self.overwrite.value)
        show_info(f"wrote {path}")

    def _source_name(self, layer) -> str:
        """A layer as the summary names an input: the file it was opened from, else its name."""
        path = getattr(getattr(layer, "source", None), "path", None)
        return str(path) if path else layer.name

    @ui.reports_errors
    def export_grains(self) -> None:
        """Write the grain labels (TIFF), the per-grain CSV, the summary JSON and the size histogram (PNG)
        into the chosen folder: the files and the writer of ``graintrace grains -o``. Nothing is
        replaced unless "overwrite" is ticked; nothing is written if any file would be."""
        from ..core.io import check_writable

        if self.grain_labels is None or self.table is None:
            raise InputError("run first: there are no grains to export")
        chosen = str(self.grains_folder.value or "").strip()
        if chosen in ("", "."):
            raise InputError("choose a folder for the grains first (grains to)")
        folder = Path(chosen)
        check_writable([folder / name for name in grains.OUTPUT_FILES.values()], self.overwrite.value)
        trace_layer = self.trace_layer.value if self.truth is not None else None
        summary = grains.grain_summary(
            self.grain_labels, self.table, self.options(), self.metrics,
            predictions=[self._source_name(self._prediction_source)],
            tracing=None if trace_layer is None else self._source_name(trace_layer),
            is_tracing=self.segmenter.tracing)
        written = grains.write_grain_files(folder, self.grain_labels, self.table, self.true_table, summary,
                                             overwrite=self.overwrite.value)
        show_info(f"wrote {', '.join(path.name for path in written.values())} to {folder}")
