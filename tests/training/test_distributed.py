"""Two gloo processes on one global batch == one process on it (DDP and FSDP2), via torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from s2tts.training.checkpointing import Checkpointer

from .ddp_worker import batch, build

ROOT = Path(__file__).parents[2]


def _torchrun(mode: str, out: Path) -> None:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "tests.training.ddp_worker", mode, str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_processes_match_one(tmp_path: Path, mode: str) -> None:
    _torchrun(mode, tmp_path)
    model = build()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = batch()
    loss = (model(x) - y).pow(2).mean()
    loss.backward()
    opt.step()
    saved = Checkpointer.read(Checkpointer(tmp_path / "ck").latest())
    got = saved["objects"]["model"]
    for name, p in model.state_dict().items():
        torch.testing.assert_close(got[name], p, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.load(tmp_path / "rank0.pt", weights_only=True)["loss"], loss.detach())
