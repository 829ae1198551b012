"""The "Train" dock widget: fine-tune (or train from scratch) on datasets in the lab's layout, in its own process.

Thin over ``core.model.TrainingProcess``: the training is ``graintrace train`` in a separate process, so
napari never freezes; this widget reads the trainer's progress file on a timer (epoch, loss, time
left), asks it to stop after its current batch (Cancel), starts it again to continue after its last
checkpoint (Resume), and stops it when the widget or napari closes. "Watch in Epoch sweep" docks
the Epoch sweep widget with this run added, where Follow draws the curves as epochs land.
"""

from __future__ import annotations

import atexit
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.widgets import ComboBox, Container, FileEdit, Label, LineEdit, ProgressBar, SpinBox
from napari.utils.notifications import show_info
from qtpy.QtCore import QTimer

from ..core.errors import InputError
from ..core.model import TrainingProcess, checkpoints
from ..core.options import TrainOptions
from . import _common as ui

if TYPE_CHECKING:
    import napari

STARTS = ("checkpoint", "scratch")
LOSSES = ("bce", "bce+tolerant")
DEVICES = ("auto", "cpu", "cuda", "mps")
POLL_MS = 500
PLUGIN = "napari-graintrace"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def progress_text(progress: dict) -> str:
    """'epoch 3/9, batch 5/36, loss 0.1234, 2 min 10 s left' from the trainer's progress file (epochs
    count from 0 like the file names, as ``graintrace train`` prints them)."""
    text = (f"epoch {progress['epoch']}/{progress['epochs'] - 1}, batch {progress['batch']}/{progress['batches']}, "
            f"loss {progress['loss']:.4f}")
    if progress.get("state") == "running":
        text += f", {_duration(progress.get('seconds_left', 0))} left"
    if progress.get("checkpoint"):
        text += f"; last saved {progress['checkpoint']}"
    return text


def _stop_on_exit(holder: dict) -> None:
    """Stop the training a closed widget (or a closing napari) leaves behind: asked, then terminated."""
    process = holder.get("process")
    if process is not None and process.running:
        process.stop(timeout=15)


