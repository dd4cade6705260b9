"""Generator and discriminator losses of the codec GAN.

* :class:`MultiScaleMelLoss` -- L1 between log10 mel spectrograms at several FFT sizes, full band
  (DAC: windows 32..2048, 5..320 mels, hop window/4). The loss that gets a waveform codec moving.
* :func:`feature_matching_loss` -- L1 between the discriminators' intermediate feature maps of the
  fake and (detached) real audio, summed over discriminators, averaged within each map.
* :func:`discriminator_loss` / :func:`generator_adversarial_loss` -- least squares (DAC) or hinge
  (EnCodec) objectives on each sub-discriminator's last output.

Discriminator outputs are ``list[list[Tensor]]``: one list per sub-discriminator, holding its
feature maps with the logits last (see :mod:`s2tts.training.codec.discriminators`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from s2tts.training.codec.spectral import mel_filterbank, stft

FeatureMaps = list[list[torch.Tensor]]


@dataclass(frozen=True)
class MelLossConfig:
    """Scales of the multi-scale mel loss (DAC's defaults); hop = window // 4."""

    windows: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048)
    n_mels: tuple[int, ...] = (5, 10, 20, 40, 80, 160, 320)
    clamp: float = 1e-5


class MultiScaleMelLoss(nn.Module):
    """Mean over scales of L1(log10 mel(fake), log10 mel(real)).

    fake, real: (B, 1, n) or (B, n) -> scalar. Filterbanks are buffers (moved with ``.to``).
    """

    def __init__(self, sample_rate: int, config: MelLossConfig | None = None) -> None:
        super().__init__()
        self.config = config or MelLossConfig()
        if len(self.config.windows) != len(self.config.n_mels):
            raise ValueError("mel loss: windows and n_mels need the same length")
        for i, (win, mels) in enumerate(zip(self.config.windows, self.config.n_mels, strict=True)):
            self.register_buffer(f"fb{i}", mel_filterbank(sample_rate, win, mels), persistent=False)

    def log_mel(self, audio: torch.Tensor, scale: int) -> torch.Tensor:
        """(B, n) -> log10 mel (B, n_mels, frames) at scale ``scale``."""
        win = self.config.windows[scale]
        mag = stft(audio.float(), win, win // 4).abs()
        fb: torch.Tensor = getattr(self, f"fb{scale}")
        return torch.log10(torch.clamp(fb @ mag, min=self.config.clamp))

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        losses = [
            F.l1_loss(self.log_mel(fake, i), self.log_mel(real, i)) for i in range(len(self.config.windows))
        ]
        return torch.stack(losses).mean()

    def distance(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Per-item mel distance (B,): the validation metric."""
        out = []
        for i in range(len(self.config.windows)):
            diff = (self.log_mel(fake, i) - self.log_mel(real, i)).abs()
            out.append(diff.flatten(1).mean(1))
        return torch.stack(out).mean(0)


def feature_matching_loss(fake: FeatureMaps, real: FeatureMaps) -> torch.Tensor:
    """Sum over sub-discriminators and layers (logits excluded) of mean |fake - real.detach()|."""
    total = fake[0][0].new_zeros(())
    for fake_maps, real_maps in zip(fake, real, strict=True):
        for f, r in zip(fake_maps[:-1], real_maps[:-1], strict=True):
            total = total + F.l1_loss(f, r.detach())
    return total


def discriminator_loss(fake: FeatureMaps, real: FeatureMaps, kind: str = "lsgan") -> torch.Tensor:
    """D objective summed over sub-discriminators; ``fake`` from detached generator output.

    lsgan: mean(D(fake)^2) + mean((1 - D(real))^2); hinge: mean(relu(1 + D(fake))) + mean(relu(1 - D(real))).
    """
    total = fake[0][-1].new_zeros(())
    for f_maps, r_maps in zip(fake, real, strict=True):
        f, r = f_maps[-1], r_maps[-1]
        if kind == "lsgan":
            total = total + f.square().mean() + (1 - r).square().mean()
        elif kind == "hinge":
            total = total + F.relu(1 + f).mean() + F.relu(1 - r).mean()
        else:
            raise ValueError(f"unknown adversarial loss {kind!r}; choose lsgan or hinge")
    return total


def generator_adversarial_loss(fake: FeatureMaps, kind: str = "lsgan") -> torch.Tensor:
    """G objective summed over sub-discriminators: lsgan mean((1 - D(fake))^2); hinge mean(relu(1 - D(fake)))."""
    total = fake[0][-1].new_zeros(())
    for maps in fake:
        f = maps[-1]
        if kind == "lsgan":
            total = total + (1 - f).square().mean()
        elif kind == "hinge":
            total = total + F.relu(1 - f).mean()
        else:
            raise ValueError(f"unknown adversarial loss {kind!r}; choose lsgan or hinge")
    return total
