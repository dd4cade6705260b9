"""Scale and interruption: 2 gloo processes == 1 process on the same global batch (DDP, FSDP2),
gradient accumulation == a bigger batch, SIGTERM saves and exits, kill -9 loses at most one interval."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from s2tts.training.checkpointing import Checkpointer
from s2tts.training.lm.config import LMRunConfig
from s2tts.training.lm.recipe import train_lm
from s2tts.training.run_config import load_config

ROOT = Path(__file__).parents[2]
COMMON = [
    "device=cpu", "threads=1", "model.preset=tiny", "model.codec_preset=tiny", "data.val_fraction=0.0",
    "data.synthetic.speakers=2", "data.synthetic.utterances_per_speaker=4", "optim.lr=3e-3",
    "optim.schedule.warmup_steps=1", "export_on_finish=false", "save_every=1000",
]  # fmt: skip


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")


def _one_process(out: Path, *extra: str) -> dict:
    return train_lm(load_config(LMRunConfig, None, [f"out_dir={out}", *COMMON, *extra]))


def _model(summary: dict) -> dict[str, torch.Tensor]:
    return Checkpointer.read(summary["checkpoint"])["objects"]["model"]


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert set(a) == set(b)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=2e-5)


def test_grad_accumulation_equals_the_big_batch(tmp_path: Path) -> None:
    big = _one_process(tmp_path / "big", "steps=2", "batch_size=4")
    acc = _one_process(tmp_path / "acc", "steps=2", "batch_size=2", "grad_accum=2")
    assert acc["final_loss"] == pytest.approx(big["final_loss"], rel=1e-5)
    _assert_same(_model(big), _model(acc))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_gloo_processes_equal_one(tmp_path: Path, mode: str) -> None:
    one = _one_process(tmp_path / "one", "steps=2", "batch_size=4")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "s2tts.training.lm", f"out_dir={tmp_path / 'two'}", *COMMON, "steps=2", "batch_size=2"]
    cmd += [f"distributed={mode}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads(proc.stdout.strip().splitlines()[-1])
    assert two["world_size"] == 2 and two["steps"] == 2
    assert two["first_loss"] == pytest.approx(one["first_loss"], rel=1e-5)
    assert two["final_loss"] == pytest.approx(one["final_loss"], rel=1e-5)
    _assert_same(_model(one), _model(two))


def _start(out: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "s2tts.training.lm", f"out_dir={out}", *COMMON, "batch_size=2", *extra]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(pred, proc: subprocess.Popen, timeout: float = 240.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        assert proc.poll() is None, proc.stderr.read()[-3000:] if proc.stderr else ""
        assert time.monotonic() < end, "timed out waiting for the run to progress"
        time.sleep(0.2)


def _logged_steps(out: Path) -> list[int]:
    path = out / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(x)["step"] for x in path.read_text().splitlines() if x.strip() and '"loss"' in x]


@pytest.mark.slow
def test_sigterm_saves_then_resume_finishes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _start(out, "steps=500", "optim.schedule.total_steps=500")
    _wait_for(lambda: len(_logged_steps(out)) >= 3, proc)
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["stopped_by"] == "SIGTERM"
    stopped = summary["steps"]
    assert stopped >= 3 and Path(summary["checkpoint"]).name == f"step-{stopped:08d}"
    assert max(_logged_steps(out)) == stopped  # the checkpoint holds the last finished step
    done = _one_process(out, "batch_size=2", f"steps={stopped + 2}", "optim.schedule.total_steps=500")
    assert done["steps"] == stopped + 2 and _logged_steps(out)[-2:] == [stopped + 1, stopped + 2]


@pytest.mark.slow
def test_kill_9_loses_at_most_one_interval(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _start(out, "steps=500", "save_every=2", "optim.schedule.total_steps=500")
    _wait_for(lambda: len(_logged_steps(out)) >= 5, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    reached = max(_logged_steps(out))
    latest = Checkpointer(out / "checkpoints").latest()
    assert latest is not None
    saved = int(Checkpointer.read(latest)["step"])
    assert reached - saved <= 2  # at most one save interval lost
    done = _one_process(
        out, "batch_size=2", f"steps={saved + 1}", "save_every=2", "optim.schedule.total_steps=500"
    )
    assert done["steps"] == saved + 1


def test_activation_checkpointing_gives_the_same_step(tmp_path: Path) -> None:
    plain = _one_process(tmp_path / "plain", "steps=2", "batch_size=2")
    ckpt = _one_process(tmp_path / "ac", "steps=2", "batch_size=2", "model.activation_checkpointing=true")
    assert ckpt["final_loss"] == pytest.approx(plain["final_loss"], rel=1e-6)
    _assert_same(_model(plain), _model(ckpt))  # same keys: the wrapper is invisible in checkpoints
