"""The packaged default model: an fp16 export loads in fp32 and decodes like its source, the default
is the packaged model when whole and the random checkpoint when absent, and a broken one is a
typed error (one line from the CLI). Every packaged model here is written into a temporary
directory by the recipe's own packaging code; nothing touches the source tree."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import soundfile as sf
import torch
from safetensors import safe_open

from s2tts.checkpoint import RANDOM_MARKER, init_checkpoint, load_checkpoint
from s2tts.cli import main
from s2tts.errors import PackagedModelError, RecipeError
from s2tts.inference.engine import EngineConfig
from s2tts.inference.factory import default_model_dir, load_engine
from s2tts.inference.generate import generate_frames
from s2tts.inference.packaged import (
    MANIFEST,
    PACKAGED_ENV,
    find_packaged,
    packaged_model_dir,
    verify_packaged,
)
from s2tts.inference.params import SamplingParams
from s2tts.inference.types import SynthesisRequest
from s2tts.models.codec import load_codec
from s2tts.recipes.package import package_model

FRAMES = 24


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny fp32 checkpoint with a codec, marked as trained (no random_init.json) so that the
    engine applies no length rule to it, plus training leftovers packaging must leave behind."""
    path = init_checkpoint(tmp_path_factory.mktemp("source"), "tiny", seed=3, codec_preset="tiny")
    (path / RANDOM_MARKER).unlink()
    (path / "trainer_state.json").write_text(json.dumps({"step": 1234}) + "\n")
    (path / "loss.png").write_bytes(b"\x89PNG not really")
    return path


@pytest.fixture
def packaged(source: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "assets" / "small"
    package_model(source, dst, provenance={"model": "test"})
    return dst


def _greedy(model: torch.nn.Module, prompt: torch.Tensor) -> tuple[torch.Tensor, dict[str, list]]:
    """FRAMES frames of greedy codes (FRAMES, C) and the logits they were drawn from."""
    params = SamplingParams(
        top_k=1, top_p=0.9, temperature=1.0, max_new_tokens=FRAMES + 1, min_new_tokens=FRAMES + 1
    )
    logits: dict[str, list[torch.Tensor]] = {}
    frames = list(generate_frames(model, prompt, params, torch.Generator().manual_seed(0), logits))
    return torch.stack(frames), logits


def test_fp16_export_loads_as_fp32_and_decodes_like_its_source(source: Path, packaged: Path) -> None:
    manifest = json.loads((packaged / MANIFEST).read_text())
    assert set(manifest["files"]) == {
        "codec.safetensors", "codec_config.json", "config.json", "model.safetensors", "tokenizer.json",
        "tokenizer_config.json", "trainer_state.json",
    }  # fmt: skip
    assert not (packaged / "loss.png").exists() and manifest["random_weights"] is False
    for name in ("model.safetensors", "codec.safetensors"):
        with safe_open(str(packaged / name), framework="pt") as f:
            assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}  # noqa: SIM118
    half_bytes = sum(manifest["files"][n]["bytes"] for n in ("model.safetensors", "codec.safetensors"))
    full_bytes = sum((source / n).stat().st_size for n in ("model.safetensors", "codec.safetensors"))
    assert half_bytes < 0.55 * full_bytes

    ref = load_checkpoint(source)
    ckpt = load_checkpoint(packaged)  # the normal loader, default dtype
    ref_state, state = ref.model.state_dict(), ckpt.model.state_dict()
    for key, tensor in state.items():
        assert tensor.dtype == torch.float32, key
        # exactly the source's weights rounded to fp16: nothing else changed on the way
        assert torch.equal(tensor, ref_state[key].half().float()), key
    assert {p.dtype for p in load_checkpoint(packaged, dtype="bfloat16").model.parameters()} == {
        torch.bfloat16
    }

    prompt = ref.prompt_builder().build("Hello there, a packaged model speaks.")
    ref_codes, ref_logits = _greedy(ref.model, prompt)
    codes, logits = _greedy(ckpt.model, prompt)
    assert codes.shape == (FRAMES, ref.config.num_codebooks)
    assert torch.equal(codes, ref_codes)  # same greedy path (its margins exceed fp16 rounding here)
    for part in ("slow", "fast"):
        a, b = torch.cat(ref_logits[part]), torch.cat(logits[part])
        finite = torch.isfinite(a)
        assert torch.equal(finite, torch.isfinite(b))
        assert (a[finite] - b[finite]).abs().max() < 5e-3  # fp16 rounding of ~1e-3 relative

    ref_codec, codec = load_codec(source), load_codec(packaged)
    assert {p.dtype for p in codec.parameters()} == {torch.float32}
    with torch.inference_mode():
        clamp = ref_codec.clamp_codes(codes.T)
        a, b = ref_codec.decode(clamp[None]), codec.decode(clamp[None])
    assert a.shape == b.shape and (a - b).abs().max() < 0.02 * a.abs().max()


