"""Speed of the grain path at 1024 x 1024: the "Grains" widget's live re-segmentation (issue 16).

Target: a moved slider re-segments within 200 ms at 1024 x 1024. The input is the real NIST boundary
network tiled to 1024 x 1024 (~700 grains), blurred into a soft map with noise, like a U-Net output.
Prints wall and CPU (process) time of every stage and of each slider's live path (a threshold runs
every stage; dilations / min area / prune reuse the cached stages before them), the comparison,
fates and statistics, and our own pieces against the library ones they replace (skimage's
hysteresis, ndimage's dilation, skan-based spur pruning). On a shared machine the CPU time is the
fairer figure: wall time includes waiting for a core.

    python benchmarks/bench_grains.py
    xvfb-run -a python benchmarks/bench_grains.py --widget   # + the docked widget, layers and histogram included
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from _common import print_machine
from bench_scores import tiled_trace
from scipy import ndimage as ndi

from napari_graintrace.core import grains
from napari_graintrace.core.grains.segment import _skeleton
from napari_graintrace.core.options import GrainOptions


def timed(func, repeat: int = 5) -> tuple[float, float]:
    """Best (wall, CPU) milliseconds over ``repeat`` calls."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        func()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall * 1e3, best_cpu * 1e3


def soft_map(size: int) -> tuple[np.ndarray, np.ndarray]:
    trace = tiled_trace(size)
    rng = np.random.default_rng(1)
    soft = ndi.gaussian_filter(trace.astype(np.float32), 1.5)
    soft = np.clip(soft / soft.max() + rng.normal(0, 0.05, soft.shape), 0, 1).astype(np.float32)
    return soft, trace


def skan_prune(skeleton: np.ndarray, length: int) -> np.ndarray:
    """The same pruning with skan: junction-to-end branches shorter than ``length`` removed."""
    import skan

    graph = skan.Skeleton(skeleton)
    summary = skan.summarize(graph, separator="_")
    out = skeleton.copy()
    for index in summary.index[(summary["branch_type"] == 1) & (summary["branch_distance"] < length)]:
        coords = graph.path_coordinates(index).astype(int)
        end_first = graph.degrees[graph.paths.indices[graph.paths.indptr[index]]] == 1
        spur = coords[:-1] if end_first else coords[1:]  # all but the junction pixel
        out[spur[:, 0], spur[:, 1]] = False
    return out


