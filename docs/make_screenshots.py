"""Real screenshots of the widgets for the docs and the README, from a real napari viewer.

    xvfb-run -a -s "-screen 0 1920x1080x24" python docs/make_screenshots.py [NAME ...]

Each shot opens the NIST sample from File > Open Sample, opens one widget from the Plugins >
Grain Trace menu (its menu action, as a person clicks it), drives it like a person (buttons clicked)
and saves the whole window twice: at a laptop's 1366 x 768 to docs/images/<name>.png (the picture
the docs show) and at 1920 x 1080 to docs/images/<name>_1920x1080.png.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import napari
import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest
from qtpy.QtWidgets import QApplication

from napari_graintrace.core.io import write_image
from napari_graintrace.data import DEMO_CHECKPOINTS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _common import print_machine

OUT = Path(__file__).parent / "images"
SIZES = {"": (1366, 768), "_1920x1080": (1920, 1080)}  # file-name suffix -> window size
SIZE = SIZES[""]  # the size of the shot being taken (main() sets it)


def wait_for(widget, seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while widget.busy and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.02)
    for _ in range(20):
        QApplication.processEvents()


def click(button) -> None:
    """A real left click on a widget's button."""
    QTest.mouseClick(button.native, Qt.MouseButton.LeftButton)


def open_from_menu(viewer, widget_name: str):
    """Plugins > Grain Trace > ``widget_name``: trigger that menu action; returns the docked widget."""
    bar = viewer.window._qt_window.menuBar()
    plugins = next(a.menu() for a in bar.actions() if a.text().replace("&", "") == "Plugins")
    ours = next(a.menu() for a in plugins.actions() if a.text() == "Grain Trace")
    next(a for a in ours.actions() if a.text().startswith(widget_name)).trigger()
    for _ in range(10):
        QApplication.processEvents()
    return next(widget for name, widget in viewer.window.dock_widgets.items() if name.startswith(widget_name))


def new_viewer(widget_name: str):
    viewer = napari.Viewer(title="napari-graintrace")
    viewer.window._qt_window.showNormal()
    viewer.window.resize(*SIZE)
    viewer.open_sample("napari-graintrace", "nist_steel")
    widget = open_from_menu(viewer, widget_name)
    return viewer, widget


def write_window(viewer, name: str) -> None:
    """The whole window as it is now to docs/images/NAME.png (every screenshot script; the caller settles it)."""
    picture = viewer.screenshot(canvas_only=False, flash=False)
    path = OUT / f"{name}.png"
    write_image(path, picture[..., :3], overwrite=True)
    print(f"wrote {path} ({picture.shape[1]} x {picture.shape[0]})")


def save(viewer, name: str) -> None:
    viewer.window.resize(*SIZE)
    for _ in range(20):
        QApplication.processEvents()
    write_window(viewer, f"{name}{SUFFIX}")
    viewer.close()


def predicted_demo_epoch():
    """The inspect widget docked and run on the last demo epoch, as `graintrace demo` does."""
    viewer, widget = new_viewer("Inspect prediction")  # micrograph and tracing preselected
    widget.checkpoint_folder.value = DEMO_CHECKPOINTS
    widget.resolution.value = "native"
    click(widget.run_button)
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
    widget.cache = PredictionCache(Path(tempfile.mkdtemp()) / "cache")
    for folder in DEMO_RUNS.values():  # the two shipped runs: original crops vs. with aligned crops
        widget.checkpoint_folder.value = folder
        click(widget.add_run_button)
    widget.resolution.value = "native"
    click(widget.run_button)
    wait_for(widget)
    widget.show_epoch(40, run="with_crops")  # as a click on that point does: shown and marked
    wait_for(widget)
    viewer.layers["steel trace"].visible = False
    narrow_dock(viewer, 560 if SIZE[0] < 1600 else 640)
    widget._scroll_area.ensureWidgetVisible(widget.plot_widget, 0, 0)  # the plot (the table is above it)
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
    widget.update_preview()  # what the debounced preview does after a control moves
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
    click(widget.suggest_button)
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


SUFFIX = ""


def main(names: list[str]) -> None:
    global SIZE, SUFFIX
    print_machine()
    OUT.mkdir(exist_ok=True)
    for suffix, size in SIZES.items():
        SIZE, SUFFIX = size, suffix
        for name in names or list(SHOTS):
            SHOTS[name]()


if __name__ == "__main__":
    np.seterr(all="ignore")
    main(sys.argv[1:])
