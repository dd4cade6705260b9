"""read_audio / write_audio on real files of every supported format, and their typed errors."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

from s2tts.audio import read_audio, read_audio_window, write_audio
from s2tts.errors import AudioError

RATE = 44100


def _stereo(seconds: float = 0.5, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 1000 * t)]).astype(
        np.float32
    )


def _peak_hz(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("ext", [".wav", ".flac"])
def test_lossless_round_trip(tmp_path, ext):
    audio = _stereo()
    path = tmp_path / f"a{ext}"
    write_audio(path, audio, RATE)
    back, rate = read_audio(path)
    assert rate == RATE and back.dtype == np.float32 and back.shape == audio.shape
    assert np.abs(back - audio).max() <= 1 / 32768 + 1e-7  # 16-bit quantisation


@pytest.mark.parametrize("ext", [".ogg", ".mp3"])
def test_lossy_round_trip_keeps_channels_and_pitch(tmp_path, ext):
    audio = _stereo(1.0)
    path = tmp_path / f"a{ext}"
    write_audio(path, torch.from_numpy(audio), RATE)  # tensors are accepted too
    back, rate = read_audio(path)
    assert rate == RATE and back.shape[0] == 2
    assert abs(back.shape[1] - audio.shape[1]) < 0.1 * RATE
    assert abs(_peak_hz(back[0], rate) - 440) < 5
    assert abs(_peak_hz(back[1], rate) - 1000) < 5


def test_mono_1d_input_and_clipping(tmp_path):
    path = tmp_path / "m.wav"
    write_audio(path, np.array([0.0, 2.0, -3.0, 0.5] * 100, dtype=np.float32), 16000)
    back, rate = read_audio(path)
    assert rate == 16000 and back.shape == (1, 400)
    assert back.max() <= 1.0 and back.min() >= -1.0 and back[0, 1] > 0.99


def test_ffmpeg_fallback_reads_aac(tmp_path):
    path = tmp_path / "a.m4a"
    audio = _stereo(1.0)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=RATE, layout="stereo")
        frame = av.AudioFrame.from_ndarray(audio, format="fltp", layout="stereo")
        frame.sample_rate = RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    back, rate = read_audio(path)
    assert rate == RATE and back.shape[0] == 2 and back.dtype == np.float32
    assert abs(_peak_hz(back[0], rate) - 440) < 5


def test_unreadable_and_missing_files(tmp_path):
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"\x00\x01 definitely not audio " * 50)
    with pytest.raises(AudioError, match="cannot decode"):
        read_audio(junk)
    text = tmp_path / "notes.wav"
    text.write_text("hello")
    with pytest.raises(AudioError):
        read_audio(text)
    with pytest.raises(FileNotFoundError):
        read_audio(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match="directory"):
        read_audio(tmp_path)


@pytest.mark.parametrize(
    ("name", "audio", "rate", "match"),
    [
        ("a.aiff", np.zeros(100, dtype=np.float32), RATE, "unsupported extension"),
        ("a.wav", np.array([0.0, np.nan], dtype=np.float32), RATE, "non-finite"),
        ("a.wav", np.zeros(0, dtype=np.float32), RATE, "empty"),
        ("a.wav", np.zeros((1, 2, 3), dtype=np.float32), RATE, "shape"),
        ("a.wav", np.zeros(10, dtype=np.int16), RATE, "floating point"),
        ("a.wav", np.zeros(10, dtype=np.float32), 0, "sample_rate"),
        ("a.mp3", np.zeros((3, 100), dtype=np.float32), RATE, "at most 2"),
        ("a.mp3", np.zeros(100, dtype=np.float32), 44000, "does not support"),
    ],
)
def test_write_errors(tmp_path: Path, name, audio, rate, match):
    with pytest.raises(AudioError, match=match):
        write_audio(tmp_path / name, audio, rate)


def test_undecodable_file_names_the_file_and_the_problem(tmp_path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_bytes(b"definitely not audio" * 20)
    with pytest.raises(AudioError) as info:
        read_audio(bad)
    message = str(info.value)
    assert message == f"cannot decode {bad}: not an audio file, or a format FFmpeg cannot read"
    assert "Errno" not in message


@pytest.mark.parametrize("ext", [".flac", ".mp3"])
def test_read_audio_window_is_a_slice_of_the_whole_file(tmp_path: Path, ext: str) -> None:
    rng = np.random.default_rng(5)
    path = tmp_path / f"w{ext}"
    write_audio(path, rng.uniform(-0.5, 0.5, (2, 24000)).astype(np.float32), 24000)
    whole, rate = read_audio(path)
    starts = set()
    for seed in range(6):
        window, wrate = read_audio_window(path, 4410, 44100, np.random.default_rng(seed))  # 0.1 s
        assert wrate == rate == 24000 and window.shape == (2, 2400)
        start = int(np.random.default_rng(seed).integers(0, whole.shape[1] - 2400 + 1))
        np.testing.assert_allclose(window, whole[:, start : start + 2400], atol=1e-6)
        starts.add(start)
    assert len(starts) == 6  # the start follows the generator
    longer, _ = read_audio_window(path, 10 * 44100, 44100, rng)  # longer than the file: all of it
    np.testing.assert_allclose(longer, whole, atol=1e-6)
