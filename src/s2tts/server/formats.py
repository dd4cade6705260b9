"""Streaming audio encoders: float32 PCM chunks in, bytes of a file format out.

``StreamEncoder(fmt, in_rate, out_rate)`` takes mono float32 chunks (n,) at ``in_rate`` through
``push(pcm) -> bytes`` and ``finish() -> bytes``; concatenating everything it returned is one valid
file. Resampling to ``out_rate`` is done with s2tts.audio's streaming resampler (soxr), so chunk
boundaries leave no clicks.

Formats:
  wav   16-bit PCM in RIFF. Streaming: written before the length is known, so the RIFF and data
        sizes hold 0xFFFFFFFF ("read until the end"), which libsndfile, FFmpeg and browsers accept.
        One-shot (``streaming=False``): the exact sizes.
  pcm   raw signed 16-bit little-endian, no header.
  mp3   MPEG-1/2 layer 3 (LAME), ogg/opus (libopus), flac, aac in ADTS frames: PyAV's muxers write
        into an in-memory sink. ``flush_packets`` makes each packet reach the sink as soon as it is
        muxed, so bytes leave with the chunk that made them (less the codec's own look-ahead).
        One-shot mode writes to a seekable buffer, so FLAC gets its total length in STREAMINFO.

A stream with no audio at all is still one valid file: a wav header, or (mp3, opus, flac, aac) one
codec frame of silence, since mp3 and aac have no header and the muxers write nothing without a
packet. Only pcm is then empty.

Each codec accepts some sample rates only; :func:`output_rate` picks the one a request gets.
"""

from __future__ import annotations

import contextlib
import io
import struct
from fractions import Fraction
from typing import Literal, get_args

import av
import numpy as np

from s2tts.audio import StreamResampler

AudioFormat = Literal["wav", "pcm", "mp3", "opus", "flac", "aac"]
AUDIO_FORMATS: tuple[str, ...] = get_args(AudioFormat)

CONTENT_TYPES: dict[str, str] = {
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "flac": "audio/flac",
    "aac": "audio/aac",
}

# (container, codec, supported rates or None for any) of the formats PyAV encodes.
_AV_FORMATS: dict[str, tuple[str, str, tuple[int, ...] | None]] = {
    "mp3": ("mp3", "libmp3lame", (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)),
    "opus": ("ogg", "libopus", (8000, 12000, 16000, 24000, 48000)),
    "flac": ("flac", "flac", None),
    "aac": (
        "adts",
        "aac",
        (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000),
    ),
}
_DEFAULT_RATES = {"opus": 48000}
MIN_RATE, MAX_RATE = 8000, 192000
_UNKNOWN_SIZE = 0xFFFFFFFF


def output_rate(fmt: str, requested: int | None, native: int) -> int:
    """The sample rate a response in ``fmt`` gets: ``requested`` (or ``native``) when the codec
    takes it, else the nearest rate above it that it takes (the highest when none is above)."""
    if fmt not in AUDIO_FORMATS:
        raise ValueError(f"unknown audio format {fmt!r}")
    rate = requested if requested is not None else _DEFAULT_RATES.get(fmt, native)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"sample_rate must be in [{MIN_RATE}, {MAX_RATE}], got {rate}")
    rates = _AV_FORMATS[fmt][2] if fmt in _AV_FORMATS else None
    if rates is None or rate in rates:
        return rate
    above = [r for r in rates if r >= rate]
    return min(above) if above else max(rates)


def wav_header(sample_rate: int, num_samples: int | None, channels: int = 1) -> bytes:
    """A 44-byte RIFF/WAVE header for 16-bit PCM; ``num_samples=None`` writes the unknown size."""
    block = 2 * channels
    if num_samples is None:
        data_size = riff_size = _UNKNOWN_SIZE
    else:
        data_size = num_samples * block
        riff_size = min(36 + data_size, _UNKNOWN_SIZE)
        data_size = min(data_size, _UNKNOWN_SIZE)
    return (
        b"RIFF"
        + struct.pack("<I", riff_size)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block, block, 16)
        + b"data"
        + struct.pack("<I", data_size)
    )