def test_default_is_the_packaged_model_when_whole(packaged: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("S2TTS_HOME", str(tmp_path / "home"))
    assert default_model_dir(packaged) == packaged
    monkeypatch.setenv(PACKAGED_ENV, str(packaged))
    assert packaged_model_dir() == packaged and find_packaged() == packaged
    with load_engine(config=EngineConfig(max_sessions=1)) as engine:
        assert engine.checkpoint.directory == packaged and not engine.random_weights
        params = SamplingParams(max_new_tokens=5, min_new_tokens=5)
        pcm = engine.synthesize(SynthesisRequest("Hello.", sampling=params, seed=0))
    assert pcm.shape == (4 * engine.codec.frame_length,)
    assert not (tmp_path / "home").exists()  # no random checkpoint was written


def test_without_a_manifest_the_default_is_the_random_checkpoint(
    packaged: Path, tmp_path: Path, monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    (packaged / MANIFEST).unlink()  # e.g. a packaging run that was interrupted
    monkeypatch.setenv("S2TTS_HOME", str(tmp_path / "home"))
    with caplog.at_level(logging.WARNING, logger="s2tts.inference.factory"):
        chosen = default_model_dir(packaged)
    assert chosen == tmp_path / "home" / "tiny-random"
    assert load_checkpoint(chosen).random_weights
    assert any("its audio is noise" in r.getMessage() for r in caplog.records)
    assert default_model_dir(tmp_path / "nothing-here") == chosen


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda d: (d / "codec.safetensors").unlink(), "codec.safetensors is missing"),
        (lambda d: _flip_a_byte(d / "model.safetensors"), "sha256 of model.safetensors differs"),
        (lambda d: (d / "tokenizer.json").write_text("{}"), "tokenizer.json has 2 bytes"),
        (lambda d: (d / MANIFEST).write_text("{not json"), "cannot be read"),
        (lambda d: (d / MANIFEST).write_text('{"format": "other"}'), "not a packaged-model manifest"),
        (
            lambda d: (d / MANIFEST).write_text(
                json.dumps(json.loads((d / MANIFEST).read_text()) | {"version": 99})
            ),
            "manifest version 99",
        ),
    ],
)
def test_a_broken_packaged_model_is_a_typed_error(packaged: Path, damage, needle: str) -> None:
    verify_packaged(packaged)
    damage(packaged)
    with pytest.raises(PackagedModelError, match=needle):
        find_packaged(packaged)
    with pytest.raises(PackagedModelError, match=needle):
        load_engine(packaged=packaged)


def test_a_manifest_naming_a_file_outside_is_refused(packaged: Path) -> None:
    manifest = json.loads((packaged / MANIFEST).read_text())
    manifest["files"]["../x"] = {"bytes": 1, "sha256": "0"}
    (packaged / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(PackagedModelError, match="outside"):
        verify_packaged(packaged)


def test_speak_uses_the_packaged_model_or_says_in_one_line_why_not(
    packaged: Path, tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(PACKAGED_ENV, str(packaged))
    monkeypatch.setenv("S2TTS_HOME", str(tmp_path / "home"))
    out = tmp_path / "hello.wav"
    assert main(["speak", "Hello.", "-o", str(out), "--seed", "0", "--max-new-tokens", "3"]) == 0
    err = capsys.readouterr().err
    assert "random weights" not in err  # the random fallback would say so
    assert sf.info(out).frames % 2048 == 0 and not (tmp_path / "home").exists()
    _flip_a_byte(packaged / "codec.safetensors")
    assert main(["speak", "Hello.", "-o", str(tmp_path / "x.wav")]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("s2tts: error: the packaged model in")
    assert "codec.safetensors differs" in lines[0] and "--checkpoint" in lines[0]


def test_packaging_replaces_the_manifest_last(source: Path, packaged: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in source.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(Exception, match="(?i)header|safetensor|deserializ"):
        package_model(bad, packaged)
    assert find_packaged(packaged) is None  # half-replaced: no manifest, so no packaged model
    (bad / "codec.safetensors").unlink()
    with pytest.raises(RecipeError, match="no codec.safetensors"):
        package_model(bad, tmp_path / "other")
    with pytest.raises(RecipeError, match="into itself"):
        package_model(source, source)
