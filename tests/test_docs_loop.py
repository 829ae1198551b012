"""docs/loop.md's figures: the table is the shipped CSV's summary, and what needs no training is recomputed."""

from __future__ import annotations

import csv
import sys

import numpy as np
import pytest
from docs_text import ROOT, assert_quotes, quoted, row_quotes

sys.path.insert(0, str(ROOT / "benchmarks"))
import loop_experiment as loop

pytestmark = pytest.mark.docs
DOC = "docs/loop.md"
NAMES = {"truth": "true tracing (ceiling)", "corrected": "corrected draft (the loop)",
         "draft": "uncorrected draft (floor)"}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    with (ROOT / "benchmarks" / "loop_results.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _values(rows: list[dict], labels: str, metric: str) -> list[float]:
    return [float(r[metric]) for r in rows if r["labels"] == labels]


def test_the_table_summarises_the_csv_over_three_seeds(rows):
    before = {m: _values(rows, "before", m)[0] for m in loop.METRICS}
    assert_quotes(row_quotes(DOC, "nothing (demo_59, before)"), [before[m] for m in loop.METRICS])
    for labels, name in NAMES.items():
        assert len(_values(rows, labels, "tolerant_f")) >= 3  # three seeds at least
        expected = []
        for metric in loop.METRICS:
            values = _values(rows, labels, metric)
            expected += [np.mean(values), min(values), max(values)]
        expected.append(np.mean(_values(rows, labels, "tolerant_f")) - before["tolerant_f"])
        assert_quotes(row_quotes(DOC, name), expected)


def test_the_start_and_the_corrections_recomputed(rows):
    """The model before fine-tuning and the new area's draft, corrections and clicks need no training."""
    from napari_graintrace.core.draft import correct, draft_tracing, scratch_clicks, truth_skeleton
    from napari_graintrace.core.io import read_micrograph, read_trace
    from napari_graintrace.core.model import load_checkpoint, predict
    from napari_graintrace.data import HELD_OUT_COLUMNS, NIST_MICROGRAPH, NIST_TRACE

    image, (truth, _) = read_micrograph(NIST_MICROGRAPH), read_trace(NIST_TRACE)
    image, truth = image[:, HELD_OUT_COLUMNS], truth[:, HELD_OUT_COLUMNS]
    model = load_checkpoint(loop.START)
    before = loop.scores(model, image[loop.EVAL_ROWS], truth[loop.EVAL_ROWS])
    assert_quotes(row_quotes(DOC, "nothing (demo_59, before)"), [before[m] for m in loop.METRICS])
    pred = predict(model, image[loop.NEW_ROWS], resolution=None, precision="fp32")
    skeleton = truth_skeleton(truth[loop.NEW_ROWS])
    fixed = correct(draft_tracing(pred).tracing, skeleton, prob=pred)
    assert_quotes(quoted(DOC, "the draft's grain F1 is", 4),
                  [fixed.f1_before, fixed.f1_after, fixed.clicks, scratch_clicks(skeleton)])
    corrected = np.mean(_values(rows, "corrected", "tolerant_f"))
    gains = [corrected - before["tolerant_f"], corrected - np.mean(_values(rows, "draft", "tolerant_f"))]
    assert_quotes(quoted(DOC, "Clicks per point (0.01) of held-out tolerant F gained over the start:", 2),
                  [fixed.clicks / (100 * gain) for gain in gains])
