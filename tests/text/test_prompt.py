"""Prompt builder and batch splitting, checked against the reference's prompt goldens (prompts.*)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from s2tts.errors import PromptError, PromptTooLongError
from s2tts.text.prompt import (
    CodesPart,
    IterativePrompt,
    PromptBuilder,
    Reference,
    TextPart,
    split_batches,
    split_turns,
)
from s2tts.text.tokenizer import S2Tokenizer

CASES = [
    "i_no_reference",
    "ii_one_reference",
    "iii_two_references_multispeaker",
    "iv_inline_tags",
    "v_iterative_two_batches",
]


@pytest.fixture
def golden(data_dir: Path) -> dict:
    return json.loads((data_dir / "parity" / "prompts.json").read_text())


@pytest.fixture
def tensors(data_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(data_dir / "parity" / "prompts.safetensors"))


@pytest.fixture
def tok(data_dir: Path) -> S2Tokenizer:
    return S2Tokenizer.from_dir(data_dir / "parity" / "tokenizer")


@pytest.fixture
def builder(tok: S2Tokenizer) -> PromptBuilder:
    return PromptBuilder(tok, num_codebooks=10)


def _references(case: dict, tensors: dict[str, torch.Tensor]) -> list[Reference]:
    texts = case["prompt_text"] or []
    return [Reference(t, tensors[name]) for t, name in zip(texts, case["prompt_tokens"], strict=True)]


def _parts_json(parts: list) -> list[dict]:
    """Our parts in the golden's notation."""
    out = []
    for p in parts:
        if isinstance(p, TextPart):
            out.append({"type": "text", "text": p.text, "codes_shape": None})
        else:
            out.append({"type": "vq", "text": None, "codes_shape": list(p.codes.shape)})
    return out


@pytest.mark.parametrize("name", CASES)
def test_prompt_goldens(
    name: str, golden: dict, tensors: dict, tok: S2Tokenizer, builder: PromptBuilder
) -> None:
    case = golden[name]
    refs = _references(case, tensors)
    plan = IterativePrompt(builder, case["text"], refs, chunk_length=case["chunk_length"])
    assert len(plan.batches) == len(case["batches"])
    for k, want in enumerate(case["batches"]):
        prompt = plan.next_prompt()
        expected = tensors[f"{name}_b{k}_values"]
        assert prompt.dtype == torch.int64
        assert prompt.shape == (11, want["prompt_len"])
        assert torch.equal(prompt, expected)
        assert prompt[0].tolist() == want["row0_ids"]
        assert [tok.id_to_token(i) for i in prompt[0].tolist()] == want["row0_tokens"]
        assert torch.equal(prompt[:, : plan.prefix_len], plan.system)

        # The same prompt from the explicit builder API, part by part.
        parts = builder.prompt_parts(plan.batches[k], refs, plan.history)
        assert _parts_json(parts) == want["parts"]
        assert torch.equal(builder.build(plan.batches[k], refs, plan.history), expected)

        codes = tensors[f"{name}_b{k}_codes"]
        assert list(codes.shape) == want["generated_codes_shape"]
        plan.add_codes(codes)
    assert plan.done
    with pytest.raises(PromptError):
        plan.next_prompt()


def test_frame_columns(tensors: dict, builder: PromptBuilder, tok: S2Tokenizer) -> None:
    ref = tensors["ref0_codes"]
    system = builder.system_prompt([Reference("Reference words.", ref)])
    start = [i for i, t in enumerate(system[0].tolist()) if tok.semantic_begin_id <= t][0]
    frames = system[:, start : start + ref.shape[1]]
    assert torch.equal(frames[0], tok.semantic_begin_id + ref[0])
    assert torch.equal(frames[1:], ref)
    text_cols = torch.ones(system.shape[1], dtype=torch.bool)
    text_cols[start : start + ref.shape[1]] = False
    assert (system[1:, text_cols] == 0).all()


