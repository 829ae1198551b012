"""Real screenshots of the "Grains" widget for docs/grains.md, from a real napari viewer.

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_grains_screenshots.py

Opens the NIST sample, predicts it with the last demo checkpoint in "Inspect prediction" (both
widgets docked through napari's plugin manager, as a user would), then picks the Inspect widget's
``prediction`` layer in "Grains": the lab's defaults, then Tune. Saves the whole window.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

from napari_graintrace.core.io import write_image
from napari_graintrace.data import DEMO_CHECKPOINTS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _common import print_machine
from docs_text import replace_block

OUT = Path(__file__).parent / "images"
SIZE = (1500, 1000)


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
    picture = viewer.screenshot(canvas_only=False, flash=False)
    write_image(OUT / f"{name}.png", picture[..., :3], overwrite=True)
    print(f"wrote {OUT / name}.png")


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
    viewer.open_sample("napari-graintrace", "nist_steel")
    viewer.window.resize(*SIZE)
    inspect_dock, inspect = viewer.window.add_plugin_dock_widget("napari-graintrace", "Inspect prediction")
    inspect.image_layer.value = viewer.layers["steel micrograph"]
    inspect.trace_layer.value = viewer.layers["steel trace"]
    inspect.checkpoint_folder.value = DEMO_CHECKPOINTS
    inspect.resolution.value = "native"
    inspect.run()
    settle(inspect)
    for layer in viewer.layers:  # the inspect overlays are not the subject here
        layer.visible = layer.name in ("steel micrograph",)
    viewer.window.remove_dock_widget(inspect_dock)  # room for the Grains dock
    _, grains = viewer.window.add_plugin_dock_widget("napari-graintrace", "Grains")
    grains.prediction_layer.value = viewer.layers["prediction"]
    grains.trace_layer.value = viewer.layers["steel trace"]
    grains.pixel_size.value = 0.5
    grains.run()
    settle(grains)  # segmented in a worker
    settle()
    viewer.layers["grains"].visible = True
    shoot(viewer, "grains_widget")
    defaults = dict(grains.metrics)
    grains.tune()
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