def main() -> None:
    print_machine()
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    size = 1024
    pred, trace = soft_map(size)
    truth = grains.trace_labels(trace)
    options = GrainOptions()
    mask = grains.hysteresis(pred, options.low, options.high)
    dilated = grains.dilate(mask, options.dilations)
    filled = grains.fill_small_holes(dilated, options.min_area)
    skeleton = _skeleton(filled)
    pruned = grains.prune_spurs(skeleton, options.prune)
    labels = grains.label_grains(pruned)
    table = grains.grain_table(labels)
    print(f"{size} x {size}: {grains.stats(labels)['grains']} interior grains predicted, "
          f"{grains.stats(truth)['grains']} true")
    print("\nstage                                      wall ms    CPU ms")
    rows = [
        ("hysteresis (8-connected)", lambda: grains.hysteresis(pred, options.low, options.high)),
        ("3 dilations (shifted ORs)", lambda: grains.dilate(mask, 3)),
        ("fill holes < 100 px", lambda: grains.fill_small_holes(dilated, 100)),
        ("skeletonize (skimage Zhang, edge-padded)", lambda: _skeleton(filled)),
        ("prune spurs < 30 px", lambda: grains.prune_spurs(skeleton, 30)),
        ("label grains (4-connected)", lambda: grains.label_grains(pruned)),
        ("grain table", lambda: grains.grain_table(labels)),
        ("compare with the tracing", lambda: grains.compare(labels, truth, table)),
        ("fates", lambda: grains.grain_fates(labels, truth)),
        ("stats (incl. intercepts)", lambda: grains.stats(labels, None, table)),
    ]
    for name, func in rows:
        wall, cpu = timed(func)
        print(f"{name:<42} {wall:8.1f}  {cpu:8.1f}")

    print("\nlive path: one slider moved, Segmenter re-segments (stages before it cached)")
    print("slider                                     wall ms    CPU ms")
    for name, change in (("high threshold", {"high": 0.40}), ("low threshold", {"low": 0.25}),
                         ("dilations", {"dilations": 2}), ("min area", {"min_area": 50}), ("prune", {"prune": 10})):
        segmenter = grains.Segmenter(pred)
        moved = options.replace(**change)
        state = {"flip": False}

        def move(segmenter=segmenter, moved=moved, state=state):
            state["flip"] = not state["flip"]  # alternate, so every call really recomputes
            segmenter.labels(moved if state["flip"] else options)

        segmenter.labels(options)
        wall, cpu = timed(move, repeat=6)
        print(f"{name:<42} {wall:8.1f}  {cpu:8.1f}")
    wall, cpu = timed(lambda: grains.Segmenter(pred).labels(options), repeat=3)
    print(f"{'(no cache: every stage)':<42} {wall:8.1f}  {cpu:8.1f}")

    print("\nours against the library pieces they replace (same result checked)")
    from skimage.filters import apply_hysteresis_threshold

    ours, _ = timed(lambda: grains.hysteresis(pred, options.low, options.high))
    lib, _ = timed(lambda: apply_hysteresis_threshold(pred, options.low, options.high))
    print(f"hysteresis: ours {ours:.1f} ms (8-connected, the lab's), skimage {lib:.1f} ms (4-connected)")
    ours, _ = timed(lambda: grains.dilate(mask, 3))
    lib, _ = timed(lambda: ndi.binary_dilation(mask, iterations=3))
    assert np.array_equal(grains.dilate(mask, 3), ndi.binary_dilation(mask, iterations=3))
    print(f"3 dilations: ours {ours:.1f} ms, ndimage {lib:.1f} ms")
    ours, _ = timed(lambda: grains.prune_spurs(skeleton, 30))
    skan_prune(skeleton[:64, :64], 30)  # numba compiles on the first call: not timed
    lib, _ = timed(lambda: skan_prune(skeleton, 30), repeat=2)
    print(f"prune: ours {ours:.1f} ms, skan (Skeleton + summarize + removal) {lib:.1f} ms")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


def widget_figures(pred: np.ndarray, trace: np.ndarray) -> None:
    """A slider move in the real docked widget: segmentation, comparison, fates, layers, histogram."""
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer()
    viewer.add_image(pred, name="prediction map")
    viewer.add_labels(trace.astype(np.uint8), name="tracing")
    _, widget = viewer.window.add_plugin_dock_widget("napari-graintrace", "Grains")
    widget.prediction_layer.value = viewer.layers["prediction map"]
    widget.trace_layer.value = viewer.layers["tracing"]
    widget.run()
    state = {"flip": False}

    def move(control, a, b) -> None:
        state["flip"] = not state["flip"]
        widget._applying = True  # no debounce timer here: time the re-segmentation itself
        control.value = a if state["flip"] else b
        widget._applying = False
        widget.resegment()
        QApplication.processEvents()

    print("\nthe docked widget, one slider moved (re-segment, compare, fates, table, layers, histogram)")
    for name, control, a, b in (("high threshold", widget.high, 0.40, 0.37), ("min area", widget.min_area, 50, 100),
                                ("prune", widget.prune, 10, 30)):
        wall, cpu = timed(lambda control=control, a=a, b=b: move(control, a, b), repeat=6)
        print(f"{name:<42} {wall:8.1f}  {cpu:8.1f}")
    viewer.close()


if __name__ == "__main__":
    main()
    if "--widget" in sys.argv:
        widget_figures(*soft_map(1024))
