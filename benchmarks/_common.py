"""What every benchmark prints first: the machine the figures come from."""

from __future__ import annotations

import contextlib
import io
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
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


def machine() -> str:
    """The date and machine a figure comes from, as the docs quote it."""
    return (f"{time.strftime('%Y-%m-%d', time.gmtime())} on `{cpu_model()} ({os.cpu_count()} logical cores)`, "
            f"Python {platform.python_version()}")


def print_machine() -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, CPU: {cpu_model()} ({os.cpu_count()} logical "
          f"cores), Python {platform.python_version()}")


def best_time(func: Callable[[], object], repeat: int = 5, number: int = 1) -> float:
    """Best wall-clock seconds per call over ``repeat`` rounds (the least disturbed run)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            func()
        best = min(best, (time.perf_counter() - start) / number)
    return best


class _Tee(io.StringIO):
    def __init__(self, stream) -> None:
        super().__init__()
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(text)
        return super().write(text)


@contextlib.contextmanager
def tee_stdout() -> Iterator[io.StringIO]:
    """Print as usual and keep a copy (what a script then writes into RESULTS.md or the docs)."""
    tee = _Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        yield tee
