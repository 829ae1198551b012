"""The Inspect widget's feel, docked from the Plugins menu: event-loop gaps, re-runs, Cancel, the slider.

    xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/bench_widget.py [sigma]

Targets (issue 13): with a lab-width (base width 64) model at 1024 x 1024, no event-loop gap over
200 ms, while the worker predicts, while the output layers are drawn the first time, and after a
re-run that updates them in place; Cancel takes effect within 0.5 s. A 10 ms QTimer records when
the event loop gets to run: a gap between two ticks is a stall the user feels.

Cancel is measured twice: from the click to the widget being idle again (what the user sees), and
from the click to the worker thread ending (the forward pass stops before its next layer).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import napari
import numpy as np
import torch
from _common import print_machine
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QApplication

from napari_graintrace._widgets import _common
from napari_graintrace.core.io import read_image, read_trace
from napari_graintrace.core.model import UNet
from napari_graintrace.data import NIST_MICROGRAPH, NIST_TRACE


class Ticks:
    """A 10 ms QTimer; ``gaps(start, stop)`` gives the event-loop gaps (ms) in a time window."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(lambda: self.times.append(time.perf_counter()))
        self.timer.start()

    def gaps(self, start: float, stop: float) -> np.ndarray:
        times = np.array([start, *[t for t in self.times if start <= t <= stop], stop])
        return np.diff(times) * 1e3


def report(label: str, gaps: np.ndarray) -> None:
    print(f"  {label}: longest event-loop gap {gaps.max():.0f} ms, 99th percentile "
          f"{np.percentile(gaps, 99):.0f} ms ({len(gaps)} ticks)", flush=True)


def spin_until(condition, timeout: float = 900.0) -> float:
    """Run the event loop until ``condition()``; returns the time it became true."""
    end = time.perf_counter() + timeout
    while not condition():
        QApplication.processEvents()
        time.sleep(0.002)
        if time.perf_counter() > end:
            raise TimeoutError("benchmark step did not finish")
    return time.perf_counter()


STEPS: list[tuple[str, float, float]] = []  # (layer, wall ms, GUI-thread CPU ms) of each layer update


def _measured_set_layer_data(original):
    """``set_layer_data`` timed: wall clock and the GUI thread's own CPU time (less sensitive to load)."""

    def measured(viewer, name, *args, **kwargs):
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return original(viewer, name, *args, **kwargs)
        finally:
            STEPS.append((name, (time.perf_counter() - wall) * 1e3, (time.thread_time() - cpu) * 1e3))

    return measured


def timed_run(widget, ticks: Ticks, label: str) -> None:
    """One Run through the worker: gaps while it predicts and while the layers are drawn."""
    STEPS.clear()
    start = time.perf_counter()
    widget.run()
    worker_done = spin_until(lambda: widget._worker is None)
    drawn = spin_until(lambda: not widget.busy)
    report(f"{label}, while the worker predicts ({worker_done - start:.1f} s)", ticks.gaps(start, worker_done))
    report(f"{label}, while the six layers are drawn ({(drawn - worker_done) * 1e3:.0f} ms)",
           ticks.gaps(worker_done, drawn))
    print("    per layer (wall / GUI-thread CPU, ms): "
          + ", ".join(f"{name} {wall:.0f}/{cpu:.0f}" for name, wall, cpu in STEPS), flush=True)


