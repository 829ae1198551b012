"""docs/report.md's tables against the per-epoch CSV shipped beside its figures (``pytest -m docs``).

``benchmarks/report_experiments.py`` writes docs/data/report_epochs.csv (every saved epoch of every
run and seed on the held-out quarter) and the tables into the page. Here every cell is recomputed
from that CSV on its own (the best, the last value, the rise, per seed; then mean, min and max over
the seeds) and compared with the text at the precision it is printed, and every "A < B" is checked
to be a gap between the seeds' ranges. The timings are checked against the training log beside it.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from docs_text import NUMBER, ROOT, Quote, assert_quotes

pytestmark = pytest.mark.docs

PAGE = ROOT / "docs" / "report.md"
EPOCHS = ROOT / "docs" / "data" / "report_epochs.csv"
TIMES = ROOT / "docs" / "data" / "report_train_times.csv"
SPREAD = re.compile(r"-?\d+(?:\.\d+)? \[-?\d+(?:\.\d+)?, -?\d+(?:\.\d+)?\]")
FIRST_EPOCH = 4  # the tables leave out epoch 0 (as the figures do)


def read_rows(path: Path = EPOCHS) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def block(text: str, name: str) -> str:
    match = re.search(rf"<!-- figures: report-{name}\b.*?-->\n(.*?)<!-- end figures: report-{name} -->", text, re.DOTALL)
    assert match, f"no report-{name} block in the page"
    return match.group(1)


def table(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """(header cells, {first cell: the other cells}) of the one markdown table in ``text``."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    split = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    return split[0], {cells[0]: cells[1:] for cells in split[2:]}


def series(rows: list[dict], run: str, score: str) -> dict[str, list[tuple[int, float]]]:
    """{seed: [(epoch, value), ...]} from epoch FIRST_EPOCH on, in epoch order."""
    out: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        if row["run"] == run and int(row["epoch"]) >= FIRST_EPOCH:
            out.setdefault(row["seed"], []).append((int(row["epoch"]), float(row[score])))
    assert out, f"no rows for {run}"
    return {seed: sorted(pairs) for seed, pairs in out.items()}


def per_seed(rows: list[dict], run: str, score: str, how: str) -> list[float]:
    values = []
    for pairs in series(rows, run, score).values():
        just = [v for _, v in pairs]
        values.append({"min": min(just), "max": max(just), "last": just[-1], "rise": just[-1] - min(just)}[how]
                      if not how.startswith("at ") else dict(pairs)[int(how[3:])])
    return values


def assert_cell(text: str, values: list[float], scale: float = 1.0, where: str = "") -> None:
    """``mean [min, max]`` as printed is the recomputed one (within half a unit of the last digit)."""
    assert SPREAD.match(text), f"{where}: {text!r} is not 'mean [min, max]'"
    quotes = [Quote(m.group(), where) for m in NUMBER.finditer(text)][:3]
    assert_quotes(quotes, [scale * sum(values) / len(values), scale * min(values), scale * max(values)])


def best_epochs(rows: list[dict], run: str, score: str, lower: bool) -> str:
    chosen = [(min if lower else max)(pairs, key=lambda p: p[1])[0] for _, pairs in
              sorted(series(rows, run, score).items(), key=lambda item: int(item[0]))]
    return "/".join(map(str, chosen))


EXPERIMENT_ROWS = {  # first cell -> (score, how, lower is better or None)
    "BCE (float maps), lowest": ("bce", "min", True),
    "Gaussian σ=3, lowest": ("gaussian", "min", True),
    "Gaussian σ=1, lowest": ("gaussian_1", "min", True),
    "tolerant F σ=3, highest": ("tolerant_f", "max", False),
    "tolerant F σ=1, highest": ("tolerant_f_1", "max", False),
}


