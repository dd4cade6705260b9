"""Encoders round-trip through real decoders: length, rate and a 440 Hz sine survive."""

from __future__ import annotations

import io
import struct

import av
import numpy as np
import pytest
import soundfile as sf

from s2tts.server.formats import StreamEncoder, encode_audio, output_rate, wav_header

from .signals import sine

SR = 44100


def decode(data: bytes) -> tuple[np.ndarray, int]:
    with av.open(io.BytesIO(data)) as c:
        rate = c.streams.audio[0].codec_context.sample_rate
        to_float = av.AudioResampler(format="flt", layout="mono", rate=rate)
        frames = [o.to_ndarray().reshape(-1) for f in c.decode(audio=0) for o in to_float.resample(f)]
    return np.concatenate(frames).astype(np.float32), rate


def dominant_freq(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * rate / len(x))


def encode_in_chunks(
    fmt: str, x: np.ndarray, out_rate: int | None, streaming: bool
) -> tuple[list[bytes], StreamEncoder]:
    enc = StreamEncoder(fmt, SR, out_rate, streaming=streaming)
    parts = [enc.push(x[i : i + 3000]) for i in range(0, len(x), 3000)]
    parts.append(enc.finish())
    return parts, enc


@pytest.mark.parametrize("fmt", ["wav", "mp3", "opus", "flac", "aac"])
@pytest.mark.parametrize("streaming", [True, False])
@pytest.mark.parametrize("out_rate", [None, 24000])
def test_round_trip(fmt: str, streaming: bool, out_rate: int | None) -> None:
    x = sine(SR, 440.0)  # 1 s
    parts, enc = encode_in_chunks(fmt, x, out_rate, streaming)
    y, rate = decode(b"".join(parts))
    assert rate in (enc.out_rate, 48000)  # ogg/opus always decodes at 48 kHz
    duration = len(y) / rate
    assert 0.99 <= duration <= 1.1, duration  # lossy codecs pad by at most a frame or two
    assert abs(dominant_freq(y[: rate // 2 * 2], rate) - 440.0) < 5.0
    rms = float(np.sqrt(np.mean(y[rate // 4 : rate * 3 // 4] ** 2)))
    assert abs(rms - 0.5 / np.sqrt(2)) < 0.03, rms
    if streaming:
        assert sum(map(len, parts[:-1])) > 0, "a streaming encoder must emit bytes before finish()"
    else:
        assert not any(parts[:-1]), "one-shot mode returns the whole file from finish()"


def test_streaming_wav_header_is_open_ended_and_readable() -> None:
    x = sine(SR // 2)
    parts, _ = encode_in_chunks("wav", x, None, True)
    data = b"".join(parts)
    assert parts[0][:4] == b"RIFF"
    assert struct.unpack("<I", data[40:44])[0] == 0xFFFFFFFF
    y, rate = sf.read(io.BytesIO(data), dtype="float32")
    assert rate == SR and len(y) == len(x)
    np.testing.assert_allclose(y, x, atol=1e-4)


def test_one_shot_wav_header_is_exact() -> None:
    x = sine(12345)
    data = encode_audio(x, "wav", SR)
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    assert struct.unpack("<I", data[40:44])[0] == 2 * 12345
    info = sf.info(io.BytesIO(data))
    assert info.frames == 12345 and info.samplerate == SR and info.subtype == "PCM_16"


def test_pcm_is_raw_s16le_and_resampled() -> None:
    x = sine(SR)
    parts, enc = encode_in_chunks("pcm", x, 16000, True)
    y = np.frombuffer(b"".join(parts), "<i2").astype(np.float32) / 32767
    assert enc.out_rate == 16000 and abs(len(y) - 16000) <= 2
    assert abs(dominant_freq(y, 16000) - 440.0) < 5.0


def test_flac_one_shot_knows_its_length() -> None:
    data = encode_audio(sine(SR), "flac", SR)
    assert sf.info(io.BytesIO(data)).frames == SR


def test_clipping_and_empty_stream() -> None:
    loud = np.full(1000, 3.0, np.float32)
    y = np.frombuffer(encode_audio(loud, "pcm", SR), "<i2")
    assert y.max() == 32767
    enc = StreamEncoder("wav", SR)
    empty = enc.finish()
    assert empty[:4] == b"RIFF" and len(empty) == 44
    with pytest.raises(RuntimeError):
        enc.push(loud)


def test_output_rate_rules() -> None:
    assert output_rate("wav", None, SR) == SR
    assert output_rate("opus", None, SR) == 48000
    assert output_rate("opus", 44100, SR) == 48000
    assert output_rate("opus", 16000, SR) == 16000
    assert output_rate("mp3", 23000, SR) == 24000
    assert output_rate("pcm", 24000, SR) == 24000
    with pytest.raises(ValueError):
        output_rate("wav", 100, SR)
    with pytest.raises(ValueError):
        StreamEncoder("ogg-vorbis", SR)


def test_wav_header_layout() -> None:
    h = wav_header(24000, 10)
    assert len(h) == 44 and h[8:16] == b"WAVEfmt "
    assert struct.unpack("<IHHIIHH", h[16:36]) == (16, 1, 1, 24000, 48000, 2, 16)


def test_mp3_bitrate_is_applied() -> None:
    x = sine(SR * 2)
    low = encode_audio(x, "mp3", SR, bitrate=64000)
    high = encode_audio(x, "mp3", SR, bitrate=192000)
    assert len(high) > 2 * len(low)


@pytest.mark.parametrize("fmt", ["mp3", "opus", "flac", "aac"])
@pytest.mark.parametrize("streaming", [True, False])
def test_no_audio_still_decodes_as_one_short_silent_file(fmt: str, streaming: bool) -> None:
    """A generation that stops at once (a 200 with no audio) must not be an empty body a client
    cannot open: the encoder writes one codec frame of silence."""
    enc = StreamEncoder(fmt, 22050, streaming=streaming)
    data = enc.push(np.zeros(0, np.float32)) + enc.finish()
    y, _ = decode(data)
    assert 0 < len(y) <= 4096 and float(np.abs(y).max()) < 1e-3
