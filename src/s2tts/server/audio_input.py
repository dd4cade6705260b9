"""Uploaded audio in: bytes of any common file -> mono float32 PCM, and base64 / data-URL parsing.

References arrive as wav/mp3/flac/ogg/m4a bytes (msgpack), base64 strings (JSON) or
``data:audio/...;base64,`` URLs (OpenAI-style clients, vLLM-Omni's ``ref_audio``).
:func:`s2tts.audio.decode_bytes` (FFmpeg via PyAV) decodes them in memory and stops at
``max_seconds``, so a small compressed upload cannot expand into an unbounded buffer. Remote URLs and ``file://`` paths are refused: the server never
fetches or reads a location a client names.
"""

from __future__ import annotations

import base64
import binascii
import re

import numpy as np

from s2tts.audio import decode_bytes, downmix
from s2tts.errors import AudioError

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

    Decoding and the downmix are :mod:`s2tts.audio`'s (``decode_bytes``, ``downmix``). Raises
    AudioError (naming ``what``, e.g. "reference 0") when the bytes are no decodable audio or hold
    no samples, and AudioTooLongError when they run longer than ``max_seconds``.
    """
    audio, rate = decode_bytes(data, max_seconds, what)
    return downmix(audio), rate
