"""Long work is written once, as a generator of steps; this drives one to its end.

Inference, sweeps, training and dataset writing each yield a progress step at every point where a
napari worker may report progress or be cancelled, and return their result. Scripts and the CLI
call the plain function, which is this loop.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TypeVar

Step = TypeVar("Step")
Result = TypeVar("Result")


def run_steps(steps: Generator[Step, None, Result], on_step: Callable[[Step], object] | None = None) -> Result:
    """Run ``steps`` to the end and return its value; ``on_step`` sees every step on the way."""
    while True:
        try:
            step = next(steps)
        except StopIteration as finished:
            return finished.value
        if on_step is not None:
            on_step(step)
