"""The default voice a recipe packages with its model: one training clip of a chosen speaker.

``add_voice(model_dir, corpus, speaker, seconds)`` picks, deterministically, the corpus's
training-split single-speaker utterance of ``speaker`` without tags whose length is closest to
``seconds`` (ties: the smaller id), encodes it with the codec beside the model, and writes the
model directory's ``voice.json`` (``s2tts.inference.default_voice``). Held-out speakers and
sentences are refused, so the evaluation's held-out cases stay unseen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from s2tts.errors import RecipeError

MIN_SECONDS, MAX_SECONDS = 3.0, 10.0  # a reference clip's sensible length


def pick_voice_clip(rows: list[Any], speaker: str, seconds: float) -> Any:
    """The utterance of ``speaker`` to use as the voice (see the module docstring)."""
    candidates = [
        u
        for u in rows
        if u.speaker_id == speaker
        and u.split == "train"
        and u.kind == "single"
        and not u.tags
        and MIN_SECONDS <= u.duration_s <= MAX_SECONDS
    ]
    if not candidates:
        held = any(u.speaker_id == speaker for u in rows)
        why = (
            "has only held-out, tagged or dialogue rows, or none 3-10 s long"
            if held
            else "is not in the corpus"
        )
        raise RecipeError(f"export.voice: speaker {speaker!r} {why}")
    return min(candidates, key=lambda u: (abs(u.duration_s - seconds), u.id))


def add_voice(model_dir: Path, corpus: Path, speaker: str, seconds: float = 6.0) -> dict[str, Any]:
    """Write ``model_dir/voice.json`` from a clip of ``speaker`` in ``corpus``; returns its source."""
    from s2tts.audio.io import read_audio
    from s2tts.data.manifest import read_manifest
    from s2tts.inference.default_voice import read_default_voice, write_default_voice
    from s2tts.models.codec import load_codec
    from s2tts.models.config import DualARConfig

    clip = pick_voice_clip(read_manifest(corpus / "manifest.parquet"), speaker, seconds)
    config = DualARConfig.from_json(model_dir)
    codec = load_codec(model_dir)
    audio, rate = read_audio(corpus / clip.path)
    with torch.inference_mode():
        codes, lengths = codec.encode(audio, rate)
    codes = codes[0, : config.num_codebooks, : int(lengths[0])].to(torch.long)
    source = {
        "corpus_utterance": clip.id,
        "speaker": clip.speaker_id,
        "engine": clip.source,
        "language": clip.language,
        "duration_s": round(float(clip.duration_s), 3),
    }
    write_default_voice(model_dir, clip.plain_text, codes, source)
    read_default_voice(model_dir, config.num_codebooks, config.codebook_size)  # it must load
    return source
