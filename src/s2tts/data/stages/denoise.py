"""denoise: a pluggable separation / denoising stage. ``rnnoise`` (pyrnnoise, 48 kHz frames) or ``none``."""

from __future__ import annotations

import numpy as np

from s2tts.audio import resample
from s2tts.data.pipeline_config import PIPELINE_RATE, DenoiseConfig
from s2tts.data.records import derive
from s2tts.errors import ConfigError

NAME = "denoise"
METHODS = ("rnnoise", "none")
_RNN_RATE = 48000


def setup(config: DenoiseConfig) -> None:
    if config.method not in METHODS:
        raise ConfigError(f"denoise.method must be one of {METHODS}, got {config.method!r}")
    return None


def rnnoise(audio: np.ndarray, rate: int) -> tuple[np.ndarray, float]:
    """(n,) -> (n,) denoised, and the mean speech probability RNNoise saw."""
    from pyrnnoise import RNNoise

    x = resample(audio, rate, _RNN_RATE)
    pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
    den = RNNoise(_RNN_RATE)
    probs, frames = [], []
    for prob, frame in den.denoise_chunk(pcm, partial=True):
        probs.append(float(np.mean(prob)))
        frames.append(np.asarray(frame).reshape(-1))
    y = np.concatenate(frames).astype(np.float32) / 32768.0 if frames else np.zeros(0, np.float32)
    y = np.pad(y, (0, max(0, x.size - y.size)))[: x.size]
    out = resample(y, _RNN_RATE, rate)
    return out[: audio.size], float(np.mean(probs)) if probs else 0.0


def process(items: list, config: DenoiseConfig, models: None) -> list:
    if config.method == "none":
        return [[pair] for pair in items]
    out = []
    for record, audio in items:
        clean, prob = rnnoise(audio, PIPELINE_RATE)
        out.append([(derive(record, scores={"rnnoise_speech_prob": round(prob, 3)}), clean)])
    return out
