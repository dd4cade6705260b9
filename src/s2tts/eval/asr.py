"""Speech recognition for intelligibility: faster-whisper (CTranslate2) on a local model directory.

``WhisperASR`` loads the model once (``"base"``: multilingual Whisper base, the default judge;
``"tiny.en"``: English-only, about 3x faster, for rewards where speed matters more than accuracy)
and transcribes **batches**: every clip of at most 30 s is turned into log-mel features, padded
to Whisper's 30 s window, and the batch goes through one encoder call and one beam-search call
(``ctranslate2.models.Whisper.generate``), so B clips cost far less than B separate
``transcribe`` calls. Longer clips go through faster-whisper's own sequential ``transcribe`` with
word timestamps (``transcribe_words``), which is what long-form scoring needs.

Decoding is deterministic: beam search (``beam_size``, default 5), no temperature fallback, no
conditioning on previous text. Loading sets ``HF_HUB_OFFLINE=1`` in the environment if it is unset
(faster-whisper imports ``huggingface_hub``; the model directories hold every file, so nothing is
fetched either way).

Audio in: mono float32 (n,) at 16 kHz (:func:`s2tts.eval.audio.to_16k`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from s2tts.errors import EvalError
from s2tts.scoring.local_models import whisper_model_dir

SAMPLE_RATE = 16000
MAX_CLIP_S = 30.0


@dataclass(frozen=True)
class Word:
    """One recognised word with its time span in seconds."""

    text: str
    start: float
    end: float


class WhisperASR:
    """A loaded Whisper model. ``transcribe(clips, languages) -> texts`` in batches."""

    def __init__(
        self,
        model: str = "base",
        device: str = "cpu",
        compute_type: str = "int8",
        threads: int = 1,
        beam_size: int = 5,
        batch_size: int = 8,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from faster_whisper import WhisperModel

        self.name = model
        self.model = WhisperModel(
            str(whisper_model_dir(model)), device=device, compute_type=compute_type, cpu_threads=threads
        )
        self.multilingual = bool(self.model.model.is_multilingual)
        self.beam_size = beam_size
        self.batch_size = batch_size

    def transcribe(self, clips: list[np.ndarray], languages: list[str] | None = None) -> list[str]:
        """clips: mono float32 (n,) at 16 kHz; languages: ISO codes (default "en") -> one text each."""
        languages = languages or ["en"] * len(clips)
        if len(languages) != len(clips):
            raise EvalError(f"{len(clips)} clips but {len(languages)} languages")
        texts: list[str | None] = [None] * len(clips)
        short: dict[str, list[int]] = {}
        for i, (clip, language) in enumerate(zip(clips, languages, strict=True)):
            if clip.ndim != 1:
                raise EvalError(f"clip {i}: expected mono (n,) audio, got shape {clip.shape}")
            if len(clip) > MAX_CLIP_S * SAMPLE_RATE:
                texts[i] = " ".join(w.text for w in self.transcribe_words(clip, language))
            else:
                short.setdefault(self._language(language), []).append(i)
        for language, indices in short.items():
            for start in range(0, len(indices), self.batch_size):
                batch = indices[start : start + self.batch_size]
                for i, text in zip(batch, self._batch([clips[i] for i in batch], language), strict=True):
                    texts[i] = text
        return [t or "" for t in texts]

    def transcribe_words(self, clip: np.ndarray, language: str = "en") -> list[Word]:
        """Any length: the words with their start/end times (faster-whisper's sequential path)."""
        segments, _ = self.model.transcribe(
            np.asarray(clip, dtype=np.float32),
            language=self._language(language) if self.multilingual else None,
            beam_size=self.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            word_timestamps=True,
            vad_filter=False,
        )
        return [Word(w.word.strip(), float(w.start), float(w.end)) for s in segments for w in (s.words or [])]

    def _language(self, language: str) -> str:
        code = language.split("-")[0].lower()
        if not self.multilingual:
            if code != "en":
                raise EvalError(
                    f"ASR model {self.name!r} is English-only; language {language!r} needs 'base'"
                )
            return "en"
        return code

    def _batch(self, clips: list[np.ndarray], language: str) -> list[str]:
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer

        fx = self.model.feature_extractor
        feats = np.stack(
            [pad_or_trim(fx(np.asarray(c, dtype=np.float32))[:, : fx.nb_max_frames]) for c in clips]
        )
        tokenizer = Tokenizer(
            self.model.hf_tokenizer,
            self.multilingual,
            task="transcribe",
            language=language if self.multilingual else None,
        )
        prompt = self.model.get_prompt(tokenizer, [], without_timestamps=True)
        encoded: Any = self.model.encode(feats)
        results = self.model.model.generate(
            encoded,
            [list(prompt) for _ in clips],
            beam_size=self.beam_size,
            max_length=self.model.max_length,
            suppress_blank=True,
            suppress_tokens=[-1],
        )
        return [tokenizer.decode(r.sequences_ids[0]).strip() for r in results]
