import subprocess

import numpy as np
import pytest
import torch

from s2tts.audio import read_audio
from s2tts.training.codec.distill import SemanticHead, distill_loss, resample_frames
from s2tts.training.codec.whisper_teacher import WhisperEncoderTeacher


def test_resample_frames_pools_down_and_repeats_up():
    ramp = torch.arange(8, dtype=torch.float32)[None, :, None]  # 8 frames at 4 Hz, value = index
    down = resample_frames(ramp, 4.0, 2.0, 4)
    assert down[0, :, 0].tolist() == [0.5, 2.5, 4.5, 6.5]  # mean of the two frames in each span
    up = resample_frames(ramp[:, :2], 2.0, 4.0, 4)
    assert up[0, :, 0].tolist() == [0.0, 0.0, 1.0, 1.0]  # nearest frame when none falls inside
    # 50 Hz teacher -> 21.53 Hz codec frames: every output is an average of 2 or 3 input frames
    out = resample_frames(torch.arange(100.0)[None, :, None], 50.0, 44100 / 2048, 43)
    steps = out[0, 1:, 0] - out[0, :-1, 0]
    assert out.shape == (1, 43, 1) and bool((steps >= 2.0).all()) and bool((steps <= 3.0).all())
    assert abs(float(steps.mean()) - 50 * 2048 / 44100) < 0.05  # no drift over the clip


def test_distill_loss_kinds():
    a = torch.tensor([[[1.0, 0.0]]])
    assert float(distill_loss(a, a)) == 0.0
    assert float(distill_loss(a, torch.tensor([[[0.0, 3.0]]]))) == pytest.approx(1.0)
    assert float(distill_loss(a, -a)) == pytest.approx(2.0)
    assert float(distill_loss(a, 2 * a, "l1")) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        distill_loss(a, a, "mse")
    assert SemanticHead(64, 512)(torch.zeros(2, 3, 64)).shape == (2, 3, 512)


def _espeak(text: str, path) -> np.ndarray:
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True, capture_output=True)
    audio, rate = read_audio(path)
    return audio, rate


def test_whisper_teacher_features(tmp_path):
    teacher = WhisperEncoderTeacher()
    a, rate = _espeak("the quick brown fox", tmp_path / "a.wav")
    b, _ = _espeak("seven silver spoons", tmp_path / "b.wav")
    n = min(a.shape[-1], b.shape[-1])
    batch = torch.from_numpy(np.stack([a.reshape(-1)[:n], b.reshape(-1)[:n], a.reshape(-1)[:n]]))
    feats = teacher(batch, rate)
    assert feats.shape == (3, int(np.ceil(n * 16000 / rate / 320)), 512)
    torch.testing.assert_close(feats[0], feats[2])  # a fixed function of the audio
    assert float((feats[0] - feats[1]).abs().mean()) > 0.1  # different words, different features
