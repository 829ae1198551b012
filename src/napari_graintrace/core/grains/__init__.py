"""Grains from boundary maps: the lab's post-processing, grain statistics, comparison with a tracing and tuning.

Imports the base modules only. See docs/design.md, "Rooms".
"""

from __future__ import annotations

from .segmentation import (
    COMBINES, FATES, SWEEP_METRICS, boundaries, combine_maps, compare, compare_with_fates, dilate,
    fill_small_holes, grain_fates, grain_metrics, grain_table, GrainOptions, GrainTable, hysteresis,
    intercept_lengths, is_tracing, label_grains, prune_spurs, segment, Segmenter, size_distributions,
    stats, trace_labels, tune, tune_steps, TuneResult
)
from .plot import (
    save_size_histogram, SizeHistogram
)
from .report import (
    grain_csv, grain_summary, json_ready, OUTPUT_FILES, write_grain_files
)

__all__ = [  # grouped by module, as imported above
    # segmentation
    "COMBINES", "FATES", "SWEEP_METRICS", "boundaries", "combine_maps", "compare", "compare_with_fates",
    "dilate", "fill_small_holes", "grain_fates", "grain_metrics", "grain_table", "GrainOptions", "GrainTable",
    "hysteresis", "intercept_lengths", "is_tracing", "label_grains", "prune_spurs", "segment", "Segmenter",
    "size_distributions", "stats", "trace_labels", "tune", "tune_steps", "TuneResult",
    # plot
    "save_size_histogram", "SizeHistogram",
    # report
    "grain_csv", "grain_summary", "json_ready", "OUTPUT_FILES", "write_grain_files",
]