def main() -> None:
    _common.set_layer_data = _measured_set_layer_data(_common.set_layer_data)
    print_machine()
    print(f"load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"(torch threads: {torch.get_num_threads()})", flush=True)
    folder = Path(tempfile.mkdtemp())
    for epoch in (1, 2, 3):  # the lab's width, 31 M parameters, random weights
        torch.manual_seed(epoch)
        torch.save(UNet(base_width=64).state_dict(), folder / f"lab_{epoch}.pth")
    viewer = napari.Viewer(show=True)
    # a 1024 x 1024 micrograph (the NIST pair resized): scores and layers live on the micrograph's grid,
    # whatever the network's resolution, so the 1024 x 1024 figures need a micrograph of that size
    from skimage.transform import resize

    micrograph = resize(read_image(NIST_MICROGRAPH), (1024, 1024), preserve_range=True).astype(np.uint8)
    trace = resize(read_trace(NIST_TRACE)[0], (1024, 1024), order=0, anti_aliasing=False)
    viewer.add_image(micrograph, name="micrograph")
    viewer.add_labels(trace.astype(np.uint8), name="trace")
    _, widget = viewer.window.add_plugin_dock_widget("napari-graintrace", "Inspect prediction")
    widget.image_layer.value = viewer.layers["micrograph"]
    widget.trace_layer.value = viewer.layers["trace"]
    widget.checkpoint_folder.value = folder
    widget.resolution.value = "1024"
    series = [item for item in widget.epoch.choices if item is not None]
    ticks = Ticks()

    widget.epoch.value = series[0]
    timed_run(widget, ticks, "first run (layers added)")
    widget.epoch.value = series[1]
    timed_run(widget, ticks, "re-run, another epoch (layers updated in place)")

    start = time.perf_counter()
    widget.epoch.value = series[0]  # from the cache: scored in a worker, drawn in place
    stop = spin_until(lambda: not widget.busy)
    report(f"switch back to a cached epoch ({(stop - start) * 1e3:.0f} ms)", ticks.gaps(start, stop))

    # Cancel in the middle of a lab-width forward pass on one 1024 x 1024 tile
    widget.epoch.value = series[2]
    widget.run()
    worker = widget._worker
    ended = threading.Event()
    worker.finished.connect(ended.set)
    spin_until(lambda: widget.progress.label == "predicting")
    time.sleep(0.3)  # well inside the forward pass (it takes seconds)
    QApplication.processEvents()
    clicked = time.perf_counter()
    widget.cancel_button.changed.emit(True)  # what a click does
    idle = spin_until(lambda: not widget.busy and widget.run_button.enabled)
    stopped = spin_until(ended.is_set, timeout=300)
    print(f"Cancel during the forward pass: widget idle after {(idle - clicked) * 1e3:.0f} ms, worker thread "
          f"ended after {(stopped - clicked) * 1e3:.0f} ms; layers changed: "
          f"{viewer.layers['prediction'].metadata.get('napari-graintrace output') != 'prediction'}", flush=True)

    times = []
    for sigma in np.linspace(0.5, 10, 40):
        t0 = time.perf_counter()
        widget.sigma.value = float(sigma)
        QApplication.processEvents()
        times.append(time.perf_counter() - t0)
    times = np.array(times[1:]) * 1e3
    print(f"sigma move at 1024 x 1024 (readout + Gaussian reward + score overlay layers, redraw): "
          f"median {np.median(times):.0f} ms, max {times.max():.0f} ms")
    ticks.timer.stop()
    start = time.perf_counter()
    viewer.close()
    print(f"viewer.close() with the widget docked: {(time.perf_counter() - start) * 1e3:.0f} ms")
    print(f"load average at end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


def sigma_moves(moves: int = 40) -> None:
    """A sigma move at 1024 x 1024, alone (no network): ``python benchmarks/bench_widget.py sigma``.

    The prediction is the NIST tracing on a 1024 x 1024 grid, blurred (a realistic map, no model
    needed); it is a "prediction layer" of the Inspect widget, docked from the Plugins menu, with the
    default layers shown (prediction and score overlay; the Gaussian reward hidden). Each move sets
    the slider and runs the event loop once: the readout, the visible layer and the repaint. The
    GUI-thread CPU time is the figure that matters on a shared machine (wall time there includes other
    people's processes); the debounced tolerant P/R/F pass runs in a worker and is not in it.
    """
    from scipy import ndimage

    from napari_graintrace.core.scoring.evaluation import resize_trace

    print_machine()
    print(f"load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    trace = resize_trace(read_trace(NIST_TRACE)[0], (1024, 1024))
    pred = np.clip(ndimage.gaussian_filter(trace.astype(np.float32), 1.5) * 3, 0, 1).astype(np.float32)
    viewer = napari.Viewer(show=True)
    viewer.add_image(pred, name="micrograph")
    viewer.add_labels(trace.astype(np.uint8), name="trace")
    viewer.add_image(pred, name="pred")
    _, widget = viewer.window.add_plugin_dock_widget("napari-graintrace", "Inspect prediction")
    widget.image_layer.value = viewer.layers["micrograph"]
    widget.trace_layer.value = viewer.layers["trace"]
    widget.source.value = "prediction layer"
    widget.prediction_layer.value = viewer.layers["pred"]
    widget.run()
    spin_until(lambda: not widget.busy)
    for _ in range(50):
        QApplication.processEvents()
    shown = [layer.name for layer in viewer.layers if layer.visible and layer.metadata.get(_common.OWNER_KEY)]
    walls, cpus = [], []
    for sigma in np.linspace(0.5, 10, moves):
        wall, cpu = time.perf_counter(), time.thread_time()
        widget.sigma.value = float(sigma)
        QApplication.processEvents()
        walls.append((time.perf_counter() - wall) * 1e3)
        cpus.append((time.thread_time() - cpu) * 1e3)
        time.sleep(0.05)  # a hand on a slider: moves come tens of ms apart
    walls, cpus = np.array(walls[1:]), np.array(cpus[1:])
    print(f"sigma move at 1024 x 1024, layers shown: {', '.join(shown)}")
    print(f"  GUI-thread CPU per move: median {np.median(cpus):.0f} ms, max {cpus.max():.0f} ms")
    print(f"  wall per move: median {np.median(walls):.0f} ms, max {walls.max():.0f} ms")
    print(f"load average at end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    viewer.close()


if __name__ == "__main__":
    import sys

    sigma_moves() if sys.argv[1:] == ["sigma"] else main()
