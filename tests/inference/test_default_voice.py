"""A checkpoint's default voice (voice.json): a request without references is spoken with it, one
that opts out or brings its own references is not, bad files are typed errors, and packaging
carries it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from s2tts.checkpoint import init_checkpoint, load_checkpoint
from s2tts.errors import WeightsError
from s2tts.inference.default_voice import VOICE_FILE, read_default_voice, write_default_voice
from s2tts.inference.engine import EngineConfig, TTSEngine
from s2tts.inference.packaged import verify_packaged
from s2tts.inference.params import SamplingParams
from s2tts.inference.types import SynthesisRequest, VoiceReference
from s2tts.models.codec import load_codec
from s2tts.recipes.package import package_model

FRAMES = SamplingParams(max_new_tokens=5, min_new_tokens=5)
VOICE_TEXT = "The default voice says this."


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_checkpoint(tmp_path_factory.mktemp("plain"), "tiny", seed=0, codec_preset="tiny")


@pytest.fixture(scope="module")
def voiced_dir(plain_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("voiced") / "ckpt"
    shutil.copytree(plain_dir, path)
    codes = torch.randint(0, 64, (10, 7), generator=torch.Generator().manual_seed(1))
    write_default_voice(path, VOICE_TEXT, codes, source={"speaker": "test"})
    return path


def _engine(directory: Path) -> TTSEngine:
    return TTSEngine(
        load_checkpoint(directory), load_codec(directory), EngineConfig(max_sessions=2, max_seq_len=512)
    )


def _prompt(engine: TTSEngine, request: SynthesisRequest) -> torch.Tensor:
    chunks = list(engine.iter_stream(request))
    assert chunks[-1].trace is not None
    return chunks[-1].trace[0].prompt


def test_roundtrip_and_checkpoint_loads_it(voiced_dir: Path, plain_dir: Path) -> None:
    ckpt = load_checkpoint(voiced_dir)
    assert ckpt.default_voice is not None and ckpt.default_voice.text == VOICE_TEXT
    assert ckpt.default_voice.codes.shape == (10, 7) and ckpt.default_voice.codes.dtype == torch.long
    assert load_checkpoint(plain_dir).default_voice is None


def test_a_request_without_references_gets_the_default_voice(voiced_dir: Path, plain_dir: Path) -> None:
    voice = load_checkpoint(voiced_dir).default_voice
    assert voice is not None
    explicit = VoiceReference(voice.text, codes=voice.codes)
    with _engine(voiced_dir) as voiced, _engine(plain_dir) as plain:
        default = _prompt(voiced, SynthesisRequest("Hello there.", sampling=FRAMES, seed=0, trace=True))
        named = _prompt(
            plain, SynthesisRequest("Hello there.", [explicit], sampling=FRAMES, seed=0, trace=True)
        )
        bare = _prompt(plain, SynthesisRequest("Hello there.", sampling=FRAMES, seed=0, trace=True))
        opted_out = _prompt(
            voiced,
            SynthesisRequest("Hello there.", sampling=FRAMES, seed=0, trace=True, default_voice=False),
        )
        other = VoiceReference("Another voice.", codes=torch.ones(10, 3, dtype=torch.long))
        own = _prompt(voiced, SynthesisRequest("Hello there.", [other], sampling=FRAMES, seed=0, trace=True))
        own_plain = _prompt(
            plain, SynthesisRequest("Hello there.", [other], sampling=FRAMES, seed=0, trace=True)
        )
    # the default voice is exactly the same prompt as naming that reference, and holds its codes
    assert torch.equal(default, named) and default.shape[1] > bare.shape[1] + 7
    assert torch.equal(opted_out, bare)  # default_voice=False: no reference at all
    assert torch.equal(own, own_plain)  # a request's own references replace the default voice


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda b: b.update(codes=b["codes"][:4]), "10 equal-length lists"),
        (lambda b: b["codes"][0].__setitem__(0, 10**6), "outside the model's codebook"),
        (lambda b: b["codes"][1].__setitem__(0, 1.5), "equal-length lists of integers"),
        (lambda b: b.update(format="other"), "not a voice file"),
        (lambda b: b.update(version=9), "version 9"),
        (lambda b: b.update(text=" "), "no transcript"),
    ],
)
def test_a_bad_voice_file_is_a_typed_error(voiced_dir: Path, tmp_path: Path, edit, needle: str) -> None:
    path = tmp_path / "ckpt"
    shutil.copytree(voiced_dir, path)
    body = json.loads((path / VOICE_FILE).read_text())
    edit(body)
    (path / VOICE_FILE).write_text(json.dumps(body))
    with pytest.raises(WeightsError, match=needle):
        load_checkpoint(path)
    (path / VOICE_FILE).write_text("{not json")
    with pytest.raises(WeightsError, match="cannot be read"):
        read_default_voice(path, 10, 4096)


def test_writing_refuses_what_could_not_be_read(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="integers of shape"):
        write_default_voice(tmp_path, "text", torch.zeros(10, 3))
    with pytest.raises(WeightsError, match="transcript"):
        write_default_voice(tmp_path, "  ", torch.zeros(10, 3, dtype=torch.long))
    assert not (tmp_path / VOICE_FILE).exists()


def test_packaging_carries_the_voice(voiced_dir: Path, tmp_path: Path) -> None:
    dst = tmp_path / "assets" / "small"
    manifest = package_model(voiced_dir, dst)
    assert VOICE_FILE in manifest["files"] and verify_packaged(dst) == manifest
    assert load_checkpoint(dst).default_voice.text == VOICE_TEXT
    # the voice is covered by the manifest's hashes like the weights
    (dst / VOICE_FILE).write_text((dst / VOICE_FILE).read_text().replace("says", "said"))
    with pytest.raises(Exception, match="voice.json"):
        verify_packaged(dst)
