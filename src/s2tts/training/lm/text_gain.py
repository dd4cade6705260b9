"""Does the model read its text? Audio cross-entropy with each sample's own text against another's.

A TTS LM can lower its loss a long way on prosody, length and voice alone, without reading: the
audio tokens of a sample are scored twice, once after the sample's own text and once after the
text of another validation sample (rotated by one; same codes, same references), with the text
targets masked out so that only audio tokens count. The difference,

    gain = CE(audio | other text) - CE(audio | own text)    (nats per token, slow and fast AR),

is what the text is worth to the model: ~0 for a model that ignores it, growing as it learns to
read (earlier CPU experiments: 0.9 -> 2.2 nats as data grew from 2 to 7 hours).

Shapes follow :mod:`s2tts.training.lm.objective`: values (B, 1 + C, T), kinds (B, T).
"""

from __future__ import annotations

from typing import Any

import torch

from s2tts.training.lm.objective import DualARObjective
from s2tts.training.lm.samples import IGNORE, TEXT, Conversation, SampleBuilder, Turn, collate

__all__ = ["mismatched", "text_gain"]


def mismatched(conv: Conversation, other: Conversation) -> Conversation:
    """``conv`` with every turn's text replaced by ``other``'s turn texts (cycled), codes kept; the
    text is read in ``other``'s language (what a phoneme front end phonemises it with)."""
    texts = [t.text for t in other.turns]
    turns = [Turn(texts[i % len(texts)], t.codes) for i, t in enumerate(conv.turns)]
    return Conversation(turns, conv.references, conv.speaker, other.language)


@torch.no_grad()
def _audio_ce(
    wrapped: torch.nn.Module, objective: DualARObjective, convs: list[Conversation], sb: SampleBuilder,
    pad: int, batch_size: int, device: torch.device, prec: Any,
) -> tuple[float, float]:  # fmt: skip
    """(slow, fast) cross-entropy per audio token over ``convs``."""
    sums = torch.zeros(4, dtype=torch.float64)
    for start in range(0, len(convs), batch_size):
        values, kinds = collate([sb.build_fitting(c) for c in convs[start : start + batch_size]], pad)
        kinds = torch.where(kinds == TEXT, torch.full_like(kinds, IGNORE), kinds)  # audio targets only
        values, kinds = values.to(device), kinds.to(device)
        with prec.autocast():
            s, f = wrapped(values, kinds)
        cs, cf = objective.counts(values, kinds)
        sums += torch.tensor([float(s), cs, float(f), cf], dtype=torch.float64)
    return float(sums[0] / sums[1].clamp(min=1)), float(sums[2] / sums[3].clamp(min=1))


def text_gain(
    wrapped: torch.nn.Module, objective: DualARObjective, convs: list[Conversation], sb: SampleBuilder,
    pad: int, batch_size: int, device: torch.device, prec: Any,
) -> dict[str, float]:  # fmt: skip
    """``val_audio_ce`` (slow, own text), ``val_text_gain`` (slow) and ``val_text_gain_fast``;
    empty with fewer than two conversations."""
    if len(convs) < 2:
        return {}
    was_training = wrapped.training
    wrapped.eval()
    try:
        own = _audio_ce(wrapped, objective, convs, sb, pad, batch_size, device, prec)
        swapped = [mismatched(c, convs[(i + 1) % len(convs)]) for i, c in enumerate(convs)]
        other = _audio_ce(wrapped, objective, swapped, sb, pad, batch_size, device, prec)
    finally:
        wrapped.train(was_training)
    return {
        "val_audio_ce": own[0],
        "val_text_gain": other[0] - own[0],
        "val_text_gain_fast": other[1] - own[1],
    }
