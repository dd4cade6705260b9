"""soxr resampling keeps length ratio and pitch; downmix averages channels."""

from __future__ import annotations

import numpy as np
import pytest

from s2tts.audio import StreamResampler, downmix, resample
from s2tts.errors import AudioError


def _peak_hz(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize(("src", "dst"), [(16000, 44100), (48000, 44100), (44100, 22050), (8000, 44100)])
def test_resample_keeps_pitch_and_length(src, dst):
    t = np.arange(src) / src  # 1 s
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    out = resample(tone, src, dst)
    assert out.dtype == np.float32 and out.shape == (round(src * dst / src),)
    assert abs(_peak_hz(out, dst) - 440) < 2
    assert 0.95 < np.abs(out[dst // 10 : -dst // 10]).max() < 1.05


def test_resample_multichannel_and_identity():
    audio = np.random.default_rng(0).standard_normal((2, 1600)).astype(np.float32)
    assert resample(audio, 16000, 44100).shape == (2, 4410)
    same = resample(audio, 16000, 16000)
    assert np.array_equal(same, audio) and same is not audio
    with pytest.raises(AudioError):
        resample(audio, 0, 44100)
    with pytest.raises(AudioError):
        resample(np.zeros((1, 2, 3)), 16000, 44100)


def test_downmix():
    audio = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]], dtype=np.float32)
    assert np.allclose(downmix(audio), [0.5, 0.5, 0.5])
    assert np.array_equal(downmix(audio[0]), audio[0])


def test_stream_resampler_chunks_leave_no_mark() -> None:
    """Chunks of any size give the same samples as one push, and as the whole-array ``resample``."""
    rng = np.random.default_rng(1)
    x = (0.5 * np.sin(2 * np.pi * 440 * np.arange(44100) / 44100) + 0.05 * rng.standard_normal(44100)).astype(
        np.float32
    )
    whole = StreamResampler(44100, 24000)
    one = np.concatenate([whole.push(x), whole.push(np.zeros(0, np.float32), last=True)])
    stream = StreamResampler(44100, 24000)
    cuts = [0, 1, 700, 4096, 9001, 30000, 44100]
    parts = [stream.push(x[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
    chunked = np.concatenate([*parts, stream.push(np.zeros(0, np.float32), last=True)])
    assert chunked.dtype == np.float32 and len(chunked) == len(one) == 24000
    np.testing.assert_allclose(chunked, one, atol=1e-6)
    np.testing.assert_allclose(chunked, resample(x, 44100, 24000), atol=1e-4)
