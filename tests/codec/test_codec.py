"""Codec API: shapes and facts, any-rate/any-channel batched encode, whole-codec streaming with
random chunk schedules, state batching, and typed errors on bad input."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from s2tts.audio import downmix, resample
from s2tts.errors import AudioError, CodesError
from s2tts.models.codec import Codec, CodecConfig, select_state, stack_states
from s2tts.models.codec.inputs import MIN_AUDIO_SECONDS, prepare_audio


@pytest.fixture(scope="module")
def codec() -> Codec:
    torch.manual_seed(0)
    return Codec(CodecConfig.preset("tiny")).eval()


def _tone(seconds: float, rate: int = 44100, freq: float = 330.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(0)
    return (0.4 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(t.shape)).astype(np.float32)


def _codes(codec: Codec, batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.stack(
        [torch.randint(0, s, (batch, frames), generator=gen) for s in codec.codebook_sizes], dim=1
    )


def test_facts():
    codec = Codec(CodecConfig.preset("small"))
    assert codec.sample_rate == 44100
    assert codec.frame_length == 2048 and codec.hop_length == 512
    assert codec.num_codebooks == 10
    assert codec.codebook_sizes == (4096,) + (1024,) * 9
    assert math.isclose(codec.frame_rate, 21.533203125)


def test_random_init_is_deterministic_given_the_seed():
    torch.manual_seed(3)
    a = Codec(CodecConfig.preset("tiny"))
    torch.manual_seed(3)
    b = Codec(CodecConfig.preset("tiny"))
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


def test_encode_decode_shapes(codec):
    audio = _tone(0.5)
    codes, lengths = codec.encode(audio, 44100)
    frames = math.ceil(len(audio) / 2048)
    assert codes.shape == (1, 10, frames) and codes.dtype == torch.int64
    assert lengths.tolist() == [frames]
    assert int(codes[:, 0].max()) < 64 and int(codes[:, 1:].max()) < 32
    out = codec.decode(codes)
    assert out.shape == (1, 1, frames * 2048) and out.dtype == torch.float32
    assert float(out.abs().max()) <= 1.0
    assert torch.equal(codec.decode(codes[0]), out)  # (10, T) is accepted too


def test_one_shot_chunking_does_not_change_results(codec):
    audio = _tone(1.0)
    codes_a, _ = codec.encode(audio, 44100, chunk_frames=1)
    codes_b, _ = codec.encode(audio, 44100, chunk_frames=64)
    assert torch.equal(codes_a, codes_b)
    torch.testing.assert_close(
        codec.decode(codes_a, chunk_frames=1), codec.decode(codes_a, chunk_frames=64), atol=1e-5, rtol=0
    )


def test_stereo_is_downmixed(codec):
    left, right = _tone(0.4, freq=220), _tone(0.4, freq=550)
    stereo, _ = codec.encode(np.stack([left, right]), 44100)
    mono, _ = codec.encode((left + right) / 2, 44100)
    assert torch.equal(stereo, mono)


def test_other_sample_rates_are_resampled_with_soxr(codec):
    audio_16k = _tone(0.6, rate=16000)
    codes, lengths = codec.encode(audio_16k, np.int64(16000))  # numpy scalars (e.g. from files) work
    n_44k = round(len(audio_16k) * 44100 / 16000)
    assert lengths.tolist() == [math.ceil(n_44k / 2048)]
    import soxr

    direct, _ = codec.encode(soxr.resample(audio_16k, 16000, 44100, quality="HQ"), 44100)
    assert torch.equal(codes, direct)


def test_codec_input_conversion_is_s2tts_audios_rule():
    """The codec's boundary conversion (kept in models/, which imports nothing above it) gives the
    samples that s2tts.audio's downmix + resample give, so the package has one rule."""
    rng = np.random.default_rng(3)
    stereo = np.stack([_tone(0.3, freq=330, rate=16000), rng.uniform(-0.3, 0.3, 4800).astype(np.float32)])
    wave, lengths = prepare_audio(stereo, 16000, None, 44100)
    expected = resample(downmix(stereo), 16000, 44100)
    assert lengths == [len(expected)]
    np.testing.assert_allclose(wave[0], expected, rtol=0, atol=1e-7)


