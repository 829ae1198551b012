"""Close the viewer while a widget's background work runs; the process must end cleanly (exit 0).

    python tests/close_mid_run.py sweep|predict|tune|write

Run by ``test_widget_close.py`` in a subprocess: a late progress signal that reaches a deleted
progress bar raises inside a Qt slot, which PyQt turns into an abort (exit 134) that would take a
Jupyter kernel down with it. The work is started by real clicks on the docked widget and the viewer
is closed while the widget reports it busy.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import napari
import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest
from qtpy.QtWidgets import QApplication

PLUGIN = "napari-graintrace"


def spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def click(button) -> None:
    QTest.mouseClick(button.native, Qt.MouseButton.LeftButton)


def slow_checkpoint(folder: Path) -> Path:
    """A lab-width (64) U-Net checkpoint: a 1024 x 1024 prediction takes seconds on a CPU."""
    import torch

    from napari_graintrace.core.model import UNet

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save(UNet(64).state_dict(), folder / "lab_1.pth")
    return folder


def main(kind: str) -> None:
    from napari_graintrace.core.cache import PredictionCache
    from napari_graintrace.data import DEMO_RUNS

    scratch = Path(tempfile.mkdtemp())
    viewer = napari.Viewer(show=True)
    viewer.open_sample(PLUGIN, "nist_steel")
    if kind == "sweep":
        widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Epoch sweep")[1]
        widget.cache = PredictionCache(scratch / "cache")
        for folder in DEMO_RUNS.values():
            widget.add_run(folder)
        widget.image_layer.value = viewer.layers["steel micrograph"]
        widget.trace_layer.value = viewer.layers["steel trace"]
        widget.resolution.value = "native"
        click(widget.run_button)
    elif kind == "predict":
        widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Inspect prediction")[1]
        widget.cache = PredictionCache(scratch / "cache")
        widget.image_layer.value = viewer.layers["steel micrograph"]
        widget.trace_layer.value = viewer.layers["steel trace"]
        widget.checkpoint_folder.value = slow_checkpoint(scratch / "lab")
        widget.resolution.value = "1024"
        spin(0.5)
        click(widget.run_button)
    elif kind == "tune":
        viewer.add_image(np.clip(np.random.default_rng(1).random((600, 800), dtype=np.float32), 0, 1),
                         name="prediction map")
        widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Grains")[1]
        widget.prediction_layer.value = viewer.layers["prediction map"]
        widget.trace_layer.value = viewer.layers["steel trace"]
        click(widget.run_button)
        click(widget.tune_button)
    elif kind == "write":
        # the sample mirror-tiled 4 x 4, so that writing its crops outlasts the moment before the close
        micrograph, trace = viewer.layers["steel micrograph"], viewer.layers["steel trace"]
        tiles = [(4, 4) + (1,) * (layer.data.ndim - 2) for layer in (micrograph, trace)]
        big_micrograph = viewer.add_image(np.tile(micrograph.data, tiles[0]), name="big micrograph")
        add_trace = viewer.add_labels if trace._type_string == "labels" else viewer.add_image
        big_trace = add_trace(np.tile(trace.data, tiles[1]), name="big trace")
        widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Aligned crops")[1]
        widget.images.value = [big_micrograph]
        widget.trace_layer.value = big_trace
        click(widget.suggest_button)
        widget.dataset_name.value = "steel"
        widget.out_dir.value = scratch / "out"
        click(widget.write_button)
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    spin(0.3)
    assert widget.busy, f"{kind}: the work ended before the viewer was closed; nothing was tested"
    viewer.close()
    spin(2.0)  # late signals arrive now
    print(f"{kind}: closed mid-run", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
