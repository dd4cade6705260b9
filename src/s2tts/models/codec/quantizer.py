"""Quantizer of the S2 codec: latent @ hop rate <-> 10 codebooks @ frame rate.

Encode: latent (B, T*4, D) -> ``downsample`` (per factor: causal conv k=s=f, ConvNeXt) ->
``pre_module`` (window transformer) -> semantic RVQ (1 codebook) on z, residual RVQ (N codebooks)
on ``z - semantic_z`` -> codes (B, 1+N, T), ordered [semantic, residual 1..N].

Decode: codes -> sum of every codebook's ``out_proj(codebook[code])`` -> ``post_module`` ->
``upsample`` (per factor, reversed: causal transposed conv k=s=f, ConvNeXt) -> (B, T*4, D).

Each vector quantizer projects to a small space (``in_proj``, a 1x1 conv D->8) and picks the code
whose codebook row has the highest cosine with the projection (L2-normalised nearest neighbour, as
in DAC's factorised codes). The decoded vector is the *raw* codebook row through ``out_proj``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from s2tts.models.codec.config import CodecConfig
from s2tts.models.codec.layers import CausalConv1d, CausalConvTranspose1d, CausalSequential, ConvNeXtBlock
from s2tts.models.codec.transformer import WindowTransformer


class VectorQuantizer(nn.Module):
    """One codebook. Keys ``in_proj``, ``out_proj`` (1x1 convs) and ``codebook`` (Embedding)."""

    def __init__(self, dim: int, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        self.in_proj = nn.Conv1d(dim, codebook_dim, 1)
        self.out_proj = nn.Conv1d(codebook_dim, dim, 1)
        self.codebook = nn.Embedding(codebook_size, codebook_dim)

    def project(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, T, D) -> latents (B, T, codebook_dim)."""
        return F.linear(z, self.in_proj.weight[:, :, 0], self.in_proj.bias)

    def nearest(self, latents: torch.Tensor) -> torch.Tensor:
        """latents: (B, T, d) -> codes (B, T) int64, by cosine similarity (computed in fp32)."""
        e = F.normalize(latents.float(), dim=-1)
        c = F.normalize(self.codebook.weight.float(), dim=-1)
        return (e @ c.t()).argmax(dim=-1)

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """codes: (B, T) -> (B, T, D)."""
        return F.linear(self.codebook(codes), self.out_proj.weight[:, :, 0], self.out_proj.bias)


class ResidualVQ(nn.Module):
    """Codebooks applied in turn to what the previous ones left. Keys ``quantizers.N.*``."""

    def __init__(self, dim: int, n_codebooks: int, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.quantizers = nn.ModuleList(
            VectorQuantizer(dim, codebook_size, codebook_dim) for _ in range(n_codebooks)
        )

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z: (B, T, D) -> codes (B, N, T), latents (B, T, N*d), quantized z (B, T, D)."""
        residual = z
        z_q = torch.zeros_like(z)
        codes, latents = [], []
        for vq in self.quantizers:
            latent = vq.project(residual)
            code = vq.nearest(latent)
            part = vq.embed(code)
            z_q = z_q + part
            residual = residual - part
            codes.append(code)
            latents.append(latent)
        return torch.stack(codes, dim=1), torch.cat(latents, dim=-1), z_q

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """codes: (B, N, T) -> (B, T, D), the sum of every codebook's vectors."""
        out = self.quantizers[0].embed(codes[:, 0])
        for i in range(1, len(self.quantizers)):
            out = out + self.quantizers[i].embed(codes[:, i])
        return out


class DownsampleQuantizer(nn.Module):
    """The codec's quantizer; see the module docstring. Keys as the reference's ``quantizer.*``."""

    def __init__(self, config: CodecConfig) -> None:
        super().__init__()
        q, dim = config.quantizer, config.latent_dim
        t = q.transformer
        self.downsample = CausalSequential(
            CausalSequential([CausalConv1d(dim, dim, f, stride=f), ConvNeXtBlock(dim)])
            for f in q.downsample_factors
        )
        self.upsample = CausalSequential(
            CausalSequential([CausalConvTranspose1d(dim, dim, f, stride=f), ConvNeXtBlock(dim)])
            for f in reversed(q.downsample_factors)
        )

        def transformer() -> WindowTransformer:
            return WindowTransformer(
                dim,
                t.n_layer,
                t.n_head,
                t.head_dim,
                t.intermediate_size,
                t.window_size,
                t.rope_base,
                t.norm_eps,
            )

        self.pre_module = transformer()
        self.post_module = transformer()
        self.semantic_quantizer = ResidualVQ(dim, 1, q.semantic_codebook_size, q.codebook_dim)
        self.quantizer = ResidualVQ(dim, q.n_codebooks, q.codebook_size, q.codebook_dim)

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z: (B, T, D) after ``pre_module`` -> codes (B, 1+N, T), latents (B, T, (1+N)*d)."""
        sem_codes, sem_latents, sem_z = self.semantic_quantizer.quantize(z)
        res_codes, res_latents, _ = self.quantizer.quantize(z - sem_z)
        return torch.cat([sem_codes, res_codes], dim=1), torch.cat([sem_latents, res_latents], dim=-1)

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """codes: (B, 1+N, T) -> (B, T, D), the input of ``post_module``."""
        return self.semantic_quantizer.embed(codes[:, :1]) + self.quantizer.embed(codes[:, 1:])

    def encode(self, latent: torch.Tensor) -> torch.Tensor:
        """One-shot: latent (B, T*prod(f), D) -> codes (B, 1+N, T)."""
        return self.quantize(self.pre_module(self.downsample(latent)))[0]

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """One-shot: codes (B, 1+N, T) -> (B, T*prod(f), D)."""
        return self.upsample(self.post_module(self.embed(codes)))

    def init_encode_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> tuple[Any, Any]:
        return (
            self.downsample.init_state(batch_size, device, dtype),
            self.pre_module.init_state(batch_size, device, dtype),
        )

    def init_decode_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> tuple[Any, Any]:
        return (
            self.post_module.init_state(batch_size, device, dtype),
            self.upsample.init_state(batch_size, device, dtype),
        )
