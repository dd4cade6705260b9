"""Speed and volume post-processing."""

from __future__ import annotations

import numpy as np
import pytest

from s2tts.server.effects import PostProcessor, _tempo_steps

from .signals import sine

SR = 44100


def run(post: PostProcessor, x: np.ndarray) -> np.ndarray:
    parts = [post.process(x[i : i + 2048]) for i in range(0, len(x), 2048)]
    parts.append(post.flush())
    return np.concatenate(parts)


@pytest.mark.parametrize("speed", [0.25, 0.5, 1.5, 2.0, 4.0])
def test_speed_changes_duration_not_pitch(speed: float) -> None:
    x = sine(SR, 440.0)
    y = run(PostProcessor(SR, speed=speed), x)
    assert abs(len(y) - len(x) / speed) < 0.03 * len(x) / speed
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spec) * SR / len(y) - 440.0) < 10.0


def test_volume_gain_and_identity() -> None:
    x = sine(4096, amp=0.25)
    y = run(PostProcessor(SR, gain_db=6.0206), x)
    np.testing.assert_allclose(y, 2 * x, rtol=1e-4, atol=1e-6)
    ident = PostProcessor(SR)
    assert ident.identity
    np.testing.assert_array_equal(ident.process(x), x)


def test_tempo_steps_stay_in_band() -> None:
    for s in (0.25, 0.3, 3.9, 4.0, 1.0):
        steps = _tempo_steps(s)
        assert all(0.5 <= v <= 2.0 for v in steps)
        assert abs(np.prod(steps) - s) < 1e-9
    with pytest.raises(ValueError):
        PostProcessor(SR, speed=5.0)
