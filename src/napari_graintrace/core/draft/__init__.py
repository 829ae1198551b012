"""From a prediction to a training tracing: draft it, correct it, count the corrections.

* ``graph``: a 1-px tracing as junctions, branches and dangling ends (skan).
* ``edits``: :class:`TracingEditor`, the local, undoable edits of the "Correct tracing" widget.
* ``pipeline``: :func:`draft_tracing`, a clean tracing from boundary maps made for correcting.
* ``oracle``: :func:`correct`, the clicks a draft needs to become the true tracing.
* ``synthetic``: soft maps of a true tracing with faint boundaries, gaps and spurs.
"""

from ..options import DraftOptions
from .edits import Change, GapSuggestion, TracingEditor, bounding_region, ridge_cost
from .graph import BoundaryGraph, boundary_graph, branch_labels, dangling_ends, junction_mask
from .oracle import Correction, correct, grain_f1, scratch_clicks, truth_skeleton
from .pipeline import Draft, draft_tracing, thicken
from .synthetic import faint_map

__all__ = [
    "BoundaryGraph",
    "Change",
    "Correction",
    "Draft",
    "DraftOptions",
    "GapSuggestion",
    "TracingEditor",
    "boundary_graph",
    "bounding_region",
    "branch_labels",
    "correct",
    "dangling_ends",
    "draft_tracing",
    "faint_map",
    "grain_f1",
    "junction_mask",
    "ridge_cost",
    "scratch_clicks",
    "thicken",
    "truth_skeleton",
]
