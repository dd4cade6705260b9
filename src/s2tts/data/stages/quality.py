"""quality: score each segment and keep or drop it by the thresholds in the config.

Scores: ``snr_db`` (loud vs quiet 20 ms frames: 90th vs 10th energy percentile, capped at 100 dB),
``clip_fraction`` (samples stuck at the peak for two or more samples in a row), and with ``dnsmos`` the
Microsoft DNSMOS P.835 ``dnsmos_sig``/``dnsmos_bak``/``dnsmos_ovrl`` and P.808 ``dnsmos_p808`` (speechmos
models, single-threaded ONNX sessions, scored on the middle 9 s). Every score is recorded; a dropped
segment's ``reason`` lists each threshold it failed.
"""

from __future__ import annotations

import os

import numpy as np

from s2tts.audio import resample
from s2tts.data.pipeline_config import PIPELINE_RATE, QualityConfig
from s2tts.data.records import derive, reject

NAME = "quality"
_DNSMOS_S = 9.01


def setup(config: QualityConfig) -> object:
    if not config.dnsmos:
        return None
    import onnxruntime as ort
    from speechmos import dnsmos

    folder = os.path.join(os.path.dirname(dnsmos.__file__), "dnsmos_models")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    scorer = dnsmos.DNSMOS.__new__(dnsmos.DNSMOS)  # its own sessions, with one thread each
    scorer.primary_model_path = os.path.join(folder, "sig_bak_ovr.onnx")
    scorer.onnx_sess = ort.InferenceSession(
        scorer.primary_model_path, opts, providers=["CPUExecutionProvider"]
    )
    scorer.p808_onnx_sess = ort.InferenceSession(
        os.path.join(folder, "model_v8.onnx"), opts, providers=["CPUExecutionProvider"]
    )
    return scorer


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


def dnsmos_scores(audio: np.ndarray, rate: int, scorer: object) -> dict[str, float]:
    x = resample(audio, rate, 16000)
    n = int(_DNSMOS_S * 16000)
    if x.size > n:
        start = (x.size - n) // 2
        x = x[start : start + n]
    x = np.clip(x, -1.0, 1.0).astype(np.float32)
    res = scorer(x, 16000, False)
    return {f"dnsmos_{k.removesuffix('_mos')}": round(float(v), 3) for k, v in res.items()}


def _one(record: dict, audio: np.ndarray, cfg: QualityConfig, scorer: object) -> tuple:
    scores = {
        "snr_db": round(snr_db(audio, PIPELINE_RATE), 2),
        "clip_fraction": round(clip_fraction(audio), 6),
    }
    if scorer is not None:
        scores.update(dnsmos_scores(audio, PIPELINE_RATE, scorer))
    failed = []
    if scores["snr_db"] < cfg.min_snr_db:
        failed.append(f"snr_db {scores['snr_db']} < {cfg.min_snr_db}")
    if scores["clip_fraction"] > cfg.max_clip_fraction:
        failed.append(f"clip_fraction {scores['clip_fraction']} > {cfg.max_clip_fraction}")
    if scorer is not None and scores["dnsmos_ovrl"] < cfg.min_dnsmos_ovrl:
        failed.append(f"dnsmos_ovrl {scores['dnsmos_ovrl']} < {cfg.min_dnsmos_ovrl}")
    if failed:
        return reject(record, "dropped", "; ".join(failed), scores), None
    return derive(record, scores=scores), audio


def process(items: list, config: QualityConfig, models: object) -> list:
    return [[_one(record, audio, config, models)] for record, audio in items]
