"""``s2tts codec encode|decode`` end to end on real files, and its one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from s2tts.cli import main
from s2tts.models.codec import load_codec

CHECKPOINT = Path(__file__).parents[1] / "data" / "parity" / "codec"


@pytest.fixture
def wav(tmp_path) -> Path:
    rate = 22050
    t = np.arange(int(0.8 * rate)) / rate
    stereo = np.stack([0.4 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 440 * t)], axis=1)
    path = tmp_path / "in.wav"
    sf.write(path, stereo, rate, subtype="PCM_16")
    return path


def test_encode_then_decode(wav, tmp_path, capsys):
    codes_path, out = tmp_path / "codes.npy", tmp_path / "out.wav"
    assert main(["codec", "encode", str(wav), "-o", str(codes_path), "--checkpoint", str(CHECKPOINT)]) == 0
    codes = np.load(codes_path)
    assert codes.dtype == np.int64 and codes.shape == (10, int(np.ceil(0.8 * 44100 / 2048)))

    codec = load_codec(CHECKPOINT)
    data, rate = sf.read(wav, dtype="float32", always_2d=True)
    expected, _ = codec.encode(data.T, rate)
    assert np.array_equal(codes, expected[0].numpy())

    assert main(["codec", "decode", str(codes_path), "-o", str(out), "--checkpoint", str(CHECKPOINT)]) == 0
    audio, rate = sf.read(out, dtype="float32")
    assert rate == 44100 and audio.shape == (codes.shape[1] * 2048,)
    reference = codec.decode(torch.from_numpy(codes))[0, 0].numpy()
    assert np.abs(audio - reference).max() < 2 / 32768 + 1e-6  # 16-bit PCM rounding only
    assert "codes [10," in capsys.readouterr().err


def test_decode_to_mp3_with_a_reference_config(wav, tmp_path):
    codes_path, out = tmp_path / "codes.npy", tmp_path / "out.mp3"
    model = [
        "--checkpoint",
        str(CHECKPOINT / "codec.safetensors"),
        "--config",
        str(CHECKPOINT / "codec_config.json"),
    ]
    assert main(["codec", "encode", str(wav), "-o", str(codes_path), *model]) == 0
    assert main(["codec", "decode", str(codes_path), "-o", str(out), *model]) == 0
    assert out.stat().st_size > 1000


def test_random_weights_demo(wav, tmp_path):
    codes_path, out = tmp_path / "codes.npy", tmp_path / "out.flac"
    demo = ["--random-weights", "--preset", "tiny"]
    assert main(["codec", "encode", str(wav), "-o", str(codes_path), *demo]) == 0
    assert main(["codec", "decode", str(codes_path), "-o", str(out), *demo]) == 0
    assert sf.info(out).samplerate == 44100


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("s2tts: error:")
    return err


def test_missing_checkpoint_is_a_clear_error(wav, tmp_path, capsys):
    assert main(["codec", "encode", str(wav), "-o", str(tmp_path / "c.npy")]) == 1
    assert "--checkpoint" in _error_line(capsys)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p.write_bytes(b"RIFF....garbage"), "not a .npy file"),
        (lambda p: np.save(p, np.zeros((3, 4, 5), dtype=np.int64)), "shape"),
        (lambda p: np.save(p, np.zeros((10, 4), dtype=np.float32)), "integers"),
        (lambda p: np.save(p, np.full((10, 4), 5000, dtype=np.int64)), "out of range"),
    ],
)
def test_bad_codes_files(tmp_path, capsys, make, match):
    path = tmp_path / "codes.npy"
    make(path)
    args = ["codec", "decode", str(path), "-o", str(tmp_path / "o.wav"), "--checkpoint", str(CHECKPOINT)]
    assert main(args) == 1
    assert match in _error_line(capsys)


def test_bad_audio_and_missing_files(tmp_path, capsys):
    junk = tmp_path / "junk.wav"
    junk.write_text("this is not audio")
    args = ["codec", "encode", str(junk), "-o", str(tmp_path / "c.npy"), "--checkpoint", str(CHECKPOINT)]
    assert main(args) == 1
    assert "cannot decode" in _error_line(capsys)
    args[2] = str(tmp_path / "missing.wav")
    assert main(args) == 1
    assert "not found" in _error_line(capsys)
