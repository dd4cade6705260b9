"""SIGTERM stops the codec trainer at a step boundary with a checkpoint it can resume from."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from s2tts.training.checkpointing import Checkpointer

from .conftest import tiny_run

ROOT = Path(__file__).parents[3]


@pytest.mark.slow
def test_sigterm_saves_and_resumes(tmp_path, speech_dir):
    out = tmp_path / "run"
    args = tiny_run(out, speech_dir, "save_every=100000", "val_every=100000", "steps=100000")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "s2tts.cli", "train", "codec", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while not (metrics.is_file() and metrics.read_text().strip()):  # wait until it is training
        assert proc.poll() is None and time.monotonic() < deadline, "trainer did not start"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["stopped"] is True and 1 <= summary["steps"] < 100000
    latest = Checkpointer(out / "checkpoints").latest()
    assert latest is not None and Checkpointer.read(latest)["step"] == summary["steps"]
    # resuming picks up at that step
    again = subprocess.run(
        [sys.executable, "-m", "s2tts.cli", "train", "codec", *args[:-3], f"steps={summary['steps'] + 1}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout.strip().splitlines()[-1])["steps"] == summary["steps"] + 1
