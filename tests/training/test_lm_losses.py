"""The Dual-AR loss against hand-computed values, and its masks on a real tiny model."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from s2tts.checkpoint import random_init
from s2tts.errors import TrainConfigError
from s2tts.models.config import DualARConfig
from s2tts.models.dual_ar import DualARTransformer
from s2tts.text.prompt import PromptBuilder, Reference
from s2tts.text.tokenizer import make_byte_tokenizer
from s2tts.training.lm.losses import (
    LossConfig,
    codebook_weights,
    combine,
    fast_loss_sum,
    slow_loss_sum,
    token_weights,
)
from s2tts.training.lm.objective import DualARObjective
from s2tts.training.lm.samples import AUDIO, IGNORE, TEXT, Conversation, SampleBuilder, Turn

LN = math.log


def test_slow_loss_by_hand() -> None:
    # vocab 6: eos = 1, semantic ids 2..4 (3 semantic tokens)
    text_logits = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [LN(3), 0, 0, 0, 0, 0]])
    text_targets = torch.tensor([5, 0])
    audio_logits = torch.tensor([[0.0, LN(2), 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])  # [sem2, sem3, sem4, eos]
    audio_targets = torch.tensor([3, 1])
    got = slow_loss_sum(
        text_logits, text_targets, torch.tensor([1.0, 0.5]),
        audio_logits, audio_targets, torch.tensor([2.0, 2.0]),
        semantic_begin_id=2, eos_token_id=1, constrained=True,
    )  # fmt: skip
    # text: ln 6 and -ln(3/8); audio: p(sem3) = 2/5, p(eos) = 1/4
    want = 1.0 * LN(6) + 0.5 * -LN(3 / 8) + 2.0 * LN(5 / 2) + 2.0 * LN(4)
    assert float(got) == pytest.approx(want, rel=1e-6)


def test_unconstrained_audio_uses_the_full_vocab() -> None:
    logits = torch.zeros(1, 6)
    got = slow_loss_sum(
        torch.zeros(0, 6), torch.zeros(0, dtype=torch.long), torch.zeros(0),
        logits, torch.tensor([3]), torch.tensor([1.0]), 2, 1, constrained=False,
    )  # fmt: skip
    assert float(got) == pytest.approx(LN(6))


def test_fast_loss_and_codebook_weights_by_hand() -> None:
    logits = torch.tensor([[[0.0, 0.0], [LN(3), 0.0]]])  # N=1, K=2, C=2
    codes = torch.tensor([[0, 0]])
    uniform = codebook_weights(LossConfig.pretrain(), 2)
    assert uniform.tolist() == [1.0, 1.0]
    assert float(fast_loss_sum(logits, codes, uniform)) == pytest.approx((LN(2) + LN(4 / 3)) / 2)
    sft = codebook_weights(LossConfig.sft(), 2)
    assert sft.tolist() == [0.0, 1.0]
    assert float(fast_loss_sum(logits, codes, sft)) == pytest.approx(LN(4 / 3))
    decay = LossConfig(codebook_weights="decay", drop_semantic_codebook=True, codebook_decay=0.5)
    assert codebook_weights(decay, 4).tolist() == [0.0, 1.0, 0.5, 0.25]
    assert codebook_weights(LossConfig(codebook_weights="decay", codebook_decay=0.5), 3).tolist() == [
        1,
        0.5,
        0.25,
    ]
    custom = LossConfig(custom_codebook_weights=[0.0, 2.0])
    assert float(fast_loss_sum(logits, codes, codebook_weights(custom, 2))) == pytest.approx(LN(4 / 3))
    with pytest.raises(TrainConfigError):
        codebook_weights(LossConfig(custom_codebook_weights=[1.0]), 2)


def test_token_weights_and_combine() -> None:
    kinds = torch.tensor([IGNORE, TEXT, AUDIO, TEXT])
    cfg = LossConfig(text_weight=0.5, audio_weight=2.0)
    assert token_weights(kinds, cfg).tolist() == [0.0, 0.5, 2.0, 0.5]
    assert token_weights(kinds, LossConfig.sft()).tolist() == [0.0, 0.0, 1.0, 0.0]
    both = LossConfig(lambda_slow=1.0, lambda_fast=0.5)
    assert float(combine(torch.tensor(6.0), 3.0, torch.tensor(4.0), 2.0, both)) == pytest.approx(2.0 + 1.0)
    assert float(combine(torch.tensor(6.0), 3.0, torch.tensor(0.0), 0.0, both)) == pytest.approx(2.0)


def _tiny() -> tuple[DualARTransformer, PromptBuilder]:
    tok = make_byte_tokenizer(64)
    base = DualARConfig.preset("tiny")
    from dataclasses import replace

    cfg = replace(
        base, vocab_size=tok.vocab_size, codebook_size=64, num_codebooks=3,
        fast=replace(base.fast, max_seq_len=4),
        semantic_begin_id=tok.semantic_begin_id, semantic_end_id=tok.semantic_end_id,
        eos_token_id=tok.im_end_id, pad_token_id=tok.pad_id,
    )  # fmt: skip
    return random_init(DualARTransformer(cfg), seed=0, std=0.2), PromptBuilder(tok, 3, 64)


def test_objective_selects_the_right_positions() -> None:
    model, builder = _tiny()
    cfg = model.config
    g = torch.Generator().manual_seed(0)
    refs = [Reference("Ref.", torch.randint(0, 64, (3, 4), generator=g))]
    codes = torch.randint(0, 64, (3, 5), generator=g)
    sample = SampleBuilder(builder).build(Conversation([Turn("Go.", codes)], refs))
    values, kinds = sample.values[None], sample.kinds[None]
    loss_cfg = LossConfig(constrained_audio=False, text_loss=False)
    obj = DualARObjective(model, loss_cfg, scale_codebook_embeddings=True)
    slow_sum, fast_sum = obj(values, kinds)
    assert obj.counts(values, kinds) == (6.0, 5.0)  # 5 frames + <|im_end|>; fast at the 5 frames

    # independent path: the model's forward_train logits, positions found from the token ids
    tok = builder.tokenizer
    voice = int((values[0, 0] == tok.voice_id).nonzero().item())
    labels = torch.full_like(values, -100)
    labels[:, :, voice : voice + 6] = values[:, :, voice + 1 : voice + 7]
    out = model.forward_train(values, labels, scale_codebook_embeddings=True)
    want_slow = F.cross_entropy(
        out.token_logits[0, voice : voice + 6], values[0, 0, voice + 1 : voice + 7], reduction="sum"
    )
    assert float(slow_sum) == pytest.approx(float(want_slow), rel=1e-5)
    want_fast = (
        F.cross_entropy(out.codebook_logits.flatten(0, 1), out.codebook_labels.flatten(), reduction="sum") / 3
    )
    assert float(fast_sum) == pytest.approx(float(want_fast), rel=1e-5)
    assert out.codebook_labels.shape == (5, 3) and torch.equal(out.codebook_labels, codes.t())

    # constrained: the audio CE is over [semantic..., <|im_end|>] only, so it is smaller
    constrained, _ = DualARObjective(model, LossConfig(text_loss=False))(values, kinds)
    logits = out.token_logits[0, voice : voice + 6]
    allowed = torch.cat(
        [logits[:, cfg.semantic_begin_id : cfg.semantic_end_id + 1], logits[:, cfg.eos_token_id, None]], 1
    )
    index = torch.tensor([*(codes[0].tolist()), 64])
    assert float(constrained) == pytest.approx(
        float(F.cross_entropy(allowed, index, reduction="sum")), rel=1e-5
    )
    assert float(constrained) < float(slow_sum)

    # pre-training adds the text targets after the system turn, never those inside it
    pre_count, _ = DualARObjective(model, LossConfig.pretrain()).counts(values, kinds)
    system_len = builder.system_prompt(refs).shape[1]
    assert pre_count == values.shape[-1] - system_len  # every target after the system turn


@torch.no_grad()
def test_fast_subset_terms_add_up() -> None:
    model, builder = _tiny()
    g = torch.Generator().manual_seed(1)
    codes = torch.randint(0, 64, (3, 6), generator=g)
    sample = SampleBuilder(builder).build(Conversation([Turn("Go.", codes)]))
    values, kinds = sample.values[None], sample.kinds[None]
    obj = DualARObjective(model, LossConfig(fast_fraction=0.5))
    keep = obj.fast_keep(kinds, torch.Generator().manual_seed(0))
    assert keep is not None and keep.shape == kinds.shape
    _, all_fast = obj(values, kinds)
    _, part = obj(values, kinds, keep)
    _, rest = obj(values, kinds, ~keep)
    assert float(part + rest) == pytest.approx(float(all_fast), rel=1e-5)
    n_all, n_part, n_rest = (obj.counts(values, kinds, k)[1] for k in (None, keep, ~keep))
    assert n_part + n_rest == n_all == 6.0 and 0 < n_part < 6
    assert DualARObjective(model, LossConfig()).fast_keep(kinds, g) is None
