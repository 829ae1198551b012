"""The "Inspect prediction" dock widget: run a checkpoint, see where its scores come from.

Thin over ``core``: ``checkpoints`` finds and loads the series, ``inference`` predicts (in a
``thread_worker``, one progress step per tile), ``evaluation.Evaluation`` holds the prediction,
the tracing on its grid and the ``GaussianScorer`` that makes the sigma slider live.
"""

from __future__ import annotations

import threading
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

from ..core.cache import PredictionCache, array_hash, checkpoint_hash
from ..core.data import convert
from ..core.errors import InputError
from ..core.grid import grid_text
from ..core.model import checkpoints, inference
from ..core.options import (
    MATCH_DISTANCE_PX,
    RESOLUTIONS,
    PredictOptions,
    ScoreOptions,
    resolution,
)
from ..core.scoring import Evaluation, composite_rgb, recall_rgb, reward_rgb
from . import _common as ui

if TYPE_CHECKING:
    import napari

LIVE_REDRAW_PIXELS = 2048 * 2048  # above this, a sigma move redraws its layers in a worker
SOURCES = ("checkpoint", "prediction layer", "prediction file")
STALE_KEY = "graintrace: needs redraw"
SERIES_POLL_MS = 2000  # how often the checkpoint folder is listed again for new epochs
OUTPUT_NAMES = ("prediction", *ui.OUTPUT_LAYERS)  # bottom to top


def _cache_entry(cache: PredictionCache, item, image: np.ndarray, options: PredictOptions) -> Path:
    """Where this checkpoint's prediction of this image is cached (hashing a checkpoint file reads it
    whole: a worker's job, never the GUI thread's)."""
    return cache.path(checkpoint_hash(item.path), array_hash(image), options.resolution, options.precision)


def _cached_in_background(item, image: np.ndarray, options: PredictOptions, trace: np.ndarray, params: ScoreOptions,
                          cache: PredictionCache):
    """Worker body: an epoch already predicted, scored from the cache; ``None`` when not cached."""
    yield ("looking in the cache", 0, 1)
    pred = cache.load(_cache_entry(cache, item, image, options), image.shape[:2])  # on the micrograph's grid
    if pred is None:
        return None
    evaluation, pictures, prf = yield from _score_in_background(pred, trace, params)
    return pred, evaluation, pictures, prf


def _predict_in_background(models: dict, item, image: np.ndarray, options: PredictOptions, trace: np.ndarray,
                           params: ScoreOptions, stop: threading.Event, cache: PredictionCache):
    """Worker body: the cached prediction, or load the checkpoint once (kept in ``models``) and predict
    tile by tile; then score.

    Every ``yield`` is a progress update and a point where Cancel (``worker.quit()``) takes effect;
    ``stop`` is also checked before every layer of the forward pass, so a Cancel during a long
    single-tile pass ends it within one layer. The scores and every picture are computed here too,
    one per step, so the GUI thread only swaps ready arrays into layers. Returns ``None`` when
    cancelled.
    """
    entry = _cache_entry(cache, item, image, options)
    pred = cache.load(entry, image.shape[:2])  # maps are kept on the micrograph's grid
    if pred is not None:
        evaluation, pictures, prf = yield from _score_in_background(pred, trace, params)
        return pred, evaluation, pictures, prf
    model_key = (str(item.path), item.path.stat().st_mtime_ns)
    if model_key not in models:
        yield ("loading checkpoint", 0, 1)
        models[model_key] = checkpoints.load_checkpoint(item.path)
    steps = inference.predict_steps(models[model_key], image, options, stop=stop.is_set)
    try:
        while True:
            try:
                done, total = next(steps)
            except StopIteration as finished:
                pred = finished.value
                break
            yield ("predicting", done, total)
    except inference.Cancelled:
        return None
    cache.store(entry, pred)  # core's prediction cache, shared with sweeps (bounded, on disk)
    evaluation, pictures, prf = yield from _score_in_background(pred, trace, params)
    return pred, evaluation, pictures, prf


