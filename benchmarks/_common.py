"""What every benchmark prints first: the machine the figures come from."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the brute-force references


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def print_machine() -> None:
    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical cores), Python {platform.python_version()}")


def best_time(func: Callable[[], object], repeat: int = 5, number: int = 1) -> float:
    """Best wall-clock seconds per call over ``repeat`` rounds (the least disturbed run)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            func()
        best = min(best, (time.perf_counter() - start) / number)
    return best
