"""Training samples are the inference prompts, with the right target kinds."""

from __future__ import annotations

import pytest
import torch

from s2tts.errors import TrainingDataError
from s2tts.text.frontend import PHONEME_START, TextFrontend
from s2tts.text.prompt import IterativePrompt, PromptBuilder, Reference
from s2tts.text.tokenizer import make_byte_tokenizer
from s2tts.training.lm.samples import AUDIO, IGNORE, TEXT, Conversation, SampleBuilder, Turn, collate


@pytest.fixture
def builder() -> PromptBuilder:
    return PromptBuilder(make_byte_tokenizer(64), num_codebooks=3, codebook_size=64)


def _codes(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 64, (3, n), generator=torch.Generator().manual_seed(seed))


def test_every_turn_prefix_is_the_inference_prompt(builder: PromptBuilder) -> None:
    refs = [Reference("<|speaker:0|>Hello there.", _codes(4, 0)), Reference("Hi.", _codes(3, 1))]
    turns = [Turn("<|speaker:0|>[whisper] One two.", _codes(5, 2)), Turn("<|speaker:1|>Three!", _codes(2, 3))]
    sample = SampleBuilder(builder).build(Conversation(turns, refs))
    history: list[tuple[str, torch.Tensor]] = []
    for turn in turns:
        prompt = builder.build(turn.text, refs, history)
        assert torch.equal(sample.values[:, : prompt.shape[1]], prompt)
        history.append((turn.text, turn.codes))
    # and the long-form flow the engine runs produces the same prompts
    plan = IterativePrompt(builder, "\n".join(t.text for t in turns), refs, chunk_length=20, max_speakers=1)
    for turn in turns:
        prompt = plan.next_prompt()
        assert torch.equal(sample.values[:, : prompt.shape[1]], prompt)
        plan.add_codes(turn.codes)


@pytest.mark.parametrize("language", [None, "de"])
def test_phoneme_front_end_samples_are_the_inference_prompts(language: str | None) -> None:
    builder = PromptBuilder(make_byte_tokenizer(64), 3, 64, frontend=TextFrontend("espeak"))
    tok = builder.tokenizer
    refs = [Reference("<|speaker:0|>Guten Tag, hello there.", _codes(4, 0))]
    turns = [
        Turn("<|speaker:0|>[whisper] Zorblax counted 42 stars.", _codes(5, 2)),
        Turn("<|speaker:1|>Wunderbar!", _codes(2, 3)),
    ]
    sample = SampleBuilder(builder).build(Conversation(turns, refs, language=language))
    text = tok.decode([i for i in sample.values[0].tolist() if i < tok.semantic_begin_id])
    assert text.count(PHONEME_START) == 3 and "[whisper] " in text and "<|speaker:1|>" in text
    assert "Zorblax" not in text and "42" not in text and "Guten" not in text
    history: list[tuple[str, torch.Tensor]] = []
    for turn in turns:
        prompt = builder.build(turn.text, refs, history, language=language)
        assert torch.equal(sample.values[:, : prompt.shape[1]], prompt)
        history.append((turn.text, turn.codes))
    plan = IterativePrompt(builder, "\n".join(t.text for t in turns), refs, 200, 1, language=language)
    for turn in turns:
        prompt = plan.next_prompt()
        assert torch.equal(sample.values[:, : prompt.shape[1]], prompt)
        plan.add_codes(turn.codes)
    # the language reaches espeak: German rules read the reference and turns otherwise
    other = SampleBuilder(builder).build(Conversation(turns, refs, language="es" if language else "de"))
    assert tok.decode([i for i in other.values[0].tolist() if i < tok.semantic_begin_id]) != text


def test_target_kinds(builder: PromptBuilder) -> None:
    tok = builder.tokenizer
    refs = [Reference("Ref.", _codes(4, 0))]
    codes = _codes(5, 1)
    sample = SampleBuilder(builder).build(Conversation([Turn("Go.", codes)], refs))
    values, kinds = sample.values, sample.kinds
    system_len = builder.system_prompt(refs).shape[1]
    # targets inside the system turn (incl. the reference frames) are never trained
    assert (kinds[: system_len - 1] == IGNORE).all()
    assert kinds[system_len - 1] == TEXT  # predicting <|im_start|> of the user turn
    voice = (values[0] == tok.voice_id).nonzero().item()
    # the 5 frames and then <|im_end|> are audio targets, predicted from <|voice|> .. the last frame
    assert kinds[voice : voice + 6].tolist() == [AUDIO] * 6
    assert values[0, voice + 6] == tok.im_end_id
    assert torch.equal(values[1:, voice + 1 : voice + 6], codes)
    assert kinds[voice + 6] == TEXT and kinds[-1] == IGNORE  # "\n" after <|im_end|>; nothing after
    assert (kinds[system_len:voice] == TEXT).all()


def test_collate_pads(builder: PromptBuilder) -> None:
    sb = SampleBuilder(builder)
    a = sb.build(Conversation([Turn("A.", _codes(2, 0))]))
    b = sb.build(Conversation([Turn("Longer text.", _codes(6, 1))]))
    values, kinds = collate([a, b], pad_id=builder.tokenizer.pad_id)
    assert values.shape == (2, 4, b.length)
    assert (values[0, 0, a.length :] == builder.tokenizer.pad_id).all()
    assert (kinds[0, a.length :] == IGNORE).all() and torch.equal(values[1], b.values)


def test_bad_samples(builder: PromptBuilder) -> None:
    sb = SampleBuilder(builder, max_len=20)
    with pytest.raises(TrainingDataError, match="at least one turn"):
        sb.build(Conversation([]))
    with pytest.raises(TrainingDataError, match="longer than max_len"):
        sb.build(Conversation([Turn("A fairly long sentence here.", _codes(8, 0))]))
    with pytest.raises(TrainingDataError, match="n >= 1"):
        sb.build(Conversation([Turn("A.", _codes(0, 0))]))
