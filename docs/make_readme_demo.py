"""The README's copy of what ``graintrace demo --headless`` prints (its tables), run from the repository root.

    python docs/make_readme_demo.py

Runs the command in a temporary folder and writes its score table and the two demo runs' best epochs
into README.md (the lines that say where files were written are left out). A few seconds of CPU.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

from napari_graintrace.cli import main as graintrace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _common import print_machine
from docs_text import replace_block  # tests/, put on the path by _common


def demo_tables() -> str:
    """What ``graintrace demo --headless`` prints, without the notice and the 'wrote ...' lines."""
    out = io.StringIO()
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(out):
        code = graintrace(["demo", "--headless", "-o", folder])
    if code:
        raise SystemExit(f"graintrace demo --headless failed (exit {code})")
    lines = out.getvalue().splitlines()
    return "\n".join(line for line in lines[1:] if not line.startswith("wrote ")).strip("\n")


def main() -> None:
    print_machine()
    tables = demo_tables()
    print(tables)
    replace_block("README.md", "demo-headless", f"```text\n$ graintrace demo --headless\n{tables}\n```")


if __name__ == "__main__":
    main()
