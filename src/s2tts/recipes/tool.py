"""Run one of the project's command-line tools as a child process for a recipe stage.

``run_tool(["train", "lm", ...], log_path)`` runs ``python -m s2tts.cli ...`` in a child (fresh memory
per stage, the tool's own resume logic), copies its output to the console and to ``log_path``, and
returns its summary (the last output line that is a JSON object). A non-zero exit raises
:class:`~s2tts.errors.RecipeError` with the last line and the log's path. While the child runs,
SIGTERM is passed on to it (a trainer then saves and stops) and this process waits for it instead of
dying with its output pipe, then raises ``RecipeError``: the stage stays not done.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from s2tts.errors import RecipeError


def run_tool(args: list[str], log_path: Path) -> dict | None:
    """Run ``python -m s2tts.cli ARGS`` (output to the console and appended to ``log_path``); returns
    the tool's summary: the last output line that is a JSON object, if any."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "s2tts.cli", *args]
    with open(log_path, "a") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy()
        )
        with _ForwardStop(proc) as stop:
            last, summary = _relay(proc, log)
            code = proc.wait()
    name = f"'s2tts {' '.join(args[:2])}'"
    if stop.signal_name is not None:
        raise RecipeError(f"{name} stopped by {stop.signal_name}; run the recipe again to resume")
    if code != 0:
        raise RecipeError(f"{name} failed (exit {code}): {last} -- full log: {log_path}")
    return summary if isinstance(summary, dict) else None


def _relay(proc: subprocess.Popen, log: Any) -> tuple[str, dict | None]:
    """Copy the child's output to the console and the log; (last line, last JSON-object line)."""
    assert proc.stdout is not None
    last, summary = "", None
    for line in proc.stdout:
        sys.stdout.write(line)
        log.write(line)
        log.flush()  # the stage log follows the run (progress bars included)
        if line.strip():
            last = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                summary = json.loads(line)
    return last, summary


class _ForwardStop:
    """While a tool runs, SIGTERM/SIGINT do not kill this process mid-relay (a dead parent would cut
    the child's output pipe before it saves): SIGTERM is passed on to the child (a trainer stops at
    its next step and saves); SIGINT from a terminal already reaches the child's process group."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: object) -> None:
        self.signal_name = signal.Signals(signum).name
        if signum == signal.SIGTERM and self.proc.poll() is None:
            self.proc.send_signal(signum)

    def __enter__(self) -> _ForwardStop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
