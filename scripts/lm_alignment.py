"""Does the LM align its audio to its text? Attention from audio frames to the text (diagnostic).

    python scripts/lm_alignment.py CHECKPOINT_DIR RUN_CONFIG.yaml [--samples 10] [--random]

A TTS LM that reads has heads whose attention, from each audio frame, sits on the text being spoken
and moves forward through it as the frames do. For held-out single-speaker utterances (the run
config's validation split, references dropped) this teacher-forces each sample through the slow
AR, records every slow-AR head's attention, and reports per head, averaged over the samples:

* ``monotonic``: the correlation between the frame index and the text position each frame attends
  to most (0 for a head that ignores order, near 1 for a clean diagonal);
* ``text_mass``: the share of the frame's attention that falls on the text.

``--random`` re-initialises the weights (a control: what chance looks like). The last line is one
JSON object with the best heads and the mean over heads.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import s2tts.models.layers as layers
from s2tts.checkpoint import load_checkpoint
from s2tts.text.prompt import PromptBuilder
from s2tts.training.lm.config import LMRunConfig
from s2tts.training.lm.data import load_sources
from s2tts.training.lm.samples import AUDIO, Conversation, SampleBuilder
from s2tts.training.run_config import load_config


def head_scores(
    attention: torch.Tensor, frames: torch.Tensor, text: torch.Tensor
) -> list[tuple[float, float]]:
    """attention (H, T, T) rows summing to 1; frames, text: positions. Per head (monotonic, text_mass)."""
    out = []
    for h in range(attention.shape[0]):
        a = attention[h][frames][:, text]  # (frames, text)
        target = a.argmax(-1).double()
        index = torch.arange(len(target), dtype=torch.float64)
        monotonic = 0.0 if target.std() == 0 else float(torch.corrcoef(torch.stack([index, target]))[0, 1])
        out.append((monotonic, float(a.sum(-1).mean())))
    return out


@contextlib.contextmanager
def recorded_attention(min_len: int = 16) -> Iterator[list[torch.Tensor]]:
    """Record the causal attention weights (H, T, T) of batch item 0 of every attention call over
    at least ``min_len`` positions (the slow AR; the fast AR's sequences are a frame's codebooks)."""
    calls: list[torch.Tensor] = []
    sdpa = F.scaled_dot_product_attention

    class Recording:
        def __getattr__(self, name: str):
            return getattr(F, name)

        @staticmethod
        def scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False, enable_gqa=False):
            if q.shape[2] >= min_len:
                keys = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1) if enable_gqa else k
                scores = q[0].float() @ keys[0].float().transpose(-1, -2) / math.sqrt(q.shape[-1])
                t = scores.shape[-1]
                scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
                calls.append(scores.softmax(-1))
            return sdpa(q, k, v, attn_mask=attn_mask, is_causal=is_causal, enable_gqa=enable_gqa)

    layers.F = Recording()
    try:
        yield calls
    finally:
        layers.F = F


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path, help="an LM checkpoint directory (published layout)")
    ap.add_argument("run_config", type=Path, help="the training run's config.yaml (its data and split)")
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--random", action="store_true", help="re-initialise the weights: the chance level")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ckpt = load_checkpoint(args.checkpoint)
    model = ckpt.model.eval()
    if args.random:
        g = torch.Generator().manual_seed(0)
        for p in model.parameters():
            p.data.normal_(0.0, 0.02, generator=g)
    mc = model.config
    cfg = load_config(LMRunConfig, args.run_config)
    _, val = load_sources(cfg.data, mc.num_codebooks, mc.codebook_size)
    builder = SampleBuilder(
        PromptBuilder(ckpt.tokenizer, mc.num_codebooks, mc.codebook_size, frontend=ckpt.frontend)
    )
    tok = ckpt.tokenizer
    start, end = (tok.encode(m)[0] for m in ("<|phoneme_start|>", "<|phoneme_end|>"))
    per_sample: list[list[tuple[float, float]]] = []
    for i in range(len(val)):
        conv = val.get(i, 0)
        if len(conv.turns) != 1 or "<|speaker:1|>" in conv.turns[0].text:
            continue  # one speaker, one turn: the text is the user turn's
        sample = builder.build(Conversation(conv.turns, (), conv.speaker, conv.language))
        values, kinds = sample.values[None], sample.kinds[None]
        frames = (kinds[0] == AUDIO).nonzero().flatten()[:-1] + 1  # the semantic tokens' positions
        row = values[0, 0, : int(frames[0])].tolist()
        if start in row:  # phoneme front end: the user's phonemes; else the user's text bytes
            lo = max(j for j, t in enumerate(row) if t == start) + 1
            hi = max(j for j, t in enumerate(row) if t == end)
        else:
            hi = max(j for j, t in enumerate(row) if t == tok.im_end_id)
            lo = max(j for j, t in enumerate(row[:hi]) if t == tok.im_start_id) + 1
        labels = torch.roll(values, -1, dims=2)
        labels[..., -1] = -100
        with recorded_attention() as calls, torch.no_grad():
            model.forward_train(values, labels, scale_codebook_embeddings=True)
        per_sample.append([s for att in calls for s in head_scores(att, frames, torch.arange(lo, hi))])
        if len(per_sample) >= args.samples:
            break
    scores = np.array(per_sample).mean(0)  # (layers * heads, 2)
    n_head = mc.slow.n_head
    best = np.argsort(-scores[:, 0])[:4]
    heads = [
        {"layer": int(k // n_head), "head": int(k % n_head), "monotonic": round(float(scores[k, 0]), 3),
         "text_mass": round(float(scores[k, 1]), 3)}
        for k in best
    ]  # fmt: skip
    for h in heads:
        print(h)
    print(
        json.dumps(
            {
                "samples": len(per_sample),
                "best_heads": heads,
                "mean_monotonic": round(float(scores[:, 0].mean()), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