def check_experiment(page: str, name: str, rows: list[dict]) -> int:
    head, body = table(block(page, name))
    runs = head[1:1 + sum(1 for h in head[1:] if " vs " not in h)]
    last = max(int(r["epoch"]) for r in rows)
    checked = 0
    for label, cells in body.items():
        if label in EXPERIMENT_ROWS:
            score, how, lower = EXPERIMENT_ROWS[label]
        else:
            match = re.fullmatch(r"tolerant F σ=([13]) at epoch (\d+)", label)
            assert match, f"unknown row {label!r}"
            score = "tolerant_f" if match.group(1) == "3" else "tolerant_f_1"
            how, lower = ("last" if int(match.group(2)) == last else f"at {match.group(2)}"), None
        values = {run: per_seed(rows, run, score, how) for run in runs}
        for run, text in zip(runs, cells, strict=False):
            assert_cell(text, values[run], where=f"{name}: {label}, {run}")
            if lower is not None:
                assert f"({best_epochs(rows, run, score, lower)})" in text, f"{name}: {label}, {run}: best epochs"
        for pair, text in zip(head[1 + len(runs):], cells[len(runs):], strict=True):
            a, b = pair.split(" vs ")
            if max(values[a]) < min(values[b]):
                expected = f"{a} < {b}"
            elif max(values[b]) < min(values[a]):
                expected = f"{a} > {b}"
            else:
                expected = "ranges overlap"
            assert text == expected, f"{name}: {label}, {pair}: page says {text!r}, the CSV {expected!r}"
        checked += 1
    return checked


BCE_COLUMNS = (("bce", "min", 1.0), ("bce", "last", 1.0), ("bce8", "min", 1.0), ("bce8", "last", 1.0),
               ("bce8", "rise", 1.0), ("bce", "rise", 1.0), ("clamped", "last", 100.0), ("zeros", "last", 1.0),
               ("gaussian", "last", 1.0), ("tolerant_f_1", "last", 1.0))


def check_bce(page: str, rows: list[dict]) -> int:
    head, body = table(block(page, "bce"))
    assert len(head) == 1 + len(BCE_COLUMNS)
    for run, cells in body.items():
        for (score, how, scale), text, title in zip(BCE_COLUMNS, cells, head[1:], strict=True):
            assert_cell(text, per_seed(rows, run, score, how), scale, where=f"bce: {run}, {title}")
        assert f"({best_epochs(rows, run, 'bce8', True)})" in cells[2]
    return len(body)


def seeds_and_runs(rows: list[dict]) -> tuple[set[str], set[str]]:
    return {r["seed"] for r in rows}, {r["run"] for r in rows}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return read_rows()


def test_the_report_has_three_seeds_of_every_run_to_one_last_epoch(rows):
    seeds, runs = seeds_and_runs(rows)
    assert len(seeds) >= 3 and runs == {"original", "with_crops", "thick1", "thick3", "thick5"}
    last = {(r["run"], r["seed"]): int(r["epoch"]) for r in rows}
    assert len(set(last.values())) == 1 and len(last) == len(seeds) * len(runs)


def test_experiment_tables_match_the_csv(rows):
    page = PAGE.read_text(encoding="utf-8")
    assert check_experiment(page, "crops", rows) >= 5
    assert check_experiment(page, "thickness", rows) >= 5


def test_bce_table_matches_the_csv(rows):
    assert check_bce(PAGE.read_text(encoding="utf-8"), rows) == 5


def test_timings_match_the_training_log():
    with TIMES.open() as handle:
        legs = list(csv.DictReader(handle))
    text = block(PAGE.read_text(encoding="utf-8"), "times")
    cpu_minutes = sum(float(r["cpu_s"]) for r in legs) / 60
    assert_quotes([Quote(re.search(r"(\d+) min CPU in total", text).group(1), "report-times")], [cpu_minutes])
    for run in {r["run"] for r in legs}:
        mine = [r for r in legs if r["run"] == run]
        per_epoch = sum(float(r["cpu_s"]) for r in mine) / sum(int(r["epochs"]) - int(r["first_epoch"]) for r in mine)
        assert_quotes([Quote(re.search(rf"`{run}` (\d+\.\d+)", text).group(1), "report-times")], [per_epoch])
    assert all(r["cpu_model"] in text for r in legs)