def _sigma_pictures_in_background(evaluation: Evaluation, sigma: float, names: tuple[str, ...]):
    """Worker body: the sigma layers' pictures at ``sigma`` (the reward map is made once for both)."""
    reward = evaluation.scorer.reward_map(sigma)
    pictures = {}
    if "Gaussian reward" in names:
        pictures["Gaussian reward"] = reward_rgb(reward)
    if "score overlay" in names:
        pictures["score overlay"] = composite_rgb(evaluation.pred, reward)
    return sigma, pictures


def _prf_in_background(evaluation: Evaluation, sigma: float, picture: bool):
    """Worker body: tolerant P/R/F at ``sigma`` and, if asked, the "missed trace" picture (one D_p)."""
    prf = evaluation.tolerant_prf(sigma)
    return prf, (recall_rgb(evaluation.trace, evaluation.dilated_prediction(sigma)) if picture else None)


def _score_in_background(pred: np.ndarray, trace: np.ndarray, params: ScoreOptions):
    """Worker body: the scores, then every output picture (``Evaluation.pictures()``: add a picture
    there and to ``_common.OUTPUT_LAYERS`` and it is drawn). A 1024 x 1024 evaluation takes long
    enough on a laptop to stall the viewer if it ran on the GUI thread."""
    yield ("scoring", 0, 2)
    evaluation = Evaluation.of(pred, trace, params)
    yield ("scoring", 1, 2)
    pictures = evaluation.pictures()
    yield ("scoring", 2, 2)
    return evaluation, pictures, evaluation.tolerant_prf()


def _map_kind(pred: np.ndarray) -> str:
    """Say whether BCE came from a float map or from 8-bit levels, which read differently.

    The same checkpoint scores a higher BCE from its 8-bit file (``graintrace predict``'s png8, the
    lab's) than from the float map the widget computes: 8 bits round every p < 1/510 to exactly 0 and
    every p > 1 - 1/510 to 1, and each such pixel on the wrong side costs PyTorch's log clamp, 100 / N,
    instead of -log p (about 7-15). The readout's "at the log clamp" share says how much of BCE that is.
    """
    levels = np.asarray(pred, dtype=np.float64) * 255.0
    if np.allclose(levels, np.round(levels), atol=1e-3):
        return "8-bit map: p = 0 or 1 hits the log clamp"
    return "float map; an 8-bit file scores higher"


