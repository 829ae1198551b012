"""From a prediction to a training tracing: draft it, correct it, count the corrections.

* ``graph``: a 1-px tracing as junctions, branches and dangling ends (skan).
* ``edits``: :class:`TracingEditor`, the local, undoable edits of the "Correct tracing" widget.
* ``pipeline``: :func:`draft_tracing`, a clean tracing from boundary maps made for correcting.
* ``oracle``: :func:`correct`, the clicks a draft needs to become the true tracing.
* ``session``: :class:`CorrectionSession`, the pictures a viewer shows, updated one edit region at a time.
* ``save``: :func:`save_to_dataset`, a corrected tracing into the lab's ``image/`` + ``label/`` layout.
* ``synthetic``: soft maps of a true tracing with faint boundaries, gaps and spurs.
"""

from ..options import DraftOptions
from .edits import Change, GapSuggestion, TracingEditor, bounding_region, ridge_cost
from .graph import BoundaryGraph, boundary_graph, branch_labels, dangling_ends, junction_mask
from .oracle import Correction, correct, grain_f1, scratch_clicks, truth_skeleton
from .pipeline import Draft, draft_tracing, thicken
from .save import CORRECTION_FIELDS, SavedPair, free_name, save_to_dataset
from .session import CorrectionSession, Redraw
from .synthetic import faint_map

__all__ = [
    "CORRECTION_FIELDS",
    "BoundaryGraph",
    "Change",
    "Correction",
    "CorrectionSession",
    "Draft",
    "DraftOptions",
    "GapSuggestion",
    "Redraw",
    "SavedPair",
    "TracingEditor",
    "boundary_graph",
    "bounding_region",
    "branch_labels",
    "correct",
    "dangling_ends",
    "draft_tracing",
    "faint_map",
    "free_name",
    "grain_f1",
    "junction_mask",
    "ridge_cost",
    "save_to_dataset",
    "scratch_clicks",
    "thicken",
    "truth_skeleton",
]
