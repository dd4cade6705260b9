"""quality: score each segment and keep or drop it by the thresholds in the config.

Scores, all recorded in the segment's ``scores`` whether it is kept or dropped:

* ``snr_db``: loud vs quiet 20 ms frames (90th vs 10th energy percentile, capped at 100 dB);
* ``clip_fraction``: samples stuck at the peak for two or more samples in a row;
* with ``dnsmos``: Microsoft DNSMOS P.835 ``dnsmos_sig`` / ``dnsmos_bak`` / ``dnsmos_ovrl`` and P.808
  ``dnsmos_p808``, scored on the middle 9 s (one model window);
* with ``distillmos``: ``distillmos``, a naturalness MOS (1-5) on the whole segment;
* with ``speaker_consistency``: the segment's speech (long silences cut out) is cut into
  ``speaker_window_seconds`` windows (the
  last one takes the remainder), each embedded with the GE2E speaker encoder, and
  ``speaker_consistency`` is the lowest cosine between any two windows (a splice of two voices
  scores low); ``speaker_windows`` says how many. A segment of one window, or a dialogue (several
  speakers by design), is not checked.

The scorers come from ``s2tts.scoring`` (shared with the evaluation harness) and work at 16 kHz.
A dropped segment's ``reason`` lists each threshold it failed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2tts.audio import resample
from s2tts.data.pipeline_config import PIPELINE_RATE, QualityConfig
from s2tts.data.records import derive, reject

NAME = "quality"
_RATE = 16000
_DNSMOS_S = 9.01


@dataclass
class Scorers:
    """The models the config asks for (None where not asked)."""

    dnsmos: object | None = None
    distillmos: object | None = None
    speaker: object | None = None


def setup(config: QualityConfig) -> Scorers:
    from s2tts.scoring.quality import DNSMOS, DistillMOS
    from s2tts.scoring.speaker import SpeakerEncoder

    return Scorers(
        dnsmos=DNSMOS(threads=1) if config.dnsmos else None,
        distillmos=DistillMOS() if config.distillmos else None,
        speaker=SpeakerEncoder() if config.speaker_consistency else None,
    )


def snr_db(audio: np.ndarray, rate: int) -> float:
    hop = int(0.02 * rate)
    n = audio.size // hop
    if n < 2:
        return 0.0
    energy = np.mean(np.square(audio[: n * hop].reshape(n, hop), dtype=np.float64), axis=1)
    loud, quiet = np.percentile(energy, 90), np.percentile(energy, 10)
    return float(min(100.0, 10 * np.log10((loud + 1e-12) / (quiet + 1e-12))))


def clip_fraction(audio: np.ndarray) -> float:
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak == 0 or audio.size < 2:
        return 0.0
    at_peak = np.abs(audio) >= 0.999 * peak
    stuck = at_peak[1:] & at_peak[:-1] & (np.abs(np.diff(audio)) < 1e-6)
    return float(stuck.sum() / audio.size)


def speaker_windows(x: np.ndarray, seconds: float) -> list[np.ndarray]:
    """(n,) at 16 kHz -> consecutive windows of ``seconds``; the last one takes the remainder."""
    size = max(1, int(seconds * _RATE))
    count = max(1, x.size // size)
    return [x[i * size : (i + 1) * size if i < count - 1 else x.size] for i in range(count)]


def speaker_consistency(x: np.ndarray, seconds: float, encoder: object) -> tuple[float, int]:
    """-> (lowest pairwise cosine between the windows' d-vectors, number of windows); the windows
    cut the segment's speech with its long silences taken out."""
    from s2tts.scoring.speaker import speech_only

    windows = speaker_windows(speech_only(x), seconds)
    if len(windows) < 2:
        return 1.0, len(windows)
    emb = encoder.embed(windows)  # (W, 256), unit rows; a silent window is a zero row
    pairs = emb @ emb.T
    return float(pairs[np.triu_indices(len(windows), k=1)].min()), len(windows)


def score(record: dict, audio: np.ndarray, cfg: QualityConfig, models: Scorers) -> dict:
    """Every score the config asks for, for one segment (float32 (n,) at 44.1 kHz); ``models`` holds
    the scorers those scores need (``setup(cfg)``)."""
    scores: dict = {
        "snr_db": round(snr_db(audio, PIPELINE_RATE), 2),
        "clip_fraction": round(clip_fraction(audio), 6),
    }
    x = np.clip(resample(audio, PIPELINE_RATE, _RATE), -1.0, 1.0).astype(np.float32)
    if cfg.dnsmos:
        n = int(_DNSMOS_S * _RATE)
        start = max(0, (x.size - n) // 2)
        middle = x[start : start + n]
        scores.update({k: round(v, 3) for k, v in models.dnsmos.score([middle])[0].items()})
    if cfg.distillmos:
        scores["distillmos"] = round(models.distillmos.score([x])[0], 3)
    if cfg.speaker_consistency and record.get("kind") != "dialogue":
        value, count = speaker_consistency(x, cfg.speaker_window_seconds, models.speaker)
        scores["speaker_windows"] = count
        if count >= 2:
            scores["speaker_consistency"] = round(value, 3)
    return scores


def failures(scores: dict, cfg: QualityConfig) -> list[str]:
    """Each threshold the scores fail, as "name value < limit"."""
    lows = [("snr_db", cfg.min_snr_db), ("dnsmos_ovrl", cfg.min_dnsmos_ovrl),
            ("distillmos", cfg.min_distillmos), ("speaker_consistency", cfg.min_speaker_consistency)]  # fmt: skip
    failed = [f"{k} {scores[k]} < {limit}" for k, limit in lows if k in scores and scores[k] < limit]
    if scores["clip_fraction"] > cfg.max_clip_fraction:
        failed.append(f"clip_fraction {scores['clip_fraction']} > {cfg.max_clip_fraction}")
    return failed


def _one(record: dict, audio: np.ndarray, cfg: QualityConfig, models: Scorers) -> tuple:
    scores = score(record, audio, cfg, models)
    failed = failures(scores, cfg)
    if failed:
        return reject(record, "dropped", "; ".join(failed), scores), None
    return derive(record, scores=scores), audio


def process(items: list, config: QualityConfig, models: Scorers) -> list:
    return [[_one(record, audio, config, models)] for record, audio in items]
