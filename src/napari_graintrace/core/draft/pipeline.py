"""A draft tracing from boundary probability maps, made for correcting (fewest clicks), with no truth.

The lab's post-processing (``core.grains``) is made to measure grains from a finished map: three
dilations and a 100-px hole fill close small gaps by swallowing every grain under 100 px, and what
the threshold missed stays missing. A draft that a person then corrects wants the opposite: keep
small grains, and follow faint boundaries. So:

1. several maps of one area combined (``max`` or ``mean`` of p, as ``grains`` does);
2. hysteresis on p (the low threshold far below the lab's), one dilation (two for a band wider than
   6 px, as a blurry U-Net draws boundaries), pinholes (< ``min_area`` px) filled, thinned to 1 px
   (the lab's own steps, ``grains.Segmenter``), spurs shorter than 10 px removed (a longer stub may be
   half of a broken line);
3. **gap closing along the ridge**: every dangling end is joined to the nearest other line within
   ``gap_radius`` px by the cheapest path on ``-log p`` (the editor's own ``close_end``), kept when
   the mean p along it is at least ``gap_prob``: a faint boundary the threshold broke is followed
   to where it meets the network, while a spur pointing into a grain finds no ridge and stays open;
4. spurs shorter than ``prune`` px removed (what the closing left dangling).

A map of only 0 and 1 is a tracing: it is only thinned (and its short spurs pruned).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import grains
from ..options import DraftOptions, GrainOptions
from .edits import TracingEditor
from .graph import boundary_graph

__all__ = ["WIDE_BAND", "Draft", "DraftOptions", "draft_tracing", "thicken"]

WIDE_BAND = 6.0  # px: a thresholded band wider than this on average gets two dilations (auto)
FIRST_PRUNE = 10  # px: spurs removed before the gaps are closed (a longer stub may be half of a broken line)


@dataclass(frozen=True)
class Draft:
    """A drafted 1-px tracing, the combined map it came from, and how many dangling ends the ridge closed."""

    tracing: np.ndarray
    prob: np.ndarray
    ends_closed: int
    options: DraftOptions
    dilations: int  # the dilations used (auto: chosen by the band's width)

    def summary(self) -> dict[str, int]:
        """Branches, junctions and dangling ends left (skan's graph), grains, gaps closed."""
        labels = grains.label_grains(self.tracing)
        table = grains.grain_table(labels)
        return {**boundary_graph(self.tracing).summary, "grains": int(np.count_nonzero(table.interior)),
                "edge_grains": int(np.count_nonzero(table.touches_edge)), "ends_closed": self.ends_closed, "dilations": self.dilations}


def draft_tracing(pred: np.ndarray | Sequence[np.ndarray], options: DraftOptions | None = None) -> Draft:
    """The draft of one map (or several of one area): see the module docstring."""
    options = options or DraftOptions()
    prob = grains.combine_maps(pred, options.combine)
    if grains.is_tracing(prob):
        skeleton = grains.boundaries(prob)
        return Draft(grains.prune_spurs(skeleton, options.prune), prob, 0, options, 0)
    segmenter = grains.Segmenter(prob, options.combine)
    thin = GrainOptions(high=options.high, low=options.low, dilations=0, min_area=0, prune=0)
    dilations = options.dilations
    if dilations is None:  # auto: by the thresholded band's mean width (its area / its skeleton's length)
        band = np.count_nonzero(grains.hysteresis(prob, options.low, options.high))
        width = band / max(np.count_nonzero(segmenter.boundaries(thin)), 1)
        dilations = 2 if width > WIDE_BAND else 1
    skeleton = segmenter.boundaries(thin.replace(dilations=dilations, min_area=options.min_area))
    editor = TracingEditor(grains.prune_spurs(skeleton, min(options.prune, FIRST_PRUNE)), prob)
    closed = 0
    if options.gap_radius > 0:
        before = len(editor.dangling_ends())
        if editor.close_gaps(options.gap_radius, options.gap_prob, options.gap_turn, options.gap_short) is not None:
            closed = before - len(editor.dangling_ends())
    tracing = grains.prune_spurs(editor.tracing, options.prune)
    return Draft(tracing, prob, closed, options, dilations)


def thicken(tracing: np.ndarray, thickness: int) -> np.ndarray:
    """A 1-px tracing drawn ``thickness`` px wide (a disk; the lab's training tracings are 3-5 px)."""
    from ..data.cleanup import set_thickness

    return set_thickness(tracing, thickness, skeleton=False)
