"""Real screenshots of the "Correct tracing" widget for docs/correct.md, from a real napari viewer at 1366 x 768.

    xvfb-run -a -s "-screen 0 1366x768x24" python docs/make_correct_screenshots.py

Opens the NIST sample, adds the shipped demo model's prediction (demo_59, native size, fp32), docks
"Correct tracing" from the Plugins menu (napari's plugin manager, as a user does), drafts, then makes
two edits with the widget's own mouse path (a branch deleted, a ridge path drawn) and saves the whole
window before and after.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _common import print_machine
from bench_draft import nist_demo_map
from make_screenshots import write_window

SIZE = (1366, 768)


def settle(seconds: float = 0.5) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)


def shoot(viewer, name: str) -> None:
    settle()
    write_window(viewer, name)


def main() -> None:
    print_machine()
    viewer = napari.Viewer(title="napari-graintrace")
    viewer.open_sample("napari-graintrace", "nist_steel")
    viewer.add_image(nist_demo_map(), name="prediction (demo_59)", colormap="magma", visible=False)
    viewer.layers["steel trace"].visible = False
    viewer.window._qt_window.showNormal()
    viewer.window.resize(*SIZE)
    # Plugins > Grain Trace > Correct tracing
    action = next(a for a in viewer.window.plugins_menu.actions() if a.text() == "Grain Trace")
    submenu = action.menu()
    names = [a.text() for a in submenu.actions()]
    print("Plugins > Grain Trace:", names)
    next(a for a in submenu.actions() if a.text().replace("&", "").startswith("Correct tracing")).trigger()
    settle(1.0)
    correct = viewer.window.dock_widgets["Correct tracing (Grain Trace)"]  # the one the menu docked
    correct.source_layer.value = viewer.layers["prediction (demo_59)"]
    correct.micrograph_layer.value = viewer.layers["steel micrograph"]
    correct.checkpoint.value = "demo_checkpoints/original/demo_59.pth"
    correct.draft_now()
    shoot(viewer, "correct_draft")
    session = correct.session
    ends = session.ends
    if len(ends):  # close the suggested gaps, then draw one ridge path from a dangling end
        correct.close_gaps()
    lines = np.argwhere(session.editor.tracing)
    correct.click(tuple(lines[len(lines) // 3]))
    shoot(viewer, "correct_edited")
    viewer.close()


if __name__ == "__main__":
    main()
