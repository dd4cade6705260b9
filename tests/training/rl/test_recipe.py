"""The RL recipe: LoRA run from a checkpoint, exact resume, merged export, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

import s2tts.training.rl.recipe as rl_recipe
from s2tts.checkpoint import init_checkpoint, load_checkpoint
from s2tts.cli import main
from s2tts.errors import CheckpointError
from s2tts.inference.default_voice import write_default_voice
from s2tts.training.checkpointing import Checkpointer
from s2tts.training.lm.setup import training_layout
from s2tts.training.lora import adapters_off, inject_lora
from s2tts.training.metrics_log import read_metrics
from s2tts.training.rl.config import RLRunConfig, s2_lora
from s2tts.training.rl.logprobs import pack_rollouts, rollout_logprobs
from s2tts.training.rl.recipe import train_rl
from s2tts.training.rl.rollout import RolloutSampler
from s2tts.training.run_config import config_from_dict

GUARDS_OFF = {
    "min_chars_per_s": None,
    "max_chars_per_s": None,
    "max_silence_s": None,
    "require_finished": False,
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("rl-recipe")
    ckpt = init_checkpoint(root / "sft", "tiny", seed=0, codec_preset="tiny")
    prompts = root / "prompts.jsonl"
    prompts.write_text(
        '{"text": "Hello there, how are you?"}\n{"text": "A second sentence.", "language": "en"}\n'
    )
    return ckpt, prompts


def _cfg(setup: tuple[Path, Path], out: Path, **over: Any) -> RLRunConfig:
    ckpt, prompts = setup
    data: dict[str, Any] = {
        "out_dir": str(out),
        "steps": 3,
        "device": "cpu",
        "model": {"init_from": str(ckpt)},
        "data": {"prompts": str(prompts), "prompts_per_step": 2},
        "rollout": {"group_size": 4, "max_new_tokens": 8},
        "rewards": {"terms": {"even_first_code": {}}, "guards": GUARDS_OFF},
        "optim": {"lr": 1e-3},
        "reward_workers": 0,
        "save_every": 1,
        "sample_every": 1,
    }
    data.update(over)
    return config_from_dict(RLRunConfig, data)


def _trainable(path: Path) -> dict[str, torch.Tensor]:
    return Checkpointer.read(path)["objects"]["trainable"]


def test_a_run_that_exported_nothing_exports_its_last_checkpoint_when_rerun_at_that_step(
    setup: tuple[Path, Path], tmp_path: Path
) -> None:
    """A stopped run (early stop, a signal, export off) has checkpoints but no model/: the same
    command with steps= its last checkpoint's step trains nothing more and exports that checkpoint."""
    first = train_rl(_cfg(setup, tmp_path / "run", steps=2, export_on_finish=False))
    assert first["export"] is None and not (tmp_path / "run" / "model").exists()
    again = train_rl(_cfg(setup, tmp_path / "run", steps=2))
    assert again["export"] == str(tmp_path / "run" / "model") and again["checkpoint"] == first["checkpoint"]
    assert [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl")] == [1, 2]  # no new step
    merged = load_checkpoint(tmp_path / "run" / "model").model.state_dict()
    base = load_checkpoint(setup[0]).model.state_dict()
    assert any(not torch.equal(merged[k], base[k]) for k in base)  # the trained adapters, merged


def test_train_export_writes_any_rl_checkpoint_as_the_run_would_have(
    setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``s2tts train export --run RL_RUN --checkpoint STEP`` rebuilds the policy from the checkpoint's
    own config: the last step exports to exactly the weights the run exported itself, an earlier
    step to other weights."""
    run = tmp_path / "run"
    summary = train_rl(_cfg(setup, run, steps=2, sample_every=10))
    assert summary["export"] == str(run / "model")
    checkpoints = sorted((run / "checkpoints").glob("step-*"))
    assert [c.name for c in checkpoints] == ["step-00000001", "step-00000002"]
    exported = {}
    for c in checkpoints:
        out = tmp_path / c.name
        assert main(["train", "export", "--run", str(run), "--checkpoint", str(c), "-o", str(out)]) == 0
        assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"export": str(out)}
        assert (out / "codec.safetensors").is_file()
        exported[c.name] = load_checkpoint(out).model.state_dict()
    own = load_checkpoint(run / "model").model.state_dict()
    last, first = exported["step-00000002"], exported["step-00000001"]
    assert all(torch.equal(last[k], own[k]) for k in own)
    assert any(not torch.equal(first[k], own[k]) for k in own)


def test_train_export_of_an_rl_checkpoint_without_its_config_says_what_to_do(
    setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    train_rl(_cfg(setup, run, steps=1, sample_every=10, export_on_finish=False))
    (step,) = (run / "checkpoints").glob("step-*")
    payload = Checkpointer.read(step)
    del payload["extra"]["config"]  # as RL checkpoints were written before they carried it
    torch.save(payload, step / "state.pt")
    capsys.readouterr()
    assert main(["train", "export", "--run", str(run)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "steps=1" in err[0] and "Traceback" not in err[0]


def test_default_lora_is_s2s() -> None:
    lora = s2_lora()
    assert (lora.rank, lora.alpha, lora.rslora) == (16, 64.0, True)
    assert lora.scale == pytest.approx(16.0)  # 64 / sqrt(16)
    assert all(t.startswith("feed_forward.") for t in lora.targets)  # MLP only


def test_run_trains_only_the_adapters_and_exports_a_merged_model(
    setup: tuple[Path, Path], tmp_path: Path
) -> None:
    summary = train_rl(_cfg(setup, tmp_path / "run"))
    assert summary["steps"] == 3 and summary["stopped"] is None
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert rows[0]["kl_slow"] == 0.0 and rows[0]["kl_fast"] == 0.0  # adapters start at B = 0
    for key in (
        "reward_mean",
        "reward_std",
        "even_first_code.score_mean",
        "gate_pass_rate",
        "frames_mean",
        "finished_rate",
    ):
        assert key in rows[-1], key
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())[:2] == [
        "step-00000001-0.wav",
        "step-00000001-1.wav",
    ]
    state = _trainable(Path(summary["checkpoint"]))
    assert state and all(k.endswith((".lora_A", ".lora_B")) and ".feed_forward." in k for k in state)

    # the export is the published layout with the adapters merged: same log-probs as the LoRA policy
    base = load_checkpoint(setup[0])
    policy = training_layout(base.model)
    inject_lora(policy, s2_lora())
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if name in state:
                p.copy_(state[name])
    merged = load_checkpoint(summary["export"]).model
    prompt = base.prompt_builder().build("Hello there, how are you?")
    batch = pack_rollouts(policy, [prompt], [torch.randint(0, 32, (10, 5))], [True])
    with torch.no_grad():
        lp_policy = rollout_logprobs(policy, batch)
        lp_merged = rollout_logprobs(merged, batch)
        with adapters_off(policy):
            lp_base = rollout_logprobs(policy, batch)
        lp_orig = rollout_logprobs(load_checkpoint(setup[0]).model, batch)
    assert torch.allclose(lp_policy.slow, lp_merged.slow, atol=1e-5)
    assert torch.allclose(lp_policy.fast, lp_merged.fast, atol=1e-5)
    assert not torch.allclose(lp_policy.slow, lp_base.slow, atol=1e-5)  # RL moved the policy
    assert torch.equal(lp_base.slow, lp_orig.slow)  # adapters off == the SFT model: the reference


def test_resume_continues_exactly(setup: tuple[Path, Path], tmp_path: Path) -> None:
    straight = train_rl(_cfg(setup, tmp_path / "a", steps=4, sample_every=10, export_on_finish=False))
    train_rl(_cfg(setup, tmp_path / "b", steps=2, sample_every=10, export_on_finish=False))
    resumed = train_rl(_cfg(setup, tmp_path / "b", steps=4, sample_every=10, export_on_finish=False))
    a, b = _trainable(Path(straight["checkpoint"])), _trainable(Path(resumed["checkpoint"]))
    assert resumed["steps"] == 4
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = read_metrics(tmp_path / "b" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]


def test_resuming_another_runs_checkpoint_is_refused(setup: tuple[Path, Path], tmp_path: Path) -> None:
    train_rl(_cfg(setup, tmp_path / "c", steps=1, export_on_finish=False))
    with pytest.raises(CheckpointError, match="another run"):
        train_rl(_cfg(setup, tmp_path / "c", steps=2, lora={"rank": 4}, export_on_finish=False))


def test_cli_prints_the_summary_and_rejects_bad_configs(
    setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "rl.yaml"
    cfg.write_text(
        json.dumps(
            {
                "model": {"init_from": str(setup[0])},
                "data": {"prompts": str(setup[1]), "prompts_per_step": 1},
                "rollout": {"group_size": 2, "max_new_tokens": 4},
                "rewards": {"terms": {"shortness": {"options": {"max_frames": 4}}}, "guards": GUARDS_OFF},
                "reward_workers": 0,
                "device": "cpu",
            }
        )
    )
    assert main(["train", "rl", "--config", str(cfg), f"out_dir={tmp_path / 'out'}", "steps=1"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert summary["steps"] == 1 and Path(summary["export"]).is_dir()
    assert main(["train", "rl", "--config", str(cfg), "loss.norm=bogus"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "loss.norm" in err[0] and "Traceback" not in err[0]
    assert main(["train", "rl", "--config", str(cfg), "rewards.terms={nope: {}}"]) == 1
    assert "unknown reward" in capsys.readouterr().err


def test_next_batch_overlap_trains_one_update_behind(setup: tuple[Path, Path], tmp_path: Path) -> None:
    cfg = _cfg(
        setup, tmp_path / "nb", steps=3, overlap="next_batch", loss={"clip_eps": 0.2}, export_on_finish=False
    )
    summary = train_rl(cfg)
    rows = read_metrics(tmp_path / "nb" / "metrics.jsonl")
    assert summary["steps"] == 3 and [r["step"] for r in rows] == [1, 2, 3]
    # step 1's batch came from the initial weights (ratio 1); step 2's batch was sampled before
    # step 1's update, so the updated policy sees it off-policy: the ratio moves away from 1
    assert rows[0]["ratio"] == pytest.approx(1.0, abs=1e-5)
    assert abs(rows[1]["ratio"] - 1.0) > 1e-5


@pytest.mark.slow
def test_the_shipped_smoke_config_runs_with_the_real_rewards(
    setup: tuple[Path, Path], tmp_path: Path
) -> None:
    from s2tts.training.run_config import load_config

    root = Path(__file__).parents[3]
    cfg = load_config(
        RLRunConfig,
        root / "configs" / "train" / "rl-smoke.yaml",
        [
            f"model.init_from={setup[0]}",  # instead of the LM smoke run's export
            f"data.prompts={root / 'configs' / 'train' / 'rl-smoke-prompts.jsonl'}",
            f"out_dir={tmp_path / 'smoke'}",
            "steps=1",
            "rollout.group_size=2",
            "rollout.max_new_tokens=24",
        ],
    )
    summary = train_rl(cfg)
    row = read_metrics(tmp_path / "smoke" / "metrics.jsonl")[-1]
    assert summary["steps"] == 1 and Path(summary["export"]).is_dir()
    # between the guards' penalty and the most the weighted terms can give (1 + 0.25 + 0.25)
    assert -1.0 <= row["reward_mean"] <= 1.5
    assert "guard_finished_pass_rate" in row and "guard_duration_pass_rate" in row


def test_rollouts_speak_in_the_starting_checkpoints_default_voice(
    setup: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint with ``voice.json``: the trainer's rollout sampler gets that voice, so prompts
    without a reference are spoken in it (the sampler's use of it: test_rollout.py)."""
    ckpt = shutil.copytree(setup[0], tmp_path / "voiced")
    codes = torch.randint(
        1, 32, (load_checkpoint(ckpt).config.num_codebooks, 5), generator=torch.Generator().manual_seed(0)
    )
    write_default_voice(ckpt, "The voice that ships.", codes)
    voices: list[Any] = []

    class Spy(RolloutSampler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            voices.append(self.default_voice)

    monkeypatch.setattr(rl_recipe, "RolloutSampler", Spy)
    train_rl(_cfg((ckpt, setup[1]), tmp_path / "run", steps=1, sample_every=10, export_on_finish=False))
    [voice] = voices
    assert voice is not None and voice.text == "The voice that ships." and torch.equal(voice.codes, codes)
