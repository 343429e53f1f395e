"""The ``aguvis`` entry point itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def test_sigterm_runs_finally_blocks_before_the_process_exits(tmp_path):
    marker, ready = tmp_path / "cleaned-up", tmp_path / "ready"
    code = (
        "import time, pathlib\n"
        "from aguvis.cli import exit_on_sigterm\n"
        "exit_on_sigterm()\n"
        "try:\n"
        f"    pathlib.Path({str(ready)!r}).touch()\n"
        "    time.sleep(60)\n"
        "finally:\n"
        f"    pathlib.Path({str(marker)!r}).write_text('closed')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    child = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 128 + signal.SIGTERM
    assert marker.read_text() == "closed"
