"""Real screenshots of the "Grains" widget for docs/grains.md, from a real napari viewer.

    xvfb-run -a -s "-screen 0 1920x1080x24" python docs/make_grains_screenshots.py

Opens the NIST sample, predicts it with the last demo checkpoint in "Inspect prediction", then
opens "Grains" beside it (both from the Plugins > Grain Trace menu, buttons clicked, as a person
does) on the Inspect widget's ``prediction`` layer: the lab's defaults, then Tune. Saves the whole
window at a laptop's 1366 x 768, the dock scrolled to the size histogram.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

from napari_graintrace.data import DEMO_CHECKPOINTS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _common import print_machine
from docs_text import replace_block
from make_screenshots import click, narrow_dock, open_from_menu, write_window

SIZE = (1366, 768)  # a laptop screen, as docs/make_screenshots.py


def settle(widget=None, seconds: float = 900) -> None:
    deadline = time.monotonic() + seconds
    while widget is not None and widget.busy and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.02)
    for _ in range(30):
        QApplication.processEvents()
        time.sleep(0.01)


def shoot(viewer, name: str) -> None:
    settle()
    write_window(viewer, name)


def captions(defaults: dict, tuned: dict, settings: int) -> str:
    """The lines under the screenshots, from what the widget shows (its metrics table and Tune's result)."""
    return (
        "![The Grains widget on the demo U-Net's prediction of the NIST steel, the lab's defaults]"
        "(images/grains_widget.png)\n\n"
        "*The demo U-Net's prediction (Inspect widget, last epoch) at the lab's defaults: merged grains in red, a\n"
        f"grain cut in pieces in orange; {defaults['grains']} of {defaults['grains_truth']} interior grains, grain F1 "
        f"{defaults['grain_f1']:.3f}; the histogram shows the missing small grains (KS {defaults['size_ks']:.2f}).*\n\n"
        "![After Tune](images/grains_tuned.png)\n\n"
        f"*After Tune ({settings} settings): grain F1 {defaults['grain_f1']:.3f} -> {tuned['grain_f1']:.3f}, "
        f"{defaults['grains']} -> {tuned['grains']} of {tuned['grains_truth']} interior grains, "
        f"KS {tuned['size_ks']:.2f}.*\n"
    )


def main() -> None:
    print_machine()
    viewer = napari.Viewer(title="napari-graintrace")
    viewer.window._qt_window.showNormal()
    viewer.window.resize(*SIZE)
    viewer.open_sample("napari-graintrace", "nist_steel")
    inspect = open_from_menu(viewer, "Inspect prediction")  # micrograph and tracing preselected
    inspect.checkpoint_folder.value = DEMO_CHECKPOINTS
    inspect.resolution.value = "native"
    click(inspect.run_button)
    settle(inspect)
    for layer in viewer.layers:  # the inspect overlays are not the subject here
        layer.visible = layer.name in ("steel micrograph",)
    grains = open_from_menu(viewer, "Grains")  # docked as a tab beside Inspect
    grains.prediction_layer.value = viewer.layers["prediction"]
    grains.trace_layer.value = viewer.layers["steel trace"]
    grains.pixel_size.value = 0.5
    click(grains.run_button)
    settle(grains)  # segmented in a worker
    settle()
    viewer.layers["grains"].visible = True
    narrow_dock(viewer, 520)
    grains._scroll_area.ensureWidgetVisible(grains.plot_widget, 0, 0)  # the histogram, under the metrics
    shoot(viewer, "grains_widget")
    defaults = dict(grains.metrics)
    click(grains.tune_button)
    settle(grains)
    settle()
    shoot(viewer, "grains_tuned")
    replace_block("docs/grains.md", "grains-screenshots", captions(defaults, dict(grains.metrics), grains.tuned.evaluated))
    viewer.layers["grains"].visible = False
    viewer.layers["true grains"].visible = True
    shoot(viewer, "grains_truth")
    viewer.close()


if __name__ == "__main__":
    main()
