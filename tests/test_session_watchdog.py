"""The shared widget-session helper's watchdog really ends a hung call (it guards viewer.close())."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_watchdog_dumps_stacks_and_exits_when_the_block_hangs():
    hang = ("import time, widget_session\n"
            "def stuck_in_close():\n"
            "    time.sleep(120)\n"
            "with widget_session.watchdog(0.5, 'viewer.close()'):\n"
            "    stuck_in_close()\n"
            "print('returned')\n")
    done = subprocess.run([sys.executable, "-c", hang], cwd=HERE, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 1
    assert "WATCHDOG: viewer.close() did not return within 0.5 s" in done.stderr
    assert "stuck_in_close" in done.stderr  # the hung frame is named
    assert "returned" not in done.stdout


def test_watchdog_is_quiet_when_the_block_returns():
    fine = ("import widget_session\n"
            "with widget_session.watchdog(30, 'quick'):\n"
            "    pass\n"
            "print('returned')\n")
    done = subprocess.run([sys.executable, "-c", fine], cwd=HERE, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0 and done.stdout.strip() == "returned" and "WATCHDOG" not in done.stderr
