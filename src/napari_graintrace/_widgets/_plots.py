"""The plot panels docked in the widgets: the one widget module that imports matplotlib.

What is drawn comes from core (``core.sweep.plot``, ``core.grains.SizeHistogram``); here are only the
Qt canvases that hold the figures.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from matplotlib import style as mplstyle
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from napari_matplotlib.base import BaseNapariMPLWidget


def figure_canvas(figsize: tuple[float, float], min_height: int) -> tuple[Figure, FigureCanvasQTAgg]:
    """A plain Figure on a Qt canvas (no toolbar) for a small panel."""
    figure = Figure(figsize=figsize)
    canvas = FigureCanvasQTAgg(figure)
    canvas.setMinimumHeight(min_height)
    return figure, canvas


class ThemedPlot(BaseNapariMPLWidget):
    """napari-matplotlib's canvas and toolbar (zoom, pan): the figure's colours follow napari's theme."""

    @contextlib.contextmanager
    def theme_style(self) -> Iterator[None]:
        """Draw inside this to take the current napari theme's colours."""
        with mplstyle.context(self.napari_theme_style_sheet):
            yield
