"""Real screenshots of the widgets for the docs and the README, from a real napari viewer.

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_screenshots.py [NAME ...]

Each shot opens the NIST sample, docks one widget through napari's plugin manager (as a user
would), drives it like a user and saves the whole window to docs/images/<name>.png.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

from napari_graintrace.core.io import write_image
from napari_graintrace.data import DEMO_CHECKPOINTS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _common import print_machine

OUT = Path(__file__).parent / "images"
SIZE = (1500, 950)


def wait_for(widget, seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while widget.busy and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.02)
    for _ in range(20):
        QApplication.processEvents()


def new_viewer(widget_name: str):
    viewer = napari.Viewer(title="napari-graintrace")
    viewer.open_sample("napari-graintrace", "nist_steel")
    _, widget = viewer.window.add_plugin_dock_widget("napari-graintrace", widget_name)
    viewer.window.resize(*SIZE)
    return viewer, widget


def save(viewer, name: str) -> None:
    for _ in range(20):
        QApplication.processEvents()
    picture = viewer.screenshot(canvas_only=False, flash=False)
    write_image(OUT / f"{name}.png", picture[..., :3], overwrite=True)
    print(f"wrote {OUT / name}.png")
    viewer.close()


def predicted_demo_epoch():
    """The inspect widget docked and run on the last demo epoch, as `graintrace demo` does."""
    viewer, widget = new_viewer("Inspect prediction")
    widget.image_layer.value = viewer.layers["steel micrograph"]
    widget.trace_layer.value = viewer.layers["steel trace"]
    widget.checkpoint_folder.value = DEMO_CHECKPOINTS
    widget.resolution.value = "native"
    widget.run()
    wait_for(widget)
    viewer.scene.camera.zoom *= 1.6
    return viewer, widget


def inspect() -> None:
    viewer, widget = predicted_demo_epoch()
    widget.sigma.value = 2.0
    viewer.layers["steel trace"].visible = False
    save(viewer, "inspect_prediction")


def inspect_bce() -> None:
    viewer, _ = predicted_demo_epoch()
    for layer in viewer.layers:
        layer.visible = layer.name == "BCE overlay"
    save(viewer, "inspect_bce_overlay")


def epoch_sweep() -> None:
    from napari_graintrace.core.cache import PredictionCache
    from napari_graintrace.data import DEMO_RUNS

    viewer, widget = new_viewer("Epoch sweep")
    viewer.window.resize(1600, 1000)
    widget.cache = PredictionCache(Path(tempfile.mkdtemp()) / "cache")
    for name, folder in DEMO_RUNS.items():  # the two shipped runs: original crops vs. with aligned crops
        widget.add_run(folder, name)
    widget.image_layer.value = viewer.layers["steel micrograph"]
    widget.trace_layer.value = viewer.layers["steel trace"]
    widget.resolution.value = "native"
    widget.run()
    wait_for(widget)
    widget.show_epoch(40, run="with_crops")  # as a click on that point does: shown and marked
    viewer.layers["steel trace"].visible = False
    narrow_dock(viewer, 620)
    save(viewer, "epoch_sweep")


def narrow_dock(viewer, width: int = 460) -> None:
    """Give the canvas the room: the dock as narrow as its controls allow."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QDockWidget

    for _ in range(20):
        QApplication.processEvents()
    window = viewer.window._qt_window
    docks = [dock for dock in window.findChildren(QDockWidget) if dock.isVisible()
             and window.dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea]
    window.resizeDocks(docks, [width] * len(docks), Qt.Orientation.Horizontal)
    for _ in range(20):
        QApplication.processEvents()


def clean_tracing() -> None:
    """The NIST tracing painted over the micrograph, extracted from their difference as a 1-px skeleton."""
    from napari_graintrace.core.io import read_image
    from napari_graintrace.data import NIST_TRACED_ON_MICROGRAPH

    viewer, widget = new_viewer("Clean tracing")
    viewer.add_image(read_image(NIST_TRACED_ON_MICROGRAPH), name="steel traced on micrograph", visible=False)
    viewer.layers["steel trace"].visible = False
    widget.trace_layer.value = viewer.layers["steel traced on micrograph"]
    widget.original_layer.value = viewer.layers["steel micrograph"]
    widget.min_size.value = 10
    widget.thickness.value = "1"
    widget.update_preview()
    preview = viewer.layers["cleaned tracing"]
    preview.opacity = 1.0
    viewer.layers["steel micrograph"].opacity = 0.5  # light boundaries under the 1-px lines
    viewer.layers.selection.active = preview
    narrow_dock(viewer)
    viewer.reset_view()
    viewer.scene.camera.center = (200, 250)
    viewer.scene.camera.zoom *= 3.0
    save(viewer, "clean_tracing")


def aligned_crops() -> None:
    """The report's "four corners and a centre" layout over the NIST micrograph, box 5 selected."""
    viewer, widget = new_viewer("Aligned crops")
    widget.images.value = [viewer.layers["steel micrograph"]]
    widget.trace_layer.value = viewer.layers["steel trace"]
    widget.layout_kind.value = "corners + centre"
    widget.box_size.value = 320
    widget.suggest()
    viewer.layers["steel trace"].visible = False
    widget.dataset_name.value = "steel"
    boxes = viewer.layers["crop boxes"]
    boxes.edge_width = 5  # the layer's "edge width" slider: edges that stay visible at this zoom
    viewer.layers["steel micrograph"].opacity = 0.6  # its "opacity" slider: yellow numbers on grey, not white
    viewer.layers.remove("crop preview")  # this shot is about the boxes; a deleted preview stays deleted
    viewer.layers.selection.active = boxes
    boxes.mode = "select"
    boxes.selected_data = {4}  # the centre box, ready to be dragged or resized
    narrow_dock(viewer)
    viewer.reset_view()
    save(viewer, "aligned_crops")


SHOTS: dict[str, Callable[[], None]] = {
    "inspect_prediction": inspect,
    "inspect_bce_overlay": inspect_bce,
    "epoch_sweep": epoch_sweep,
    "clean_tracing": clean_tracing,
    "aligned_crops": aligned_crops,
}


def main(names: list[str]) -> None:
    print_machine()
    OUT.mkdir(exist_ok=True)
    for name in names or list(SHOTS):
        SHOTS[name]()


if __name__ == "__main__":
    np.seterr(all="ignore")
    main(sys.argv[1:])
