"""The loss-vs-epoch plot of a sweep: one panel per metric, one colour per run (the only module of
``core.sweep`` that imports matplotlib, and only when it draws).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..io import atomic_path
from .table import LOWER_IS_BETTER, SweepResult

__all__ = ["EXTRA_TITLES", "PANELS", "plot", "run_colours", "save_plot"]

PANELS = (("bce", "BCE"), ("tophat", "top-hat loss"), ("gaussian", "Gaussian loss"), ("tolerant_f", "tolerant F"))
EXTRA_TITLES = {"boundary_f": "boundary F (matched)", "grain_f1": "grain F1"}  # panels of metrics present
_MARKERS = "osD^v<>p"


def run_colours(result: SweepResult) -> dict[str, str]:
    """One colour per run, in the order given (matplotlib's default cycle)."""
    return {run: f"C{i % 10}" for i, run in enumerate(result.run_names)}


def _short(param: str) -> str:
    """A legend label: ``sigma=1 window=15`` -> ``σ=1, w=15``, ``kernel=5`` -> ``k=5``."""
    return param.replace("sigma=", "σ=").replace(" window=", ", w=").replace("kernel=", "k=")


def plot(result: SweepResult, figure=None, sigma: float | None = None, kernel: int | None = None,
         marked: tuple[str, int] | None = None, columns: int | None = None):
    """Loss against epoch: one panel per metric, one colour per run, one marker per parameter
    (mean over images; with one run, each image faintly too).

    Draws into ``figure`` (a matplotlib Figure, for example the one docked in napari) or a new one.
    With ``sigma`` / ``kernel``, the Gaussian / top-hat panels also show each run's live curve for
    them (dashed). ``marked`` = (run, epoch) draws a vertical line there and rings its points.
    Legends sit outside the axes: runs above the panels, parameters below each panel. Every
    curve's ``gid`` is ``"mean|RUN|PARAMS"``, ``"image|RUN|IMAGE"`` or ``"live|RUN"`` (for picking).
    ``columns``: panels per row (default: all in one row; a narrow dock wants 2).
    """
    import matplotlib
    from matplotlib.transforms import offset_copy

    if figure is None:
        from matplotlib.figure import Figure

        figure = Figure(figsize=(11, 4.2), layout="constrained")
    figure.clear()
    text_colour = matplotlib.rcParams["text.color"]  # frameless legends: text as the axes' (a theme's style)
    present = {r["metric"] for r in result.rows}
    extra = [m for m in LOWER_IS_BETTER if m in present and m not in dict(PANELS)]
    panels = list(PANELS) + [(m, EXTRA_TITLES.get(m, m.replace("_", " "))) for m in extra]
    columns = len(panels) if columns is None else max(1, min(int(columns), len(panels)))
    rows = -(-len(panels) // columns)
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for spare in axes[len(panels):]:
        spare.remove()
    axes = axes[: len(panels)]
    colours = run_colours(result)
    several = len(result.run_names) > 1
    for ax, (metric, title) in zip(axes, panels, strict=True):
        params = result.parameters_of(metric)
        param_handles = []
        for run in result.run_names:
            colour = colours[run]
            for index, param in enumerate(params):
                epochs, values = result.values(metric, param, run=run)
                if not epochs:
                    continue
                (line,) = ax.plot(epochs, values, "-", marker=_MARKERS[index % len(_MARKERS)], ms=3.5, color=colour,
                                  lw=1.3, gid=f"mean|{run}|{param}")
                if run == result.run_names[0]:
                    param_handles.append((line, _short(param) or "mean over images"))
                if marked is not None and marked[0] == run and marked[1] in epochs:
                    ax.plot([marked[1]], [values[epochs.index(marked[1])]], "o", ms=10, mfc="none", mec=colour,
                            mew=1.8, gid="marked")
                if not several and len(result.images) > 1:
                    for image in result.images:
                        ax.plot(*result.values(metric, param, image, run=run), lw=0.7, alpha=0.4, color=colour,
                                gid=f"image|{run}|{image}")
            if metric == "bce" and not several and "bce_missed" in present:
                _stack_bce_parts(ax, result, run)
            live = None
            if metric == "gaussian" and sigma is not None and result.summaries:
                live = result.gaussian_curve(sigma, run=run), f"σ={sigma:g} (live)"
            if metric == "tophat" and kernel is not None and result.summaries:
                live = result.tophat_curve(kernel, run=run), f"k={kernel} (live)"
            if live is not None:
                (epochs, values), label = live
                (line,) = ax.plot(epochs, values, "--", color=colour, lw=1.6, gid=f"live|{run}")
                if run == result.run_names[0]:
                    param_handles.append((line, label))
        if marked is not None and marked[0] in colours:
            ax.axvline(marked[1], color=colours[marked[0]], ls=":", lw=1.2, gid="marked")
        ax.set(title=title, xlabel="epoch")
        if param_handles and [label for _, label in param_handles] != ["mean over images"]:
            handles, labels = zip(*param_handles, strict=True)
            proxies = [_grey_copy(h) for h in handles] if several else list(handles)
            # under the axis label, whatever the panel's height: anchored 26 points below the axes
            below = offset_copy(ax.transAxes, figure, y=-26, units="points")
            ax.legend(proxies, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 0), bbox_transform=below,
                      frameon=False, ncol=min(len(labels), 2), handlelength=1.5, columnspacing=0.8,
                      labelcolor=text_colour)
    if several:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=colours[run], lw=2.5) for run in result.run_names]
        figure.legend(handles, result.run_names, loc="outside upper center", ncol=min(len(handles), 6),
                      fontsize=8, frameon=False, labelcolor=text_colour)
    return figure


def _stack_bce_parts(ax, result: SweepResult, run: str) -> None:
    """BCE in parts under the BCE curve: missed trace (red) then false boundary (blue), stacked."""
    epochs, missed = result.values("bce_missed", "", run=run)
    epochs_false, false = result.values("bce_false", "", run=run)
    if not epochs or epochs != epochs_false:
        return
    missed, false = np.asarray(missed), np.asarray(false)
    ax.fill_between(epochs, 0, missed, color="#d62728", alpha=0.25, lw=0, label="missed trace")
    ax.fill_between(epochs, missed, missed + false, color="#1f77b4", alpha=0.25, lw=0, label="false boundary")


def _grey_copy(line):
    """A legend stand-in for a parameter's curve without a run's colour (colours name the runs)."""
    from matplotlib.lines import Line2D

    return Line2D([], [], color="0.5", ls=line.get_linestyle(), marker=line.get_marker(), ms=3.5)


def save_plot(result: SweepResult, path: str | os.PathLike, overwrite: bool = False, figure=None) -> Path:
    """The plot as PNG, written atomically; ``figure``: save that one as drawn (the docked one)."""
    path = Path(path)
    figure = figure if figure is not None else plot(result)
    with atomic_path(path, overwrite) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    return path
