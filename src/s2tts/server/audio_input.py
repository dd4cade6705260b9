"""Uploaded audio in: bytes of any common file -> mono float32 PCM, and base64 / data-URL parsing.

References arrive as wav/mp3/flac/ogg/m4a bytes (msgpack), base64 strings (JSON) or
``data:audio/...;base64,`` URLs (OpenAI-style clients, vLLM-Omni's ``ref_audio``). FFmpeg (PyAV)
decodes them in memory; decoding stops at ``max_seconds`` so a small compressed upload cannot
expand into an unbounded buffer. Remote URLs and ``file://`` paths are refused: the server never
fetches or reads a location a client names.
"""

from __future__ import annotations

import base64
import binascii
import io
import re

import av
import numpy as np

from s2tts.errors import AudioError, AudioTooLongError

_BASE64 = re.compile(r"[A-Za-z0-9+/\-_]*={0,2}")


def decode_base64(value: str, what: str = "audio") -> bytes:
    """A base64 string or a ``data:<mime>;base64,<data>`` URL -> bytes (AudioError if neither)."""
    text = value.strip()
    if text.startswith("data:"):
        head, sep, text = text.partition(",")
        if not sep or not head.endswith(";base64"):
            raise AudioError(f"{what}: only base64 data URLs are accepted")
    elif "://" in text[:16]:
        raise AudioError(f"{what}: URLs and file paths are not accepted; send the audio bytes (base64)")
    text = "".join(text.split())  # line-wrapped base64
    if not _BASE64.fullmatch(text):
        raise AudioError(f"{what}: not valid base64")
    try:  # the standard alphabet, or the URL-safe one that some clients send
        data = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise AudioError(f"{what}: not valid base64") from exc
    if not data:
        raise AudioError(f"{what}: empty")
    return data


def decode_audio(
    data: bytes, max_seconds: float | None = None, what: str = "audio"
) -> tuple[np.ndarray, int]:
    """Audio file bytes -> (pcm (n,) float32 mono in [-1, 1], sample_rate).

    Raises AudioError (naming ``what``, e.g. "reference 0") when the bytes are no decodable audio or
    hold no samples, and AudioTooLongError when they run longer than ``max_seconds``.
    """
    if not data:
        raise AudioError(f"{what} is empty")
    chunks: list[np.ndarray] = []
    total = 0
    rate = 0
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioError(f"{what}: the file has no audio stream")
            stream = container.streams.audio[0]
            rate = int(stream.codec_context.sample_rate or 0)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate or None)
            limit = None if max_seconds is None or not rate else int(max_seconds * rate)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    pcm = out.to_ndarray().reshape(-1)
                    chunks.append(pcm)
                    total += len(pcm)
                    rate = out.sample_rate
                if limit is not None and total > limit:
                    raise AudioTooLongError(f"{what} is longer than {max_seconds:g} s")
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except av.error.FFmpegError as exc:
        raise AudioError(f"{what}: cannot decode: {ffmpeg_reason(exc)}") from exc
    if not chunks or rate <= 0:
        raise AudioError(f"{what} holds no samples")
    pcm = np.concatenate(chunks).astype(np.float32, copy=False)
    if pcm.size == 0:
        raise AudioError(f"{what} holds no samples")
    if not np.isfinite(pcm).all():
        raise AudioError(f"{what} holds non-finite samples")
    return pcm, rate


def ffmpeg_reason(exc: Exception) -> str:
    """FFmpeg's reason in words, without its error number and its ``'<none>'`` file name."""
    if isinstance(exc, av.error.InvalidDataError):
        return "not an audio file, or a format FFmpeg cannot read"
    reason = getattr(exc, "strerror", None) or str(exc)
    return reason.rstrip(".").lower() if reason else type(exc).__name__
