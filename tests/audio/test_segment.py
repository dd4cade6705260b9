"""Resampled segments of files equal the same stretch of the whole file resampled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from s2tts.audio import audio_frames, downmix, read_audio, read_segment, resample, resampled_length
from s2tts.errors import AudioError

TARGET = 44100


def _write(path: Path, rate: int, seconds: float, channels: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)[:, None] + 0.05 * rng.standard_normal((n, channels))
    sf.write(path, tone.astype(np.float32), rate, subtype="FLOAT" if path.suffix == ".wav" else "PCM_16")
    return path


@pytest.mark.parametrize(
    ("name", "rate", "channels"),
    [("a.wav", 22050, 1), ("b.flac", 16000, 2), ("c.wav", 48000, 1), ("d.flac", 44100, 2)],
)
def test_segments_match_the_whole_file_resampled(tmp_path: Path, name: str, rate: int, channels: int) -> None:
    path = _write(tmp_path / name, rate, 0.8, channels, seed=rate)
    audio, file_rate = read_audio(path)
    whole = downmix(audio) if rate == TARGET else resample(downmix(audio), file_rate, TARGET)
    assert audio_frames(path) == (audio.shape[1], rate)
    assert resampled_length(audio.shape[1], rate, TARGET) == whole.shape[0]
    for start, count in [(0, 4096), (9000, 2048), (whole.shape[0] - 1000, 2048), (whole.shape[0] + 5, 100)]:
        seg = read_segment(path, start, count, TARGET)
        ref = whole[start : start + count]
        assert seg.dtype == np.float32 and seg.shape == ref.shape
        if rate == TARGET:  # no resampling: a plain slice
            assert np.array_equal(seg, ref)
        else:  # local resampling with filter context lines up with the whole-file one
            np.testing.assert_allclose(seg, ref, rtol=0, atol=1e-6)


def test_segment_errors(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.wav", 22050, 0.1, 1, seed=0)
    with pytest.raises(AudioError, match=">= 0"):
        read_segment(path, -1, 10, TARGET)
    with pytest.raises(FileNotFoundError):
        read_segment(tmp_path / "missing.wav", 0, 10, TARGET)
    with pytest.raises(FileNotFoundError):
        audio_frames(tmp_path / "missing.wav")


def test_formats_libsndfile_cannot_seek_are_decoded_and_sliced(tmp_path: Path) -> None:
    import av

    path, rate = tmp_path / "a.m4a", 24000
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32)[None]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    audio, file_rate = read_audio(path)
    assert audio_frames(path) == (audio.shape[1], file_rate)
    whole = resample(downmix(audio), file_rate, TARGET)
    np.testing.assert_allclose(read_segment(path, 20000, 3000, TARGET), whole[20000:23000], rtol=0, atol=1e-6)
