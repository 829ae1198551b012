"""``graintrace demo``: napari with the NIST sample, the two shipped demo runs, "Inspect prediction"
and "Epoch sweep" comparing the runs.

Everything is embedded (no network). With a display it opens the viewer; without one it starts a
private Xvfb (when installed), runs the same steps, writes a screenshot and exits. ``--headless``
prints the report's finding and the two runs' best epochs as tables instead (no Qt at all).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="open napari on the bundled NIST sample with the demo checkpoints and the inspect widget",
        description=(
            "Opens napari with the NIST steel sample, runs the latest demo epoch in 'Inspect prediction', and "
            "sweeps the two shipped demo runs (original crops vs. with aligned crops) in 'Epoch sweep'. Without "
            "a display it runs under a private Xvfb and writes a screenshot. --headless scores a perfect, a "
            "3-px-shifted and a blank prediction instead, writes their overlays and prints each run's best epochs."
        ),
    )
    demo.add_argument("-o", "--output", type=Path, default=Path("graintrace-demo"), metavar="DIR",
                      help="where the screenshot / overlays go (default graintrace-demo)")
    demo.add_argument("--headless", action="store_true", help="no viewer: print the score table, write overlays")
    demo.add_argument("--screenshot", action="store_true", help="write a screenshot and exit (implied without a display)")
    demo.add_argument("--overwrite", action="store_true", help="replace files from an earlier demo run")
    demo.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    if args.headless:
        return run_headless(args)
    from ..core.io import check_writable

    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform != "linux"
    screenshot = args.screenshot or not has_display
    target = args.output / "demo_screenshot.png"
    if screenshot:
        check_writable([target], args.overwrite)
    if has_display:
        return run_viewer(target if screenshot else None, args.overwrite)
    if shutil.which("Xvfb") is None:
        print("graintrace demo: no display and no Xvfb (apt-get install xvfb); showing the headless demo",
              file=sys.stderr)
        return run_headless(args)
    with virtual_display():
        return run_viewer(target, args.overwrite)


@contextlib.contextmanager
def virtual_display() -> Iterator[str]:
    """A private Xvfb server for the length of the block (DISPLAY set to it)."""
    number = 90 + os.getpid() % 500
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    previous = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = f":{number}"
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists() and time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError("Xvfb failed to start")
            time.sleep(0.05)
        yield os.environ["DISPLAY"]
    finally:
        server.terminate()
        server.wait(timeout=10)
        if previous is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = previous


def run_viewer(screenshot: Path | None, overwrite: bool) -> int:
    """Open the viewer with the sample and the docked widgets; predict the last demo epoch, sweep both runs."""
    import napari

    from ..core.io import write_image
    from ..data import DEMO_CHECKPOINTS, DEMO_RUNS, NIST_NOTICE

    viewer = napari.Viewer(title="napari-graintrace demo")
    viewer.open_sample("napari-graintrace", "nist_steel")
    _, widget = viewer.window.add_plugin_dock_widget("napari-graintrace", "Inspect prediction")
    widget.image_layer.value = viewer.layers["steel micrograph"]
    widget.trace_layer.value = viewer.layers["steel trace"]
    widget.checkpoint_folder.value = DEMO_CHECKPOINTS
    _, sweeper = viewer.window.add_plugin_dock_widget("napari-graintrace", "Epoch sweep")
    for name, folder in DEMO_RUNS.items():
        sweeper.add_run(folder, name)
    sweeper.image_layer.value = viewer.layers["steel micrograph"]
    sweeper.trace_layer.value = viewer.layers["steel trace"]
    print(NIST_NOTICE)
    widget.run()
    sweeper.run()
    if screenshot is None:
        napari.run()
        return 0
    from qtpy.QtWidgets import QApplication

    viewer.window.resize(1600, 1000)
    deadline = time.monotonic() + 300
    while (widget.busy or sweeper.busy) and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.02)
    QApplication.processEvents()
    picture = viewer.screenshot(canvas_only=False, flash=False)
    write_image(screenshot, picture[..., :3], overwrite=overwrite)
    print(widget.score_panel.value)
    if sweeper.result is not None:
        print(best_table(sweeper.result))
    print(f"wrote {screenshot}")
    viewer.close()
    return 0


def best_table(result) -> str:
    """Each run's best epoch (and value) for the Gaussian loss and the tolerant F, one line per run."""
    choices = ("gaussian", "gaussian:sigma=1", "tolerant_f", "tolerant_f:sigma=1")
    best = {text: result.best(text) for text in choices}
    lines = [f"{'run':<12} " + " ".join(f"{text:>22}" for text in choices)]
    for run in result.runs:
        cells = (f"epoch {best[t][run].epoch:>3}: {best[t][run].value:8.4f}" for t in choices)
        lines.append(f"{run:<12} " + " ".join(f"{cell:>22}" for cell in cells))
    return "\n".join(lines)


