"""Discriminators of the codec GAN. Each maps audio (B, 1, n) to ``list[list[Tensor]]``: one list
per sub-discriminator with its feature maps, the logits last (the layout the losses take).

* :class:`PeriodDiscriminator` / :class:`MultiPeriodDiscriminator` (HiFi-GAN, DAC): the waveform
  folded to (n / p, p) for periods 2, 3, 5, 7, 11; 2-D convs along time, kernel (5, 1), stride 3.
* :class:`SpectrogramDiscriminator` / :class:`MultiResolutionSTFTDiscriminator`: 2-D convs over
  an STFT laid out (B, C, frames, bins). Three flavours from one module:
  magnitude (UnivNet/BigVGAN "MRD": C = 1), complex (EnCodec MS-STFT: real and imaginary parts,
  C = 2, time dilations 1/2/4) and multi-band complex (DAC: the bins split into bands, each band
  with its own conv stack, outputs joined along frequency).
* :class:`Discriminators` runs any set of them and concatenates their outputs.

Convs carry weight norm (``torch.nn.utils.parametrizations.weight_norm``), LeakyReLU 0.1/0.2.
Widths are parameters so a CPU configuration can shrink them; defaults are the published ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from s2tts.training.codec.losses import FeatureMaps
from s2tts.training.codec.spectral import as_batch, stft


def _wn_conv2d(cin: int, cout: int, kernel: tuple[int, int], stride=(1, 1), dilation=(1, 1)) -> nn.Module:
    padding = ((kernel[0] - 1) * dilation[0] // 2, (kernel[1] - 1) * dilation[1] // 2)
    return weight_norm(nn.Conv2d(cin, cout, kernel, stride=stride, dilation=dilation, padding=padding))


class PeriodDiscriminator(nn.Module):
    """audio (B, 1, n) -> [feature maps (B, C_i, n / p / 3^i, p)..., logits (B, 1, ., p)]."""

    def __init__(self, period: int, channels: Sequence[int] = (32, 128, 512, 1024, 1024)) -> None:
        super().__init__()
        self.period = period
        widths = [1, *channels]
        self.convs = nn.ModuleList(
            _wn_conv2d(widths[i], widths[i + 1], (5, 1), stride=(3 if i < len(channels) - 1 else 1, 1))
            for i in range(len(channels))
        )
        self.post = _wn_conv2d(widths[-1], 1, (3, 1))

    def forward(self, audio: torch.Tensor) -> list[torch.Tensor]:
        x = as_batch(audio)
        b = x.shape[0]
        pad = -x.shape[-1] % self.period
        if pad:
            x = F.pad(x[:, None], (0, pad), mode="reflect")[:, 0]
        # The (5, 1) kernels never mix the p columns, so the 2-D conv over (n/p, p) is a 1-D conv
        # over n/p with the columns folded into the batch: the same numbers, and on CPU a 1-D conv
        # backward is several times faster than oneDNN's 2-D one for widths like 2, 3, 5.
        x = x.reshape(b, -1, self.period).transpose(1, 2).reshape(b * self.period, 1, -1)  # (B*p, 1, n/p)
        maps = []
        for conv in [*self.convs, self.post]:
            c = conv.weight.shape[-2] // 2
            x = F.conv1d(x, conv.weight[..., 0], conv.bias, stride=conv.stride[0], padding=c)
            if conv is not self.post:
                x = F.leaky_relu(x, 0.1)
            maps.append(x.reshape(b, self.period, x.shape[1], -1).permute(0, 2, 3, 1))  # (B, C, T, p) view
        return maps


class MultiPeriodDiscriminator(nn.Module):
    def __init__(
        self, periods: Sequence[int] = (2, 3, 5, 7, 11), channels: Sequence[int] = (32, 128, 512, 1024, 1024)
    ) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(PeriodDiscriminator(p, channels) for p in periods)

    def forward(self, audio: torch.Tensor) -> FeatureMaps:
        return [d(audio) for d in self.discriminators]


class SpectrogramDiscriminator(nn.Module):
    """One STFT resolution. audio (B, 1, n) -> [maps (B, ch, frames, bins_i)..., logits].

    complex_input: real + imaginary channels (else magnitude). bands: fractions of Nyquist that
    split the bins (e.g. DAC's (0, .1, .25, .5, .75, 1)); each band gets its own conv stack and
    the band outputs are joined along frequency. dilations: time dilations of the inner convs.
    """

    def __init__(
        self,
        n_fft: int,
        hop: int,
        win: int | None = None,
        channels: int = 32,
        complex_input: bool = True,
        bands: Sequence[float] | None = None,
        dilations: Sequence[int] = (1, 2, 4),
    ) -> None:
        super().__init__()
        self.n_fft, self.hop, self.win = n_fft, hop, win or n_fft
        self.complex_input = complex_input
        bins = n_fft // 2 + 1
        edges = [0.0, 1.0] if bands is None else list(bands)
        if edges[0] != 0.0 or edges[-1] != 1.0 or sorted(edges) != edges:
            raise ValueError(f"bands must rise from 0 to 1, got {edges}")
        self.band_slices = [
            (int(a * bins), int(b * bins) if b < 1 else bins)
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
        cin = 2 if complex_input else 1

        def stack() -> nn.ModuleList:
            layers = [_wn_conv2d(cin, channels, (3, 9))]
            layers += [
                _wn_conv2d(channels, channels, (3, 9), stride=(1, 2), dilation=(d, 1)) for d in dilations
            ]
            layers.append(_wn_conv2d(channels, channels, (3, 3)))
            return nn.ModuleList(layers)

        self.bands = nn.ModuleList(stack() for _ in self.band_slices)
        self.post = _wn_conv2d(channels, 1, (3, 3))

    def spectrogram(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, 1, n) -> (B, C, frames, bins); C = 2 (real, imag) or 1 (magnitude)."""
        spec = stft(audio, self.n_fft, self.hop, self.win).transpose(1, 2)  # (B, frames, bins)
        if self.complex_input:
            return torch.stack([spec.real, spec.imag], dim=1)
        return spec.abs()[:, None]

    def forward(self, audio: torch.Tensor) -> list[torch.Tensor]:
        spec = self.spectrogram(audio)
        maps: list[torch.Tensor] = []
        outs = []
        for (lo, hi), layers in zip(self.band_slices, self.bands, strict=True):
            x = spec[..., lo:hi]
            for conv in layers:
                x = F.leaky_relu(conv(x), 0.2)
                maps.append(x)
            outs.append(x)
        x = torch.cat(outs, dim=-1)
        maps.append(self.post(x))
        return maps


class MultiResolutionSTFTDiscriminator(nn.Module):
    """Several :class:`SpectrogramDiscriminator` resolutions; hop = n_fft // 4 unless given."""

    def __init__(
        self,
        n_ffts: Sequence[int] = (2048, 1024, 512, 256, 128),
        hops: Sequence[int] | None = None,
        wins: Sequence[int] | None = None,
        channels: int = 32,
        complex_input: bool = True,
        bands: Sequence[float] | None = None,
        dilations: Sequence[int] = (1, 2, 4),
    ) -> None:
        super().__init__()
        hops = hops or [n // 4 for n in n_ffts]
        wins = wins or list(n_ffts)
        self.discriminators = nn.ModuleList(
            SpectrogramDiscriminator(n, h, w, channels, complex_input, bands, dilations)
            for n, h, w in zip(n_ffts, hops, wins, strict=True)
        )

    def forward(self, audio: torch.Tensor) -> FeatureMaps:
        return [d(audio) for d in self.discriminators]


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Which discriminators, and how wide. Empty ``periods`` / ``*_n_ffts`` disable one.

    Defaults: DAC's MPD, EnCodec's complex MS-STFT, and a BigVGAN magnitude MRD (the three S2 names).
    """

    periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    period_channels: tuple[int, ...] = (32, 128, 512, 1024, 1024)
    complex_n_ffts: tuple[int, ...] = (2048, 1024, 512, 256, 128)
    complex_channels: int = 32
    complex_bands: tuple[float, ...] = field(default_factory=tuple)  # () = one band
    magnitude_n_ffts: tuple[int, ...] = (1024, 2048, 512)
    magnitude_hops: tuple[int, ...] = (120, 240, 50)
    magnitude_wins: tuple[int, ...] = (600, 1200, 240)
    magnitude_channels: int = 32


class Discriminators(nn.Module):
    """All configured discriminators; audio (B, 1, n) -> their sub-discriminator outputs, concatenated."""

    def __init__(self, config: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        c = config or DiscriminatorConfig()
        self.config = c
        self.members = nn.ModuleList()
        if c.periods:
            self.members.append(MultiPeriodDiscriminator(c.periods, c.period_channels))
        if c.complex_n_ffts:
            bands = c.complex_bands or None
            self.members.append(
                MultiResolutionSTFTDiscriminator(c.complex_n_ffts, channels=c.complex_channels, bands=bands)
            )
        if c.magnitude_n_ffts:
            self.members.append(
                MultiResolutionSTFTDiscriminator(
                    c.magnitude_n_ffts,
                    c.magnitude_hops or None,
                    c.magnitude_wins or None,
                    channels=c.magnitude_channels,
                    complex_input=False,
                    dilations=(1, 1, 1),
                )
            )
        if not self.members:
            raise ValueError("discriminator config enables no discriminator")

    def forward(self, audio: torch.Tensor) -> FeatureMaps:
        return [out for d in self.members for out in d(audio)]
