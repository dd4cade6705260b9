"""A checkpoint's default voice: the reference a request without references is spoken with.

A model trained on many speakers speaks in whichever voice its sampling lands on when no reference
is given. Small on-device TTS models (Piper, Kokoro) ship fixed voices instead, and so does the
packaged small model: its directory holds ``voice.json``, one reference (transcript + codec codes)
taken from its training corpus::

    {"format": "s2tts-voice", "version": 1, "name": "default",
     "text": "transcript of the clip", "codes": [[...], ...],     # (num_codebooks, T) ints
     "source": {...}}                                             # where the clip came from

The engine puts it in front of every request that names no reference of its own
(``SynthesisRequest.default_voice`` turns that off). Checkpoints without the file (``s2-pro``,
training runs, random checkpoints) behave as before: no reference, the model's own choice of voice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from s2tts.atomic import atomic_write_text
from s2tts.errors import WeightsError
from s2tts.inference.versioned_json import read_versioned_json
from s2tts.text.prompt import Reference

VOICE_FILE = "voice.json"
VOICE_FORMAT = "s2tts-voice"
VOICE_VERSION = 1
MAX_VOICE_FRAMES = 2048  # a reference is a few seconds; anything longer is not a voice file


def write_default_voice(
    directory: str | Path,
    text: str,
    codes: torch.Tensor,
    source: dict[str, Any] | None = None,
    name: str = "default",
) -> Path:
    """Write ``voice.json`` into ``directory`` atomically. codes: (num_codebooks, T) integers."""
    if codes.ndim != 2 or codes.shape[1] < 1 or codes.is_floating_point():
        raise WeightsError(
            f"voice codes must be integers of shape (num_codebooks, T), got {tuple(codes.shape)}"
        )
    if not text.strip():
        raise WeightsError("a voice needs the transcript of its clip")
    path = Path(directory) / VOICE_FILE
    body = {
        "format": VOICE_FORMAT,
        "version": VOICE_VERSION,
        "name": name,
        "text": text,
        "codes": codes.to(torch.long).tolist(),
        "source": source or {},
    }
    return atomic_write_text(path, json.dumps(body) + "\n")


def read_default_voice(directory: str | Path, num_codebooks: int, codebook_size: int) -> Reference | None:
    """The default voice of a checkpoint directory, or None when it has no ``voice.json``.

    A file that is there but does not fit the model (another number of codebooks, a code outside
    the codebook, not a voice file) is a WeightsError naming the problem."""
    path = Path(directory) / VOICE_FILE
    body = read_versioned_json(path, VOICE_FORMAT, VOICE_VERSION, WeightsError, "voice file")
    if body is None:
        return None
    text = body.get("text")
    rows = body.get("codes")
    if not isinstance(text, str) or not text.strip():
        raise WeightsError(f"{path} has no transcript ('text')")
    if (
        not isinstance(rows, list)
        or len(rows) != num_codebooks
        or not all(isinstance(r, list) and r and all(type(c) is int for c in r) for r in rows)
        or len({len(r) for r in rows}) != 1
    ):
        raise WeightsError(f"{path}: 'codes' must be {num_codebooks} equal-length lists of integers")
    codes = torch.tensor(rows, dtype=torch.long)
    if codes.shape[1] > MAX_VOICE_FRAMES:
        raise WeightsError(f"{path}: {codes.shape[1]} frames; a voice holds at most {MAX_VOICE_FRAMES}")
    if int(codes.min()) < 0 or int(codes.max()) >= codebook_size:
        raise WeightsError(f"{path}: codes outside the model's codebook of {codebook_size}")
    return Reference(text, codes)
