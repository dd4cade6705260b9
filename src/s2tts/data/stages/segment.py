"""segment: silero-vad speech regions (on a 16 kHz tensor) merged into ``min``-``max`` second segments.

Regions closer than ``max_gap_seconds`` are joined while the result stays under ``max_seconds``; a
region longer than that is cut evenly; segments still shorter than ``min_seconds`` are dropped. An
input that already has its transcript (``keep_known_text``) and fits ``max_seconds`` stays one
segment, trimmed to its speech, so the text still matches. No speech at all: dropped ("no_speech").
"""

from __future__ import annotations

import json
import math

import numpy as np

from s2tts.audio import resample
from s2tts.data.pipeline_config import PIPELINE_RATE, SegmentConfig
from s2tts.data.records import derive, reject

NAME = "segment"
PAD_S = 0.1


def setup(config: SegmentConfig) -> object:
    from silero_vad import load_silero_vad

    return load_silero_vad()


def speech_regions(
    audio: np.ndarray, rate: int, model: object, threshold: float
) -> list[tuple[float, float]]:
    """(start_s, end_s) of speech, by silero-vad on the audio resampled to 16 kHz."""
    import torch
    from silero_vad import get_speech_timestamps

    wav = torch.from_numpy(resample(audio, rate, 16000))
    stamps = get_speech_timestamps(wav, model, threshold=threshold, sampling_rate=16000, return_seconds=True)
    return [(float(s["start"]), float(s["end"])) for s in stamps]


def merge_regions(regions: list[tuple[float, float]], cfg: SegmentConfig) -> list[tuple[float, float]]:
    """Join close regions up to ``max_seconds``, cut longer ones, drop those under ``min_seconds``."""
    pieces: list[tuple[float, float]] = []
    for start, end in regions:
        n = max(1, math.ceil((end - start) / cfg.max_seconds))
        step = (end - start) / n
        pieces += [(start + i * step, start + (i + 1) * step) for i in range(n)]
    merged: list[tuple[float, float]] = []
    for start, end in pieces:
        if merged and start - merged[-1][1] <= cfg.max_gap_seconds and end - merged[-1][0] <= cfg.max_seconds:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return [(s, e) for s, e in merged if e - s >= cfg.min_seconds]


def _shift(spans_json: str, delta: float) -> str:
    spans = json.loads(spans_json)
    for span in spans:
        span["start_s"] = round(max(0.0, span["start_s"] + delta), 4)
        span["end_s"] = round(max(0.0, span["end_s"] + delta), 4)
    return json.dumps(spans)


def _one(record: dict, audio: np.ndarray, cfg: SegmentConfig, model: object) -> list:
    regions = speech_regions(audio, PIPELINE_RATE, model, cfg.vad_threshold)
    speech_s = round(sum(e - s for s, e in regions), 3)
    if not regions:
        return [(reject(record, "dropped", "no_speech", {"speech_s": 0.0}), None)]
    total = audio.size / PIPELINE_RATE
    if cfg.keep_known_text and record["text"] and total <= cfg.max_seconds:
        spans = [(regions[0][0], regions[-1][1])]
    else:
        spans = merge_regions(regions, cfg)
        if not spans:
            return [(reject(record, "dropped", "segments_too_short", {"speech_s": speech_s}), None)]
    whole = len(spans) == 1 and cfg.keep_known_text and bool(record["text"])
    out = []
    for k, (start, end) in enumerate(spans):
        a, b = max(0.0, start - PAD_S), min(total, end + PAD_S)
        piece = audio[int(a * PIPELINE_RATE) : int(b * PIPELINE_RATE)]
        seg_id = record["id"] if whole else f"{record['id']}_{k:03d}"
        changes = {
            "id": seg_id,
            "start_s": round(record["start_s"] + a, 4),
            "end_s": round(record["start_s"] + b, 4),
        }
        if whole:  # tag and turn times are relative to the audio start, which moved by a
            changes.update(tags=_shift(record["tags"], -a), turns=_shift(record["turns"], -a))
        else:
            changes.update(text="", plain_text="", tags="[]", turns="[]", kind="single")
        rec = derive(
            record, duration_s=round(piece.size / PIPELINE_RATE, 4), scores={"speech_s": speech_s}, **changes
        )
        out.append((rec, piece))
    return out


def process(items: list, config: SegmentConfig, models: object) -> list:
    return [_one(record, audio, config, models) for record, audio in items]