def test_iterative_prompts_extend_each_other(golden: dict, tensors: dict, builder: PromptBuilder) -> None:
    """What lets an engine keep its KV cache: our batch-2 prompt starts with our batch-1 prompt and the
    codes generated for it, and ``reusable_len`` covers exactly that much."""
    case = golden["v_iterative_two_batches"]
    plan = IterativePrompt(
        builder, case["text"], _references(case, tensors), chunk_length=case["chunk_length"]
    )
    first = plan.next_prompt()
    codes = tensors["v_iterative_two_batches_b0_codes"]
    plan.add_codes(codes)
    second = plan.next_prompt()
    n, c = first.shape[1], codes.shape[1]
    assert torch.equal(second[:, :n], first)
    assert torch.equal(second[1:, n : n + c], codes) and torch.equal(
        second[0, n : n + c], builder.tokenizer.semantic_begin_id + codes[0]
    )
    assert plan.reusable_len == n + c + 2  # + "<|im_end|>\n" after the codes


def test_context_overflow_drops_the_oldest_batches(golden: dict, tensors: dict, tok: S2Tokenizer) -> None:
    case = golden["v_iterative_two_batches"]
    refs = _references(case, tensors)
    full = tensors["v_iterative_two_batches_b1_values"]
    limit = full.shape[1] - 1  # batch 2 with batch 1 in its prompt is one column too long
    plan = IterativePrompt(PromptBuilder(tok, max_prompt_len=limit), case["text"], refs, chunk_length=16)
    first = plan.next_prompt()
    assert first.shape[1] == case["batches"][0]["prompt_len"]
    assert plan.reusable_len == plan.prefix_len
    plan.add_codes(tensors["v_iterative_two_batches_b0_codes"])
    second = plan.next_prompt()
    # The system turn (with its references) stays; batch 1 and its codes leave; batch 2 follows.
    assert plan.dropped == 1 and plan.history == ()
    assert plan.reusable_len == plan.prefix_len  # the cache must be refilled after the system turn
    n_b0 = first.shape[1]
    codes_len = tensors["v_iterative_two_batches_b0_codes"].shape[1]
    assert torch.equal(second[:, : plan.prefix_len], plan.system)
    assert torch.equal(second[:, plan.prefix_len :], full[:, n_b0 + codes_len + 2 :])  # + "<|im_end|>\n"
    assert torch.equal(second, PromptBuilder(tok).build(plan.batches[1], refs))
    # Without trimming, the whole previous prompt and its codes are reusable.
    roomy = IterativePrompt(PromptBuilder(tok, max_prompt_len=limit + 1), case["text"], refs, chunk_length=16)
    roomy.next_prompt()
    roomy.add_codes(tensors["v_iterative_two_batches_b0_codes"])
    assert torch.equal(roomy.next_prompt(), full) and roomy.dropped == 0
    assert roomy.reusable_len == n_b0 + codes_len + 2


def test_batch_too_long_even_alone_names_a_fix_that_works(tensors: dict, tok: S2Tokenizer) -> None:
    text = "word " * 60
    builder = PromptBuilder(tok, max_prompt_len=60)
    with pytest.raises(PromptTooLongError, match="smaller chunk_length"):
        IterativePrompt(builder, text, chunk_length=300).next_prompt()
    plan = IterativePrompt(builder, text, chunk_length=20)  # the fix the message names
    while not plan.done:
        assert plan.next_prompt().shape[1] <= 60
        plan.add_codes(torch.zeros(10, 3, dtype=torch.int64))
    refs = [Reference("a long reference transcript " * 3, tensors["ref0_codes"])]
    with pytest.raises(PromptTooLongError, match="fewer references"):
        IterativePrompt(builder, text, refs, chunk_length=20).next_prompt()


def test_reference_keeps_its_speaker_tag(tensors: dict, builder: PromptBuilder) -> None:
    refs = [
        Reference("<|speaker:3|>Tagged.", tensors["ref0_codes"]),
        Reference("Plain.", tensors["ref1_codes"]),
    ]
    parts = builder.system_parts(refs)
    assert parts[2] == TextPart("<|speaker:3|>Tagged.\n<|speaker:1|>Plain.")
    assert isinstance(parts[4], CodesPart) and parts[4].codes.shape == (10, 5)


