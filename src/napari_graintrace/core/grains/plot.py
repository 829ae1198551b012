"""The grain-size histogram, predicted vs true: one drawing for the Grains widget and ``graintrace grains -o``.

The only module of ``core.grains`` that touches matplotlib: it draws into a Figure it is given (the
docked one or a file's) and imports matplotlib itself only to make a Figure for a file and to read the
style in force (so the same drawing reads on napari's dark theme and on a white PNG).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..io import atomic_path
from .measure import GrainTable, size_distributions

__all__ = ["SizeHistogram", "save_size_histogram"]


class SizeHistogram:
    """Equivalent diameters of the interior grains on shared bins, drawn into ``figure``.

    The two step curves are made on the first :meth:`draw` and updated in place afterwards: a
    re-layout per slider move costs about 0.3 s, a data update almost nothing.
    """

    def __init__(self, figure) -> None:
        self.figure = figure
        self._artists = None  # (axes, predicted step curve, true step curve)

    def draw(self, pred_table: GrainTable, true_table: GrainTable | None = None, ks: float | None = None,
             pixel_size: float | None = None) -> None:
        from matplotlib import rcParams

        edges, pred_counts, true_counts = size_distributions(pred_table, true_table, pixel_size)
        if self._artists is None:
            ax = self.figure.add_subplot(1, 1, 1)
            if self.figure.get_layout_engine() is None:
                self.figure.subplots_adjust(left=0.15, right=0.98, bottom=0.26, top=0.86)
            predicted = ax.stairs(pred_counts, edges, fill=True, color="tab:orange", alpha=0.6)
            # the truth in the style's text colour: black on a white PNG, light in napari's dark theme
            true = ax.stairs(np.zeros_like(pred_counts), edges, color=rcParams["text.color"], lw=1.5)
            ax.set_ylabel("grains")
            self._artists = (ax, predicted, true)
        ax, predicted, true = self._artists
        predicted.set_data(pred_counts, edges)
        predicted.set_label(f"predicted ({int(pred_counts.sum())})")
        true.set_visible(true_counts is not None)
        if true_counts is not None:
            true.set_data(true_counts, edges)
            true.set_label(f"true ({int(true_counts.sum())})")
        ax.relim()
        ax.autoscale_view()
        ax.set_xlabel(f"equivalent diameter ({'um' if pixel_size else 'px'})")
        ax.set_title("interior grain sizes" + (f"  (KS = {ks:.3f})" if ks is not None else ""), fontsize=10)
        ax.legend(handles=[predicted] + ([true] if true_counts is not None else []), fontsize=8)


def save_size_histogram(path: str | os.PathLike, pred_table: GrainTable, true_table: GrainTable | None = None,
                        ks: float | None = None, pixel_size: float | None = None, overwrite: bool = False) -> Path:
    """The histogram as PNG, written atomically."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3.6), layout="constrained")
    SizeHistogram(figure).draw(pred_table, true_table, ks, pixel_size)
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    return path
