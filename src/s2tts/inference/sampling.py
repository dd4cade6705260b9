"""Pure token sampling: top-k, top-p on untempered logits, temperature, exponential race.

Semantics follow the reference sampler exactly: rank the logits; drop ranks >= top_k and tokens
whose cumulative softmax mass (of the *untempered* logits) exceeds top_p; always keep rank 0;
divide the survivors by the temperature; draw with an exponential race (argmax of p / Exp(1)),
which needs no host sync. Instead of sorting the whole vocabulary we take the top ``k_max``
(the largest top_k in the batch) and compute the cumulative mass against the full log-sum-exp,
which gives the same kept set.

Randomness comes only from explicit ``torch.Generator`` objects, one per row, so a row's draws do
not depend on which other rows share its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from s2tts.inference.params import SamplingParams


@dataclass
class RowSampling:
    """Per-row sampling parameters of a batch, as tensors (B, 1) on the logits' device."""

    temperature: torch.Tensor
    top_p: torch.Tensor
    top_k: torch.Tensor
    k_max: int
    all_greedy: bool
    top_k_list: tuple[int, ...]

    @classmethod
    def from_params(
        cls,
        params: Sequence[SamplingParams],
        device: torch.device | str,
        *,
        high: bool = False,
    ) -> RowSampling:
        """Build from one SamplingParams per row; ``high`` gives the RAS fallback draw's settings."""
        temps = [p.ras_temperature if high else p.temperature for p in params]
        top_ps = [p.ras_top_p if high else p.top_p for p in params]
        top_ks = [p.top_k for p in params]
        return cls(
            temperature=torch.tensor(temps, dtype=torch.float32, device=device).view(-1, 1),
            top_p=torch.tensor(top_ps, dtype=torch.float32, device=device).view(-1, 1),
            top_k=torch.tensor(top_ks, dtype=torch.long, device=device).view(-1, 1),
            k_max=max(top_ks),
            all_greedy=all(k == 1 for k in top_ks),
            top_k_list=tuple(top_ks),
        )


def exponential_noise(
    counts: Sequence[int],
    width: int,
    generators: Sequence[torch.Generator | None],
    device: torch.device | str,
) -> torch.Tensor:
    """Exp(1) noise (B, width): row b draws ``counts[b]`` values from generators[b] (the global RNG
    when None) and is padded with ones. Drawing exactly a row's own top_k keeps its random stream
    independent of the other rows in the batch (same seed, same audio, batched or alone)."""
    out = torch.ones(len(counts), width, device=device)
    for b, (n, g) in enumerate(zip(counts, generators, strict=True)):
        n = min(n, width)
        out[b, :n].exponential_(1.0, generator=g)
    return out


class Filter(NamedTuple):
    """Per-row top-k / top-p / temperature settings prepared for K candidates (built once per
    frame, applied at every draw of it). temperature, top_p: (B, 1) float32 (temperature
    clamped); p_cut, k_cut: (B, K) bool -- ranks where top-p applies / ranks top-k removes
    (rank 0 never)."""

    temperature: torch.Tensor
    top_p: torch.Tensor
    p_cut: torch.Tensor
    k_cut: torch.Tensor

    @classmethod
    def build(cls, temperature: torch.Tensor, top_p: torch.Tensor, top_k: torch.Tensor, k: int) -> Filter:
        """temperature, top_p (B, 1) float; top_k (B, 1) int; k candidates."""
        ranks = torch.arange(k, device=top_k.device).view(1, -1)
        later = ranks > 0  # rank 0 is always kept
        # top_p = 1 keeps everything: the float cumulative mass can round above 1.0 in the tail
        return cls(temperature.clamp_min(1e-5), top_p, (top_p < 1.0) & later, (ranks >= top_k) & later)


def candidates(logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """logits (B, V) -> the top k (sorted, descending): values (B, k) float32, vocabulary
    indices (B, k) and cumulative softmax mass of the untempered logits (B, k)."""
    logits = logits.float()
    values, indices = torch.topk(logits, k, dim=-1)
    mass = torch.exp(values - torch.logsumexp(logits, dim=-1, keepdim=True)).cumsum(dim=-1)
    return values, indices, mass


def filter_candidates(values: torch.Tensor, mass: torch.Tensor, flt: Filter) -> torch.Tensor:
    """Candidates of :func:`candidates` -> log-probs (B, K) of the kept ones (removed: -inf)."""
    remove = ((mass > flt.top_p) & flt.p_cut) | flt.k_cut
    return torch.log_softmax(values.masked_fill(remove, float("-inf")) / flt.temperature, dim=-1)


def filtered_logprobs(
    logits: torch.Tensor,
    temperature: torch.Tensor,
    top_p: torch.Tensor,
    top_k: torch.Tensor,
    width: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """logits (B, V); per-row temperature/top_p (B, 1) float, top_k (B, 1) int ->
    (log-probs (B, K), token indices (B, K)) over the top K = min(width, V) candidates, with the
    removed ones at -inf. Pure tensor code: no host sync, static shapes for a static width."""
    k = min(width, logits.shape[-1])
    values, indices, mass = candidates(logits, k)
    return filter_candidates(values, mass, Filter.build(temperature, top_p, top_k, k)), indices


def draw(
    logprobs: torch.Tensor, indices: torch.Tensor, noise: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exponential race over kept candidates: logprobs/indices (B, K), noise (B, K) Exp(1).

    Noise wider than K (a vocabulary smaller than the sampling width) is cut to K.
    Returns (token indices (B,), their log-probabilities (B,))."""
    # The sampling width may exceed the candidates (top_k above the vocabulary): K <= width.
    choice = (logprobs.exp() / noise[..., : logprobs.shape[-1]]).argmax(dim=-1, keepdim=True)
    return indices.gather(-1, choice).squeeze(-1), logprobs.gather(-1, choice).squeeze(-1)


def filtered_probs(logits: torch.Tensor, rs: RowSampling) -> tuple[torch.Tensor, torch.Tensor]:
    """logits (B, V) -> (probs (B, K), token indices (B, K)) over the kept top-K candidates."""
    logprobs, indices = filtered_logprobs(logits, rs.temperature, rs.top_p, rs.top_k, rs.k_max)
    return logprobs.exp(), indices


def sample(
    logits: torch.Tensor, rs: RowSampling, generators: Sequence[torch.Generator | None]
) -> torch.Tensor:
    """logits (B, V) -> token indices (B,) int64."""
    if rs.all_greedy:
        return logits.argmax(dim=-1)
    logprobs, indices = filtered_logprobs(logits, rs.temperature, rs.top_p, rs.top_k, rs.k_max)
    noise = exponential_noise(rs.top_k_list, logprobs.shape[1], generators, logprobs.device)
    return draw(logprobs, indices, noise)[0]
