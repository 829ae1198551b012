"""A draft tracing from boundary probability maps, made for correcting (fewest clicks), with no truth.

The lab's post-processing (``core.grains``) is made to measure grains from a finished map: three
dilations and a 100-px hole fill close small gaps by swallowing every grain under 100 px, and what
the threshold missed stays missing. A draft that a person then corrects wants the opposite: keep
small grains, and follow faint boundaries. So:

1. several maps of one area combined (``max`` or ``mean`` of p, as ``grains`` does);
2. hysteresis on p at thresholds lower than the lab's, one dilation, pinholes (< ``min_area`` px)
   filled, thinned to 1 px (``grains.boundaries`` with no pruning);
3. **gap closing along the ridge**: every dangling end is joined to the nearest other line within
   ``gap_radius`` px by the cheapest path on ``-log p`` (the editor's own ``close_end``), kept when
   the mean p along it is at least ``gap_prob``: a faint boundary the threshold broke is followed
   to where it meets the network, while a spur pointing into a grain finds no ridge and stays open;
4. spurs (dangling branches) shorter than ``prune`` px removed, after the closing (a short stub may be
   the start of a faint boundary).

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

__all__ = ["Draft", "DraftOptions", "draft_tracing", "thicken"]


@dataclass(frozen=True)
class Draft:
    """A drafted 1-px tracing, the combined map it came from, and how many dangling ends the ridge closed."""

    tracing: np.ndarray
    prob: np.ndarray
    ends_closed: int
    options: DraftOptions

    def summary(self) -> dict[str, int]:
        """Branches, junctions and dangling ends left (skan's graph), grains, gaps closed."""
        labels = grains.label_grains(self.tracing)
        table = grains.grain_table(labels)
        return {**boundary_graph(self.tracing).summary, "grains": int(np.count_nonzero(table.interior)),
                "edge_grains": int(np.count_nonzero(table.touches_edge)), "ends_closed": self.ends_closed}


def draft_tracing(pred: np.ndarray | Sequence[np.ndarray], options: DraftOptions | None = None) -> Draft:
    """The draft of one map (or several of one area): see the module docstring."""
    options = options or DraftOptions()
    prob = grains.combine_maps(pred, options.combine)
    lab_steps = GrainOptions(high=options.high, low=options.low, dilations=options.dilations,
                             min_area=options.min_area, prune=0)
    skeleton = grains.boundaries(prob, lab_steps)
    if grains.is_tracing(prob):
        return Draft(grains.prune_spurs(skeleton, options.prune), prob, 0, options)
    editor = TracingEditor(grains.prune_spurs(skeleton, options.prune), prob)
    closed = 0
    if options.gap_radius > 0:
        before = len(editor.dangling_ends())
        if editor.close_gaps(options.gap_radius, options.gap_prob, options.gap_turn, options.gap_short) is not None:
            closed = before - len(editor.dangling_ends())
    tracing = grains.prune_spurs(editor.tracing, options.prune)
    return Draft(tracing, prob, closed, options)


def thicken(tracing: np.ndarray, thickness: int) -> np.ndarray:
    """A 1-px tracing drawn ``thickness`` px wide (a disk; the lab's training tracings are 3-5 px)."""
    from ..data.cleanup import set_thickness

    return set_thickness(tracing, thickness, skeleton=False)
