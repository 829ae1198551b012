"""Screenshots of the Train widget fine-tuning the demo model, and Epoch sweep following it, at laptop size.

    xvfb-run -a -s "-screen 0 1366x768x24" python docs/make_train_screenshots.py

Opens the NIST sample in a 1366 x 768 window, opens Train from the Plugins menu (as a person does),
fine-tunes the shipped demo model (``demo_59``) on 16 crops of the NIST training columns in its own
process, docks Epoch sweep with "Watch in Epoch sweep", follows the run on the sample pair, and
saves docs/images/train_running.png (Train while it trains) and docs/images/train_follow.png (the
curves after the run, the Train dock closed and Epoch sweep scrolled to its plot). CPU only; about a minute of one core.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication, QMenu

from napari_graintrace.core.io import read_micrograph, read_trace, write_image
from napari_graintrace.data import DEMO_CHECKPOINTS, HELD_OUT_COLUMNS, NIST_MICROGRAPH, NIST_TRACE

OUT = Path(__file__).parent / "images"
SIZE = (1366, 768)
CROP = 96


def pump(seconds: float = 0.0, until=None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until is not None and until()):
        QApplication.processEvents()
        time.sleep(0.02)
    for _ in range(10):
        QApplication.processEvents()


def training_crops(root: Path) -> Path:
    """16 crops of the NIST pair's training columns in the lab's layout (the held-out quarter untouched)."""
    image, (trace, _) = read_micrograph(NIST_MICROGRAPH), read_trace(NIST_TRACE)
    corners = [(t, c) for t in range(0, image.shape[0] - CROP + 1, 150) for c in (0, 125, 250, 375, 500)][:16]
    for k, (top, left) in enumerate(corners):
        assert left + CROP <= HELD_OUT_COLUMNS.start
        window = np.s_[top : top + CROP, left : left + CROP]
        write_image(root / "image" / f"nist_{k:02d}.png", np.round(image[window] * 255).astype(np.uint8))
        write_image(root / "label" / f"nist_{k:02d}.png", trace[window].astype(np.uint8) * 255)
    return root


def menu_action(window, text: str):
    """The Plugins menu's entry ``text`` (searched through its sub-menus)."""
    menus = [window.plugins_menu]
    while menus:
        menu = menus.pop()
        for action in menu.actions():
            if action.menu() is not None and isinstance(action.menu(), QMenu):
                menus.append(action.menu())
            elif action.text().replace("&", "") in (text, f"{text} (Grain Trace)"):
                return action
    raise LookupError(f"no {text!r} in the Plugins menu")


def save(viewer, name: str) -> None:
    pump(0.3)
    picture = viewer.screenshot(canvas_only=False, flash=False)
    write_image(OUT / f"{name}.png", picture[..., :3], overwrite=True)
    print(f"wrote {OUT / name}.png  ({picture.shape[1]} x {picture.shape[0]})")


def main() -> int:
    OUT.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="graintrace-train-shot-"))
    data = training_crops(work / "nist_crops")
    viewer = napari.Viewer(title="napari-graintrace")
    viewer.window._qt_window.resize(*SIZE)
    viewer.open_sample("napari-graintrace", "nist_steel")
    menu_action(viewer.window, "Train").trigger()
    train = next(dock.inner_widget() for name, dock in viewer.window._wrapped_dock_widgets.items()
                 if name.startswith("Train"))  # the one the menu opened
    train.dataset_folder.value = data
    train.checkpoint_folder.value = DEMO_CHECKPOINTS
    train.epochs.value = 8
    train.train_size.value = CROP
    train.learning_rate.value = "2e-3"
    train.device.value = "cpu"
    train.output_folder.value = work / "fine_tuned"
    train.run_name.value = "tuned"
    train.run_button.native.click()
    pump(180, until=lambda: "left" in str(train.status.value))
    save(viewer, "train_running")
    train.watch_button.native.click()
    sweep = viewer.window.add_plugin_dock_widget("napari-graintrace", "Epoch sweep")[1]
    sweep.image_layer.value = viewer.layers["steel micrograph"]
    sweep.trace_layer.value = viewer.layers["steel trace"]
    sweep.follow_button.native.click()
    pump(600, until=lambda: not train.busy and not sweep.busy)
    for name, dock in list(viewer.window._wrapped_dock_widgets.items()):  # the curves get the whole side
        if name.startswith("Train"):
            viewer.window.remove_dock_widget(dock)
    from qtpy.QtCore import Qt

    docks = [dock for name, dock in viewer.window._wrapped_dock_widgets.items() if name.startswith("Epoch sweep")]
    viewer.window._qt_window.resizeDocks(docks, [600] * len(docks), Qt.Orientation.Horizontal)  # room for 2 panels
    pump(0.5)
    scroll = getattr(sweep, "_scroll_area", None)
    if scroll is not None:  # scrolled down to the plot, as a person would
        scroll.verticalScrollBar().setValue(scroll.verticalScrollBar().maximum())
    save(viewer, "train_follow")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
