"""The "Epoch sweep" dock widget: loss against epoch for a checkpoint series, docked in napari.

Thin over ``core.sweep``: the sweep runs in a ``thread_worker`` (one progress step per
prediction, cancel between predictions, cached on disk); the sigma slider and kernel box redraw
the whole curve from the sweep's per-prediction summaries; clicking a point shows that epoch's
prediction and overlays through the same path as "Inspect prediction".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSlider,
    Label,
    ProgressBar,
    PushButton,
    SpinBox,
)
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from napari.layers import Image, Labels
from napari.qt.threading import create_worker
from napari.utils.notifications import show_info

from ..core import sweep
from ..core.errors import InputError
from ..core.evaluation import Evaluation
from ..core.io import as_trace, to_grey, to_unit_float
from ._common import layer_choices, notify_error, reports_errors, show_evaluation

if TYPE_CHECKING:
    import napari

RESOLUTIONS = ("256", "512", "1024", "native (tiles)")


def _layer_pair(image_layer, trace_layer) -> sweep.LoadedPair:
    """A sweep input from two napari layers (Labels: non-zero is boundary; images: auto polarity)."""
    data = np.asarray(image_layer.data)
    image = to_unit_float(to_grey(data) if image_layer.rgb else data, image_layer.name)
    raw = np.asarray(trace_layer.data)
    trace = raw != 0 if isinstance(trace_layer, Labels) else as_trace(raw)[0]
    if image.shape != trace.shape:
        raise InputError(f"{image_layer.name} is {image.shape} but {trace_layer.name} is {trace.shape}")
    return sweep.LoadedPair(image_layer.name, image, trace)


class SweepWidget(Container):
    """Run every checkpoint of a folder on (image, tracing) pairs and plot the losses against epoch."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.checkpoint_folder = FileEdit(label="checkpoints", mode="d")
        self.image_layer = ComboBox(label="micrograph", choices=layer_choices(viewer, (Image,)), nullable=True)
        self.trace_layer = ComboBox(label="tracing", choices=layer_choices(viewer, (Image, Labels)), nullable=True)
        self.add_pair_button = PushButton(text="Add pair")
        self.pairs_label = Label(label="pairs", value="(the chosen pair)")
        self.clear_pairs_button = PushButton(text="Clear pairs")
        self.resolution = ComboBox(label="resolution", choices=RESOLUTIONS, value="256")
        self.run_button = PushButton(text="Run sweep")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="progress", value=0, max=1, visible=False)
        self.sigma = FloatSlider(label="Gaussian sigma", min=0.5, max=10.0, step=0.1, value=3.0)
        self.kernel = SpinBox(label="top-hat kernel", min=1, max=sweep.MAX_KERNEL, step=2, value=3)
        self.export_path = FileEdit(label="export to", mode="w", filter="*.csv *.png")
        self.overwrite = CheckBox(label="overwrite", value=False)
        self.export_csv_button = PushButton(text="Export CSV")
        self.export_png_button = PushButton(text="Export PNG")
        super().__init__(widgets=[
            self.checkpoint_folder, self.image_layer, self.trace_layer, self.add_pair_button, self.pairs_label,
            self.clear_pairs_button, self.resolution, self.run_button, self.cancel_button, self.progress,
            self.sigma, self.kernel, self.export_path, self.overwrite, self.export_csv_button,
            self.export_png_button,
        ])
        self.figure = Figure(figsize=(7, 3.2), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(260)
        self.native.layout().addWidget(self.canvas)
        self.canvas.mpl_connect("pick_event", self._on_pick)

        self.pairs: list[tuple] = []  # (image layer, trace layer)
        self.result: sweep.SweepResult | None = None
        self._inputs: dict[str, sweep.LoadedPair] = {}
        self._worker = None
        self.cache = sweep.PredictionCache()

        self.add_pair_button.changed.connect(self.add_pair)
        self.clear_pairs_button.changed.connect(self.clear_pairs)
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        self.sigma.changed.connect(self.redraw)
        self.kernel.changed.connect(self.redraw)
        self.export_csv_button.changed.connect(self.export_csv)
        self.export_png_button.changed.connect(self.export_png)
        viewer.layers.events.inserted.connect(self.reset_choices)
        viewer.layers.events.removed.connect(self.reset_choices)
        self.reset_choices()

    # ------------------------------------------------------------------------------------------
    # inputs
    # ------------------------------------------------------------------------------------------
    @reports_errors
    def add_pair(self) -> None:
        image, trace = self.image_layer.value, self.trace_layer.value
        if image is None or trace is None:
            raise InputError("choose a micrograph and its tracing, then Add pair")
        _layer_pair(image, trace)  # checked now, not after the first hour of inference
        self.pairs.append((image, trace))
        self.pairs_label.value = "\n".join(f"{i.name} + {t.name}" for i, t in self.pairs)

    def clear_pairs(self) -> None:
        self.pairs = []
        self.pairs_label.value = "(the chosen pair)"

    def _chosen_pairs(self) -> list[sweep.LoadedPair]:
        pairs = self.pairs or [(self.image_layer.value, self.trace_layer.value)]
        if any(layer is None for pair in pairs for layer in pair):
            raise InputError("choose a micrograph and its tracing")
        return [_layer_pair(image, trace) for image, trace in pairs]

    # ------------------------------------------------------------------------------------------
    # running
    # ------------------------------------------------------------------------------------------
    @reports_errors
    def run(self) -> None:
        folder = Path(self.checkpoint_folder.value)
        inputs = self._chosen_pairs()
        resolution = None if self.resolution.value.startswith("native") else int(self.resolution.value)
        steps = sweep.sweep_steps(folder, inputs, resolution=resolution, sigmas=(self.sigma.value,),
                                  kernels=(self.kernel.value,), cache=self.cache)
        self._inputs = {pair.name: pair for pair in inputs}
        self._worker = create_worker(
            _drive, steps,
            _connect={"yielded": self._on_progress, "returned": self._on_result, "errored": notify_error,
                      "finished": self._on_finished},
        )
        self.run_button.enabled = False
        self.cancel_button.enabled = True
        self.progress.visible = True
        self.progress.value = 0

    def _on_progress(self, update: tuple[int, int, str]) -> None:
        done, total, text = update
        self.progress.max = total
        self.progress.value = done
        self.progress.label = text

    def _on_result(self, result: sweep.SweepResult) -> None:
        self.result = result
        for failure in result.failures:
            notify_error(InputError(f"skipped {failure}"))
        self.redraw()

    def _on_finished(self) -> None:
        if self._worker is not None and self._worker.abort_requested:
            show_info("sweep cancelled: predictions done so far are cached, Run resumes from there")
        self._worker = None
        self.run_button.enabled = True
        self.cancel_button.enabled = False
        self.progress.visible = False

    @property
    def busy(self) -> bool:
        """True while a sweep runs."""
        return self._worker is not None

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.quit()

    # ------------------------------------------------------------------------------------------
    # plot
    # ------------------------------------------------------------------------------------------
    def redraw(self) -> None:
        """Redraw every curve; the live sigma/kernel curves come from the summaries (no inference)."""
        if self.result is None or not self.result.summaries:
            return
        sweep.plot(self.result, self.figure, sigma=self.sigma.value, kernel=self.kernel.value)
        for ax in self.figure.axes:
            for line in ax.get_lines():
                line.set_picker(5)
        self.canvas.draw_idle()

    def live_curves(self) -> dict[str, tuple[list[int], np.ndarray]]:
        """The dashed curves as drawn: {'gaussian': (epochs, values), 'tophat': ...}."""
        curves = {}
        for ax, metric in zip(self.figure.axes, ("bce", "tophat", "gaussian", "tolerant_f"), strict=False):
            for line in ax.get_lines():
                if line.get_gid() == "live":
                    curves[metric] = (list(map(int, line.get_xdata())), np.asarray(line.get_ydata()))
        return curves

    @reports_errors
    def _on_pick(self, event) -> None:
        index = int(event.ind[0])
        epoch = int(event.artist.get_xdata()[index])
        self.show_epoch(epoch)

    @reports_errors
    def show_epoch(self, epoch: int, image: str | None = None) -> None:
        """That epoch's prediction and overlays in the viewer, from the cache (as "Inspect prediction")."""
        if self.result is None:
            raise InputError("run a sweep first")
        name = image or next(iter(self._inputs))
        pred = self.cache.load(self.result.predictions[(epoch, name)])
        if pred is None:
            raise InputError(f"the cached prediction of epoch {epoch} is gone; run the sweep again")
        pair = self._inputs[name]
        evaluation = Evaluation.of(pred, pair.trace, sigma=self.sigma.value, kernel=self.kernel.value)
        reference = self.viewer.layers[name] if name in self.viewer.layers else None
        show_evaluation(self.viewer, evaluation, reference or _Grid(pair.image.shape))
        show_info(f"epoch {epoch} on {name}: BCE {evaluation.bce:.4f}, Gaussian {evaluation.gaussian():.4f}")

    # ------------------------------------------------------------------------------------------
    # export
    # ------------------------------------------------------------------------------------------
    def _export_target(self, suffix: str) -> Path:
        if self.result is None:
            raise InputError("run a sweep first")
        path = Path(self.export_path.value)
        if path.is_dir() or str(path) in ("", "."):
            raise InputError("choose a file to export to")
        return path.with_suffix(suffix)

    @reports_errors
    def export_csv(self) -> None:
        path = sweep.write_csv(self.result_or_error(), self._export_target(".csv"), self.overwrite.value)
        show_info(f"wrote {path}")

    @reports_errors
    def export_png(self) -> None:
        path = sweep.save_plot(self.result_or_error(), self._export_target(".png"), self.overwrite.value,
                               figure=self.figure)
        show_info(f"wrote {path}")

    def result_or_error(self) -> sweep.SweepResult:
        if self.result is None:
            raise InputError("run a sweep first")
        return self.result


class _Grid:
    """Stands in for a reference layer (unit scale at the origin) when the image layer is gone."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.data = np.broadcast_to(np.float32(0), shape)
        self.scale = (1.0, 1.0)
        self.translate = (0.0, 0.0)


def _drive(steps):
    """Worker body: forward the sweep's progress; its return value is the result."""
    return (yield from steps)
