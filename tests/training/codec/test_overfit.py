"""A tiny codec (iSTFT decoder) overfits one clip of real speech through the whole recipe."""

import numpy as np
import pytest
import torch

from s2tts.audio import read_audio, resample, write_audio
from s2tts.training.codec.config import CodecTrainConfig
from s2tts.training.codec.losses import MultiScaleMelLoss
from s2tts.training.codec.recipe import train
from s2tts.training.metrics_log import read_metrics
from s2tts.training.run_config import load_config

FRAMES = 8  # 0.37 s at 44.1 kHz


@pytest.mark.slow
def test_tiny_codec_overfits_one_clip(tmp_path, speech_dir):
    audio, rate = read_audio(sorted(speech_dir.glob("*.wav"))[0])
    audio = resample(audio.reshape(-1), rate, 44100)
    start = int(np.argmax(np.abs(audio) > 0.05))  # skip the leading silence
    clip = audio[start : start + FRAMES * 2048]
    (tmp_path / "clip").mkdir()
    write_audio(tmp_path / "clip" / "c.wav", clip, 44100)
    seconds = FRAMES * 2048 / 44100
    steps = 60
    cfg = load_config(
        CodecTrainConfig,
        None,
        [
            f"out_dir={tmp_path / 'run'}", f"data.audio_dir={tmp_path / 'clip'}", "model.preset=tiny",
            "model.decoder_kind=istft", "model.decoder_dim=64", "threads=1", f"steps={steps}",
            "data.batch_size=1", f"data.crop_seconds={seconds}", "data.val_clips=1", f"data.val_seconds={seconds}",
            "phases.unquantized_steps=20", "phases.gan_start=1000", "optim.lr_g=0.003", "vq.dropout=0",
            "val_every=20", "log_every=10", f"save_every={steps}",
        ],
    )  # fmt: skip
    summary = train(cfg)
    val = [row["val_mel"] for row in read_metrics(tmp_path / "run" / "metrics.jsonl") if "val_mel" in row]
    # Threshold: as close in mel as the clip with white noise at 20 dB SNR -- audible hiss but
    # intact speech. An untrained codec is at ~1.0 here, silence at ~1.6; a broken gradient path
    # (encoder cut off, wrong straight-through, wrong loss sign) stays near the start.
    x = torch.from_numpy(clip)[None, None].float()
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    noise *= x.norm() / noise.norm() / 10 ** (20 / 20)
    reference = float(MultiScaleMelLoss(44100).distance(x + noise, x))
    assert val[-1] < reference, (val, reference)
    assert val[-1] < 0.6 * summary["first_mel_loss"]
