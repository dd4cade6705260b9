"""Long text through the engine: split into batches, streamed to the end, old batches leave the prompt."""

from __future__ import annotations

import queue
from pathlib import Path

import pytest
import torch

from s2tts.checkpoint import init_checkpoint, load_checkpoint
from s2tts.inference.engine import EngineConfig, TTSEngine
from s2tts.inference.long_form import generate_long
from s2tts.inference.params import SamplingParams
from s2tts.inference.types import AudioChunk, SynthesisRequest
from s2tts.models.codec import load_codec

LONG_TEXT = ("The quick brown fox jumps over the lazy dog, and then it runs away. " * 300)[:20_000]
DIALOGUE = "".join(
    f"<|speaker:{i % 2}|>Line {i} of the dialogue, said by speaker {i % 2}." for i in range(40)
)


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_checkpoint(tmp_path_factory.mktemp("tiny"), "tiny", seed=0, codec_preset="tiny")


@pytest.fixture(scope="module")
def engine(ckpt_dir: Path):
    config = EngineConfig(max_sessions=2, max_seq_len=1024)
    eng = TTSEngine(load_checkpoint(ckpt_dir), load_codec(ckpt_dir), config)
    yield eng
    eng.close()


def _run(engine: TTSEngine, request: SynthesisRequest) -> tuple[list[AudioChunk], object]:
    items: queue.Queue = queue.Queue()
    session = engine.submit(request, items.put)
    chunks = []
    while True:
        item = items.get(timeout=300)
        if isinstance(item, BaseException):
            raise item
        chunks.append(item)
        if item.is_last:
            return chunks, session


def test_twenty_thousand_characters_stream_to_the_end(engine: TTSEngine) -> None:
    # Two frames per text batch (a random model stops at random, so the length is fixed) keep the test fast; the text still needs ~100 batches and the
    # context (1024) holds only a few of them, so old batches must leave the prompt.
    request = SynthesisRequest(LONG_TEXT, sampling=SamplingParams(min_new_tokens=3, max_new_tokens=3), seed=0)
    chunks, session = _run(engine, request)
    plan = session.plan  # type: ignore[attr-defined]
    assert plan.done and len(plan.batches) >= 100
    assert all(len(b.encode()) <= 200 for b in plan.batches)
    assert " ".join(plan.batches).split() == LONG_TEXT.split()  # every word spoken, in order
    assert plan.dropped > 0
    frames = sum(c.codes.shape[1] for c in chunks if c.codes is not None)
    assert frames == 2 * len(plan.batches)
    assert chunks[-1].is_last and chunks[-1].metrics is not None


def test_forty_turn_dialogue_streams_to_the_end(engine: TTSEngine) -> None:
    request = SynthesisRequest(DIALOGUE, sampling=SamplingParams(min_new_tokens=3, max_new_tokens=3), seed=0)
    chunks, session = _run(engine, request)
    plan = session.plan  # type: ignore[attr-defined]
    turns = [t for b in plan.batches for t in b.split("\n")]
    assert plan.done and len(turns) == 40 and len(plan.batches) > 1
    assert turns == [
        f"<|speaker:{i % 2}|>Line {i} of the dialogue, said by speaker {i % 2}." for i in range(40)
    ]
    assert sum(c.codes.shape[1] for c in chunks if c.codes is not None) == 2 * len(plan.batches)


def test_prompt_trimming_keeps_the_cache_consistent(engine: TTSEngine) -> None:
    """With old batches leaving the prompt, the engine (which keeps its KV cache between batches)
    must give exactly the codes of a plain re-prefill of each batch's prompt."""
    text = " ".join(f"Sentence number {i} is here." for i in range(80))
    greedy = SamplingParams(top_k=1, max_new_tokens=6, min_new_tokens=6)
    chunks, session = _run(engine, SynthesisRequest(text, sampling=greedy, chunk_length=200, seed=0))
    assert session.plan.dropped > 0  # type: ignore[attr-defined]
    streamed = torch.cat([c.codes for c in chunks if c.codes is not None], dim=1)
    limit = engine._prompt_limit(greedy)
    builder = engine.checkpoint.prompt_builder(max_prompt_len=limit)
    codes = generate_long(engine.model, builder, text, [], greedy, chunk_length=200)
    assert torch.equal(streamed, engine.codec.clamp_codes(codes))


def test_frames_per_batch_are_capped_by_the_text(ckpt_dir: Path) -> None:
    """A model that never stops cannot turn a short text into unbounded work."""
    config = EngineConfig(max_sessions=1, max_seq_len=2048)
    with TTSEngine(load_checkpoint(ckpt_dir), load_codec(ckpt_dir), config) as eng:
        never_stops = SamplingParams(max_new_tokens=0, min_new_tokens=100_000)
        chunks, session = _run(eng, SynthesisRequest("Hi.", sampling=never_stops, seed=0))
        frames = sum(c.codes.shape[1] for c in chunks if c.codes is not None)
        assert frames == session.plan.frame_limit(0) < 1024  # type: ignore[attr-defined]
