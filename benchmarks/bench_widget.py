"""The inspect widget's feel: event-loop stalls while inference runs, and the sigma slider's cost.

    xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/bench_widget.py

Targets (issue 5): no event-loop stall over 100 ms while a prediction runs in the worker; a sigma
move updates the readout and the reward/composite layers within about 50 ms at 1024 x 1024.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import napari
import numpy as np
import torch
from _common import print_machine
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QApplication

from napari_graintrace.core.io import read_image, read_trace
from napari_graintrace.core.model import UNet
from napari_graintrace.data import NIST_MICROGRAPH, NIST_TRACE


def main() -> None:
    print_machine()
    folder = Path(tempfile.mkdtemp())
    torch.manual_seed(0)
    torch.save(UNet(base_width=64).state_dict(), folder / "lab_1.pth")  # the lab's width, 31 M parameters
    viewer = napari.Viewer(show=True)
    viewer.add_image(read_image(NIST_MICROGRAPH), name="micrograph")
    viewer.add_labels(read_trace(NIST_TRACE)[0].astype(np.uint8), name="trace")
    _, widget = viewer.window.add_plugin_dock_widget("napari-graintrace", "Inspect prediction")
    widget.image_layer.value = viewer.layers["micrograph"]
    widget.trace_layer.value = viewer.layers["trace"]
    widget.checkpoint_folder.value = folder
    widget.resolution.value = "1024"

    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    start = time.perf_counter()
    widget.run()
    predicted = None
    while widget.busy:
        QApplication.processEvents()
        if predicted is None and widget._worker is None:
            predicted = time.perf_counter()  # the worker is done; its layers are being drawn
        time.sleep(0.002)
    elapsed = time.perf_counter() - start
    timer.stop()
    ticks = np.array(ticks)
    for label, part in (("while the worker predicts", ticks[ticks <= predicted]),
                        ("while the five layers are drawn", ticks[ticks >= predicted])):
        gaps = np.diff(part) * 1e3
        print(f"  {label}: longest event-loop gap {gaps.max():.0f} ms, 99th percentile "
              f"{np.percentile(gaps, 99):.0f} ms ({len(gaps)} ticks of a 10 ms timer)")
    print(f"lab-width prediction at 1024 x 1024 through the widget: {elapsed:.1f} s in all")

    times = []
    for sigma in np.linspace(0.5, 10, 40):
        t0 = time.perf_counter()
        widget.sigma.value = float(sigma)
        QApplication.processEvents()
        times.append(time.perf_counter() - t0)
    times = np.array(times[1:]) * 1e3
    print(f"sigma move at 1024 x 1024 (readout + Gaussian reward + score overlay layers, redraw): "
          f"median {np.median(times):.0f} ms, max {times.max():.0f} ms")
    viewer.close()


if __name__ == "__main__":
    main()
