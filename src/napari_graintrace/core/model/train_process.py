"""Training in a separate process: ``graintrace train`` started, watched and stopped from another program.

Why a process and not a thread: a training epoch holds the CPU (or GPU) for minutes and the GIL
for much of it, so a viewer running it in a thread stutters; a process also survives nothing it
should not (closing the viewer stops it) and writes exactly what the command line writes.
The process is ``python -m napari_graintrace train ...`` with the :class:`~.options.TrainOptions`
as flags; it reports through ``run_status``'s files (progress, finished) and its output goes
to ``DIR/.NAME.log``. Stopping asks first (a stop file naming its pid: it ends after the current
batch, checkpoints complete) and only terminates a process that does not answer in time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError
from ..io import check_output_folder
from ..options import TrainOptions
from . import run_status

__all__ = ["TrainingProcess", "train_command"]


def train_command(datasets: Sequence[str | os.PathLike], output: str | os.PathLike, options: TrainOptions,
                  init: str | os.PathLike | None = None) -> list[str]:
    """The ``graintrace train`` command line (this Python, this package) for these options."""
    if not datasets:
        raise InputError("choose at least one dataset folder (with image/ and label/)")
    flags = {"--name": options.name, "--epochs": options.epochs, "--lr": repr(options.lr),
             "--batch-size": options.batch_size, "--save-every": options.save_every,
             "--size": "native" if options.size is None else options.size, "--device": options.device,
             "--loss": options.loss, "--seed": options.seed, "--tolerant-weight": repr(options.tolerant_weight),
             "--sigma": repr(options.sigma), "--window": options.window}
    if options.base_width is not None:
        flags["--width"] = options.base_width
    if init is not None:
        flags["--init"] = Path(init)
    command = [sys.executable, "-m", "napari_graintrace", "train", *map(str, datasets), "-o", str(output)]
    for flag, value in flags.items():
        command += [flag, str(value)]
    return command


class TrainingProcess:
    """One ``graintrace train`` run in its own process; :meth:`start` again resumes it after a stop."""

    def __init__(self, datasets: Sequence[str | os.PathLike], output: str | os.PathLike, options: TrainOptions,
                 init: str | os.PathLike | None = None) -> None:
        self.datasets = [Path(d) for d in datasets]
        self.output = Path(output)
        self.options = options
        self.init = None if init is None else Path(init)
        self.command = train_command(self.datasets, self.output, options, self.init)
        self.process: subprocess.Popen | None = None
        check_output_folder(self.output, inputs=[*self.datasets, *([self.init] if self.init else [])],
                            replaced=False)

    @property
    def name(self) -> str:
        return self.options.name

    @property
    def log_path(self) -> Path:
        return self.output / f".{self.name}.log"

    def start(self) -> None:
        """Start (or, after a stop, resume: the trainer continues after its last checkpoint)."""
        if self.running:
            raise InputError("this training is already running")
        self.output.mkdir(parents=True, exist_ok=True)
        run_status.unmark_finished(self.output, self.name)  # a follower must not see the last run's marker
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def progress(self) -> dict | None:
        """The trainer's last progress (``run_status.read_progress``), if it is this process's."""
        data = run_status.read_progress(self.output, self.name)
        if data is None or self.process is None or data.get("pid") != self.process.pid:
            return None
        return data

    @property
    def finished(self) -> bool:
        return run_status.is_finished(self.output, self.name)

    def request_stop(self) -> None:
        """Ask this process to stop after its current batch (it writes no partial checkpoint)."""
        if self.running:
            run_status.request_stop(self.output, self.name, pid=self.process.pid)

    def stop(self, timeout: float = 30.0) -> int | None:
        """Ask, wait up to ``timeout`` seconds, then terminate (and at last kill); returns the exit code."""
        if self.process is None:
            return None
        if self.running:
            self.request_stop()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        return self.process.returncode

    def error(self) -> str:
        """The trainer's one-line error (``graintrace train: error: ...``) from its log, or its last line."""
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        errors = [line for line in lines if line.startswith("graintrace train: error:")]
        text = errors[-1] if errors else (lines[-1] if lines else "")
        return text.removeprefix("graintrace train: error: ")
