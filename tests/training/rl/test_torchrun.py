"""Two torchrun ranks (gloo, CPU) x 1 prompt train exactly like one process x 2 prompts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from s2tts.checkpoint import init_checkpoint
from s2tts.training.checkpointing import Checkpointer

ROOT = Path(__file__).parents[3]
pytestmark = pytest.mark.slow


def _config(tmp: Path, ckpt: Path, prompts: Path, out: Path, per_rank: int) -> Path:
    cfg = {
        "out_dir": str(out),
        "steps": 2,
        "device": "cpu",
        "threads": 1,
        "model": {"init_from": str(ckpt)},
        "data": {"prompts": str(prompts), "prompts_per_step": per_rank},
        # the same engine rows in both runs: batched matmuls of another row count round differently
        "rollout": {"group_size": 2, "max_new_tokens": 6, "batch_size": 2},
        "rewards": {
            "terms": {"even_first_code": {}},
            "guards": {
                "min_chars_per_s": None,
                "max_chars_per_s": None,
                "max_silence_s": None,
                "require_finished": False,
            },
        },
        "optim": {"lr": 1e-3},
        "reward_workers": 0,
        "save_every": 1,
        "sample_every": 100,
        "export_on_finish": False,
    }
    path = tmp / f"{out.name}.json"
    path.write_text(json.dumps(cfg))
    return path


def _run(cmd: list[str]) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1]


def test_two_ranks_equal_one_process(tmp_path: Path) -> None:
    ckpt = init_checkpoint(tmp_path / "sft", "tiny", seed=0, codec_preset="tiny")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"text": f"Sentence number {i}."}) + "\n" for i in range(4)))
    one = _config(tmp_path, ckpt, prompts, tmp_path / "one", per_rank=2)
    two = _config(tmp_path, ckpt, prompts, tmp_path / "two", per_rank=1)
    s1 = json.loads(_run([sys.executable, "-m", "s2tts.cli", "train", "rl", "--config", str(one)]))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    s2 = json.loads(_run([*torchrun, "-m", "s2tts.training.rl", "--config", str(two)]))
    assert s1["steps"] == s2["steps"] == 2
    a = Checkpointer.read(s1["checkpoint"])["objects"]["trainable"]
    b = Checkpointer.read(s2["checkpoint"])["objects"]["trainable"]
    assert set(a) == set(b)
    moved = [k for k in a if k.endswith("lora_B") and a[k].abs().max() > 0]
    assert moved  # the adapters trained
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
