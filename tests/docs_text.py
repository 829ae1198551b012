"""Numbers quoted in the README and docs, read back from the markdown, and the blocks scripts regenerate.

Reading (the ``pytest -m docs`` tests): :func:`quoted` finds an anchor phrase in a markdown file and
returns the numbers printed after it, each with the precision it is printed at, so a test compares a
recomputed value with the text itself::

    p, r, f = quoted("docs/scores.md", "On the whole map:", count=6)[3:]
    assert_quotes([p, r, f], [precision, recall, f_score])   # within half a unit of the last digit

Writing (the figure scripts, ``make figures``): :func:`replace_block` rewrites the text between
``<!-- figures: NAME ... -->`` and ``<!-- end figures: NAME -->`` in a markdown file, so a script puts
what it computed into the docs and nothing is copied by hand. Paths are relative to the repository.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# a number on its own (not inside a name such as demo_59): sign, thousands commas, decimals, exponent
NUMBER = re.compile(r"(?<![\w.])[-−]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])|(?<![\w.])[-−]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Quote:
    """One number as the text prints it."""

    text: str
    where: str  # file:line, for the failure message

    @property
    def value(self) -> float:
        return float(self.text.replace(",", "").replace("−", "-"))

    @property
    def decimals(self) -> int:
        """Digits after the point, counting an exponent: '0.963' -> 3, '6e-8' -> 8, '15,893' -> 0."""
        mantissa, _, exponent = self.text.replace(",", "").lower().partition("e")
        digits = len(mantissa.partition(".")[2])
        return digits - (int(exponent) if exponent else 0)

    def matches(self, value: float) -> bool:
        """``value`` printed at this precision gives this text (half a unit of the last digit either side)."""
        return math.isfinite(value) and abs(value - self.value) <= 0.5 * 10.0 ** -self.decimals * (1 + 1e-9) + 1e-12

    def __str__(self) -> str:
        return f"{self.text} ({self.where})"


def _read(path: str | Path) -> str:
    return (ROOT / path).read_text(encoding="utf-8")


def quoted(path: str | Path, anchor: str, count: int = 1, occurrence: int = 1) -> list[Quote]:
    """The first ``count`` numbers printed after ``anchor`` (its ``occurrence``-th appearance) in ``path``."""
    text = _read(path)
    start = -1
    for _ in range(occurrence):
        start = text.find(anchor, start + 1)
        if start < 0:
            raise AssertionError(f"{path}: anchor {anchor!r} not found (occurrence {occurrence})")
    begin = start + len(anchor)
    quotes = []
    for match in NUMBER.finditer(text, begin):
        line = text.count("\n", 0, match.start()) + 1
        quotes.append(Quote(match.group(), f"{path}:{line}"))
        if len(quotes) == count:
            return quotes
    raise AssertionError(f"{path}: only {len(quotes)} numbers after {anchor!r}, wanted {count}")


def quoted_one(path: str | Path, anchor: str, occurrence: int = 1) -> Quote:
    """The number printed right after ``anchor``."""
    return quoted(path, anchor, 1, occurrence)[0]


def table_row(path: str | Path, first_cell: str | tuple[str, ...], after: str | None = None) -> list[str]:
    """The cells of the markdown table row whose first cell is ``first_cell`` (after the phrase ``after``),
    without it; a tuple matches that many leading cells (``("original", "demo_59.pth")``)."""
    text = _read(path)
    begin = 0
    if after is not None:
        begin = text.find(after)
        if begin < 0:
            raise AssertionError(f"{path}: {after!r} not found")
    key = (first_cell,) if isinstance(first_cell, str) else tuple(first_cell)
    for line in text[begin:].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and tuple(cells[: len(key)]) == key:
            return cells[len(key):]
    raise AssertionError(f"{path}: no table row {first_cell!r}" + (f" after {after!r}" if after else ""))


def row_quotes(path: str | Path, first_cell: str | tuple[str, ...], after: str | None = None) -> list[Quote]:
    """Every number in that table row's cells after the first (or the leading ``first_cell`` tuple), in order."""
    where = f"{path}, row {first_cell!r}"
    return [Quote(m.group(), where) for cell in table_row(path, first_cell, after) for m in NUMBER.finditer(cell)]


def assert_quotes(quotes: Sequence[Quote], values: Iterable[float]) -> None:
    """Each recomputed value, printed at its quote's precision, is what the text says (all listed at once)."""
    values = list(values)
    assert len(quotes) == len(values), f"{len(quotes)} numbers quoted, {len(values)} recomputed"
    wrong = [f"text {q} but recomputed {v!r}" for q, v in zip(quotes, values, strict=True) if not q.matches(v)]
    assert not wrong, "stale figures (regenerate: see docs/figures.md):\n  " + "\n  ".join(wrong)


# --------------------------------------------------------------------------------------------
# writing: the figure scripts regenerate marked blocks
# --------------------------------------------------------------------------------------------
def replace_block(path: str | Path, name: str, body: str) -> None:
    """Put ``body`` between the markers ``<!-- figures: NAME ...-->`` and ``<!-- end figures: NAME -->``.

    The start marker's line (which may say what made the block) is kept; the markers must exist
    already, once each, so a script never writes where nobody asked it to.
    """
    file = ROOT / path
    text = file.read_text(encoding="utf-8")
    start = re.compile(rf"^<!-- figures: {re.escape(name)}\b.*-->\n", re.MULTILINE)
    end = re.compile(rf"^<!-- end figures: {re.escape(name)} -->$", re.MULTILINE)
    starts, ends = list(start.finditer(text)), list(end.finditer(text))
    if len(starts) != 1 or len(ends) != 1 or ends[0].start() < starts[0].end():
        raise ValueError(f"{path}: expected one '<!-- figures: {name} -->' ... '<!-- end figures: {name} -->' pair")
    new = text[: starts[0].end()] + "\n" + body.strip("\n") + "\n\n" + text[ends[0].start():]
    if new != text:
        file.write_text(new, encoding="utf-8")
        print(f"updated {path} ({name})")
