"""The LM recipe end to end on the tiny preset: overfitting, exact resume, weights-only resume,
LoRA fine-tuning + export, and the errors a user meets (bad config, missing data, mismatched
checkpoint, NaN loss)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from s2tts.checkpoint import init_checkpoint, load_checkpoint
from s2tts.cli import main
from s2tts.errors import CheckpointError, TrainConfigError
from s2tts.text.frontend import PHONEME_START
from s2tts.training.checkpointing import Checkpointer
from s2tts.training.lm.config import LMRunConfig
from s2tts.training.lm.recipe import train_lm
from s2tts.training.run_config import load_config

BASE = [
    "device=cpu", "threads=1", "model.preset=tiny", "model.codec_preset=tiny",
    "data.synthetic.speakers=2", "data.synthetic.utterances_per_speaker=3", "data.val_fraction=0.0",
    "batch_size=2", "optim.lr=3e-3", "optim.weight_decay=0.1",
    "optim.schedule.warmup_steps=2", "optim.schedule.total_steps=8", "optim.schedule.decay_fraction=0.25",
]  # fmt: skip


def _cfg(out: Path, *extra: str) -> LMRunConfig:
    return load_config(LMRunConfig, None, [f"out_dir={out}", *BASE, *extra])


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return Checkpointer.read(path)["objects"]["model"]


def test_resume_continues_exactly(tmp_path: Path) -> None:
    straight = train_lm(_cfg(tmp_path / "a", "steps=6", "save_every=3", "export_on_finish=false"))
    first = train_lm(_cfg(tmp_path / "b", "steps=3", "save_every=3", "export_on_finish=false"))
    resumed = train_lm(_cfg(tmp_path / "b", "steps=6", "save_every=3", "export_on_finish=false"))
    assert first["steps"] == 3 and resumed["steps"] == straight["steps"] == 6
    a, b = _weights(Path(straight["checkpoint"])), _weights(Path(resumed["checkpoint"]))
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6)
    assert resumed["final_loss"] == pytest.approx(straight["final_loss"], rel=1e-5)
    rows = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4, 5, 6]


def test_training_leaves_the_callers_random_state_alone(tmp_path: Path) -> None:
    """Seeding is the run's own: the global RNG is what it was before training (and before
    writing a random checkpoint), and the same config trains the same weights either way."""
    torch.manual_seed(123)
    before = torch.get_rng_state()
    run = train_lm(_cfg(tmp_path / "a", "steps=2", "export_on_finish=false", "lora.enabled=false"))
    init_checkpoint(tmp_path / "ckpt", "tiny", seed=0, codec_preset="tiny")
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(999)  # another caller state: the run does not depend on it
    again = train_lm(_cfg(tmp_path / "b", "steps=2", "export_on_finish=false", "lora.enabled=false"))
    a, b = _weights(Path(run["checkpoint"])), _weights(Path(again["checkpoint"]))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_training_trims_glibc_heap_every_step_unless_jemalloc_is_preloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """trim_host_memory_every=1 trims after every step (malloc_trim itself is tested in
    test_host_memory.py); with another allocator preloaded, or 0, it never trims."""
    import s2tts.training.lm.recipe as lm_recipe

    calls: list[int] = []
    monkeypatch.setattr(lm_recipe, "host_memory_trimmer", lambda: lambda: calls.append(1) or True)
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    train_lm(_cfg(tmp_path / "a", "steps=3", "export_on_finish=false"))
    assert len(calls) == 3
    train_lm(_cfg(tmp_path / "b", "steps=3", "export_on_finish=false", "trim_host_memory_every=0"))
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")
    train_lm(_cfg(tmp_path / "c", "steps=3", "export_on_finish=false"))
    assert len(calls) == 3


def test_weights_only_resume_from_the_export(tmp_path: Path) -> None:
    run = train_lm(_cfg(tmp_path / "a", "steps=4", "save_every=4"))
    export = Path(run["export"])
    assert json.loads((export / "trainer_state.json").read_text())["step"] == 4
    load_checkpoint(export)  # the export is a published checkpoint
    fresh = train_lm(_cfg(tmp_path / "b", "steps=6", f"resume_weights={export}", "export_on_finish=false"))
    assert fresh["steps"] == 6
    # it starts from the trained weights, not from the random init (first loss ~9)
    assert fresh["first_loss"] < run["first_loss"] - 1.0


def test_pretraining_with_the_phoneme_front_end(tmp_path: Path) -> None:
    run = train_lm(_cfg(tmp_path / "a", "steps=2", "save_every=2", "model.text_frontend=espeak"))
    export = Path(run["export"])
    assert json.loads((export / "config.json").read_text())["text_frontend"] == "espeak"
    ckpt = load_checkpoint(export)
    assert ckpt.frontend.kind == "espeak"
    assert ckpt.prompt_builder().frontend("Hello.").startswith(PHONEME_START)
    # a run made with phonemes is not resumed as a text model
    with pytest.raises(CheckpointError, match="different model config"):
        train_lm(_cfg(tmp_path / "a", "steps=3"))
    with pytest.raises(TrainConfigError, match="model.text_frontend must be one of"):
        _cfg(tmp_path / "b", "model.text_frontend=arpabet")
    with pytest.raises(TrainConfigError, match="keeps the front end"):
        _cfg(tmp_path / "b", f"model.init_from={export}", "model.text_frontend=espeak")


@pytest.mark.slow
def test_tiny_model_overfits_the_fixture(tmp_path: Path) -> None:
    cfg = _cfg(
        tmp_path, "steps=120", "save_every=1000", "export_on_finish=false", "data.synthetic.speakers=1",
        "data.synthetic.utterances_per_speaker=2", "data.reference_prob=0.0", "optim.weight_decay=0.0",
        "optim.schedule.kind=constant", "optim.schedule.warmup_steps=5", "log_every=10",
    )  # fmt: skip
    result = train_lm(cfg)
    assert result["first_loss"] > 5.0
    assert result["final_loss"] < 0.05


def test_lora_finetune_and_export(tmp_path: Path) -> None:
    src = init_checkpoint(tmp_path / "base", "tiny", seed=0, codec_preset="tiny")
    out = tmp_path / "run"
    cfg = _cfg(
        out, "steps=3", "save_every=3", f"model.init_from={src}", "lora.enabled=true", "lora.rank=4",
        "lora.alpha=8", "lora.targets=[feed_forward.w1,feed_forward.w2,feed_forward.w3]",
        "optim.lr=1e-2", "loss.text_loss=false", "loss.codebook_weights=decay", "loss.drop_semantic_codebook=true",
        "sample.text=Hi there.", "sample.max_frames=4", "val_every=3",
    )  # fmt: skip
    result = train_lm(cfg)
    saved = _weights(Path(result["checkpoint"]))
    # the sample went through the inference path and the checkpoint's codec
    codes = np.load(out / "samples" / "step-00000003.npy")
    assert codes.shape[0] == 10 and 1 <= codes.shape[1] <= 4
    assert (out / "samples" / "step-00000003.wav").is_file()
    assert any(k.endswith("lora_B") for k in saved)
    base, tuned = load_checkpoint(src).model, load_checkpoint(result["export"]).model
    assert (tmp_path / "run" / "model" / "codec.safetensors").is_file()  # the export is servable as is
    changed = {
        k
        for k, v in tuned.state_dict().items()
        if not torch.equal(v.contiguous(), base.state_dict()[k].contiguous())
    }
    assert changed and all("feed_forward" in k for k in changed)  # only the adapted layers moved
    # `s2tts train export` writes the same merged weights from the training checkpoint
    assert main(["train", "export", "--run", str(out), "-o", str(tmp_path / "again")]) == 0
    again = load_checkpoint(tmp_path / "again").model
    for k, v in tuned.state_dict().items():
        torch.testing.assert_close(again.state_dict()[k], v)


def test_jsonl_manifest_source(tmp_path: Path) -> None:
    rows = []
    for i in range(4):
        codes = np.random.default_rng(i).integers(0, 64, size=(10, 5 + i))
        np.save(tmp_path / f"u{i}.npy", codes)
        rows.append(
            {
                "text": f"Utterance {i}.",
                "speaker": f"s{i % 2}",
                "codes": f"u{i}.npy",
                "split": "val" if i == 3 else "train",
            }
        )
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = _cfg(
        tmp_path / "run",
        "steps=2",
        "export_on_finish=false",
        "data.source=jsonl",
        f"data.path={tmp_path / 'm.jsonl'}",
    )
    result = train_lm(cfg)
    assert result["steps"] == 2 and result["val_loss"] is not None


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["train", "lm", *args])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, f"out_dir={tmp_path}", "optim.lrr=1")
    assert code == 1 and err.count("\n") == 1 and "unknown config key(s) optim.lrr" in err
    code, _, err = _cli(
        capsys, f"out_dir={tmp_path}", "data.source=jsonl", f"data.path={tmp_path / 'none.jsonl'}"
    )
    assert code == 1 and "training manifest not found" in err
    code, _, err = _cli(capsys, "--config", str(tmp_path / "missing.yaml"))
    assert code == 1 and "config file not found" in err
    code, _, err = _cli(capsys)
    assert code == 1 and "give --config" in err


def test_cli_refuses_a_checkpoint_of_another_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, f"out_dir={tmp_path}", *BASE, "steps=1", "export_on_finish=false")
    assert code == 0 and json.loads(out.splitlines()[-1])["steps"] == 1
    code, _, err = _cli(capsys, f"out_dir={tmp_path}", *BASE, "steps=2", "vocab.add_tokens=[<|x|>]")
    assert code == 1 and "different model config" in err


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(
        capsys, f"out_dir={tmp_path}", *BASE, "steps=2", "save_every=2", "export_on_finish=false"
    )
    good = json.loads(out.splitlines()[-1])["checkpoint"]
    before = _weights(Path(good))
    # an absurd learning rate blows the weights up within a few steps
    code, _, err = _cli(
        capsys,
        f"out_dir={tmp_path}",
        *BASE,
        "steps=40",
        "save_every=1000",
        "optim.lr=1e30",
        "optim.grad_clip=1e30",
        "optim.schedule.warmup_steps=0",
    )
    last = err.strip().splitlines()[-1]  # after the progress bar: one error line, no traceback
    assert (
        code == 1 and last.startswith("s2tts: error: non-finite grad_norm at step") and "Traceback" not in err
    )
    assert Checkpointer(tmp_path / "checkpoints").latest() == Path(good)
    after = _weights(Path(good))
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("precision", ["bf16", "bf16-true"])
def test_bf16_on_cpu(tmp_path: Path, precision: str) -> None:
    fp32 = train_lm(_cfg(tmp_path / "fp32", "steps=2", "export_on_finish=false"))
    low = train_lm(_cfg(tmp_path / precision, "steps=2", "export_on_finish=false", f"precision={precision}"))
    assert low["final_loss"] == pytest.approx(fp32["final_loss"], rel=0.05)  # same run, bf16 rounding
    dtypes = {v.dtype for v in _weights(Path(low["checkpoint"])).values()}
    assert dtypes == ({torch.bfloat16} if precision == "bf16-true" else {torch.float32})
    logged = [json.loads(line) for line in (tmp_path / precision / "metrics.jsonl").read_text().splitlines()]
    assert {"step": 0, "precision": precision}.items() <= logged[0].items()  # what the run trained in
