"""Grains from boundary maps: the lab's post-processing, grain statistics, comparison with a tracing and tuning.

Imports the base modules only. See docs/design.md, "Rooms".
"""

from __future__ import annotations

from .segment import (
    boundaries, combine_maps, COMBINES, dilate, fill_small_holes, GrainOptions, hysteresis, is_tracing,
    label_grains, prune_spurs, segment, Segmenter, trace_labels
)
from .measure import (
    grain_table, GrainTable, intercept_lengths, size_distributions, stats
)
from .compare import (
    compare, compare_with_fates, FATES, grain_fates, grain_metrics, SWEEP_METRICS
)
from .tune import (
    tune, tune_steps, TuneResult
)
from .plot import (
    save_size_histogram, SizeHistogram
)
from .report import (
    grain_csv, grain_summary, json_ready, OUTPUT_FILES, write_grain_files
)

__all__ = [  # grouped by module, as imported above
    # segment
    "boundaries", "combine_maps", "COMBINES", "dilate", "fill_small_holes", "GrainOptions", "hysteresis",
    "is_tracing", "label_grains", "prune_spurs", "segment", "Segmenter", "trace_labels",
    # measure
    "grain_table", "GrainTable", "intercept_lengths", "size_distributions", "stats",
    # compare
    "compare", "compare_with_fates", "FATES", "grain_fates", "grain_metrics", "SWEEP_METRICS",
    # tune
    "tune", "tune_steps", "TuneResult",
    # plot
    "save_size_histogram", "SizeHistogram",
    # report
    "grain_csv", "grain_summary", "json_ready", "OUTPUT_FILES", "write_grain_files",
]
