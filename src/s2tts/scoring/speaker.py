"""Speaker similarity: cosine between GE2E d-vectors (resemblyzer's bundled 256-d encoder).

``SpeakerEncoder.embed(clips)`` embeds a batch in one forward pass: each clip is cleaned as
resemblyzer does (volume normalised, long silences trimmed with webrtcvad), cut into 1.6 s
partial windows (1.3 per second), all windows of all clips go through the LSTM together, and each
clip's embedding is the L2-normalised mean of its windows. ``similarity`` is the cosine of two
embeddings: about 0.9 for the same synthetic voice on different sentences, 0.4-0.8 between
different voices on this machine (docs/eval.md).

Audio in: mono float32 (n,) at 16 kHz (resemblyzer's own rate).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from s2tts.errors import EvalError

MIN_SECONDS = 0.3  # shorter clips (after silence trimming) carry no usable voice


class SpeakerEncoder:
    """A loaded GE2E encoder; ``embed(clips) -> (B, 256)`` unit vectors."""

    def __init__(self, device: str = "cpu") -> None:
        from resemblyzer import VoiceEncoder

        with contextlib.redirect_stdout(io.StringIO()):  # it prints a load message
            self.encoder = VoiceEncoder(device=device, verbose=False)

    def embed(self, clips: list[np.ndarray]) -> np.ndarray:
        """clips: mono float32 (n,) at 16 kHz -> (B, 256) float32, unit norm; an empty or silent
        clip gets a zero vector (similarity 0)."""
        import torch
        from resemblyzer import audio as rz_audio

        mels: list[np.ndarray] = []
        owners: list[int] = []
        for i, clip in enumerate(clips):
            if clip.ndim != 1:
                raise EvalError(f"clip {i}: expected mono (n,) audio, got shape {clip.shape}")
            wav = speech_only(clip)
            if len(wav) < MIN_SECONDS * 16000:
                continue
            wav_slices, mel_slices = self.encoder.compute_partial_slices(len(wav), 1.3, 0.75)
            if wav_slices[-1].stop >= len(wav):
                wav = np.pad(wav, (0, wav_slices[-1].stop - len(wav)))
            mel = rz_audio.wav_to_mel_spectrogram(wav)
            mels.extend(mel[s] for s in mel_slices)
            owners.extend([i] * len(mel_slices))
        out = np.zeros((len(clips), 256), dtype=np.float32)
        if not mels:
            return out
        with torch.no_grad():
            partial = self.encoder(torch.from_numpy(np.stack(mels)).to(self.encoder.device)).cpu().numpy()
        owner = np.asarray(owners)
        for i in np.unique(owner):
            mean = partial[owner == i].mean(axis=0)
            out[i] = mean / max(float(np.linalg.norm(mean)), 1e-8)
        return out

    def similarity(self, a: list[np.ndarray], b: list[np.ndarray]) -> list[float]:
        """Pairwise cosine of clip a[i] with clip b[i]."""
        if len(a) != len(b):
            raise EvalError(f"{len(a)} clips against {len(b)} references")
        emb = self.embed(list(a) + list(b))
        return [float(x) for x in cosine(emb[: len(a)], emb[len(a) :])]


def speech_only(clip: np.ndarray) -> np.ndarray:
    """Mono float32 (n,) at 16 kHz -> the same with long silences cut out and the volume normalised
    (resemblyzer's preprocessing, webrtcvad), as ``embed`` does to each clip."""
    from resemblyzer import preprocess_wav

    return preprocess_wav(np.asarray(clip, dtype=np.float32)) if len(clip) else clip


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of (B, D) a and b -> (B,); a zero row gives 0."""
    num = (a * b).sum(axis=-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return np.where(den > 0, num / np.maximum(den, 1e-12), 0.0)
