"""Inspect and Grains on a large micrograph, docked from the Plugins menu: does the viewer stay live?

    xvfb-run -a -s "-screen 0 1366x768x24" nice -n 10 python benchmarks/bench_widget_scale.py [--size 4096]

The NIST pair mirror-tiled to SIZE^2 (grains keep their size). Inspect runs the shipped demo
checkpoint (demo_59) at native resolution (tiles) and scores it; Grains segments Inspect's
prediction against the tracing. A 10 ms QTimer records when the event loop runs: a gap between two
ticks is a stall the user feels. Reported: how long each run takes and its longest gap, the layers
that appeared, the time one sigma move takes on the GUI thread (readout and the visible reward
layers), the longest gap once the slider rests (the debounced tolerant P/R/F), and for Grains how
long a moved slider takes to show its grains and the longest gap meanwhile. GUI-thread CPU time is
printed beside wall times (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import time

import napari
import numpy as np
from _common import print_machine
from bench_widget import Ticks, spin_until
from qtpy.QtWidgets import QApplication

from napari_graintrace.core.io import read_image, read_trace
from napari_graintrace.data import DEMO_CHECKPOINTS, NIST_MICROGRAPH, NIST_TRACE


def tiled(array: np.ndarray, size: int) -> np.ndarray:
    rows, cols = array.shape[:2]
    return np.pad(array, ((0, max(0, size - rows)), (0, max(0, size - cols))), mode="symmetric")[:size, :size]


def gaps_line(ticks: Ticks, start: float, stop: float) -> str:
    gaps = ticks.gaps(start, stop)
    return f"longest event-loop gap {gaps.max():.0f} ms, 99th percentile {np.percentile(gaps, 99):.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    args = parser.parse_args()
    print_machine()
    print(f"load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1366, 768)
    viewer.add_image(tiled(read_image(NIST_MICROGRAPH), args.size), name="micrograph")
    viewer.add_labels(tiled(read_trace(NIST_TRACE)[0], args.size).astype(np.uint8), name="trace")
    ticks = Ticks()

    # Inspect: predict (tiles) and score in its worker, layers drawn one per event-loop turn
    _, inspect = viewer.window.add_plugin_dock_widget("napari-graintrace", "Inspect prediction")
    inspect.image_layer.value = viewer.layers["micrograph"]
    inspect.trace_layer.value = viewer.layers["trace"]
    inspect.checkpoint_folder.value = DEMO_CHECKPOINTS
    inspect.resolution.value = "native"
    series = [item for item in inspect.epoch.choices if item is not None]
    inspect.epoch.value = series[-1]
    before = len(viewer.layers)
    start, cpu = time.perf_counter(), time.thread_time()
    inspect.run()
    worker_done = spin_until(lambda: inspect._worker is None)
    drawn = spin_until(lambda: not inspect.busy)
    print(f"Inspect {args.size}^2, demo_59 native: worker {worker_done - start:.1f} s "
          f"({gaps_line(ticks, start, worker_done)}); layers drawn in {drawn - worker_done:.1f} s "
          f"({gaps_line(ticks, worker_done, drawn)}); {len(viewer.layers) - before} layers added; "
          f"GUI-thread CPU {time.thread_time() - cpu:.1f} s", flush=True)
    print("  " + inspect.score_panel.value.replace("\n", "\n  "), flush=True)

    moves, cpu_moves = [], []
    for sigma in np.linspace(1.0, 6.0, 11):
        t0, c0 = time.perf_counter(), time.thread_time()
        inspect.sigma.value = float(sigma)
        QApplication.processEvents()
        moves.append((time.perf_counter() - t0) * 1e3)
        cpu_moves.append((time.thread_time() - c0) * 1e3)
    rest = time.perf_counter()
    spin_until(lambda: time.perf_counter() > rest + 3.0)
    print(f"sigma move at {args.size}^2 (readout + visible Gaussian reward and score overlay): median "
          f"{np.median(moves[1:]):.0f} ms, max {max(moves[1:]):.0f} ms (GUI-thread CPU median "
          f"{np.median(cpu_moves[1:]):.0f} ms); after the slider rests (tolerant P/R/F, missed trace): "
          f"{gaps_line(ticks, rest, rest + 3.0)}", flush=True)

    # Grains: Inspect's prediction against the tracing, segmented in its worker; a slider re-segments
    _, grains_widget = viewer.window.add_plugin_dock_widget("napari-graintrace", "Grains")
    prediction = next(layer for layer in viewer.layers
                      if layer.metadata.get("napari-graintrace output") == "prediction")
    grains_widget.prediction_layer.value = prediction
    grains_widget.trace_layer.value = viewer.layers["trace"]
    before = len(viewer.layers)
    start, cpu = time.perf_counter(), time.thread_time()
    grains_widget.run_button.clicked.emit()
    done = spin_until(lambda: not grains_widget.busy)
    print(f"Grains run {args.size}^2: {done - start:.1f} s ({gaps_line(ticks, start, done)}); "
          f"{len(viewer.layers) - before} layers added; {grains_widget.metrics.get('grains')} grains, grain F1 "
          f"{grains_widget.metrics.get('grain_f1', float('nan')):.3f}; GUI-thread CPU "
          f"{time.thread_time() - cpu:.1f} s", flush=True)
    for name, control, value in (("prune", grains_widget.prune, 10), ("min area", grains_widget.min_area, 50),
                                 ("high threshold", grains_widget.high, 0.5)):
        first = grains_widget.grain_labels
        start, cpu = time.perf_counter(), time.thread_time()
        control.value = value
        moved = time.perf_counter()
        shown = spin_until(lambda f=first: grains_widget.grain_labels is not f and not grains_widget.busy)
        print(f"  Grains {name} -> {value}: the control answers in {(moved - start) * 1e3:.0f} ms, the grains "
              f"follow in {shown - start:.1f} s ({gaps_line(ticks, start, shown)}; GUI-thread CPU "
              f"{time.thread_time() - cpu:.2f} s)", flush=True)
    screenshot = os.environ.get("SCREENSHOT")
    if screenshot:
        from napari_graintrace.core.io import write_image

        write_image(screenshot, viewer.screenshot(canvas_only=False), overwrite=True)
        print(f"wrote {screenshot}")
    ticks.timer.stop()
    viewer.close()
    print(f"load average at end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
