"""Figures quoted in docs/correct.md (the effort table), recomputed from the shipped data (``pytest -m docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from docs_text import assert_quotes, row_quotes

pytestmark = pytest.mark.docs
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

CORRECT_MD = "docs/correct.md"


@pytest.fixture(scope="module")
def bench():
    import bench_draft

    return bench_draft


@pytest.mark.parametrize("map_name", ["NIST demo_59", "faint seed 1"])
def test_effort_table_rows(bench, map_name):
    prob = bench.effort_maps()[map_name]
    rows = bench.effort_rows(prob, bench.nist_truth())
    lab = rows["lab defaults"]["clicks"]
    for method in ("lab defaults", "lowered thresholds", "draft"):
        row = rows[method]
        assert_quotes(row_quotes(CORRECT_MD, f"{map_name}, {method}"),
                      [row["grain_f1_before"], row["clicks"], row["deleted"], row["ridge_paths"], row["free_paths"],
                       row["ends_closed"], row["clicks"] / lab, row["grain_f1_after"]])
    scratch = row_quotes(CORRECT_MD, f"{map_name}, from scratch")
    assert_quotes(scratch, [rows["from scratch"]["clicks"], rows["from scratch"]["clicks"] / lab])


def test_the_issues_targets_hold_in_the_table():
    """The 'Done when' of the drafting work, read from the table the test above keeps true."""
    def row(name):
        return [q.value for q in row_quotes(CORRECT_MD, name)]

    lab, draft = row("NIST demo_59, lab defaults"), row("NIST demo_59, draft")
    assert draft[1] <= lab[1] / 4 and draft[0] >= lab[0] + 0.15
    for seed in (0, 1, 2):
        lab, draft = row(f"faint seed {seed}, lab defaults"), row(f"faint seed {seed}, draft")
        assert draft[1] <= lab[1] / 10 and draft[0] >= 0.85