class TrainWidget(Container):
    """Train the U-Net on image/ + label/ folders from a checkpoint or from scratch, without freezing napari."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.dataset_folder = FileEdit(label="dataset", mode="d",
                                       tooltip="a folder with image/ and label/ (the lab's layout), or NAME_validation")
        self.add_dataset_button = ui.button("Add dataset", self.add_dataset)
        self.datasets_label = Label(label="datasets", value="(the chosen folder)")
        self.clear_datasets_button = ui.button("Clear", self.clear_datasets)
        self.start_from = ComboBox(label="start from", choices=STARTS, value="checkpoint")
        self.checkpoint_folder = FileEdit(label="checkpoints", mode="d", tooltip="a folder of NAME_EPOCH.pth files")
        self._series: list[tuple[str, checkpoints.Checkpoint]] = []
        self.epoch = ComboBox(label="epoch", choices=lambda _widget: self._series, nullable=True)
        self.base_width = SpinBox(label="width", min=1, max=256, value=64, tooltip="base width (the lab's is 64)")
        self.loss = ComboBox(label="loss", choices=LOSSES, value="bce")
        self.epochs = SpinBox(label="epochs", min=1, max=100_000, value=10)
        self.train_size = SpinBox(label="size", min=16, max=4096, step=16, value=256,
                            tooltip="square training size in px, a multiple of 16 (the lab trains at 256)")
        self.learning_rate = LineEdit(label="learning rate", value="1e-4")
        self.device = ComboBox(label="device", choices=DEVICES, value="auto")
        self.output_folder = FileEdit(label="save to", mode="d", tooltip="the new run's checkpoint folder")
        self.run_name = LineEdit(label="name", value="unet")
        self.run_button = ui.button("Start", self.start)
        self.cancel_button = ui.button("Cancel", self.cancel, enabled=False)
        self.resume_button = ui.button("Resume", self.resume, enabled=False)
        self.progress = ProgressBar(label="progress", value=0, max=1, visible=False)
        self.status = Label(label="status", value="not started")
        self.watch_button = ui.button("Watch in Epoch sweep", self.watch_in_sweep, enabled=False)
        # buttons that belong together share a row: the panel fits a laptop screen's height
        dataset_buttons = Container(widgets=[self.add_dataset_button, self.clear_datasets_button],
                                    layout="horizontal", labels=False)
        run_buttons = Container(widgets=[self.run_button, self.cancel_button, self.resume_button],
                                layout="horizontal", labels=False)
        for row in (dataset_buttons, run_buttons):
            row.margins = (0, 0, 0, 0)
        super().__init__(widgets=[
            self.dataset_folder, dataset_buttons, self.datasets_label, self.start_from, self.checkpoint_folder,
            self.epoch, self.base_width, self.loss, self.epochs, self.train_size, self.learning_rate, self.device,
            self.output_folder, self.run_name, run_buttons, self.progress, self.status, self.watch_button,
        ])
        self.datasets: list[Path] = []
        self.training: TrainingProcess | None = None
        self.sweep_widget = None  # the Epoch sweep opened by "Watch in Epoch sweep"
        self._holder: dict[str, Any] = {}  # the process, for the exit hooks (which must not hold the widget)
        self._timer = QTimer(self.native)  # a child: it dies with the widget
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

        self.start_from.changed.connect(self._on_start_from)
        self.checkpoint_folder.changed.connect(self._on_folder_changed)
        holder = self._holder
        self.native.destroyed.connect(lambda *_: _stop_on_exit(holder))
        atexit.register(_stop_on_exit, holder)  # napari quitting without destroying the dock
        self._on_start_from(self.start_from.value)
        ui.keep_narrow(self)
        ui.scroll_when_short(self)  # a laptop screen: the dock scrolls rather than growing the window

    # ------------------------------------------------------------------------------------------
    # inputs
    # ------------------------------------------------------------------------------------------
    @ui.reports_errors
    def add_dataset(self) -> None:
        folder = Path(self.dataset_folder.value)
        if not folder.is_dir() or str(self.dataset_folder.value) in ("", "."):
            raise InputError(f"{folder}: choose a dataset folder (with image/ and label/) first")
        if folder in self.datasets:
            raise InputError(f"{folder}: already added")
        self.datasets.append(folder)
        self.datasets_label.value = "\n".join(map(str, self.datasets))

    def clear_datasets(self) -> None:
        self.datasets = []
        self.datasets_label.value = "(the chosen folder)"

    def _chosen_datasets(self) -> list[Path]:
        if self.datasets:
            return list(self.datasets)
        folder = Path(self.dataset_folder.value)
        if str(self.dataset_folder.value) in ("", ".") or not folder.is_dir():
            raise InputError("choose a dataset folder (with image/ and label/)")
        return [folder]

    def _on_start_from(self, start: str) -> None:
        from_checkpoint = start == "checkpoint"
        self.checkpoint_folder.visible = from_checkpoint
        self.epoch.visible = from_checkpoint
        self.base_width.visible = not from_checkpoint  # a checkpoint brings its own width

    @ui.reports_errors
    def _on_folder_changed(self, folder: Path) -> None:
        folder = Path(folder)
        series = checkpoints.find_checkpoints(folder) if folder.is_dir() else []
        if folder.is_dir() and not series:
            raise InputError(f"{folder}: no NAME_EPOCH.pth checkpoints in this folder")
        self._series = [(f"epoch {item.epoch}  ({item.path.name})", item) for item in series]
        self.epoch.reset_choices()
        if series:
            self.epoch.value = series[-1]

    def train_options(self) -> TrainOptions:
        """The controls as the one options object ``graintrace train`` takes (checked there)."""
        scratch = self.start_from.value == "scratch"
        return TrainOptions(name=self.run_name.value.strip(), epochs=self.epochs.value,
                            base_width=self.base_width.value if scratch else None, lr=self.learning_rate.value.strip(),
                            size=self.train_size.value, device=self.device.value, loss=self.loss.value)

    def _init(self) -> Path | None:
        if self.start_from.value == "scratch":
            return None
        item = self.epoch.value
        if item is None:
            raise InputError("choose the checkpoint to start from (a folder, then an epoch), or start from scratch")
        checkpoints.load_checkpoint(item.path)  # refused here, with the file's own message
        return item.path

    # ------------------------------------------------------------------------------------------
    # the training process
    # ------------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True while a training process runs."""
        return self.training is not None and self.training.running

    @ui.reports_errors
    def start(self) -> None:
        if self.busy:
            raise InputError("a training is running; Cancel it first")
        output = Path(self.output_folder.value)
        if str(self.output_folder.value) in ("", "."):
            raise InputError("choose the folder to save the checkpoints to")
        options = self.train_options()
        existing = checkpoints.find_checkpoints(output, options.name) if output.is_dir() else []
        if existing:
            raise InputError(f"{output}: already holds {options.name}_*.pth; choose a new folder or name "
                             "(or Resume a stopped run)")
        self.training = TrainingProcess(self._chosen_datasets(), output, options, self._init())
        self._launch()

    @ui.reports_errors
    def resume(self) -> None:
        if self.training is None or self.busy:
            return
        self._launch()

    def _launch(self) -> None:
        self.training.start()
        self._holder["process"] = self.training
        self.status.value = f"starting: {self.training.name} in {self.training.output}"
        self.progress.visible = True
        self.progress.value = 0
        self._show_buttons()
        self._timer.start()

    @ui.reports_errors
    def cancel(self) -> None:
        if self.busy:
            self.training.request_stop()
            self.status.value = "stopping after the current batch..."
            self.cancel_button.enabled = False

    def _show_buttons(self) -> None:
        busy = self.busy
        self.run_button.enabled = not busy
        self.cancel_button.enabled = busy
        done = self.training is not None and self.training.finished
        self.resume_button.enabled = self.training is not None and not busy and not done
        self.watch_button.enabled = self.training is not None

    def _poll(self) -> None:
        """Timer: show the trainer's progress; when its process has ended, say how."""
        try:
            self._update()
        except Exception as exc:  # noqa: BLE001 - a timer callback must never raise into Qt
            ui.notify_error(exc)

    def _update(self) -> None:
        training = self.training
        if training is None:
            self._timer.stop()
            return
        progress = training.progress()
        if progress is not None:
            self.progress.max = max(progress["epochs"] * progress["batches"], 1)
            self.progress.value = min(progress["epoch"] * progress["batches"] + progress["batch"], self.progress.max)
            self.status.value = progress_text(progress)
        if training.running:
            return
        self._timer.stop()
        code = training.returncode
        state = (progress or {}).get("state")
        if code == 0 and training.finished:
            self.status.value = f"finished: {progress_text(progress)}" if progress else "finished"
            show_info(f"training finished: checkpoints in {training.output}")
        elif code == 0 and state == "stopped":
            self.status.value = (f"stopped in epoch {progress['epoch']} (batch {progress['batch']}); "
                                 "Resume continues after the last checkpoint")
        elif code == 0:
            self.status.value = "ended"
        else:
            message = training.error() or f"the training process ended with code {code}"
            self.status.value = f"failed: {message}"
            ui.notify_error(InputError(message))
        self.progress.visible = False
        self._show_buttons()

    # ------------------------------------------------------------------------------------------
    # watching
    # ------------------------------------------------------------------------------------------
    @ui.reports_errors
    def watch_in_sweep(self) -> None:
        """Dock Epoch sweep (or raise the open one) with this run added, ready to Follow."""
        if self.training is None:
            raise InputError("start a training first")
        _, sweep_widget = self.viewer.window.add_plugin_dock_widget(PLUGIN, "Epoch sweep")
        sweep_widget.add_live_run(self.training.output, f"{self.training.name} ({self.training.output.name})")
        self.sweep_widget = sweep_widget
        show_info("Epoch sweep: choose the held-out micrograph and tracing, then Follow training (live)")
