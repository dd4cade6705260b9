"""Training-time residual vector quantisation over the codec's own quantizer modules.

The inference quantizer (:mod:`s2tts.models.codec.quantizer`) picks codes by cosine similarity
and decodes the raw codebook row; it has no gradient path. Here the same lookup is run with

* a straight-through estimator: the decoder sees ``latent + sg(row - latent)``, so the encoder
  gets the decoder's gradient (SoundStream / DAC);
* commitment loss ``mse(latent, sg(row))`` and, in ``"loss"`` mode, codebook loss
  ``mse(row, sg(latent))`` (DAC weights 0.25 / 1); in ``"ema"`` mode the rows are instead
  exponential moving averages of the latents assigned to them, codes whose usage falls under
  ``dead_threshold`` are restarted on random latents of the batch, and each projection's bias
  keeps its latents centred (``center_rate``), since a common offset defeats a cosine lookup;
* quantizer dropout: a share ``dropout`` of the batch keeps a random number ``k`` in ``[0, N]``
  of the N residual codebooks (codebook 0, the semantic one, always stays), so lower bit rates
  decode;
* unit-norm latents and rows (``normalize``, the default): every projection is L2-normalised and
  every row kept on the unit sphere, so the cosine lookup that inference runs is exactly the
  Euclidean lookup the codebooks are fitted for, the decoder only ever reads bounded vectors, and
  a common offset in the latents cannot push every frame onto one code;
* a continuous path (``continuous=True``) for the warm-up: the same projections, normalisation and
  residual arithmetic with the latent in place of its nearest row, so the decoder learns to read
  what the codebooks will later approximate and switching quantisation on is a small
  perturbation, not a new input distribution (feeding ``z`` straight to the decoder and only then
  starting the never-trained projections collapsed the codebooks in a real run);
* :func:`kmeans_init`, which sets every codebook from latents collected at the end of the warm-up,
  in residual order.

Shapes: z (B, T, D) at frame rate (after ``pre_module``); codes (B, 1 + N, T).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from s2tts.models.codec.quantizer import DownsampleQuantizer, VectorQuantizer


@dataclass(frozen=True)
class VQTrainConfig:
    mode: str = "ema"  # "ema" (EMA rows, dead-code restarts) or "loss" (codebook loss, DAC)
    ema_decay: float = 0.95
    dead_threshold: float = 0.05  # EMA count under which a code is restarted
    dropout: float = 0.5  # share of the batch with a random number of residual codebooks
    center_rate: float = 0.0  # ema mode: per-step share of the mean latent removed via in_proj.bias
    normalize: bool = True  # unit-norm latents and rows (the lookup is by cosine at inference)
    warmup_bottleneck: bool = True  # the unquantised warm-up runs through the projections


@dataclass
class QuantizeOutput:
    z_q: torch.Tensor  # (B, T, D) what post_module receives
    semantic: torch.Tensor  # (B, T, D) codebook 0's part (input of the distillation head)
    codes: torch.Tensor  # (B, 1+N, T)
    commitment: torch.Tensor  # scalar
    codebook: torch.Tensor  # scalar (0 in ema mode)
    n_active: torch.Tensor  # (B,) codebooks each item used


def all_vqs(quantizer: DownsampleQuantizer) -> list[VectorQuantizer]:
    """[semantic, residual 1..N]."""
    return [*quantizer.semantic_quantizer.quantizers, *quantizer.quantizer.quantizers]


class CodebookEMA(nn.Module):
    """EMA statistics of every codebook (buffers, so they checkpoint with ``state_dict``)."""

    def __init__(self, quantizer: DownsampleQuantizer) -> None:
        super().__init__()
        for i, vq in enumerate(all_vqs(quantizer)):
            k, d = vq.codebook.weight.shape
            self.register_buffer(f"count{i}", torch.ones(k))
            self.register_buffer(f"sum{i}", vq.codebook.weight.detach().clone())

    def reset_from(self, quantizer: DownsampleQuantizer) -> None:
        """Start the averages at the current rows (after k-means), each with weight 1."""
        for i, vq in enumerate(all_vqs(quantizer)):
            getattr(self, f"count{i}").fill_(1.0)
            getattr(self, f"sum{i}").copy_(vq.codebook.weight.detach())

    @torch.no_grad()
    def update(
        self,
        index: int,
        vq: VectorQuantizer,
        latent: torch.Tensor,
        code: torch.Tensor,
        mask: torch.Tensor,
        config: VQTrainConfig,
        generator: torch.Generator | None,
    ) -> None:
        """latent (M, d), code (M,), mask (M,) bool rows that used this codebook."""
        count, total = getattr(self, f"count{index}"), getattr(self, f"sum{index}")
        latent, code = latent[mask].float(), code[mask]
        onehot = F.one_hot(code, count.shape[0]).float()  # (M, K)
        counts, sums = onehot.sum(0), onehot.t() @ latent
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(counts)
            torch.distributed.all_reduce(sums)
        count.mul_(config.ema_decay).add_(counts, alpha=1 - config.ema_decay)
        total.mul_(config.ema_decay).add_(sums, alpha=1 - config.ema_decay)
        if config.center_rate > 0 and float(counts.sum()) > 0:
            # Keep the projected latents centred (the lookup is by cosine: a common offset makes
            # every latent point one way, onto one code). Only the bias moves; the rows follow
            # their latents through the averages above.
            shift = -config.center_rate * sums.sum(0) / counts.sum()
            vq.in_proj.bias.data.add_(shift.to(vq.in_proj.bias.dtype))
        weight = total / count.clamp(min=1e-5)[:, None]
        if config.normalize:
            weight = F.normalize(weight, dim=-1)
        dead = count < config.dead_threshold
        pool = _gather(latent) if bool(dead.any()) else latent  # (every rank decides alike)
        if bool(dead.any()) and pool.shape[0] > 0:
            # Restart dead codes on random latents of this batch (same choice on every rank: the
            # generator is seeded identically and the latents are gathered first).
            pick = torch.randint(0, pool.shape[0], (int(dead.sum()),), generator=generator, device="cpu")
            weight[dead] = pool[pick.to(pool.device)]
            total[dead] = weight[dead]
            count[dead] = 1.0
        vq.codebook.weight.data.copy_(weight.to(vq.codebook.weight.dtype))


def _gather(x: torch.Tensor) -> torch.Tensor:
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return x
    sizes = [
        torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(torch.distributed.get_world_size())
    ]
    torch.distributed.all_gather(sizes, torch.tensor([x.shape[0]], device=x.device))
    top = int(max(s.item() for s in sizes))
    padded = F.pad(x, (0, 0, 0, top - x.shape[0]))
    parts = [torch.empty_like(padded) for _ in sizes]
    torch.distributed.all_gather(parts, padded)
    return torch.cat([p[: int(s.item())] for p, s in zip(parts, sizes, strict=True)])


def sample_active(
    batch: int, n_residual: int, dropout: float, generator: torch.Generator | None
) -> torch.Tensor:
    """(B,) number of codebooks per item: 1 + N, or 1 + U{0..N} for a ``dropout`` share of the batch."""
    full = torch.full((batch,), 1 + n_residual, dtype=torch.long)
    if dropout <= 0 or n_residual == 0:
        return full
    drop = torch.rand(batch, generator=generator) < dropout
    k = torch.randint(0, n_residual + 1, (batch,), generator=generator)
    return torch.where(drop, 1 + k, full)


def project(vq: VectorQuantizer, residual: torch.Tensor, config: VQTrainConfig) -> torch.Tensor:
    """residual (B, T, D) -> the latent the lookup compares with the rows (B, T, d)."""
    latent = vq.project(residual)
    return F.normalize(latent, dim=-1) if config.normalize else latent


def quantize_train(
    quantizer: DownsampleQuantizer,
    z: torch.Tensor,
    config: VQTrainConfig,
    ema: CodebookEMA | None = None,
    n_active: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    continuous: bool = False,
) -> QuantizeOutput:
    """Straight-through RVQ of z (B, T, D); ``n_active`` (B,) codebooks per item (default: all).

    ``continuous``: the warm-up path, the same arithmetic with each latent in place of its row
    (no lookup loss, no codebook update; ``codes`` are still the nearest rows, for monitoring).
    """
    vqs = all_vqs(quantizer)
    b, t, _ = z.shape
    if n_active is None:
        n_active = torch.full((b,), len(vqs), dtype=torch.long)
    n_active = n_active.to(z.device)
    z_q = torch.zeros_like(z)
    residual = z
    commitment = z.new_zeros(())
    codebook = z.new_zeros(())
    codes, semantic = [], z
    for i, vq in enumerate(vqs):
        if i == 1:  # residual codebooks quantise what the semantic one left
            residual = z - z_q
        latent = project(vq, residual, config)  # (B, T, d)
        code = vq.nearest(latent.detach())
        mask = (n_active > i).to(z.dtype)  # (B,)
        if continuous:  # the warm-up: the latent itself in place of its row
            decoded = latent
        else:
            row = vq.codebook(code)
            per_item = F.mse_loss(latent, row.detach(), reduction="none").mean(dim=(1, 2))
            commitment = commitment + (per_item * mask).mean()
            if config.mode == "loss":
                per_item = F.mse_loss(row, latent.detach(), reduction="none").mean(dim=(1, 2))
                codebook = codebook + (per_item * mask).mean()
            elif ema is not None and torch.is_grad_enabled():
                rows = (n_active > i)[:, None].expand(b, t).reshape(-1)
                ema.update(
                    i, vq, latent.detach().reshape(b * t, -1), code.reshape(-1), rows, config, generator
                )
            decoded = latent + (row - latent).detach()  # straight-through
        part = F.linear(decoded, vq.out_proj.weight[:, :, 0], vq.out_proj.bias)
        z_q = z_q + part * mask[:, None, None]
        if i > 0:
            residual = residual - part
        else:
            semantic = part
        codes.append(code)
    return QuantizeOutput(z_q, semantic, torch.stack(codes, dim=1), commitment, codebook, n_active)


def kmeans(
    x: torch.Tensor, k: int, iters: int, generator: torch.Generator, normalize: bool = False
) -> torch.Tensor:
    """Spherical k-means (cosine assignment, as the codec's lookup) of x (M, d) -> centroids (k, d).

    k-means++ seeding on cosine distance, then Lloyd steps; centroids are the plain means of their
    members (the decoder reads raw rows), put back on the unit sphere when ``normalize``. With
    fewer than ``k`` points, the extra centroids are jittered copies of random points.
    """
    x = x.float()
    m = x.shape[0]
    if m < k:
        idx = torch.randint(0, m, (k,), generator=generator)
        out = x[idx] + 0.01 * x.std() * torch.randn(k, x.shape[1], generator=generator)
        return F.normalize(out, dim=-1) if normalize else out
    unit = F.normalize(x, dim=-1)
    chosen = [int(torch.randint(0, m, (1,), generator=generator))]
    closest = 1 - unit @ unit[chosen[0]]  # cosine distance to the nearest chosen centre
    for _ in range(1, k):
        weights = closest.clamp(min=0) + 1e-12
        nxt = int(torch.multinomial(weights, 1, generator=generator))
        chosen.append(nxt)
        closest = torch.minimum(closest, 1 - unit @ unit[nxt])
    centroids = x[torch.tensor(chosen)].clone()
    for _ in range(iters):
        assign = (unit @ F.normalize(centroids, dim=-1).t()).argmax(-1)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).float()
        alive = counts > 0
        centroids[alive] = sums[alive] / counts[alive, None]
    return F.normalize(centroids, dim=-1) if normalize else centroids


@torch.no_grad()
def kmeans_init(
    quantizer: DownsampleQuantizer,
    z: torch.Tensor,
    generator: torch.Generator,
    iters: int = 10,
    config: VQTrainConfig | None = None,
) -> None:
    """Set every codebook by k-means on z (M, D) (frame-rate latents), in residual order.

    With unit-norm latents (``config.normalize``, the default) the projections stay as the
    warm-up trained them and the rows are unit centroids. Otherwise each projection's bias is
    first reset so that its latents are centred (see the comment inside)."""
    config = config or VQTrainConfig()
    z = (
        z.float()
        .reshape(-1, z.shape[-1])
        .to(quantizer.semantic_quantizer.quantizers[0].codebook.weight.device)
    )
    residual, z_q = z, torch.zeros_like(z)
    for i, vq in enumerate(all_vqs(quantizer)):
        if i == 1:
            residual = z - z_q
        if not config.normalize:
            # Centre the projection first: the lookup is by cosine, and latents that share a large
            # common component (a warm-up latent often does) all point one way and pick one code.
            vq.in_proj.bias.data.copy_(-F.linear(residual, vq.in_proj.weight[:, :, 0]).mean(0))
        latent = project(vq, residual, config)
        rows = kmeans(latent.cpu(), vq.codebook.weight.shape[0], iters, generator, config.normalize)
        vq.codebook.weight.data.copy_(rows.to(latent.device))
        part = vq.embed(vq.nearest(latent))
        z_q = z_q + part
        if i > 0:
            residual = residual - part


@torch.no_grad()
def codebook_usage(codes: torch.Tensor, sizes: tuple[int, ...]) -> list[dict[str, float]]:
    """Per codebook of codes (B, K, T): ``used``, the share of its entries that occur;
    ``used_if_uniform``, the share a codebook used uniformly would show in as many frames
    (``1 - (1 - 1/size) ** frames``: 516 frames can show at most half of 1,024 entries, and a uniform
    codebook about 40%), the reference ``used`` is read against; ``perplexity`` (exp entropy)."""
    out = []
    for i, size in enumerate(sizes):
        counts = torch.bincount(codes[:, i].reshape(-1).cpu(), minlength=size).float()
        frames = float(counts.sum())
        p = counts / max(frames, 1.0)
        entropy = -(p[p > 0] * p[p > 0].log()).sum()
        out.append(
            {
                "used": float((counts > 0).float().mean()),
                "used_if_uniform": 1.0 - (1.0 - 1.0 / size) ** frames,
                "perplexity": float(entropy.exp()),
            }
        )
    return out
