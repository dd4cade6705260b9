import pytest
import torch

from s2tts.training.codec.discriminators import (
    DiscriminatorConfig,
    Discriminators,
    MultiPeriodDiscriminator,
    MultiResolutionSTFTDiscriminator,
    PeriodDiscriminator,
    SpectrogramDiscriminator,
)


def test_period_discriminator_folds_by_period_and_strides_time():
    mpd = MultiPeriodDiscriminator(channels=(4, 8, 8, 8, 8))
    out = mpd(torch.randn(2, 1, 4000))
    assert len(out) == 5
    for period, maps in zip((2, 3, 5, 7, 11), out, strict=True):
        assert len(maps) == 6  # 5 convs + logits
        assert all(m.shape[-1] == period for m in maps)
        rows = -(-4000 // period)
        assert maps[0].shape[:3] == (2, 4, -(-rows // 3))
        assert maps[-1].shape[1] == 1


@pytest.mark.parametrize(
    "kwargs,channels",
    [
        ({"complex_input": True}, 2),
        ({"complex_input": False, "dilations": (1, 1, 1)}, 1),
        ({"complex_input": True, "bands": (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)}, 2),
    ],
)
def test_spectrogram_discriminator_shapes(kwargs, channels):
    d = SpectrogramDiscriminator(256, 64, channels=6, **kwargs)
    audio = torch.randn(3, 1, 2048)
    spec = d.spectrogram(audio)
    assert spec.shape == (3, channels, 2048 // 64 + 1, 129)
    maps = d(audio)
    n_bands = len(d.band_slices)
    assert len(maps) == 5 * n_bands + 1
    assert maps[-1].shape[:3] == (3, 1, 33)
    # frequency is halved three times by the strided convs, per band, then bands are joined
    expected_bins = sum(((hi - lo) + 7) // 8 for lo, hi in d.band_slices)
    assert maps[-1].shape[-1] == expected_bins


def test_all_discriminators_together():
    config = DiscriminatorConfig(
        period_channels=(4, 4, 4, 4, 4),
        complex_n_ffts=(512, 128),
        complex_channels=4,
        magnitude_n_ffts=(256,),
        magnitude_hops=(64,),
        magnitude_wins=(200,),
        magnitude_channels=4,
    )
    out = Discriminators(config)(torch.randn(2, 1, 4096))
    assert len(out) == 5 + 2 + 1
    with pytest.raises(ValueError, match="no discriminator"):
        Discriminators(DiscriminatorConfig(periods=(), complex_n_ffts=(), magnitude_n_ffts=()))


def _gradcheck(module: torch.nn.Module, n: int) -> None:
    module = module.double()
    gen = torch.Generator().manual_seed(0)
    audio = torch.randn(1, 1, n, dtype=torch.float64, generator=gen, requires_grad=True)

    def logits(x: torch.Tensor) -> torch.Tensor:
        out = module(x)
        out = out if isinstance(out[0], list) else [out]
        return torch.cat([maps[-1].flatten() for maps in out]).sum()

    assert torch.autograd.gradcheck(logits, (audio,), eps=1e-6, atol=1e-4)
    # parameters get gradients too
    logits(audio).backward()
    assert all(p.grad is not None for p in module.parameters())


def test_gradcheck_period():
    torch.manual_seed(0)
    _gradcheck(PeriodDiscriminator(3, channels=(2, 2, 2, 2, 2)), 96)


def test_gradcheck_complex_multiband():
    torch.manual_seed(0)
    _gradcheck(
        MultiResolutionSTFTDiscriminator((64,), channels=2, bands=(0.0, 0.5, 1.0), dilations=(1,)), 128
    )


def test_gradcheck_magnitude():
    torch.manual_seed(0)
    _gradcheck(MultiResolutionSTFTDiscriminator((32,), channels=2, complex_input=False, dilations=(1,)), 96)


def test_period_discriminator_equals_its_2d_convolution():
    torch.manual_seed(0)
    d = PeriodDiscriminator(5, channels=(4, 8, 8, 8, 8))
    audio = torch.randn(2, 1, 999)
    x = torch.nn.functional.pad(audio, (0, 1), mode="reflect").reshape(2, 1, 200, 5)
    expected = []
    for conv in [*d.convs, d.post]:
        x = conv(x)  # the plain Conv2d over (n/p, p)
        if conv is not d.post:
            x = torch.nn.functional.leaky_relu(x, 0.1)
        expected.append(x)
    for got, want in zip(d(audio), expected, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