def test_integer_pcm_and_tensors_are_accepted(codec):
    audio = _tone(0.3)
    pcm = np.round(audio * 32767).astype(np.int16)
    from_pcm, _ = codec.encode(pcm, 44100)
    from_tensor, _ = codec.encode(torch.from_numpy(pcm.astype(np.float32) / 32768), 44100)
    assert torch.equal(from_pcm, from_tensor)


def test_batch_with_lengths_equals_items_alone(codec):
    a, b = _tone(0.7, freq=200), _tone(0.3, freq=900)
    batch = np.zeros((2, 1, len(a)), dtype=np.float32)
    batch[0, 0] = a
    batch[1, 0, : len(b)] = b
    batch[1, 0, len(b) :] = 0.9  # garbage past the length must not leak in
    codes, lengths = codec.encode(batch, 44100, lengths=[len(a), len(b)])
    alone_a, _ = codec.encode(a, 44100)
    alone_b, len_b = codec.encode(b, 44100)
    assert lengths.tolist() == [alone_a.shape[-1], int(len_b[0])]
    assert torch.equal(codes[0], alone_a[0])
    assert torch.equal(codes[1, :, : int(len_b[0])], alone_b[0])
    assert int(codes[1, :, int(len_b[0]) :].abs().sum()) == 0  # zero past the item's length


@pytest.mark.parametrize("seed", range(3))
def test_streaming_decode_equals_one_shot(codec, seed):
    codes = _codes(codec, 2, 30, seed)
    full = codec.decode(codes)
    rng = random.Random(seed)
    state = codec.init_decode_state(2)
    outs, i = [], 0
    while i < codes.shape[-1]:
        n = min(rng.choice([1, 1, 2, 3, 5, 8]), codes.shape[-1] - i)
        pcm = codec.decode_step(codes[..., i : i + n], state)
        assert pcm.shape == (2, 1, n * 2048)
        outs.append(pcm)
        i += n
    torch.testing.assert_close(torch.cat(outs, -1), full, atol=1e-4, rtol=0)
    assert state.frames == 30


