"""Loss-vs-epoch sweeps: runs and pairs, the table, execution (here, following a training, or on a
Dask cluster) and the plot.

Imports the base modules, ``scoring``, ``model`` and ``grains``. See docs/design.md, "Rooms".
"""

from __future__ import annotations

from .runs import (
    as_runs, load_pairs, LoadedPair, Pair, parse_run, Run
)
from .table import (
    add_outcome, Best, CSV_FIELDS, DEFAULT_PARAMETERS, Key, LOWER_IS_BETTER, MAX_KERNEL, metric_choice,
    MetricChoice, PairOutcome, parse_metric, Summary, SweepResult, write_csv
)
from .execute import (
    add_boundary_ods, BCE_PARTS, evaluate_pair, new_result, prepare_sweep, PreparedSweep, reusable,
    SCORE_ROWS, score_rows, sweep_steps
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
    "as_runs", "load_pairs", "LoadedPair", "Pair", "parse_run", "Run",
    # table
    "add_outcome", "Best", "CSV_FIELDS", "DEFAULT_PARAMETERS", "Key", "LOWER_IS_BETTER", "MAX_KERNEL",
    "metric_choice", "MetricChoice", "PairOutcome", "parse_metric", "Summary", "SweepResult", "write_csv",
    # execute
    "add_boundary_ods", "BCE_PARTS", "evaluate_pair", "new_result", "prepare_sweep", "PreparedSweep", "reusable",
    "SCORE_ROWS", "score_rows", "sweep_steps",
    # follow
    "DEFAULT_IDLE_S", "follow_steps", "followed_runs", "FollowStep",
    # plot
    "EXTRA_TITLES", "PANELS", "plot", "run_colours", "save_plot",
    # dask_run
    "connect", "default_torch_threads", "local_cluster", "parse_scheduler", "predict_many", "PredictOutcome",
    "run_sweep",
]
