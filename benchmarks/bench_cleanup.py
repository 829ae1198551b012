"""Speed of the tracing cleanup steps at 1024 x 1024: the "Clean tracing" widget's live preview.

Target (issue 7): binarize / despeckle / thickness under 100 ms at 1024 x 1024, so the preview can
run on the GUI thread. The input is the real NIST boundary network tiled to 1024 x 1024, blurred
and inverted like a GIMP export (black on white, grey edges), with specks added.
Also prints the trace extraction figures on the bundled NIST painted micrograph.

    python benchmarks/bench_cleanup.py            # the core steps
    xvfb-run python benchmarks/bench_cleanup.py --widget   # + the widget's preview in a real viewer
"""

from __future__ import annotations

import sys

import numpy as np
from _common import best_time, print_machine
from bench_scores import tiled_trace
from scipy import ndimage as ndi

from napari_graintrace.core.data import CleanupOptions, clean_trace, cleanup
from napari_graintrace.core.io import read_image, read_trace
from napari_graintrace.core.scoring import tolerant_prf
from napari_graintrace.data import NIST_MICROGRAPH, NIST_TRACE, NIST_TRACED_ON_MICROGRAPH


def gimp_like_export(size: int) -> np.ndarray:
    trace = tiled_trace(size)
    rng = np.random.default_rng(0)
    specks = ndi.binary_dilation(rng.random(trace.shape) < 2e-4, np.ones((2, 2), bool))
    blurred = ndi.gaussian_filter((trace | specks).astype(np.float32), 0.8)
    return (255 - np.clip(np.rint(blurred * 255 * 1.6), 0, 255)).astype(np.uint8)


def main() -> None:
    print_machine()
    size = 1024
    image = gimp_like_export(size)
    mask, _ = cleanup.binarize(image)
    clean = cleanup.despeckle(mask, 20)
    skeleton = cleanup.skeletonize(clean)
    rows = [
        ("binarize (Otsu, auto polarity)", lambda: cleanup.binarize(image)),
        ("binarize (threshold 0.5)", lambda: cleanup.binarize(image, 0.5)),
        ("despeckle (min size 20)", lambda: cleanup.despeckle(mask, 20)),
        ("bridge gaps (2 px)", lambda: cleanup.bridge_gaps(clean, 2)),
        ("skeletonize", lambda: cleanup.skeletonize(clean)),
        ("thickness 3, disk (incl. skeleton)", lambda: cleanup.set_thickness(clean, 3, "disk")),
        ("thickness 5, square (incl. skeleton)", lambda: cleanup.set_thickness(clean, 5, "square")),
        ("thickness 3, gaussian (incl. skeleton)", lambda: cleanup.set_thickness(clean, 3, "gaussian")),
        ("dilate only, disk 3 (skeleton given)",
         lambda: cleanup.set_thickness(skeleton, 3, "disk", skeleton=False)),
        ("pipeline: defaults (binarize)", lambda: clean_trace(image)),
        ("pipeline: border+Otsu+despeckle+thickness 3",
         lambda: clean_trace(image, CleanupOptions(margins=(8, 40, 8, 8), min_size=20, thickness=3))),
        ("pipeline: ... + bridge 2",
         lambda: clean_trace(image, CleanupOptions(margins=(8, 40, 8, 8), min_size=20, bridge=2,
                                                  thickness=3))),
    ]
    print(f"cleanup steps at {size} x {size} (best of 5):")
    for label, func in rows:
        print(f"  {label:<45} {best_time(func, repeat=5) * 1e3:7.1f} ms")

    painted, original = read_image(NIST_TRACED_ON_MICROGRAPH), read_image(NIST_MICROGRAPH)
    theirs = read_trace(NIST_TRACE)[0]
    extracted, report = clean_trace(painted, CleanupOptions(), original=original)
    iou = np.count_nonzero(extracted & theirs) / np.count_nonzero(extracted | theirs)
    precision, recall, f = tolerant_prf(extracted.astype(np.float32), theirs, sigma=1.0)
    took = best_time(lambda: clean_trace(painted, CleanupOptions(), original=original), repeat=5)
    print(f"NIST painted micrograph -> tracing ({painted.shape[0]} x {painted.shape[1]}, threshold "
          f"{report['threshold']}): IoU {iou:.4f}, tolerant P/R/F at sigma 1: "
          f"{precision:.4f} / {recall:.4f} / {f:.4f}, {took * 1e3:.1f} ms")
    if "--widget" in sys.argv:
        widget_preview(image)


def widget_preview(image: np.ndarray) -> None:
    """update_preview() end to end: core pipeline + the napari Labels layer update (needs a display)."""
    import napari

    from napari_graintrace._widgets.cleanup import CleanupWidget

    viewer = napari.Viewer(show=False)
    viewer.add_image(image, name="export")
    widget = CleanupWidget(viewer)
    widget.trace_layer.value = viewer.layers["export"]
    for label, changes in [("defaults", {}), ("despeckle 20 + thickness 3",
                                             {"min_size": 20, "thickness": "3"})]:
        for name, value in changes.items():
            getattr(widget, name).value = value
        took = best_time(widget.update_preview, repeat=5)
        print(f"  widget preview at {image.shape[0]} x {image.shape[1]}, {label:<30} {took * 1e3:7.1f} ms")
    viewer.close()


if __name__ == "__main__":
    main()
