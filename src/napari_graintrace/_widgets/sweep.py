"""The "Epoch sweep" dock widget: loss against epoch for one or more training runs, docked in napari.

Thin over ``core.sweep``: the sweep runs in a ``thread_worker`` (one progress step per
prediction, cancel between predictions, cached on disk); each run (a checkpoint folder under a
name) gets one colour; the sigma slider and kernel box redraw every run's live curve from the
sweep's per-prediction summaries; a table gives each run's best epoch per metric; clicking a point
marks that epoch and shows that run's prediction and overlays through the same path as "Inspect
prediction". The plot sits in napari-matplotlib's themed canvas.
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
    FloatSlider,
    Label,
    LineEdit,
    ProgressBar,
    Select,
    SpinBox,
    Table,
)
from napari.layers import Image, Labels
from napari.utils.notifications import show_info

from ..core import sweep
from ..core.cache import PredictionCache
from ..core.data import convert
from ..core.errors import InputError
from ..core.options import RESOLUTIONS, SweepOptions
from ..core.scoring import Evaluation
from . import _common as ui
from ._plots import ThemedPlot

if TYPE_CHECKING:
    import napari

TABLE_SIGMAS = (1.0, 3.0)  # the table's fixed parameters: a run added later reuses every other run's rows
TABLE_KERNELS = (3, 5)


def _layer_pair(image_layer, trace_layer) -> sweep.LoadedPair:
    """A sweep input from two napari layers (Image or Labels tracing alike: the minority class is boundary)."""
    image = convert.micrograph(image_layer.data, ui.describe_layer("micrograph", image_layer),
                               rgb=getattr(image_layer, "rgb", None))
    tracing = convert.tracing(trace_layer.data, labels=isinstance(trace_layer, Labels),
                              what=ui.describe_layer("tracing", trace_layer), rgb=getattr(trace_layer, "rgb", None))
    mask = convert.match_shape(tracing.mask, image.shape, what=ui.describe_layer("tracing", trace_layer),
                               reference=ui.describe_layer("micrograph", image_layer))
    return sweep.LoadedPair(image_layer.name, image, mask)


class SweepWidget(Container):
    """Run every checkpoint of one or more runs on (image, tracing) pairs and plot the losses against epoch."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.checkpoint_folder = FileEdit(label="checkpoints", mode="d")
        self.run_name = LineEdit(label="run name", value="")
        self.run_name.native.setPlaceholderText("(the folder's name)")
        self.add_run_button = ui.button("Add run", self.add_run)
        self.runs: dict[str, Path] = {}  # name -> checkpoint folder, in the order added
        # choices from a callable: magicgui's reset_choices (on every layer change) re-reads the runs
        self.runs_list = Select(label="runs", choices=lambda _widget: list(self.runs), allow_multiple=True)
        self.remove_run_button = ui.button("Remove selected runs", self.remove_selected_runs)
        self.image_layer = ComboBox(label="micrograph", choices=ui.layer_choices(viewer, (Image,)), nullable=True)
        self.trace_layer = ComboBox(label="tracing", choices=ui.layer_choices(viewer, (Image, Labels)), nullable=True)
        self.add_pair_button = ui.button("Add pair", self.add_pair)
        self.pairs_label = Label(label="pairs", value="(the chosen pair)")
        self.clear_pairs_button = ui.button("Clear pairs", self.clear_pairs)
        self.resolution = ComboBox(label="resolution", choices=RESOLUTIONS, value=RESOLUTIONS[0],
                                   tooltip="the network's input: native (tiles) or the lab's square; "
                                           "the maps are scored on the micrograph's grid either way")
        self.run_button = ui.button("Run sweep", self.run)
        self.follow_button = ui.button("Follow training (live)", self.follow,
                                       tooltip="score each checkpoint as a training writes it, until it has "
                                               "finished or 10 min pass without a new one")
        self.cancel_button = ui.button("Cancel", self.cancel, enabled=False)
        self.progress = ProgressBar(label="progress", value=0, max=1, visible=False)
        self.sigma = FloatSlider(label="Gaussian sigma", min=0.5, max=10.0, step=0.1, value=3.0)
        self.kernel = SpinBox(label="top-hat kernel", min=1, max=sweep.MAX_KERNEL, step=2, value=3)
        self.best_table = Table(value={"data": [], "index": [], "columns": []})
        self.best_table.read_only = True
        self.best_table.min_height = 170  # a metric per row, a run per column: narrow docks show every run
        self.export_path = FileEdit(label="export to", mode="w", filter="*.csv *.png")
        self.overwrite = CheckBox(label="overwrite", value=False)
        self.export_csv_button = ui.button("Export CSV", self.export_csv)
        self.export_png_button = ui.button("Export PNG", self.export_png)
        super().__init__(widgets=[
            self.checkpoint_folder, self.run_name, self.add_run_button, self.runs_list, self.remove_run_button,
            self.image_layer, self.trace_layer, self.add_pair_button, self.pairs_label,
            self.clear_pairs_button, self.resolution, self.run_button, self.follow_button, self.cancel_button,
            self.progress,
            self.sigma, self.kernel, self.export_path, self.overwrite, self.export_csv_button,
            self.export_png_button,
        ])
        self.best_heading = _full_width_table(self, self.best_table, after=self.kernel, heading="best epoch")
        # napari-matplotlib's canvas: figure colours follow napari's theme (and its toolbar: zoom, pan)
        self.plot_widget = ThemedPlot(viewer)
        self.plot_widget.setMinimumHeight(520)  # 2 x 3 panels; the dock scrolls on a short screen
        self.native.layout().addWidget(self.plot_widget)
        self.figure = self.plot_widget.figure
        self.canvas = self.plot_widget.canvas
        self.canvas.mpl_connect("button_press_event", self._on_click)

        self.pairs: list[tuple] = []  # (image layer, trace layer)
        self.result: sweep.SweepResult | None = None
        self.marked: tuple[str, int] | None = None  # (run, epoch) last shown
        self._inputs: dict[str, sweep.LoadedPair] = {}  # the pairs of self.result
        self._pending_inputs: dict[str, sweep.LoadedPair] = {}  # the pairs of the sweep now running
        self._worker = None
        self.cache = PredictionCache()

        self._showing = 0  # epochs being scored for display (a plot click): their layers follow
        self.sigma.changed.connect(self.redraw)
        self.kernel.changed.connect(self.redraw)
        # let go on close and undock; empty dropdowns get the obvious layers, now and as layers come
        ui.follow_layer_list(self, viewer, self.reset_choices, picks=lambda: [
            (self.image_layer, ui.looks_like_micrograph), (self.trace_layer, ui.looks_like_tracing)])
        viewer.events.theme.connect(self._on_theme)
        self.native.destroyed.connect(self._disconnect_theme)
        ui.keep_narrow(self)
        ui.scroll_when_short(self)

    def _disconnect_theme(self, *_: Any) -> None:
        # napari-matplotlib's canvas listens to the theme too and never lets go: an object given to
        # disconnect() loses all its callbacks
        for callback in (self._on_theme, self.plot_widget):
            try:
                self.viewer.events.theme.disconnect(callback)
            except (RuntimeError, ValueError, TypeError):  # the viewer went first
                pass

    # ------------------------------------------------------------------------------------------
    # inputs
    # ------------------------------------------------------------------------------------------
    @ui.reports_errors
    def add_run(self, folder: str | Path | None = None, name: str | None = None) -> None:
        """Add a run (the folder field and the name field, or the given ones); names are unique."""
        folder = Path(folder if folder is not None else self.checkpoint_folder.value)
        name = (name if name is not None else self.run_name.value).strip() or folder.resolve().name
        if name in self.runs:
            raise InputError(f"a run is already named {name!r}; give this one another name")
        sweep.as_runs({name: folder})  # checked now: a folder without checkpoints is refused at once
        self.runs[name] = folder
        self.run_name.value = ""
        self._show_runs()

    def add_live_run(self, folder: str | Path, name: str) -> None:
        """Add a run whose training is starting (no checkpoint yet), to Follow; a run already there stays."""
        if name not in self.runs:
            self.runs[name] = Path(folder)
            self._show_runs()

    def remove_run(self, name: str) -> None:
        self.runs.pop(name, None)
        self._show_runs()

    def remove_selected_runs(self) -> None:
        for name in list(self.runs_list.value):
            self.remove_run(name)

    def _show_runs(self) -> None:
        self.runs_list.reset_choices()
        self.runs_list.value = []

    def _chosen_runs(self) -> dict[str, Path]:
        """The added runs, or the folder field alone (one run, as before)."""
        if self.runs:
            return dict(self.runs)
        folder = Path(self.checkpoint_folder.value)
        return {(self.run_name.value.strip() or folder.resolve().name): folder}

    @ui.reports_errors
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
            raise InputError(f"choose a micrograph and its tracing ({ui.SAMPLE_HINT})")
        return [_layer_pair(image, trace) for image, trace in pairs]

    # ------------------------------------------------------------------------------------------
    # running
    # ------------------------------------------------------------------------------------------
    @ui.reports_errors
    def run(self) -> None:
        inputs = self._chosen_pairs()
        runs = sweep.as_runs(self._chosen_runs())
        options = SweepOptions(resolution=self._resolution(), sigmas=TABLE_SIGMAS, kernels=TABLE_KERNELS)
        # a finished sweep's rows are reused where nothing changed: adding a run computes that run only
        steps = sweep.sweep_steps(runs, inputs, options=options, cache=self.cache, previous=self.result)
        self._pending_inputs = {pair.name: pair for pair in inputs}
        self._worker = ui.start_worker(self, _drive, steps, yielded=self._on_progress, returned=self._on_result,
                                    finished=self._on_finished)
        ui.show_busy(self, True, self.follow_button)

    @ui.reports_errors
    def follow(self) -> None:
        """Follow the runs live (a training writing them): each new checkpoint is scored and drawn."""
        inputs = self._chosen_pairs()
        options = SweepOptions(resolution=self._resolution(), sigmas=TABLE_SIGMAS, kernels=TABLE_KERNELS)
        steps = sweep.follow_steps(self._chosen_runs(), inputs, options, cache=self.cache)
        self._pending_inputs = {pair.name: pair for pair in inputs}
        self._worker = ui.start_worker(self, _drive_follow, steps, yielded=self._on_follow_step,
                                    returned=self._on_result, finished=self._on_finished)
        ui.show_busy(self, True, self.follow_button)
        self.progress.max = 0  # busy, with no end known
        self.progress.label = "following: waiting for checkpoints"

    def _on_follow_step(self, update: tuple[sweep.SweepResult, tuple[str, int] | None, float]) -> None:
        result, scored, idle = update
        if scored is None:
            self.progress.label = f"following: waiting for checkpoints ({idle:.0f} s)"
            return
        self.progress.label = f"following: {scored[0]} epoch {scored[1]} scored"
        self.result = result
        self._inputs = self._pending_inputs
        self.redraw()

    def _resolution(self) -> str | None:
        return None if self.resolution.value.startswith("native") else self.resolution.value

    def _on_progress(self, update: tuple[int, int, str]) -> None:
        done, total, text = update
        self.progress.max = total
        self.progress.value = done
        self.progress.label = text

    def _on_result(self, result: sweep.SweepResult) -> None:
        self.result = result
        self._inputs = self._pending_inputs
        if self.marked is not None and self.marked[0] not in result.runs:
            self.marked = None
        for failure in result.failures:
            ui.notify_error(InputError(f"skipped {failure}"))
        self.redraw()

    def _on_finished(self) -> None:
        if self._worker is not None and self._worker.abort_requested:
            show_info("sweep cancelled: predictions done so far are cached, Run resumes from there")
        self._worker = None
        ui.show_busy(self, False, self.follow_button)

    @property
    def busy(self) -> bool:
        """True while a sweep runs or a clicked epoch is being scored and drawn."""
        return self._worker is not None or self._showing > 0

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.quit()

    # ------------------------------------------------------------------------------------------
    # plot and table
    # ------------------------------------------------------------------------------------------
    def _on_theme(self, *_: Any) -> None:
        self.redraw()

    @ui.reports_errors
    def redraw(self, *_: Any) -> None:
        """Redraw every run's curves and the best-epoch table; the live curves come from the summaries."""
        if self.result is None or not self.result.summaries:
            return
        with self.plot_widget.theme_style():
            sweep.plot(self.result, self.figure, sigma=self.sigma.value, kernel=self.kernel.value, marked=self.marked,
                       columns=2)  # 2 x 2 panels: the dock is narrow
        self.canvas.draw_idle()
        self._fill_best_table()

    def best_choices(self) -> list[sweep.MetricChoice]:
        """The table's rows: BCE, the live top-hat and Gaussian, tolerant F at each table sigma."""
        window = self.result.window if self.result is not None else 15
        return [sweep.metric_choice("bce"), sweep.metric_choice("tophat", kernel=self.kernel.value),
                sweep.metric_choice("gaussian", sigma=self.sigma.value, window=window),
                *(sweep.metric_choice("tolerant_f", sigma=s, window=window) for s in TABLE_SIGMAS)]

    def best_epochs(self) -> dict[str, dict[str, sweep.Best]]:
        """{row title: {run: Best}} as the table shows them."""
        return {_title(choice): self.result.best(choice) for choice in self.best_choices()}

    def _fill_best_table(self) -> None:
        """A metric per row, a run per column ("epoch: value"): a narrow dock shows every column."""
        from qtpy.QtWidgets import QHeaderView

        best = self.best_epochs()
        runs = self.result.runs
        data = [[f"{best[title][run].epoch}: {best[title][run].value:.4g}" if run in best[title] else "-"
                 for run in runs] for title in best]
        self.best_table.value = {"data": data, "index": list(best), "columns": runs}
        table = self.best_table.native
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for row in range(table.rowCount()):
            for column in range(table.columnCount()):
                item = table.item(row, column)
                if item.text() == "-":  # this run has no value for this metric
                    continue
                metric = table.verticalHeaderItem(row).text()
                item.setToolTip(f"{runs[column]}: best {metric} at epoch {item.text().replace(':', ',', 1)}")
        grids = sorted({row.get("grid", "") for row in self.result.rows} - {""})
        self.best_heading.setText(f"best epoch (scored on {', '.join(grids)})" if grids else "best epoch")

    @ui.reports_errors
    def _on_click(self, event) -> None:
        """A click on a point shows that run's epoch: the nearest point (within 8 px) of any curve.

        Nearest wins, rather than matplotlib's pick on every artist under the cursor, because curves
        of several runs cross and a line segment passing by would otherwise win.
        """
        if event.inaxes is None or event.button != 1 or self.result is None:
            return
        best = None
        for line in event.inaxes.get_lines():
            kind, _, rest = str(line.get_gid()).partition("|")
            if kind not in ("mean", "live", "image") or not len(line.get_xdata()):
                continue
            points = event.inaxes.transData.transform(np.column_stack([line.get_xdata(), line.get_ydata()]))
            distances = np.hypot(points[:, 0] - event.x, points[:, 1] - event.y)
            index = int(np.argmin(distances))
            if distances[index] <= 8 and (best is None or distances[index] < best[0]):
                run, _, image = rest.partition("|")
                best = (distances[index], run, int(line.get_xdata()[index]), image if kind == "image" else None)
        if best is not None:
            _, run, epoch, image = best
            self.show_epoch(epoch, image=image, run=run)

    @ui.reports_errors
    def show_epoch(self, epoch: int, image: str | None = None, run: str | None = None) -> None:
        """That run's epoch in the viewer, from the cache (the layers of "Inspect prediction"), marked on the plot.

        The point is marked at once; the prediction is read and scored in a worker (seconds at
        1024 x 1024) and its layers drawn one per event-loop turn, so the viewer never freezes. A
        newer click supersedes one still being scored.
        """
        if self.result is None:
            raise InputError("run a sweep first")
        run = self.result.resolve_run(run)
        name = image or next(iter(self._inputs))
        key = (run, epoch, name)
        if key not in self.result.predictions:
            raise InputError(f"run {run!r} has no epoch {epoch} on {name}")
        self.marked = (run, epoch)
        self.redraw()
        self._show_id = getattr(self, "_show_id", 0) + 1
        show_id = self._show_id
        selection = ui.SavedSelection(self.viewer)
        pair = self._inputs[name]
        checkpoint = self.result.checkpoints.get((run, epoch))
        label = f"{run}, epoch {epoch} ({checkpoint.name if checkpoint else '?'}) on {name}"
        self._showing += 1

        def shown(evaluation: Evaluation, pictures: dict) -> None:
            if show_id != self._show_id:  # a newer click won
                self._showing -= 1
                return
            reference = self.viewer.layers[name] if name in self.viewer.layers else None  # noqa: SIM401
            ui.show_evaluation_gradually(self.viewer, evaluation, reference or _Grid(pair.image.shape), pictures,
                                      done=lambda: self._epoch_drawn(selection, label, evaluation), widget=self)

        def failed(exc: BaseException) -> None:
            self._showing -= 1
            ui.notify_error(exc)

        ui.start_worker(self, _score_epoch, self.cache, self.result.predictions[key], pair.trace,
                     {"sigma": self.sigma.value, "kernel": self.kernel.value}, run, epoch,
                     returned=lambda value: shown(*value), errored=failed)

    def _epoch_drawn(self, selection: ui.SavedSelection, label: str, evaluation: Evaluation) -> None:
        self._showing -= 1
        ui.outputs_on_top(self.viewer, OUTPUT_NAMES, selection)
        show_info(f"{label}: BCE {evaluation.bce:.4f}, Gaussian {evaluation.gaussian():.4f}")

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

    @ui.reports_errors
    def export_csv(self) -> None:
        path = sweep.write_csv(self.result_or_error(), self._export_target(".csv"), self.overwrite.value)
        show_info(f"wrote {path}")

    @ui.reports_errors
    def export_png(self) -> None:
        path = sweep.save_plot(self.result_or_error(), self._export_target(".png"), self.overwrite.value,
                               figure=self.figure)
        show_info(f"wrote {path}")

    def result_or_error(self) -> sweep.SweepResult:
        if self.result is None:
            raise InputError("run a sweep first")
        return self.result


