"""The trainable unit: a Dual-AR model plus its loss, as one ``nn.Module`` for DDP/FSDP to wrap.

DDP synchronises gradients only for computation that runs inside the wrapped module's
``forward``, so the loss (which uses the slow AR's hidden states, the tied output matrix and the
fast AR) is computed here rather than by the caller. The model itself stays the pure
``DualARTransformer``; this module only calls its public parts (``slow``, ``slow.logits``,
``fast.teacher_forced``).

``forward(values, kinds, fast_keep=None)`` -> ``(slow_sum, fast_sum)`` scalars: the loss sums of
:mod:`s2tts.training.lm.losses`. ``counts(values, kinds, fast_keep=None)`` -> ``(slow_count,
fast_count)``, the matching normalisers, computed from the batch alone (no forward), so a trainer
can sum them over all micro-batches and ranks of a step before the backward passes.
``fast_keep`` (B, T) bool, from :meth:`DualARObjective.fast_keep`, restricts the fast AR to a random
subset of frames when ``loss.fast_fraction`` < 1.

Shapes: values (B, 1 + C, T) int64, kinds (B, T) int64 (see ``samples.py``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from s2tts.models.dual_ar import DualARTransformer
from s2tts.training.lm.losses import LossConfig, codebook_weights, fast_loss_sum, slow_loss_sum, token_weights
from s2tts.training.lm.samples import AUDIO

__all__ = ["DualARObjective"]


class DualARObjective(nn.Module):
    def __init__(
        self, model: DualARTransformer, loss: LossConfig, scale_codebook_embeddings: bool = True
    ) -> None:
        super().__init__()
        self.model = model
        self.loss = loss
        self.scale_codebook_embeddings = scale_codebook_embeddings
        self.register_buffer(
            "codebook_w", codebook_weights(loss, model.config.num_codebooks), persistent=False
        )

    def fast_keep(self, kinds: Tensor, generator: torch.Generator) -> Tensor | None:
        """(B, T) bool: frames the fast AR trains on this micro-batch (None: all)."""
        if self.loss.fast_fraction >= 1.0:
            return None
        return torch.rand(kinds.shape, generator=generator).to(kinds.device) < self.loss.fast_fraction

    def _masks(
        self, values: Tensor, kinds: Tensor, fast_keep: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        cfg = self.model.config
        targets = values[:, 0, 1:]  # (B, T-1)
        k = kinds[:, :-1]
        weights = token_weights(k, self.loss)
        semantic = (targets >= cfg.semantic_begin_id) & (targets <= cfg.semantic_end_id)
        fast = (k == AUDIO) & semantic
        if fast_keep is not None:
            fast = fast & fast_keep[:, :-1]
        return weights, fast, targets

    def counts(self, values: Tensor, kinds: Tensor, fast_keep: Tensor | None = None) -> tuple[float, float]:
        weights, fast, _ = self._masks(values, kinds, fast_keep)
        return float(weights.sum()), float(fast.sum())

    def forward(
        self, values: Tensor, kinds: Tensor, fast_keep: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        cfg = self.model.config
        weights, fast_mask, targets = self._masks(values, kinds, fast_keep)
        hidden = self.model.slow(values, scale=self.scale_codebook_embeddings)
        assert isinstance(hidden, Tensor)
        h = hidden[:, :-1]  # (B, T-1, dim): column t predicts column t + 1
        audio = (kinds[:, :-1] == AUDIO) & (weights > 0)
        text = (kinds[:, :-1] != AUDIO) & (weights > 0)
        emb = self.model.slow.embeddings.weight
        if self.loss.constrained_audio:
            allowed = torch.cat(
                [emb[cfg.semantic_begin_id : cfg.semantic_end_id + 1], emb[cfg.eos_token_id :][:1]]
            )
            audio_logits = h[audio] @ allowed.t()
        else:
            audio_logits = self.model.slow.logits(h[audio])
        slow_sum = slow_loss_sum(
            self.model.slow.logits(h[text]),
            targets[text],
            weights[text],
            audio_logits,
            targets[audio],
            weights[audio],
            cfg.semantic_begin_id,
            cfg.eos_token_id,
            self.loss.constrained_audio,
        )
        codes = values[:, 1:, 1:].transpose(1, 2)  # (B, T-1, C): the next frame's codes
        if bool(fast_mask.any()):
            fast_logits = self.model.fast.teacher_forced(h[fast_mask], codes[fast_mask])
            fast_sum = fast_loss_sum(fast_logits, codes[fast_mask], self.codebook_w)
        else:  # keep every parameter in the graph (DDP needs it) with a zero contribution
            dummy = self.model.fast.teacher_forced(h[:1, :1].reshape(1, -1), codes[:1, :1].reshape(1, -1))
            fast_sum = dummy.sum() * 0.0
        return slow_sum + hidden.sum() * 0.0, fast_sum