def run_headless(args: argparse.Namespace) -> int:
    """The report's finding on the bundled tracing as a table, plus overlays of the shifted map."""
    import numpy as np

    from ..core.io import check_writable, read_trace, write_image
    from ..core.scoring import overlays, scores
    from ..data import NIST_NOTICE, NIST_TRACE

    trace, _ = read_trace(NIST_TRACE)
    perfect = trace.astype(np.float32)
    shifted = np.zeros_like(perfect)
    shifted[:, 3:] = perfect[:, :-3]  # the tracing's lines are 3-5 px wide
    candidates = {"perfect": perfect, "shifted by 3 px": shifted, "blank": np.zeros_like(perfect)}
    reward = scores.gaussian_reward(trace, 3.0, 15)
    pictures = {
        "shifted_bce_overlay.png": overlays.bce_overlay(shifted, trace),
        "gaussian_reward.png": overlays.reward_rgb(reward),
        "shifted_gaussian_composite.png": overlays.composite_rgb(shifted, reward),
    }
    targets = [args.output / name for name in pictures]
    check_writable(targets, args.overwrite)
    print(NIST_NOTICE)
    print(f"{'prediction':<16} {'BCE':>9} {'top-hat k3':>11} {'Gauss s3':>9} {'tol. F s1':>9}")
    results = {}
    for name, pred in candidates.items():
        row = results[name] = scores.score_all(pred, trace, sigma=3.0, window=15, kernel=3)
        f_strict = scores.tolerant_prf(pred, trace, sigma=1.0, window=15)[2]
        print(f"{name:<16} {row['bce']:9.4f} {row['tophat']:11.4f} {row['gaussian']:9.4f} {f_strict:9.4f}")
    for metric, label in (("bce", "BCE"), ("gaussian", "the Gaussian loss")):
        prefers_blank = results["blank"][metric] < results["shifted by 3 px"][metric]
        verdict = "prefers the blank map to" if prefers_blank else "prefers"
        print(f"{label} {verdict} the 3-px shift{'' if prefers_blank else ' to the blank map'}.")
    for target, picture in zip(targets, pictures.values(), strict=True):
        write_image(target, picture, overwrite=args.overwrite)
        print(f"wrote {target}")
    print_runs()
    return 0


def print_runs() -> None:
    """The two demo runs swept on the held-out quarter of the NIST pair: each run's best epochs."""
    import tempfile

    from ..core import sweep
    from ..core.cache import PredictionCache
    from ..core.io import read_micrograph, read_trace
    from ..core.options import SweepOptions
    from ..core.steps import run_steps
    from ..data import DEMO_RUNS, HELD_OUT_COLUMNS, NIST_MICROGRAPH, NIST_TRACE

    held = sweep.LoadedPair("held-out quarter", read_micrograph(NIST_MICROGRAPH)[:, HELD_OUT_COLUMNS],
                            read_trace(NIST_TRACE)[0][:, HELD_OUT_COLUMNS])
    with tempfile.TemporaryDirectory() as cache:  # the demo leaves nothing in the user's cache
        result = run_steps(sweep.sweep_steps(DEMO_RUNS, [held], SweepOptions(resolution=None),
                                             PredictionCache(cache)))
    print(f"\nThe two demo runs on the held-out quarter (never in a training crop), best epoch per score "
          f"(lower is better for the Gaussian loss, higher for tolerant F):\n{best_table(result)}")