@pytest.mark.parametrize("seed", range(2))
def test_streaming_encode_equals_one_shot(codec, seed):
    audio = torch.from_numpy(np.stack([_tone(1.2, freq=300), _tone(1.2, freq=700)]))[:, None]
    audio = audio[..., : (audio.shape[-1] // 2048) * 2048]
    full, _ = codec.encode(audio, 44100)
    rng = random.Random(seed)
    state = codec.init_encode_state(2)
    outs, i, frames = [], 0, audio.shape[-1] // 2048
    while i < frames:
        n = min(rng.randint(1, 6), frames - i)
        outs.append(codec.encode_step(audio[..., i * 2048 : (i + n) * 2048], state))
        i += n
    assert torch.equal(torch.cat(outs, -1), full)


def test_decode_states_of_streams_at_different_positions_can_be_batched(codec):
    a, b = _codes(codec, 1, 12, 1), _codes(codec, 1, 7, 2)
    full_a, full_b = codec.decode(a), codec.decode(b)
    sa, sb = codec.init_decode_state(1), codec.init_decode_state(1)
    head_a = codec.decode_step(a[..., :5], sa)
    both = stack_states([sa, sb])
    assert both.batch_size == 2
    joint = codec.decode_step(torch.cat([a[..., 5:12], b], dim=0), both)
    torch.testing.assert_close(torch.cat([head_a, joint[:1]], -1), full_a, atol=1e-4, rtol=0)
    torch.testing.assert_close(joint[1:], full_b, atol=1e-4, rtol=0)
    assert select_state(both, [1]).batch_size == 1


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("audio", "rate", "match"),
    [
        (np.zeros(0, dtype=np.float32), 44100, "empty"),
        (np.zeros(int(44100 * MIN_AUDIO_SECONDS) - 1, dtype=np.float32), 44100, "too short"),
        (np.array([0.1] * 1000 + [np.nan], dtype=np.float32), 44100, "non-finite"),
        (np.array([0.1] * 1000 + [np.inf], dtype=np.float32), 44100, "non-finite"),
        (np.zeros((1, 1, 1, 1000), dtype=np.float32), 44100, "shape"),
        (np.zeros(1000, dtype=np.complex64), 44100, "real numbers"),
        (np.zeros(1000, dtype=np.float32), 0, "sample_rate"),
        (np.zeros(1000, dtype=np.float32), float("nan"), "sample_rate"),
        ("not audio", 44100, "numpy array"),
    ],
)
def test_encode_rejects_bad_audio(codec, audio, rate, match):
    with pytest.raises(AudioError, match=match):
        codec.encode(audio, rate)


def test_encode_rejects_bad_lengths(codec):
    audio = np.zeros((2, 1, 1000), dtype=np.float32)
    with pytest.raises(AudioError, match="lengths"):
        codec.encode(audio, 44100, lengths=[1000])
    with pytest.raises(AudioError, match="lengths"):
        codec.encode(audio, 44100, lengths=[1000, 2000])
    with pytest.raises(AudioError, match="empty"):
        codec.encode(audio, 44100, lengths=[1000, 0])


@pytest.mark.parametrize(
    ("codes", "match"),
    [
        (torch.zeros(1, 9, 4, dtype=torch.long), "shape"),
        (torch.zeros(10, dtype=torch.long), "shape"),
        (torch.zeros(1, 10, 0, dtype=torch.long), "empty"),
        (torch.zeros(1, 10, 4), "integers"),
        (np.zeros((10, 4), dtype=np.float32), "integers"),
        (torch.full((1, 10, 4), -1, dtype=torch.long), "out of range"),
        ("codes", "torch.Tensor"),
    ],
)
def test_decode_rejects_bad_codes(codec, codes, match):
    with pytest.raises(CodesError, match=match):
        codec.decode(codes)


def test_out_of_range_codes_are_named(codec):
    codes = torch.zeros(1, 10, 4, dtype=torch.long)
    codes[0, 3, 2] = 32  # residual codebooks have 32 entries in the tiny codec
    with pytest.raises(CodesError, match="codebook 3 .*value 32.*frame 2"):
        codec.decode(codes)
    codes[0, 3, 2] = 31
    codes[0, 0, 1] = 63  # the semantic codebook is larger
    codec.decode(codes)


def test_step_errors(codec):
    state = codec.init_decode_state(2)
    with pytest.raises(CodesError, match="2"):
        codec.decode_step(_codes(codec, 1, 3), state)
    estate = codec.init_encode_state(1)
    with pytest.raises(AudioError, match="multiple of 2048"):
        codec.encode_step(torch.zeros(1, 1, 3000), estate)
    with pytest.raises(AudioError, match="shape"):
        codec.encode_step(torch.zeros(2, 1, 2048), estate)
    with pytest.raises(AudioError, match="non-finite"):
        codec.encode_step(torch.full((1, 1, 2048), float("nan")), estate)


def test_bfloat16_codec_tracks_float32():
    torch.manual_seed(0)
    fp32 = Codec(CodecConfig.preset("tiny")).eval()
    bf16 = Codec(CodecConfig.preset("tiny")).eval()
    bf16.load_state_dict(fp32.state_dict())
    bf16 = bf16.to(torch.bfloat16)
    codes = _codes(fp32, 1, 6)
    a, b = fp32.decode(codes), bf16.decode(codes)
    assert b.dtype == torch.bfloat16 and torch.isfinite(b).all()
    assert torch.corrcoef(torch.stack([a.flatten(), b.float().flatten()]))[0, 1] > 0.95
