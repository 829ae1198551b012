"""The grains' report: one summary, one per-grain table, one set of files.

Shared by ``graintrace grains -o DIR`` and the Grains widget's "Export grains", so both write the same
files the same way (the histogram PNG is ``plot.save_size_histogram``, the drawing the widget docks).
Every summary and table names the grid it was measured on (``core.grid``): the micrograph's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..grid import grid_text
from ..options import GrainOptions
from .measure import GrainTable
from .plot import save_size_histogram

__all__ = ["OUTPUT_FILES", "grain_csv", "grain_summary", "json_ready", "write_grain_files"]

OUTPUT_FILES = {
    "labels": "grains_labels.tif",  # grain labels (0 = boundary), uint16/uint32 TIFF
    "table": "grains.csv",  # one row per grain
    "summary": "grains_summary.json",  # what `graintrace grains --json` prints
    "histogram": "grain_sizes.png",  # interior grains' equivalent diameters, predicted vs true
}


def json_ready(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN/inf to null, tuples to lists."""
    if isinstance(value, Mapping):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def grain_summary(labels: np.ndarray, table: GrainTable, options: GrainOptions, measured: Mapping[str, Any], *,
            predictions: Sequence[str], tracing: str | None, is_tracing: bool) -> dict[str, Any]:
    """The summary JSON's object: inputs, the grid, the options, then ``measured`` (``grains.stats``,
    plus ``grains.compare`` against a tracing, plus ``tuned``), JSON-ready."""
    return json_ready({
        "prediction": [str(p) for p in predictions],
        "tracing": None if tracing is None else str(tracing),
        "is_tracing": bool(is_tracing),
        "grid": grid_text(np.shape(labels)),
        "options": {**options.post_processing, "combine": options.combine, "pixel_size": options.pixel_size},
        **measured,
    })


def grain_csv(table: GrainTable, grid: tuple[int, ...], pixel_size: float | None = None) -> str:
    """The per-grain CSV: ``GrainTable.COLUMNS``, then ``area_um2`` and ``equivalent_diameter_um`` when the
    pixel size (um/px) is known, then ``grid`` (rows x columns measured on)."""
    columns = list(GrainTable.COLUMNS) + (["area_um2", "equivalent_diameter_um"] if pixel_size else []) + ["grid"]
    where = grid_text(grid)
    lines = [",".join(columns)]
    for index in range(len(table)):
        row = [str(table.label[index]), str(table.area_px[index]), f"{table.equivalent_diameter_px[index]:.4f}",
               f"{table.centroid_row[index]:.3f}", f"{table.centroid_col[index]:.3f}",
               str(bool(table.touches_edge[index])).lower()]
        if pixel_size:
            row += [f"{table.area_px[index] * pixel_size**2:.6g}",
                    f"{table.equivalent_diameter_px[index] * pixel_size:.6g}"]
        lines.append(",".join([*row, where]))
    return "\n".join(lines) + "\n"


def write_grain_files(folder: str | Path, labels: np.ndarray, table: GrainTable, true_table: GrainTable | None,
                  report: Mapping[str, Any], overwrite: bool = False) -> dict[str, Path]:
    """Write :data:`OUTPUT_FILES` into ``folder``: labels TIFF, per-grain CSV, summary JSON, histogram PNG.

    ``report`` is :func:`grain_summary`'s object. Each file is written to a temporary name and renamed; the
    caller checks beforehand that none exists (``io.check_writable``) unless ``overwrite``.
    """
    from ..io import write_image, write_text

    targets = {key: Path(folder) / name for key, name in OUTPUT_FILES.items()}
    pixel_size = report["options"]["pixel_size"]
    dtype = np.uint16 if labels.max(initial=0) < 2**16 else np.uint32
    write_image(targets["labels"], labels.astype(dtype), overwrite=overwrite)
    write_text(targets["table"], grain_csv(table, labels.shape, pixel_size), overwrite=overwrite)
    write_text(targets["summary"], json.dumps(report, indent=2) + "\n", overwrite=overwrite)
    save_size_histogram(targets["histogram"], table, true_table, report.get("size_ks"), pixel_size, overwrite)
    return targets
