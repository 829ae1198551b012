"""Closing the viewer while work runs: workers are cancelled, late signals ignored, the process exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("kind", ["sweep", "predict", "tune", "write"])
def test_closing_the_viewer_mid_run_exits_cleanly(kind, qapp):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"), os.environ.get("PYTHONPATH", "")]),
           "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", "")}
    result = subprocess.run([sys.executable, str(HERE / "close_mid_run.py"), kind], check=False, env=env,
                            capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert f"{kind}: closed mid-run" in result.stdout
    for symptom in ("has been deleted", "Traceback", "unexpected"):
        assert symptom not in output, output[-4000:]