@pytest.mark.parametrize(
    ("codes", "match"),
    [
        (torch.zeros(9, 3, dtype=torch.int64), "shape"),
        (torch.zeros(10, 3), "integer"),
        (torch.full((10, 3), 64), "lie in"),
        (torch.full((10, 3), -1), "lie in"),
        ([[0] * 3] * 10, "torch.Tensor"),
    ],
)
def test_codes_validation(codes, match: str, builder: PromptBuilder) -> None:
    with pytest.raises(PromptError, match=match):
        builder.check_codes(codes, "x")  # type: ignore[arg-type]


def test_codes_validation_in_prompts(builder: PromptBuilder, tok: S2Tokenizer) -> None:
    with pytest.raises(PromptError, match="reference 0"):
        builder.system_prompt([Reference("a", torch.full((10, 2), 99))])
    with pytest.raises(PromptError, match="no frames"):
        builder.system_prompt([Reference("a", torch.zeros(10, 0, dtype=torch.int64))])
    with pytest.raises(PromptError, match="2-D"):
        Reference("a", torch.zeros(10, dtype=torch.int64))
    wide = PromptBuilder(tok, codebook_size=128)  # residual codes may exceed the semantic range, code 0 not
    codes = torch.zeros(10, 2, dtype=torch.int64)
    codes[5] = 100
    assert wide.build("x", history=[("y", codes)]).shape[0] == 11
    codes[0] = 100
    with pytest.raises(PromptError, match="semantic token"):
        wide.build("x", history=[("y", codes)])


def test_split_turns() -> None:
    text = "dropped <|speaker:0|> Hi there. <|speaker:12|>Hello!\n<|speaker:1|>"
    assert split_turns(text) == ["<|speaker:0|> Hi there.", "<|speaker:12|>Hello!", "<|speaker:1|>"]
    assert split_turns("no tags") == []


def test_split_batches() -> None:
    text = "<|speaker:0|>Hi there.<|speaker:1|>Hello!"
    assert split_batches(text, 512) == ["<|speaker:0|>Hi there.\n<|speaker:1|>Hello!"]
    assert split_batches(text, 16) == ["<|speaker:0|>Hi there.", "<|speaker:1|>Hello!"]
    # The limit counts turn bytes without the "\n" joins: 22 + 19 = 41.
    assert len(split_batches(text, 41)) == 1
    assert len(split_batches(text, 40)) == 2
    # UTF-8 bytes, not characters: "é" is two bytes.
    accented = "<|speaker:0|>é<|speaker:1|>é"
    assert len(split_batches(accented, 30)) == 1
    assert len(split_batches(accented, 29)) == 2
    many = "".join(f"<|speaker:{i % 2}|>a" for i in range(12))
    assert [b.count("<|speaker") for b in split_batches(many, 10_000)] == [5, 5, 2]
    assert [b.count("<|speaker") for b in split_batches(many, 10_000, max_speakers=3)] == [3, 3, 3, 3]
    # A turn whose text is longer than chunk_length is cut; each piece keeps the speaker tag.
    turn = "<|speaker:1|>" + "One sentence here. " * 20
    pieces = split_batches(turn, 60, max_speakers=1)
    assert len(pieces) > 1 and all(p.startswith("<|speaker:1|>One sentence here.") for p in pieces)
    assert all(len(p.encode()) - len("<|speaker:1|>") <= 60 for p in pieces)
    # Untagged text is cut too, and nothing is lost.
    plain = "Plain text, no tags, is split. " * 50
    batches = split_batches(plain, 100)
    assert len(batches) > 1 and all(len(b.encode()) <= 100 for b in batches)
    assert " ".join(batches).split() == plain.split()
    with pytest.raises(PromptError):
        split_batches(text, 0)
    with pytest.raises(PromptError):
        split_batches(text, 16, max_speakers=0)


def test_empty_text_rejected(builder: PromptBuilder) -> None:
    with pytest.raises(PromptError, match="empty"):
        IterativePrompt(builder, "  \n")
