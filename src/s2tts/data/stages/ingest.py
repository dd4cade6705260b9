"""ingest: decoded file -> mono, 44.1 kHz (soxr), loudness -23 LUFS (pyloudnorm, BS.1770).

``normalize_loudness: false`` keeps each file's level (the loudness is still measured and recorded):
for corpora whose level is part of what they teach, such as ``s2tts data synth``'s ``[loud]`` and
``[soft]`` utterances, which the synthesiser has already levelled against their untagged speech.

Quarantines empty, too short, too long and silent files (reason and measurements recorded).
"""

from __future__ import annotations

import numpy as np
import pyloudnorm

from s2tts.audio import downmix, resample
from s2tts.data.pipeline_config import PIPELINE_RATE, IngestConfig
from s2tts.data.records import derive, reject

NAME = "ingest"


def setup(config: IngestConfig) -> None:
    return None


def _one(record: dict, raw: tuple[np.ndarray, int], cfg: IngestConfig) -> tuple[dict, np.ndarray | None]:
    data, rate = raw
    seconds = data.shape[-1] / rate if rate else 0.0
    if data.size == 0 or seconds == 0:
        return reject(record, "quarantined", "empty: no samples"), None
    if not np.isfinite(data).all():
        return reject(record, "quarantined", "corrupt: non-finite samples"), None
    if seconds < cfg.min_seconds:
        return reject(record, "quarantined", f"too_short: {seconds:.2f} s < {cfg.min_seconds} s"), None
    if seconds > cfg.max_seconds:
        return reject(record, "quarantined", f"too_long: {seconds:.0f} s > {cfg.max_seconds} s"), None
    mono = downmix(data)
    peak = float(np.abs(mono).max())
    if peak < cfg.silence_peak:
        return reject(record, "quarantined", f"silent: peak {peak:.1e}", {"peak": peak}), None
    audio = resample(mono, rate, PIPELINE_RATE)
    meter = pyloudnorm.Meter(PIPELINE_RATE)
    loudness = float(meter.integrated_loudness(audio.astype(np.float64)))
    if not np.isfinite(loudness):
        return reject(record, "quarantined", "silent: no gated loudness", {"peak": peak}), None
    if cfg.normalize_loudness:
        audio = audio * np.float32(10 ** ((cfg.target_lufs - loudness) / 20))
    over = float(np.abs(audio).max())
    if over > 0.99:  # keep the peak below full scale instead of clipping
        audio = audio * np.float32(0.99 / over)
    scores = {"input_rate": int(rate), "input_channels": int(data.shape[0]), "input_lufs": round(loudness, 2)}
    out = derive(
        record, duration_s=round(audio.size / PIPELINE_RATE, 4), end_s=round(seconds, 4), scores=scores
    )
    return out, audio.astype(np.float32)


def process(items: list, config: IngestConfig, models: None) -> list:
    return [[_one(record, raw, config)] for record, raw in items]
