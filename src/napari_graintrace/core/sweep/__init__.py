"""Loss-vs-epoch sweeps: runs, the result table, execution (here or on a Dask cluster) and the plot.

Imports the base modules, ``scoring``, ``model`` and ``grains``. See docs/design.md, "Rooms".
"""

from __future__ import annotations

from .runs import (
    BCE_PARTS, CSV_FIELDS, DEFAULT_PARAMETERS, LOWER_IS_BETTER, MAX_KERNEL, SCORE_ROWS, add_boundary_ods,
    add_outcome, as_runs, Best, evaluate_pair, Key, load_pairs, LoadedPair, MetricChoice, new_result,
    Pair, PairOutcome, parse_metric, parse_run, prepare_sweep, PreparedSweep, reusable, Run,
    settings_rows, Summary, sweep_steps, SweepResult, write_csv
)
from .follow import (
    DEFAULT_IDLE_S, follow_steps, followed_runs, FollowStep
)
from .plot import (
    EXTRA_TITLES, PANELS, plot, run_colours, save_plot
)
from .dask_run import (
    connect, default_torch_threads, local_cluster, parse_scheduler, predict_many, PredictOutcome,
    run_sweep
)

__all__ = [  # grouped by module, as imported above
    # runs
    "BCE_PARTS", "CSV_FIELDS", "DEFAULT_PARAMETERS", "LOWER_IS_BETTER", "MAX_KERNEL", "SCORE_ROWS",
    "add_boundary_ods", "add_outcome", "as_runs", "Best", "evaluate_pair", "Key", "load_pairs", "LoadedPair",
    "MetricChoice", "new_result", "Pair", "PairOutcome", "parse_metric", "parse_run", "prepare_sweep",
    "PreparedSweep", "reusable", "Run", "settings_rows", "Summary", "sweep_steps", "SweepResult", "write_csv",
    # follow
    "DEFAULT_IDLE_S", "follow_steps", "followed_runs", "FollowStep",
    # plot
    "EXTRA_TITLES", "PANELS", "plot", "run_colours", "save_plot",
    # dask_run
    "connect", "default_torch_threads", "local_cluster", "parse_scheduler", "predict_many", "PredictOutcome",
    "run_sweep",
]
