"""RL prompt sets: a JSONL file of texts (with optional reference voices) -> RLPrompts.

One JSON object per line::

    {"text": "<|speaker:0|>Hello [laugh] there.",      required
     "reference_audio": "voices/a.wav",                  optional, relative to the file
     "reference_text": "Transcript of the reference.",   required with reference_audio
     (or lists of both: one voice per <|speaker:i|> of a dialogue, in speaker order)
     "language": "en",                                    optional (default "en")
     "tags": ["laugh"], ...}                              anything else -> RLPrompt.request

Reference audio is read with ``s2tts.audio`` and encoded once with the checkpoint's codec (its
codes go into the prompt); the mono audio is kept for the similarity reward (first voice) and the
dialogue speaker check (every voice). Prompts are built
by the same ``PromptBuilder`` inference uses, so RL trains on exactly the inference layout.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from s2tts.audio import downmix, read_audio
from s2tts.errors import S2TTSError, TrainingDataError
from s2tts.models.codec import Codec
from s2tts.text.prompt import Reference
from s2tts.training.rl.rollout import RLPrompt

KNOWN = {"text", "reference_audio", "reference_text", "language"}


def read_prompts(path: str | Path, codec: Codec | None) -> list[RLPrompt]:
    """Parse and validate a prompt file; raises TrainingDataError naming the line."""
    path = Path(path)
    if not path.is_file():
        raise TrainingDataError(f"RL prompt file not found: {path}")
    prompts: list[RLPrompt] = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TrainingDataError(f"{where}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
            raise TrainingDataError(f"{where}: each line needs a non-empty 'text'")
        request = {k: v for k, v in row.items() if k not in KNOWN}
        language = str(row.get("language", "en"))
        ref_path = row.get("reference_audio")
        if ref_path is None:
            prompts.append(RLPrompt(row["text"], language=language, request=request))
            continue
        paths = ref_path if isinstance(ref_path, list) else [ref_path]
        ref_texts = row.get("reference_text")
        ref_texts = ref_texts if isinstance(ref_texts, list) else [ref_texts]
        if not paths or len(ref_texts) != len(paths) or not all(isinstance(t, str) for t in ref_texts):
            raise TrainingDataError(f"{where}: each 'reference_audio' needs its 'reference_text'")
        if codec is None:
            raise TrainingDataError(f"{where}: reference voices need a codec in the checkpoint")
        refs, voices = [], []
        for ref, ref_text in zip(paths, ref_texts, strict=True):
            try:
                audio, rate = read_audio(path.parent / str(ref))
            except (S2TTSError, FileNotFoundError) as exc:
                raise TrainingDataError(f"{where}: {exc}") from None
            mono = downmix(audio)
            with torch.no_grad():
                codes, _ = codec.encode(mono, rate)
            refs.append(Reference(ref_text, codes[0].cpu()))
            voices.append((mono, int(rate)))
        prompts.append(
            RLPrompt(
                row["text"],
                tuple(refs),
                voices[0][0],
                voices[0][1],
                language=language,
                request=request,
                voices=tuple(voices),
            )
        )
    if not prompts:
        raise TrainingDataError(f"{path} holds no prompts")
    return prompts
