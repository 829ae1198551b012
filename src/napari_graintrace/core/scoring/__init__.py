"""Scores of a boundary prediction against a tracing: pixel losses, tolerant P/R/F, the BSDS boundary benchmark, overlays, and one prediction judged against one tracing (``Evaluation``).

Imports only the base modules of ``core`` (errors, options, io). See docs/design.md, "Rooms" and "Scores".
"""

from __future__ import annotations

from .scores import (
    bce, bce_parts, bce_parts_and_boundary, boundary_ods, boundary_prf, gaussian_loss, gaussian_map,
    gaussian_reward, GaussianScorer, loss_from_summary, score_all, soft_dilation, tolerant_prf,
    tophat_loss, tophat_loss_from_summary, tophat_mask, tophat_reward, tophat_summary,
    windowed_sq_distance
)
from .thinning import (
    thin, thin_levels
)
from .matching import (
    maximum_matching, TruePixels
)
from .boundary import (
    BSDS_DISTANCE_FRACTION, MATCH_DISTANCE_PX, boundary_match, BoundaryMatch, BoundaryScorer,
    bsds_max_distance, match_distance_px, match_pixels, ods_thresholds
)
from .overlays import (
    BLACK, BLUE, GREEN, OVERLAYS, RED, WHITE, bce_overlay, boundary_match_rgb, composite_rgb, draw,
    Overlay, OverlayInputs, recall_rgb, reward_rgb
)
from .evaluation import (
    Evaluation, grid_transform, resize_trace
)
from . import overlays, scores  # modules whose names are used with their prefix

__all__ = [  # grouped by module, as imported above
    # scores
    "bce", "bce_parts", "bce_parts_and_boundary", "boundary_ods", "boundary_prf", "gaussian_loss",
    "gaussian_map", "gaussian_reward", "GaussianScorer", "loss_from_summary", "score_all", "soft_dilation",
    "tolerant_prf", "tophat_loss", "tophat_loss_from_summary", "tophat_mask", "tophat_reward",
    "tophat_summary", "windowed_sq_distance",
    # thinning
    "thin", "thin_levels",
    # matching
    "maximum_matching", "TruePixels",
    # boundary
    "BSDS_DISTANCE_FRACTION", "MATCH_DISTANCE_PX", "boundary_match", "BoundaryMatch", "BoundaryScorer",
    "bsds_max_distance", "match_distance_px", "match_pixels", "ods_thresholds",
    # overlays
    "BLACK", "BLUE", "GREEN", "OVERLAYS", "RED", "WHITE", "bce_overlay", "boundary_match_rgb",
    "composite_rgb", "draw", "Overlay", "OverlayInputs", "recall_rgb", "reward_rgb",
    # evaluation
    "Evaluation", "grid_transform", "resize_trace",
    # modules
    "overlays", "scores",
]