class InspectWidget(Container):
    """Pick a micrograph, its tracing and an epoch; predict; read BCE, top-hat and Gaussian scores."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.image_layer = ComboBox(label="micrograph", choices=ui.layer_choices(viewer, (Image,)), nullable=True)
        self.trace_layer = ComboBox(label="tracing", choices=ui.layer_choices(viewer, (Image, Labels)), nullable=True)
        self.trace_info = Label(label="tracing read as", value="-")
        self.resize_trace = CheckBox(text="resize the tracing to the micrograph", value=False,
                                     tooltip="off: a tracing of another shape is refused (it would score the "
                                             "wrong pixels); on: the lab's bilinear resize, re-binarized")
        self.source = ComboBox(label="prediction from", choices=SOURCES, value="checkpoint")
        self.checkpoint_folder = FileEdit(label="checkpoints", mode="d", tooltip="a folder of NAME_EPOCH.pth files")
        self._series: list[tuple[str, checkpoints.Checkpoint]] = []
        # a callable, so that napari's reset_choices (on every layer change) keeps the series
        self.epoch = ComboBox(label="epoch", choices=lambda _widget: self._series, nullable=True)
        self.resolution = ComboBox(label="resolution", choices=RESOLUTIONS, value=RESOLUTIONS[0],
                                   tooltip="the network's input: native (tiles) or the lab's square; "
                                           "the map is scored on the micrograph's grid either way")
        self.prediction_layer = ComboBox(label="prediction layer", choices=ui.layer_choices(viewer, (Image,)), nullable=True)
        self.prediction_file = FileEdit(label="prediction file", mode="r", filter="*.png *.tif *.tiff")
        self.run_button = ui.button("Run [predict and score]", self.run)
        self.cancel_button = ui.button("Cancel", self.cancel, enabled=False)
        self.progress = ProgressBar(label="progress", value=0, max=1, visible=False)
        self.sigma = FloatSlider(label="Gaussian sigma", min=0.5, max=10.0, step=0.1, value=3.0)
        self.window = SpinBox(label="Gaussian window", min=1, max=99, step=2, value=15)
        self.kernel = SpinBox(label="top-hat kernel", min=1, max=99, step=2, value=3)
        self.match_distance = FloatSpinBox(label="boundary match (px)", min=0.0, max=100.0, step=0.5,
                                           value=MATCH_DISTANCE_PX,
                                           tooltip="how far (px) a predicted boundary pixel may lie from a true "
                                                   "one and still match (graintrace score --match-distance)")
        self.score_panel = Label(label="scores", value="no prediction yet")
        self.copy_button = ui.button("Copy scores as table", self.copy_scores)
        super().__init__(
            widgets=[
                self.image_layer, self.trace_layer, self.trace_info, self.resize_trace, self.source, self.checkpoint_folder,
                self.epoch, self.resolution, self.prediction_layer, self.prediction_file, self.run_button,
                self.cancel_button, self.progress, self.sigma, self.window, self.kernel, self.match_distance,
                self.score_panel,
                self.copy_button,
            ],
        )
        self.evaluation: Evaluation | None = None
        self.epoch_label = ""
        self._models: dict[tuple[str, int], Any] = {}  # path, mtime -> loaded UNet
        self.cache = PredictionCache()  # core's bounded cache on disk, shared with sweeps
        self._worker = None
        self._stop: threading.Event | None = None  # the running prediction's Cancel flag
        self._run_id = 0  # results of an older (cancelled) run are ignored
        self._drawing = False
        self._note = ""
        self._map_kind = ""
        self._prf: tuple[float, float, float] | None = None
        self._prf_worker = None  # the debounced tolerant P/R/F's (a newer one supersedes it)
        self._redraw_worker = None  # the sigma layers of a large map, drawn off the GUI thread
        self._redraw_pending = False
        self._prf_timer = QTimer(self.native)  # dies with the widget: never fires into a closed dock
        self._prf_timer.setSingleShot(True)
        self._prf_timer.setInterval(150)  # tolerant recall needs a full pass: debounce it
        self._prf_timer.timeout.connect(self._update_prf)
        self._series_timer = QTimer(self.native)  # a training may be writing the folder: offer new epochs
        self._series_timer.setInterval(SERIES_POLL_MS)
        self._series_timer.timeout.connect(self._poll_series)
        self._series_timer.start()

        self.trace_layer.changed.connect(self._on_trace_changed)
        self.image_layer.changed.connect(self._on_trace_changed)
        self.resize_trace.changed.connect(self._on_trace_changed)
        self.source.changed.connect(self._on_source_changed)
        self.checkpoint_folder.changed.connect(self._on_folder_changed)
        self.epoch.changed.connect(self._on_epoch_changed)
        self.sigma.changed.connect(self._on_sigma_changed)
        self.window.changed.connect(self._on_window_changed)
        self.kernel.changed.connect(self._on_kernel_changed)
        self.match_distance.changed.connect(self._on_match_distance_changed)
        # let go on close and undock; empty dropdowns get the obvious layers, now and as layers come
        ui.follow_layer_list(self, viewer, self.reset_choices, picks=lambda: [
            (self.image_layer, ui.looks_like_micrograph), (self.trace_layer, ui.looks_like_tracing),
            (self.prediction_layer, ui.looks_like_prediction)])
        self._on_source_changed(self.source.value)
        ui.keep_narrow(self)  # long paths, layer names and notes wrap instead of widening the dock
        ui.scroll_when_short(self)

    # ------------------------------------------------------------------------------------------
    # inputs
    # ------------------------------------------------------------------------------------------
    def _on_source_changed(self, source: str) -> None:
        from_model = source == "checkpoint"
        for widget in (self.checkpoint_folder, self.epoch, self.resolution):
            widget.visible = from_model
        self.prediction_layer.visible = source == "prediction layer"
        self.prediction_file.visible = source == "prediction file"

    @ui.reports_errors
    def _on_folder_changed(self, folder: Path) -> None:
        folder = Path(folder)
        if folder.is_file():  # a single .pth typed into the box
            series = [checkpoints.parse_checkpoint_name(folder) or checkpoints.Checkpoint(0, folder, folder.stem)]
        elif folder.is_dir():
            series = checkpoints.find_checkpoints(folder)
        else:
            self._series = []
            self.epoch.reset_choices()
            return
        if not series:
            raise InputError(f"{folder}: no NAME_EPOCH.pth checkpoints in this folder")
        self._series = [(f"epoch {item.epoch}  ({item.path.name})", item) for item in series]
        self.epoch.reset_choices()
        self.epoch.value = series[-1]

    def _poll_series(self) -> None:
        """Timer: offer the checkpoints that landed in the folder since it was listed; the chosen one stays."""
        folder = Path(self.checkpoint_folder.value)
        if str(self.checkpoint_folder.value) in ("", ".") or not folder.is_dir():
            return
        try:
            series = checkpoints.find_checkpoints(folder)
        except InputError:
            return
        if [item.path for item in series] == [item.path for _, item in self._series]:
            return
        chosen = self.epoch.value
        self._series = [(f"epoch {item.epoch}  ({item.path.name})", item) for item in series]
        with self.epoch.changed.blocked():  # the same epoch stays chosen: nothing to redo
            self.epoch.reset_choices()
            if chosen in series:
                self.epoch.value = chosen
        if chosen not in series and series:  # the first checkpoints of a new run: the latest is chosen
            self.epoch.value = series[-1]

    @ui.reports_errors
    def _on_epoch_changed(self, item) -> None:
        """An epoch already predicted is shown from the cache, looked up and scored in a worker; Run
        stays enabled meanwhile (a click supersedes the lookup). Quiet while the inputs are incomplete."""
        if item is None or self.image_layer.value is None or self.trace_layer.value is None:
            return
        try:
            image = self._micrograph()  # the same array run() predicts from
            trace = self._trace_mask()
        except InputError:
            return  # Run will say what is wrong
        label = f"epoch {item.epoch}"
        self._start(_cached_in_background, (item, image, self._predict_options(), trace, self._params(), self.cache),
                    lambda pred, *scored: self._on_prediction(label, pred, *scored), blocking=False)

    def _on_trace_changed(self, *_: Any) -> None:
        """Say how the tracing is read (polarity, boundary share) and whether its shape fits."""
        layer = self.trace_layer.value
        if layer is None:
            self.trace_info.value = "-"
            return
        try:
            tracing = self._tracing()
            self.trace_info.value = tracing.describe()
            self._trace_mask(tracing)
        except InputError as exc:
            self.trace_info.value = f"unusable: {exc}"

    def _tracing(self) -> convert.Tracing:
        """The chosen tracing layer read by ``core.convert`` (minority = boundary, Image or Labels)."""
        layer = self.trace_layer.value
        if layer is None:
            raise InputError(f"choose a tracing layer ({ui.SAMPLE_HINT})")
        return convert.tracing(layer.data, labels=isinstance(layer, Labels), what=ui.describe_layer("tracing", layer),
                               rgb=getattr(layer, "rgb", None))

    def _trace_mask(self, tracing: convert.Tracing | None = None) -> np.ndarray:
        """The tracing on the micrograph's grid: a shape mismatch is refused unless resize is ticked."""
        tracing = tracing or self._tracing()
        micrograph = self.image_layer.value
        if micrograph is None:
            return tracing.mask
        shape = self._micrograph().shape  # a stack as micrograph is refused for what it is, first
        return convert.match_shape(tracing.mask, shape, resize=self.resize_trace.value,
                                   what=ui.describe_layer("tracing", self.trace_layer.value),
                                   reference=ui.describe_layer("micrograph", micrograph))

    def _micrograph(self) -> np.ndarray:
        layer = self.image_layer.value
        if layer is None:
            raise InputError(f"choose a micrograph layer ({ui.SAMPLE_HINT})")
        return convert.micrograph(layer.data, what=ui.describe_layer("micrograph", layer),
                                  rgb=getattr(layer, "rgb", None))

    def _resolution(self) -> int | None:
        return resolution(self.resolution.value)

    def _predict_options(self) -> PredictOptions:
        device = inference.choose_device("auto")
        return PredictOptions(resolution=self._resolution(), device=str(device),
                              precision=inference.resolve_precision("auto", device))

    # ------------------------------------------------------------------------------------------
    # running
    # ------------------------------------------------------------------------------------------
    @ui.reports_errors
    def run(self) -> None:
        """Predict (off the GUI thread) or take an existing prediction, then score and draw.

        The tracing is checked first (shape, boundary pixels), so bad input costs no prediction.
        """
        trace = self._trace_mask()
        if self.source.value == "prediction layer":
            layer = self.prediction_layer.value
            if layer is None:
                raise InputError("choose a prediction layer")
            pred = convert.prediction(layer.data, what=ui.describe_layer("prediction", layer),
                                      rgb=getattr(layer, "rgb", None))
            self._show(pred, layer.name, trace)
            return
        if self.source.value == "prediction file":
            path = Path(self.prediction_file.value)
            self._show(convert.read_prediction(path), path.name, trace)
            return
        item = self.epoch.value
        if item is None:
            raise InputError("choose a checkpoint folder with NAME_EPOCH.pth files")
        self._start_worker(item, self._micrograph(), trace)  # the worker looks in the cache first

    def _params(self) -> ScoreOptions:
        """The controls as one ScoreOptions: parsed and checked there (a bad value is a notification)."""
        return ScoreOptions(self.sigma.value, self.window.value, self.kernel.value, self.match_distance.value)

    def _start_worker(self, item, image: np.ndarray, trace: np.ndarray) -> None:
        label = f"epoch {item.epoch}"
        stop = threading.Event()
        self._start(_predict_in_background, (self._models, item, image, self._predict_options(), trace,
                                             self._params(), stop, self.cache),
                    lambda pred, *scored: self._on_prediction(label, pred, *scored), stop)

    def _start(self, body, args: tuple, on_result, stop: threading.Event | None = None,
               blocking: bool = True) -> None:
        """Run ``body(*args)`` in a worker; ``on_result(*value)`` on the GUI thread when it returns.

        A newer start supersedes a running one (it is stopped and whatever it still sends is ignored).
        ``blocking=False`` (scoring only: a cached epoch, a prediction layer) leaves Run enabled, so a
        quick click is never silently lost: it supersedes the scoring.
        """
        if self._worker is not None:
            self._abandon()
        self._run_id += 1
        run_id = self._run_id

        def current() -> bool:
            return run_id == self._run_id

        self._stop = stop
        self._worker = ui.start_worker(
            self, body, *args, stop=stop,
            yielded=lambda update: current() and self._on_progress(update),
            returned=lambda value: current() and value is not None and on_result(*value),
            errored=lambda exc: current() and ui.notify_error(exc),
            finished=lambda: current() and self._idle(),
        )
        ui.show_busy(self, True)
        self.run_button.enabled = not blocking

    def _on_progress(self, update: tuple[str, int, int]) -> None:
        label, done, total = update
        self.progress.label = label
        self.progress.max = max(total, 1)
        self.progress.value = done

    @ui.reports_errors
    def _on_prediction(self, label: str, pred: np.ndarray, evaluation: Evaluation, pictures: dict,
                       prf: tuple) -> None:
        if evaluation.options != self._params():  # the controls moved while it ran: score again at the current values
            self._show(pred, label, evaluation.trace)
            return
        self._present(evaluation, label, pictures, prf, source_shape=np.shape(pred))

    def _idle(self) -> None:
        self._worker = None
        self._stop = None
        ui.show_busy(self, False)

    def _abandon(self) -> None:
        """Stop the running worker and ignore whatever it still sends."""
        if self._stop is not None:
            self._stop.set()
        self._worker.quit()
        self._run_id += 1
        self._idle()

    def cancel(self) -> None:
        """Stop the prediction: the widget is idle at once and no layer changes; the worker thread
        stops at its next check (before the next layer of the network)."""
        if self._worker is None:
            return
        self._abandon()
        show_info("prediction cancelled; no layer was changed")

    # ------------------------------------------------------------------------------------------
    # drawing
    # ------------------------------------------------------------------------------------------
    def _show(self, pred: np.ndarray, label: str, trace: np.ndarray | None = None) -> None:
        """Score ``pred`` (cached epochs, prediction layers and files) in a worker, then draw it."""
        trace = self._trace_mask() if trace is None else trace
        self._start(_score_in_background, (pred, trace, self._params()),
                    lambda *scored: self._on_prediction(label, pred, *scored), blocking=False)

    def _present(self, evaluation: Evaluation, label: str, pictures: dict, prf: tuple | None = None,
                 source_shape: tuple[int, ...] | None = None) -> None:
        self.evaluation, self.epoch_label = evaluation, label
        self._note = self._grid_note(evaluation, source_shape)
        self._map_kind = _map_kind(evaluation.pred)
        self._prf = prf
        self._update_scores()
        if prf is None:
            self._prf_timer.start()
        reference = self.image_layer.value or self.trace_layer.value
        self._drawing = True  # a worker's result: one layer per event-loop turn, the viewer stays live
        selection = ui.SavedSelection(self.viewer)
        ui.show_evaluation_gradually(self.viewer, evaluation, reference, pictures,
                                  done=lambda: self._drawn(selection), widget=self)

    def _grid_note(self, evaluation: Evaluation, source_shape: tuple[int, ...] | None) -> str:
        """Say what was resampled: the tracing to the micrograph (asked for), a map made at another size."""
        notes = []
        trace_shape = np.shape(self.trace_layer.value.data)[:2] if self.trace_layer.value is not None else None
        micrograph = self.image_layer.value
        if micrograph is not None and trace_shape is not None and trace_shape != np.shape(micrograph.data)[:2]:
            notes.append(f"tracing {trace_shape[0]} x {trace_shape[1]} resized to the micrograph (asked)")
        if source_shape is not None and tuple(source_shape[:2]) != evaluation.grid:
            notes.append(f"map {source_shape[0]} x {source_shape[1]} resampled to this grid")
        return "; ".join(notes)

    def _drawn(self, selection: ui.SavedSelection) -> None:
        """The results go on top of the layer list (the user may have opened an image since)."""
        self._drawing = False
        ui.outputs_on_top(self.viewer, OUTPUT_NAMES, selection)

    @property
    def busy(self) -> bool:
        """True while a prediction runs or its layers are being drawn."""
        return self._worker is not None or self._drawing

    def _update_scores(self) -> None:
        ev = self.evaluation
        if ev is None:
            return
        lines = [
            f"{self.epoch_label}: scored on {ev.grid[0]} x {ev.grid[1]} (the micrograph's grid)",
            f"BCE  {ev.bce:.4f}  ({self._map_kind})",
            "  missed (red) {:.4f} + false (blue) {:.4f}; {:.1%} at the log clamp".format(*ev.bce_parts),
            f"top-hat (k={ev.kernel})  {ev.tophat:.4f}",
            f"Gaussian (sigma={ev.sigma:g}, w={ev.window})  {ev.gaussian():.4f}",
        ]
        if self._prf is not None:
            lines.append("tolerant P / R / F  {:.3f} / {:.3f} / {:.3f}".format(*self._prf))
        match = ev.boundary_match()  # made with the pictures, in the worker
        lines.append("boundary P / R / F  {:.3f} / {:.3f} / {:.3f}".format(*match.prf())
                     + f"  (p >= 0.5, within {match.max_distance:.1f} px)")
        if self._note:
            lines.append(self._note)
        self.score_panel.value = "\n".join(lines)

    def _update_prf(self) -> None:
        """Debounced: the tolerant P/R/F and the "missed trace" picture (both need D_p, one pass over
        the image: a second at 4096 x 4096), in a worker; a result for an older sigma is dropped."""
        ev = self.evaluation
        if ev is None:
            return
        layer = ui.find_output_layer(self.viewer, "missed trace")
        self._prf_worker = ui.start_worker(
            self, _prf_in_background, ev, ev.sigma, layer is not None and layer.visible,
            returned=lambda result, ev=ev, sigma=ev.sigma: self._on_prf(ev, sigma, *result),
        )

    @ui.reports_errors
    def _on_prf(self, ev: Evaluation, sigma: float, prf: tuple, picture: np.ndarray | None) -> None:
        if ev is not self.evaluation or sigma != ev.sigma:
            return  # the slider moved on: its own timer brings the current one
        self._prf = prf
        self._update_scores()
        layer = ui.find_output_layer(self.viewer, "missed trace")
        if layer is not None and picture is not None and layer.visible:
            layer.data = picture
            layer.metadata.pop(STALE_KEY, None)
        elif layer is not None:
            self._redraw(("missed trace",))

    def _redraw_gaussian(self) -> None:
        """The two sigma layers: drawn at once up to 2048 x 2048; on a larger map in a worker (the
        readout has already moved; the layers follow the latest sigma), so the slider stays live."""
        if self.evaluation is None or self.evaluation.pred.size <= LIVE_REDRAW_PIXELS:
            self._redraw(("Gaussian reward", "score overlay"))
            return
        if self._redraw_worker is not None:
            self._redraw_pending = True  # drawn at the latest sigma once the running one is in
            return
        ev = self.evaluation
        visible = {name: layer for name in ("Gaussian reward", "score overlay")
                   if (layer := ui.find_output_layer(self.viewer, name)) is not None}
        for layer in visible.values():
            layer.metadata[STALE_KEY] = True  # shown later: drawn then, at the sigma of that moment
        wanted = tuple(name for name, layer in visible.items() if layer.visible)
        self._redraw_worker = ui.start_worker(
            self, _sigma_pictures_in_background, ev, ev.sigma, wanted,
            returned=lambda result, ev=ev: self._on_sigma_pictures(ev, *result), finished=self._on_redraw_finished,
        )

    @ui.reports_errors
    def _on_sigma_pictures(self, ev: Evaluation, sigma: float, pictures: dict) -> None:
        if ev is not self.evaluation or sigma != ev.sigma:
            self._redraw_pending = True
            return
        for name, picture in pictures.items():
            layer = ui.find_output_layer(self.viewer, name)
            if layer is not None:
                layer.data = picture
                layer.metadata.pop(STALE_KEY, None)
        for name in ("Gaussian reward", "score overlay"):  # hidden ones catch up when shown
            layer = ui.find_output_layer(self.viewer, name)
            if layer is not None and layer.metadata.get(STALE_KEY):
                layer.events.visible.connect(self._refresh_if_stale)

    def _on_redraw_finished(self) -> None:
        self._redraw_worker = None
        if self._redraw_pending:
            self._redraw_pending = False
            self._redraw_gaussian()

    def _redraw(self, names: tuple[str, ...]) -> None:
        """Redraw these layers now if visible; a hidden one is redrawn when it is shown.

        Uploading a 1024 x 1024 layer costs tens of ms, so hidden layers are not paid for on every
        slider move.
        """
        for name in names:
            layer = ui.find_output_layer(self.viewer, name)
            if layer is None:
                continue
            if layer.visible:
                layer.data = self._picture(name)
                layer.metadata.pop(STALE_KEY, None)
            else:
                layer.metadata[STALE_KEY] = True
                layer.events.visible.connect(self._refresh_if_stale)

    def _picture(self, name: str) -> np.ndarray:
        ev = self.evaluation
        if name == "missed trace":
            return ev.recall_rgb()
        return ev.gaussian_reward_rgb() if name == "Gaussian reward" else ev.composite_rgb()

    def _refresh_if_stale(self, event) -> None:
        layer = event.source
        if layer.visible and layer.metadata.pop(STALE_KEY, False) and self.evaluation is not None:
            layer.data = self._picture(layer.metadata[ui.OWNER_KEY])

    def _on_sigma_changed(self, sigma: float) -> None:
        """Every slider move: the loss from the scorer's summary, then the two reward layers."""
        if self.evaluation is None:
            return
        self.evaluation.set_sigma(sigma)
        self._update_scores()
        self._redraw_gaussian()
        self._prf_timer.start()

    @ui.reports_errors
    def _on_window_changed(self, window: int) -> None:
        if self.evaluation is None:
            return
        self.evaluation.set_window(window)
        self._update_scores()
        self._redraw_gaussian()
        self._prf_timer.start()

    @ui.reports_errors
    def _on_match_distance_changed(self, distance: float) -> None:
        """A new tolerance: the boundary match is made again in a worker (thinning and matching)."""
        params = self._params()  # a bad value is a notification here, before any work
        ev = self.evaluation
        if ev is None or params.match_distance == ev.max_distance:
            return
        self._show(ev.pred, self.epoch_label, ev.trace)

    @ui.reports_errors
    def _on_kernel_changed(self, kernel: int) -> None:
        if self.evaluation is None:
            return
        self.evaluation.set_kernel(kernel)
        layer = ui.find_output_layer(self.viewer, "top-hat reward")
        if layer is not None:
            layer.data = self.evaluation.tophat_reward_rgb()
        self._update_scores()

    # ------------------------------------------------------------------------------------------
    # export
    # ------------------------------------------------------------------------------------------
    def score_table(self) -> str:
        """Tab-separated scores (paste into a spreadsheet): metric, parameters, value."""
        ev = self.evaluation
        if ev is None:
            return ""
        prf = self._prf or ev.tolerant_prf()
        rows = [
            ("prediction", self.epoch_label, ""),
            ("grid", "rows x columns scored on", grid_text(ev.grid)),
            ("BCE", "", f"{ev.bce:.6f}"),
            ("top-hat", f"kernel={ev.kernel}", f"{ev.tophat:.6f}"),
            ("Gaussian", f"sigma={ev.sigma:g} window={ev.window}", f"{ev.gaussian():.6f}"),
            ("tolerant precision", f"sigma={ev.sigma:g} window={ev.window}", f"{prf[0]:.6f}"),
            ("tolerant recall", f"sigma={ev.sigma:g} window={ev.window}", f"{prf[1]:.6f}"),
            ("tolerant F", f"sigma={ev.sigma:g} window={ev.window}", f"{prf[2]:.6f}"),
            *((name, "", f"{value:.6f}") for name, value in
              zip(("BCE missed", "BCE false", "BCE share at the clamp"), ev.bce_parts, strict=True)),
            *((name, f"threshold=0.5 distance={ev.boundary_match().max_distance:.2f}", f"{value:.6f}")
              for name, value in zip(("boundary precision", "boundary recall", "boundary F"), ev.boundary_prf(),
                                     strict=True)),
        ]
        return "\n".join("\t".join(row) for row in [("metric", "parameters", "value"), *rows])

    def copy_scores(self) -> None:
        from qtpy.QtGui import QGuiApplication

        QGuiApplication.clipboard().setText(self.score_table())
        show_info("scores copied as a tab-separated table")
