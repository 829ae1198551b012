"""Would the tests notice? Deliberate bugs in scoring, boundary, grains, inference and cleanup (not run in CI).

    nice python benchmarks/mutation_check.py [--only NAME ...] [--no-baseline] [--write-results]

Copies ``src/``, ``tests/`` and ``pyproject.toml`` to a temporary folder (the working tree is never
touched), then for each mutant replaces one exact snippet of the package's code, runs the tests that
guard that code (a targeted subset, ``-x``: the first failure is enough) and restores the file. A mutant
is **caught** when a test fails, **missed** when the subset passes. The unmutated code runs the same
subsets first (``--no-baseline`` skips that), so a miss means a test gap, not a broken suite. Snippets are
found by their text anywhere under ``src/``, so moving modules into sub-packages does not break them; a
snippet that is not found (the code changed) is reported as such. ``--write-results`` puts the table
into benchmarks/RESULTS.md. One torch thread; minutes (the subsets are seconds to a minute each).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import machine, print_machine

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    name: str
    area: str
    bug: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS = (
    Mutant("tophat-radius", "scoring", "top-hat dilation one pixel narrower (kernel k acts as k - 2)",
           "    size = 2 * effective_radius(trace.shape, kernel) + 1",
           "    size = 2 * effective_radius(trace.shape, kernel) - 1",
           ("tests/test_scoring_scores.py",)),
    Mutant("gaussian-sigma", "scoring", "Gaussian reward with 2 sigma instead of 2 sigma^2",
           "    scale = 2.0 * sigma * sigma\n", "    scale = 2.0 * sigma\n", ("tests/test_scoring_scores.py",)),
    Mutant("tolerant-f", "scoring", "tolerant F without the factor 2 (P R / (P + R))",
           "[trace].sum()) / n_trace if n_trace else 0.0\n"
           "    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0",
           "[trace].sum()) / n_trace if n_trace else 0.0\n"
           "    f = precision * recall / (precision + recall) if precision + recall > 0 else 0.0",
           ("tests/test_scoring_scores.py", "tests/test_model_tolerant.py")),
    Mutant("bce-clamp-share", "scoring", "BCE's clamped share counts only trace pixels (p = 1 on background missed)",
           "    n_clamped = int(np.count_nonzero(log_p <= _LOG_CLAMP)) + int(np.count_nonzero(log_not_p <= _LOG_CLAMP))",
           "    n_clamped = int(np.count_nonzero(log_p <= _LOG_CLAMP))",
           ("tests/test_scoring_boundary.py", "-k", "bce_parts")),
    Mutant("match-strict", "boundary", "pairs matched only strictly inside the distance (< instead of <=)",
           "        keep = (delta * delta).sum(axis=1) <= self.max_distance * self.max_distance",
           "        keep = (delta * delta).sum(axis=1) < self.max_distance * self.max_distance",
           ("tests/test_scoring_boundary.py",)),
    Mutant("threshold-strict", "boundary", "prediction binarized at p > threshold instead of p >= threshold",
           "        predicted = thin(pred >= threshold)", "        predicted = thin(pred > threshold)",
           ("tests/test_scoring_boundary.py",)),
    Mutant("ks-all-grains", "grains", "size KS over all grains, edge grains included",
           "    pred_d = pred_table.equivalent_diameter_px[pred_table.interior]\n"
           "    true_d = true_table.equivalent_diameter_px[true_table.interior]",
           "    pred_d = pred_table.equivalent_diameter_px\n    true_d = true_table.equivalent_diameter_px",
           ("tests/test_grains_segmentation.py",)),
    Mutant("intercept-off-by-one", "grains", "edge-to-edge intercept one pixel too long",
           'start[1:] - end[:-1] - 1.0', 'start[1:] - end[:-1]', ("tests/test_grains_segmentation.py",)),
    Mutant("hysteresis-4", "grains", "hysteresis 4-connected instead of the lab's 8",
           "    components, count = ndi.label(weak, structure=_EIGHT)",
           "    components, count = ndi.label(weak)", ("tests/test_grains_segmentation.py",)),
    Mutant("bf16-noop", "inference", "bf16 autocast silently runs in fp32",
           "    return torch.autocast(device.type, dtype=dtype)", "    return contextlib.nullcontext()",
           ("tests/test_model.py", "-k", "bf16 or precision")),
    Mutant("tile-context", "inference", "tiles start 48 px late: 64 px of context on one side instead of 112",
           "        window = max(0, min(start - overlap, length - tile))",
           "        window = max(0, min(start - overlap + 48, length - tile))",
           ("tests/test_model.py", "-k", "tile or tiling")),
    Mutant("despeckle-size", "cleanup", "despeckle keeps specks of exactly min_size - 1 px",
           "max_size=min_size - 1,", "max_size=min_size - 2,", ("tests/test_data_cleanup.py",)),
    Mutant("polarity-majority", "cleanup", "auto polarity takes the majority class as boundary",
           '"white-on-black" if 2 * np.count_nonzero(bright) <= bright.size else "black-on-white"',
           '"white-on-black" if 2 * np.count_nonzero(bright) >= bright.size else "black-on-white"',
           ("tests/test_io.py", "tests/test_data_cleanup.py")),
)


def copy_tree(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
    for name in ("src", "tests"):
        shutil.copytree(ROOT / name, target / name, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", target / "pyproject.toml")


def find(work: Path, snippet: str) -> Path | None:
    """The one file under src/ that holds ``snippet`` once (None if none or several do)."""
    hits = [path for path in (work / "src").rglob("*.py") if path.read_text(encoding="utf-8").count(snippet) == 1]
    return hits[0] if len(hits) == 1 else None


def run_tests(work: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float, str]:
    """('pass' | 'fail' | 'error', seconds, last line)."""
    env = {**os.environ, "PYTHONPATH": str(work / "src"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, check=False, cwd=work, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return "error", time.perf_counter() - start, "timed out"
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    status = {0: "pass", 1: "fail"}.get(done.returncode, "error")
    return status, time.perf_counter() - start, lines[-1] if lines else done.stderr.strip()[-200:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these mutants only")
    parser.add_argument("--no-baseline", action="store_true", help="skip running the subsets unmutated first")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per test run")
    parser.add_argument("--write-results", action="store_true", help="put the table into benchmarks/RESULTS.md")
    args = parser.parse_args()
    mutants = [m for m in MUTANTS if not args.only or m.name in args.only]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill still removes the temporary copy
    print_machine()
    rows = []
    with tempfile.TemporaryDirectory(prefix="graintrace-mutants-") as folder:
        work = Path(folder)
        copy_tree(work)
        if not args.no_baseline:
            for tests in dict.fromkeys(m.tests for m in mutants):
                status, seconds, last = run_tests(work, tests, args.timeout)
                print(f"baseline {' '.join(tests)}: {status} in {seconds:.0f} s ({last})", flush=True)
                if status != "pass":
                    raise SystemExit("the unmutated code fails these tests: fix that first")
        for mutant in mutants:
            path = find(work, mutant.old)
            if path is None:
                rows.append((mutant, "snippet not found", 0.0, ""))
                print(f"{mutant.name}: snippet not found (the code changed; update the mutant)", flush=True)
                continue
            original = path.read_text(encoding="utf-8")
            path.write_text(original.replace(mutant.old, mutant.new), encoding="utf-8")
            try:
                status, seconds, last = run_tests(work, mutant.tests, args.timeout)
            finally:
                path.write_text(original, encoding="utf-8")
            verdict = {"fail": "caught", "pass": "**missed**"}.get(status, f"error ({last})")
            rows.append((mutant, verdict, seconds, last))
            print(f"{mutant.name}: {verdict} in {seconds:.0f} s  [{last}]", flush=True)
    caught = sum(row[1] == "caught" for row in rows)
    lines = ["| area | deliberate bug | tests run | result |", "|---|---|---|---|"]
    for mutant, verdict, _seconds, _last in rows:
        tests = " ".join(f"`{t}`" if not t.startswith("-") else t for t in mutant.tests)
        lines.append(f"| {mutant.area} | {mutant.bug} (`{mutant.name}`) | {tests} | {verdict} |")
    table = "\n".join(lines)
    summary = f"{caught} of {len(rows)} caught."
    print(table, summary, sep="\n")
    if args.write_results:
        sys.path.insert(0, str(ROOT / "tests"))
        from docs_text import replace_block

        replace_block("benchmarks/RESULTS.md", "mutation",
                      f"Measured {machine()}, `nice python benchmarks/mutation_check.py --write-results`:\n\n"
                      f"{table}\n\n{summary}")


if __name__ == "__main__":
    main()