def _title(choice: sweep.MetricChoice) -> str:
    """A short column title: 'Gaussian σ=3', 'top-hat k=5', 'tolerant F σ=1', 'BCE'."""
    if choice.metric == "tophat":
        return f"top-hat k={choice.kernel}"
    if choice.sigma is not None:
        label = {"gaussian": "Gaussian", "tolerant_f": "tolerant F"}.get(choice.metric, choice.metric)
        return f"{label} σ={choice.sigma:g}"
    return {"bce": "BCE"}.get(choice.metric, choice.metric)


def _full_width_table(container: Container, table: Table, after, heading: str):
    """Put ``table`` under a heading across the dock's whole width, below the control ``after``.

    Beside a label, in the container's value column, a table of a few runs is too narrow for
    "epoch: value" and Qt cuts every cell ("59: 0..."); across the width it is read whole.
    Returns the heading (a ``QLabel``) so that its text can follow the table.
    """
    from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    title = QLabel(heading)
    title.setWordWrap(True)
    layout.addWidget(title)
    layout.addWidget(table.native)
    container.native.layout().insertWidget(container.index(after) + 1, box)
    return title


class _Grid:
    """Stands in for a reference layer (unit scale at the origin) when the image layer is gone."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.data = np.broadcast_to(np.float32(0), shape)
        self.scale = (1.0, 1.0)
        self.translate = (0.0, 0.0)


OUTPUT_NAMES = ("prediction", *ui.OUTPUT_LAYERS)  # the layers a shown epoch updates, bottom to top


def _score_epoch(cache: PredictionCache, entry: Path, trace: np.ndarray, params: dict, run: str, epoch: int):
    """Worker body: one cached prediction, scored, with every picture of its layers."""
    pred = cache.load(entry)
    if pred is None:
        raise InputError(f"the cached prediction of {run} epoch {epoch} is gone; run the sweep again")
    evaluation = Evaluation.of(pred, trace, **params)
    return evaluation, evaluation.pictures()


def _drive(steps):
    """Worker body: forward the sweep's progress; its return value is the result."""
    return (yield from steps)


def _drive_follow(steps):
    """Worker body of Follow: each step as (a copy of the table, what was scored, idle seconds); the
    copy, because this thread goes on adding rows while the viewer draws."""
    while True:
        try:
            step = next(steps)
        except StopIteration as end:
            return end.value
        yield (step.snapshot() if step.scored is not None else None), step.scored, step.idle_s
