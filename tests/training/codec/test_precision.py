"""bf16 autocast in the codec trainer, exercised on CPU (torch's CPU autocast runs bfloat16)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from s2tts.cli import main as cli_main
from s2tts.training.checkpointing import Checkpointer
from s2tts.training.codec.config import CodecTrainConfig
from s2tts.training.codec.recipe import train
from s2tts.training.metrics_log import read_metrics
from s2tts.training.run_config import load_config

from .conftest import tiny_run

# every part of a recipe step from the first step on: quantised, GAN, distillation, iSTFT decoder
FULL_STEP = (
    "steps=2",
    "phases.unquantized_steps=0",
    "phases.gan_start=0",
    "distill.enabled=true",
    "model.decoder_kind=istft",
)


def _losses(run: Path) -> list[dict[str, float]]:
    return [{k: v for k, v in r.items() if k.startswith("loss")} for r in read_metrics(run / "metrics.jsonl")]


def test_bf16_autocast_trains_on_cpu_with_finite_losses(tmp_path: Path, speech_dir: Path) -> None:
    runs = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        summary = train(
            load_config(
                CodecTrainConfig, None, tiny_run(out, speech_dir, *FULL_STEP, f"precision={precision}")
            )
        )
        assert summary["steps"] == 2
        runs[precision] = [r for r in _losses(out) if r]
    bf16, fp32 = runs["bf16"], runs["fp32"]
    assert len(bf16) == 2
    for row in bf16:
        assert {"loss_mel", "loss_d", "loss_adv", "loss_feature", "loss_commitment", "loss_distill"} <= set(
            row
        )
        assert all(math.isfinite(v) for v in row.values())
    # autocast really ran: the same seed and data give other numbers in bfloat16 arithmetic...
    assert bf16[0]["loss_mel"] != fp32[0]["loss_mel"]
    # ...though close to fp32's (the mel loss itself is computed in fp32)
    assert abs(bf16[0]["loss_mel"] - fp32[0]["loss_mel"]) < 0.1 * fp32[0]["loss_mel"]
    saved = Checkpointer.read(Checkpointer(tmp_path / "bf16" / "checkpoints").latest())["objects"]
    weights = [v for v in saved["generator"].values() if v.is_floating_point()]
    assert weights and all(v.dtype == torch.float32 for v in weights)  # fp32 master weights


def test_fp16_is_refused_with_one_line(tmp_path: Path, capsys) -> None:
    # the codec trainer has no loss scaler: fp16 is not offered, on CUDA or CPU (bf16 is)
    assert cli_main(["train", "codec", "precision=fp16", f"out_dir={tmp_path}", "data.synthetic=1"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "precision" in err[0] and "bf16" in err[0] and "fp16" in err[0]
