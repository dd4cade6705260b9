"""The codec trainer end to end on a tiny codec: summary line, export, exact resume, weights-only."""

import json
from pathlib import Path

import pytest
import torch

from s2tts.checkpoint import init_checkpoint, load_checkpoint
from s2tts.cli import main as cli_main
from s2tts.models.codec.weights import load_codec
from s2tts.training.checkpointing import Checkpointer
from s2tts.training.codec.config import CodecTrainConfig
from s2tts.training.codec.recipe import train
from s2tts.training.metrics_log import read_metrics
from s2tts.training.run_config import load_config

from .conftest import tiny_run


def _assert_same(a, b, where=""):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_cli_run_prints_summary_and_exports_a_loadable_codec(tmp_path, speech_dir, capsys):
    assert cli_main(["train", "codec", *tiny_run(tmp_path / "run", speech_dir)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 6 and summary["first_mel_loss"] > 0 and summary["final_mel_loss"] > 0
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert any("loss_d" in r for r in rows) and any("loss_commitment" in r for r in rows)
    assert any("cb0_perplexity" in r for r in rows)  # validation after k-means
    assert (tmp_path / "run" / "samples" / "step-00000006" / "full-0.wav").is_file()
    assert (tmp_path / "run" / "curves.png").is_file()
    # export -> load_codec -> streaming decode equals one-shot decode
    codec = load_codec(summary["checkpoint"])
    audio = torch.randn(1, 1, 4 * 2048, generator=torch.Generator().manual_seed(0)) * 0.1
    codes, _ = codec.encode(audio, 44100)
    full = codec.decode(codes)
    state = codec.init_decode_state(1)
    parts = torch.cat([codec.decode_step(codes[:, :, i : i + 1], state) for i in range(4)], dim=-1)
    torch.testing.assert_close(parts, full, atol=1e-5, rtol=1e-4)
    # a mid-run checkpoint exports too, and the last one equals the trainer's own export
    assert (
        cli_main(["train", "codec-export", "--run", str(tmp_path / "run"), "-o", str(tmp_path / "mid")]) == 0
    )
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["export"] == str(tmp_path / "mid")
    mid = load_codec(tmp_path / "mid")
    for name, value in codec.state_dict().items():
        torch.testing.assert_close(mid.state_dict()[name], value, rtol=0, atol=1e-6)
    assert cli_main(["train", "codec-export", "--run", str(tmp_path / "nowhere")]) == 1
    assert "no training checkpoint" in capsys.readouterr().err


def test_export_into_an_lm_checkpoint_directory(tmp_path, speech_dir):
    ckpt_dir = tmp_path / "ckpt"
    init_checkpoint(ckpt_dir, preset="tiny", codec_preset=None, seed=0)
    cfg = load_config(
        CodecTrainConfig, None, tiny_run(tmp_path / "run", speech_dir, "steps=3", f"export_to={ckpt_dir}")
    )
    train(cfg)
    path = load_checkpoint(ckpt_dir).codec_path()
    assert path is not None and path.name == "codec.safetensors"
    assert load_codec(path).config == load_codec(tmp_path / "run" / "export").config


def test_resume_is_exact(tmp_path, speech_dir):
    straight = load_config(CodecTrainConfig, None, tiny_run(tmp_path / "a", speech_dir))
    train(straight)
    first = load_config(CodecTrainConfig, None, tiny_run(tmp_path / "b", speech_dir, "steps=3"))
    train(first)  # stops after the warm-up and k-means, before the GAN
    train(load_config(CodecTrainConfig, None, tiny_run(tmp_path / "b", speech_dir)))
    a = Checkpointer.read(Checkpointer(tmp_path / "a" / "checkpoints").latest())
    b = Checkpointer.read(Checkpointer(tmp_path / "b" / "checkpoints").latest())
    assert a["step"] == b["step"] == 6
    # every weight, optimizer moment, schedule, EMA statistic and generator state, bit for bit
    # (the trainer draws only from explicit generators, so the global RNG state is not compared)
    _assert_same(a["objects"], b["objects"], "objects")
    _assert_same(a["extra"]["first_mel_loss"], b["extra"]["first_mel_loss"])


def test_weights_only_start_and_config_errors(tmp_path, speech_dir, capsys):
    train(load_config(CodecTrainConfig, None, tiny_run(tmp_path / "a", speech_dir, "steps=3")))
    source = Checkpointer(tmp_path / "a" / "checkpoints").latest()
    cfg = load_config(
        CodecTrainConfig, None, tiny_run(tmp_path / "b", speech_dir, "steps=1", f"weights_from={source}")
    )
    summary = train(cfg)
    assert summary["steps"] == 1
    saved = Checkpointer.read(source)["objects"]["generator"]
    # starts from the loaded weights, with fresh optimizers: the first mel loss is the trained one
    assert summary["first_mel_loss"] < Checkpointer.read(source)["extra"]["first_mel_loss"]
    assert "codec.encoder.block.0.conv.parametrizations.weight.original1" in saved
    # bad input: one line on stderr, non-zero exit
    assert cli_main(["train", "codec", "optim.lr_gg=1"]) != 0
    assert "lr_gg" in capsys.readouterr().err
    assert cli_main(["train", "codec", f"out_dir={tmp_path / 'c'}"]) != 0
    assert "data.audio_dir" in capsys.readouterr().err


@pytest.mark.parametrize("path", ["configs/train/codec-smoke.yaml"])
def test_smoke_config_parses(path):
    cfg = load_config(CodecTrainConfig, Path(__file__).parents[3] / path)
    assert cfg.data.synthetic > 0 and cfg.phases.unquantized_steps < cfg.phases.gan_start < cfg.steps


def test_distillation_trains_the_head_toward_whisper(tmp_path, speech_dir):
    extra = ("distill.enabled=true", "steps=4", "phases.unquantized_steps=1", "phases.gan_start=100")
    summary = train(load_config(CodecTrainConfig, None, tiny_run(tmp_path / "run", speech_dir, *extra)))
    assert summary["steps"] == 4
    rows = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "loss_distill" in r]
    assert len(rows) == 4  # every step: the warm-up also runs through codebook 0's projections
    assert all(0.0 < r["loss_distill"] < 2.0 for r in rows)  # 1 - cosine
    saved = Checkpointer.read(Checkpointer(tmp_path / "run" / "checkpoints").latest())["objects"]["generator"]
    assert saved["head.proj.weight"].shape == (512, 64)  # Whisper base width <- tiny latent
    # the head is training-only: the export is a plain codec
    assert load_codec(summary["checkpoint"]).config.latent_dim == 64


def test_fine_tune_starts_from_a_codec_file(tmp_path, speech_dir):
    from s2tts.models.codec.codec import Codec
    from s2tts.models.codec.config import CodecConfig

    torch.manual_seed(3)
    source = Codec(CodecConfig.preset("tiny")).eval()
    source.save(tmp_path / "init" / "codec.safetensors")
    extra = (
        f"model.init_from={tmp_path / 'init'}",
        "steps=1",
        "optim.lr_g=0",
        "vq.mode=loss",
        "phases.unquantized_steps=0",
    )
    summary = train(load_config(CodecTrainConfig, None, tiny_run(tmp_path / "run", speech_dir, *extra)))
    tuned = load_codec(summary["checkpoint"])
    codes = torch.randint(0, 32, (1, 10, 3), generator=torch.Generator().manual_seed(0))
    # learning rate 0: the export is the file we started from (through weight norm and back)
    torch.testing.assert_close(tuned.decode(codes), source.decode(codes), atol=1e-5, rtol=1e-4)


def test_freeze_codes_trains_the_decoder_and_keeps_every_code(tmp_path, speech_dir, capsys):
    from s2tts.audio.io import read_audio

    train(load_config(CodecTrainConfig, None, tiny_run(tmp_path / "a", speech_dir)))
    source = Checkpointer(tmp_path / "a" / "checkpoints").latest()
    before = load_codec(tmp_path / "a" / "export").eval()
    extra = (
        f"weights_from={source}",
        "freeze_codes=true",
        "steps=4",
        "phases.gan_start=2",
        "optim.lr_g=1e-2",
    )
    summary = train(load_config(CodecTrainConfig, None, tiny_run(tmp_path / "b", speech_dir, *extra)))
    assert summary["steps"] == 4
    after = load_codec(tmp_path / "b" / "export").eval()
    audio, rate = read_audio(sorted(speech_dir.glob("*.wav"))[0])
    codes_before, _ = before.encode(audio, rate)
    codes_after, _ = after.encode(audio, rate)
    assert torch.equal(codes_before, codes_after)  # the same codes: an LM trained on them stays valid
    changed = [k for k, v in before.state_dict().items() if not torch.equal(v, after.state_dict()[k])]
    assert changed and all(
        k.startswith(("decoder.", "quantizer.post_module", "quantizer.upsample")) for k in changed
    )
    assert any(k.startswith("decoder.") for k in changed)
    assert not torch.equal(before.decode(codes_before), after.decode(codes_after))
    # nothing to keep without trained weights: a clear error
    assert cli_main(["train", "codec", *tiny_run(tmp_path / "c", speech_dir, "freeze_codes=true")]) != 0
    assert "freeze_codes" in capsys.readouterr().err


def test_freeze_codes_starts_from_an_exported_fp16_codec(tmp_path, speech_dir):
    """A milestone (an exported codec in fp16, no training checkpoint) refines its decoder through
    model.init_from: the codes stay those of the milestone, the decoder and the discriminators train."""
    from s2tts.audio.io import read_audio
    from s2tts.recipes.fp16 import export_fp16

    train(load_config(CodecTrainConfig, None, tiny_run(tmp_path / "a", speech_dir)))
    export_fp16(tmp_path / "a" / "export", tmp_path / "milestone")
    before = load_codec(tmp_path / "milestone").float().eval()
    extra = (
        f"model.init_from={tmp_path / 'milestone'}",
        "freeze_codes=true",  # tiny_run's unquantized_steps=2: no k-means may rewrite trained codebooks
        "phases.gan_start=0",
        "steps=3",
        "optim.lr_g=1e-2",
    )
    summary = train(load_config(CodecTrainConfig, None, tiny_run(tmp_path / "b", speech_dir, *extra)))
    assert summary["steps"] == 3
    rows = read_metrics(tmp_path / "b" / "metrics.jsonl")
    assert any("loss_d" in r for r in rows)  # adversarial from the first step, fresh discriminators
    after = load_codec(tmp_path / "b" / "export").eval()
    audio, rate = read_audio(sorted(speech_dir.glob("*.wav"))[0])
    codes_before, _ = before.encode(audio, rate)
    assert torch.equal(after.encode(audio, rate)[0], codes_before)
    # (weight norm's round trip moves frozen fp16 weights by float rounding only)
    after_state = after.state_dict()
    changed = [
        k
        for k, v in before.state_dict().items()
        if not torch.allclose(v, after_state[k], rtol=1e-5, atol=1e-6)
    ]
    assert changed and all(
        k.startswith(("decoder.", "quantizer.post_module", "quantizer.upsample")) for k in changed
    )


def test_freeze_codes_starts_from_a_distilled_codec_with_or_without_its_head(tmp_path, speech_dir):
    """A codec trained with the Whisper distillation head refines its decoder with the head left out
    (distill off) or kept frozen (distill on: no teacher runs, since codebook 0 cannot change)."""
    extra = ("distill.enabled=true", "steps=2", "phases.unquantized_steps=1", "phases.gan_start=100")
    train(load_config(CodecTrainConfig, None, tiny_run(tmp_path / "a", speech_dir, *extra)))
    source = Checkpointer(tmp_path / "a" / "checkpoints").latest()
    for distill in ("true", "false"):
        run = tmp_path / f"refine-{distill}"
        overrides = (f"weights_from={source}", "freeze_codes=true", f"distill.enabled={distill}", "steps=2")
        assert train(load_config(CodecTrainConfig, None, tiny_run(run, speech_dir, *overrides)))["steps"] == 2
        assert not any("loss_distill" in r for r in read_metrics(run / "metrics.jsonl"))
    # resuming the distilled run itself without distillation leaves its head behind
    more = ("distill.enabled=false", "steps=3", "phases.unquantized_steps=1", "phases.gan_start=100")
    assert (
        train(load_config(CodecTrainConfig, None, tiny_run(tmp_path / "a", speech_dir, *more)))["steps"] == 3
    )