def to_s16le(pcm: np.ndarray) -> bytes:
    """float32 in [-1, 1] -> signed 16-bit little-endian bytes (clipped)."""
    return (np.clip(pcm, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


class _Sink:
    """A write-only, non-seekable file for PyAV: keeps what was written until taken."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def write(self, data: bytes) -> int:
        self._buf += data
        return len(data)

    def take(self) -> bytes:
        out = bytes(self._buf)
        self._buf.clear()
        return out


class StreamEncoder:
    """Mono float32 chunks -> bytes of one ``fmt`` file, chunk by chunk.

    in_rate: rate of the pushed PCM; out_rate: rate of the file (None: see :func:`output_rate`).
    streaming: False buffers everything and returns the whole file from ``finish`` (exact headers).
    bitrate: bits/s for mp3, opus and aac (None: the codec's default; ignored by the others).
    """

    def __init__(
        self,
        fmt: str,
        in_rate: int,
        out_rate: int | None = None,
        *,
        streaming: bool = True,
        bitrate: int | None = None,
    ) -> None:
        if fmt not in AUDIO_FORMATS:
            raise ValueError(f"unknown audio format {fmt!r}; expected one of {AUDIO_FORMATS}")
        self.fmt = fmt
        self.in_rate = in_rate
        self.out_rate = output_rate(fmt, out_rate, in_rate)
        self.streaming = streaming
        self.content_type = CONTENT_TYPES[fmt]
        self.samples_out = 0
        self._finished = False
        self._started = False
        self._pending: list[bytes] = []  # one-shot wav / pcm
        self._resampler = StreamResampler(in_rate, self.out_rate) if self.out_rate != in_rate else None
        self._container: av.container.OutputContainer | None = None
        if fmt in _AV_FORMATS:
            self._open_av(bitrate)

    def _open_av(self, bitrate: int | None) -> None:
        container_fmt, codec, _ = _AV_FORMATS[self.fmt]
        self._sink: _Sink | io.BytesIO = _Sink() if self.streaming else io.BytesIO()
        options = {"flush_packets": "1"} if self.streaming else {}
        if self.fmt == "opus":
            options["page_duration"] = "60000"  # µs: an ogg page at least every 60 ms
        self._container = av.open(self._sink, mode="w", format=container_fmt, options=options)
        stream = self._container.add_stream(codec, rate=self.out_rate, layout="mono")
        if bitrate is not None and self.fmt != "flac":
            stream.bit_rate = bitrate
        self._stream = stream
        self._pts = 0

    def push(self, pcm: np.ndarray) -> bytes:
        """Encode one chunk (n,) float32; returns the bytes ready so far (maybe empty)."""
        if self._finished:
            raise RuntimeError("push() after finish()")
        pcm = np.asarray(pcm, dtype=np.float32).reshape(-1)
        if self._resampler is not None:
            pcm = self._resampler.push(pcm)
        return self._encode(pcm)

    def finish(self) -> bytes:
        """Flush the resampler and the codec; returns the last bytes (the whole file one-shot)."""
        if self._finished:
            return b""
        tail = b""
        if self._resampler is not None:
            tail = self._encode(self._resampler.push(np.zeros(0, np.float32), last=True))
        if self._container is not None and self._pts == 0:  # no audio at all: still a decodable file
            tail += self._encode(np.zeros(self._stream.codec_context.frame_size or 1024, np.float32))
        self._finished = True
        if self._container is not None:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
            if isinstance(self._sink, io.BytesIO):
                return self._sink.getvalue()
            return tail + self._sink.take()
        if self.fmt == "wav" and not self.streaming:
            return wav_header(self.out_rate, self.samples_out) + b"".join(self._pending)
        if self.fmt == "wav" and not self._started:  # no audio at all: still a valid file
            return wav_header(self.out_rate, None)
        return tail + b"".join(self._pending)

    def _encode(self, pcm: np.ndarray) -> bytes:
        self.samples_out += len(pcm)
        if self._container is not None:
            if len(pcm):
                frame = av.AudioFrame.from_ndarray(
                    np.clip(pcm, -1.0, 1.0)[None, :], format="flt", layout="mono"
                )
                frame.sample_rate = self.out_rate
                frame.pts = self._pts
                frame.time_base = Fraction(1, self.out_rate)
                self._pts += len(pcm)
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
            return self._sink.take() if isinstance(self._sink, _Sink) else b""
        data = to_s16le(pcm)
        if self.fmt == "wav" and not self._started and self.streaming:
            data = wav_header(self.out_rate, None) + data
        self._started = True
        if not self.streaming:
            self._pending.append(data)
            return b""
        return data

    def close(self) -> None:
        """Release the codec without producing output (a stream cut short)."""
        if not self._finished and self._container is not None:
            self._finished = True
            with contextlib.suppress(av.error.FFmpegError, ValueError):
                self._container.close()
        self._finished = True


def encode_audio(
    pcm: np.ndarray, fmt: str, in_rate: int, out_rate: int | None = None, bitrate: int | None = None
) -> bytes:
    """One-shot helper: a whole (n,) float32 clip -> one ``fmt`` file."""
    enc = StreamEncoder(fmt, in_rate, out_rate, streaming=False, bitrate=bitrate)
    enc.push(pcm)
    return enc.finish()
