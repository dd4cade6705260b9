"""Decoding uploaded audio and base64 / data URLs."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from s2tts.audio import read_audio, write_audio
from s2tts.errors import AudioError, AudioTooLongError
from s2tts.server.audio_input import decode_audio, decode_base64
from s2tts.server.formats import encode_audio

from .signals import sine


@pytest.mark.parametrize("fmt", ["wav", "mp3", "flac", "opus", "aac"])
def test_decodes_common_formats(fmt: str) -> None:
    data = encode_audio(sine(22050, rate=22050), fmt, 22050)
    pcm, rate = decode_audio(data)
    assert pcm.dtype == np.float32 and pcm.ndim == 1
    assert 0.98 < len(pcm) / rate < 1.1


def test_stereo_upload_is_the_file_read_back_then_averaged(tmp_path) -> None:
    """Uploads go through s2tts.audio: the same samples ``read_audio`` gives for that file, and the
    one downmix rule (channel mean), not FFmpeg's own stereo-to-mono matrix."""
    rng = np.random.default_rng(0)
    left, right = 0.5 * sine(8000, rate=16000), rng.uniform(-0.4, 0.4, 8000).astype(np.float32)
    path = tmp_path / "stereo.flac"
    write_audio(path, np.stack([left, right]), 16000)
    pcm, rate = decode_audio(path.read_bytes())
    channels, file_rate = read_audio(path)
    assert rate == file_rate == 16000 and channels.shape == (2, 8000)
    np.testing.assert_allclose(pcm, (channels[0] + channels[1]) / 2, atol=1e-6)
    assert np.abs(pcm - (left + right) / 2).max() < 1e-3  # 16-bit FLAC rounding only


def test_refuses_garbage_empty_and_too_long() -> None:
    with pytest.raises(AudioError) as info:
        decode_audio(b"definitely not audio" * 20, what="reference 2")
    # The message names what was sent and the problem, not FFmpeg's errno and '<none>' file name.
    assert str(info.value) == "reference 2: cannot decode: not an audio file, or a format FFmpeg cannot read"
    with pytest.raises(AudioError, match="audio is empty"):
        decode_audio(b"")
    with pytest.raises(AudioTooLongError, match="longer than 2 s"):
        decode_audio(encode_audio(sine(44100 * 3), "wav", 44100), max_seconds=2.0)


def test_base64_forms() -> None:
    raw = bytes(range(256))
    b64 = base64.b64encode(raw).decode()
    assert decode_base64(b64) == raw
    assert decode_base64(f"data:audio/wav;base64,{b64}") == raw
    assert decode_base64(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == raw
    assert decode_base64(b64[:60] + "\n" + b64[60:]) == raw


@pytest.mark.parametrize(
    "bad", ["file:///etc/passwd", "https://example.com/a.wav", "@@@@", "", "data:audio/wav,abc"]
)
def test_base64_refusals(bad: str) -> None:
    with pytest.raises(AudioError):
        decode_base64(bad)
