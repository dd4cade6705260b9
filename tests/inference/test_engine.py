"""The engine on a tiny random checkpoint: batching, seeds, caches, long form, limits, cancellation."""

from __future__ import annotations

import asyncio
import queue
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from s2tts.checkpoint import init_checkpoint, load_checkpoint
from s2tts.errors import (
    EngineError,
    EngineOverloadedError,
    PromptError,
    PromptTooLongError,
    RequestCancelledError,
    RequestTimeoutError,
)
from s2tts.inference.engine import EngineConfig, TTSEngine
from s2tts.inference.long_form import generate_long
from s2tts.inference.params import SamplingParams
from s2tts.inference.types import SynthesisRequest, VoiceReference
from s2tts.models.codec import load_codec
from s2tts.text.prompt import IterativePrompt, Reference

FRAMES = SamplingParams(max_new_tokens=13, min_new_tokens=13)  # exactly 12 frames per text batch


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_checkpoint(tmp_path_factory.mktemp("tiny"), "tiny", seed=0, codec_preset="tiny")


@pytest.fixture(scope="module")
def engine(ckpt_dir: Path):
    eng = TTSEngine(
        load_checkpoint(ckpt_dir), load_codec(ckpt_dir), EngineConfig(max_sessions=4, max_seq_len=1024)
    )
    yield eng
    eng.close()


def _voice(seconds: float = 0.5) -> VoiceReference:
    t = np.arange(int(44100 * seconds)) / 44100
    return VoiceReference(
        "Reference words.", audio=(0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sample_rate=44100
    )


def test_streams_audio_in_small_then_larger_chunks(engine: TTSEngine) -> None:
    chunks = list(engine.iter_stream(SynthesisRequest("Hello world.", sampling=FRAMES, seed=1)))
    sizes = [c.pcm.shape[0] for c in chunks]
    assert sizes[0] == engine.config.first_chunk_frames * engine.frame_length
    assert sizes[1] == engine.config.chunk_frames * engine.frame_length
    assert sum(sizes) == 12 * engine.frame_length
    assert chunks[-1].is_last and [c.index for c in chunks] == list(range(len(chunks)))
    m = chunks[-1].metrics
    assert m is not None and m["frames"] == 12 and m["ttfa_s"] > 0 and m["rtf"] > 0
    assert all(c.pcm.dtype == np.float32 and np.isfinite(c.pcm).all() for c in chunks)


def test_same_seed_same_audio_alone_or_batched(engine: TTSEngine) -> None:
    request = lambda seed, text: SynthesisRequest(text, sampling=SamplingParams(max_new_tokens=20), seed=seed)  # noqa: E731
    alone = list(engine.iter_stream(request(7, "Seeded request.")))
    outs: list[queue.Queue] = []
    for seed, text in [(7, "Seeded request."), (8, "A neighbour."), (9, "Another one, longer text.")]:
        q: queue.Queue = queue.Queue()
        engine.submit(request(seed, text), q.put)
        outs.append(q)
    batched = []
    while True:
        item = outs[0].get(timeout=60)
        batched.append(item)
        if item.is_last:
            break
    for q in outs[1:]:
        while not q.get(timeout=60).is_last:
            pass
    codes = lambda chunks: torch.cat([c.codes for c in chunks if c.codes is not None], 1)  # noqa: E731
    assert torch.equal(codes(batched), codes(alone))
    # The codec decodes the batch's chunks together: the same audio up to float rounding.
    pcm = lambda chunks: np.concatenate([c.pcm for c in chunks])  # noqa: E731
    np.testing.assert_allclose(pcm(batched), pcm(alone), atol=1e-5, rtol=0)
    assert engine.metrics()["batch_occupancy"] > 0.25


def test_voice_encoded_once_and_prefix_reused(engine: TTSEngine) -> None:
    voice = _voice()
    before = engine.metrics()
    first = list(
        engine.iter_stream(SynthesisRequest("First text.", references=[voice], sampling=FRAMES, seed=2))
    )
    second = list(
        engine.iter_stream(SynthesisRequest("Second, new text.", references=[voice], sampling=FRAMES, seed=2))
    )
    after = engine.metrics()
    assert after["voice_cache_misses_total"] - before["voice_cache_misses_total"] == 1
    assert after["voice_cache_hits_total"] - before["voice_cache_hits_total"] == 1
    m1, m2 = first[-1].metrics, second[-1].metrics
    assert m1 is not None and m2 is not None
    assert not m1["prefix_cache_hit"] and m2["prefix_cache_hit"]
    # The second request prefilled only its own turn: everything after the shared system prefix.
    ref = Reference(voice.text, engine.encode_audio(voice.audio, 44100))
    plan1 = IterativePrompt(engine.builder, "First text.", [ref], chunk_length=200)
    plan2 = IterativePrompt(engine.builder, "Second, new text.", [ref], chunk_length=200)
    assert m1["prefill_tokens"] == plan1.next_prompt().shape[1]
    assert m2["prefill_tokens"] == plan2.next_prompt().shape[1] - plan2.prefix_len


def test_long_form_matches_generate_long_greedy(engine: TTSEngine, ckpt_dir: Path) -> None:
    text = "<|speaker:0|>First turn here.<|speaker:1|>And a second turn.<|speaker:0|>Third."
    greedy = SamplingParams(top_k=1, max_new_tokens=6, min_new_tokens=6)
    chunks = list(engine.iter_stream(SynthesisRequest(text, sampling=greedy, chunk_length=20, seed=0)))
    streamed = torch.cat([c.codes for c in chunks if c.codes is not None], dim=1)
    ckpt = engine.checkpoint
    codes = generate_long(ckpt.model, engine.builder, text, [], greedy, chunk_length=20)
    assert codes.shape[1] == 15  # three text batches of five frames
    codes = engine.codec.clamp_codes(codes)
    assert torch.equal(streamed, codes)
    # Streaming decode in chunks equals the one-shot decode.
    audio = np.concatenate([c.pcm for c in chunks])
    np.testing.assert_allclose(audio, engine.decode_codes(codes), atol=1e-4)


def test_async_stream_concurrent(engine: TTSEngine) -> None:
    async def run(seed: int) -> int:
        n = 0
        async for chunk in engine.stream(SynthesisRequest(f"Async {seed}.", sampling=FRAMES, seed=seed)):
            n += chunk.pcm.shape[0]
        return n

    async def main() -> list[int]:
        return await asyncio.gather(*(run(s) for s in range(5)))

    assert asyncio.run(main()) == [12 * engine.frame_length] * 5
    assert engine.metrics()["sessions_active"] == 0


def test_cancel_frees_the_slot(engine: TTSEngine) -> None:
    long = SamplingParams(max_new_tokens=900, min_new_tokens=900)
    items: queue.Queue = queue.Queue()
    session = engine.submit(SynthesisRequest("Cancel me.", sampling=long, seed=1), items.put)
    assert items.get(timeout=30).pcm.size > 0
    session.cancel()
    assert session.finished.wait(30)
    while True:
        item = items.get(timeout=30)
        if isinstance(item, BaseException):
            assert isinstance(item, RequestCancelledError)
            break
    assert engine.metrics()["sessions_active"] == 0
    # Closing a stream early cancels too, and the engine keeps serving.
    stream = engine.iter_stream(SynthesisRequest("Close early.", sampling=long, seed=1))
    next(stream)
    stream.close()
    assert engine.synthesize(SynthesisRequest("Still serving.", sampling=FRAMES, seed=1)).shape[0] > 0


def test_limits_timeouts_and_bad_input(ckpt_dir: Path) -> None:
    config = EngineConfig(max_sessions=1, max_queue=1, max_seq_len=256)
    with TTSEngine(load_checkpoint(ckpt_dir), load_codec(ckpt_dir), config) as eng:
        long = SamplingParams(max_new_tokens=200, min_new_tokens=200)
        sessions = []
        sink: queue.Queue = queue.Queue()
        sessions.append(eng.submit(SynthesisRequest("one", sampling=long), sink.put))
        sessions.append(eng.submit(SynthesisRequest("two", sampling=long), sink.put))
        with pytest.raises(EngineOverloadedError):
            eng.submit(SynthesisRequest("three", sampling=long), sink.put)
        for s in sessions:
            s.cancel()
        for s in sessions:
            assert s.finished.wait(30)
        with pytest.raises(RequestTimeoutError):
            eng.synthesize(SynthesisRequest("slow", sampling=long, timeout_s=0.0))
        with pytest.raises(PromptError):
            eng.synthesize(SynthesisRequest("   "))
        with pytest.raises(PromptTooLongError):
            eng.synthesize(SynthesisRequest("x" * 400))
        assert eng.metrics()["sessions_active"] == 0


def test_queue_limit_counts_requests_not_yet_started(ckpt_dir: Path) -> None:
    config = EngineConfig(max_sessions=1, max_queue=0, max_seq_len=256)
    with TTSEngine(load_checkpoint(ckpt_dir), load_codec(ckpt_dir), config) as eng:
        long = SamplingParams(max_new_tokens=200, min_new_tokens=200)
        first = eng.submit(SynthesisRequest("one", sampling=long), lambda item: None)
        with pytest.raises(EngineOverloadedError):
            eng.submit(SynthesisRequest("two", sampling=long), lambda item: None)
        first.cancel()
        assert first.finished.wait(30)


def test_a_failing_consumer_only_cancels_its_own_request(engine: TTSEngine) -> None:
    def broken(item: object) -> None:
        raise RuntimeError("consumer is gone")

    session = engine.submit(SynthesisRequest("Nobody listens.", sampling=FRAMES, seed=1), broken)
    assert session.finished.wait(30)
    assert engine.synthesize(SynthesisRequest("Others still work.", sampling=FRAMES, seed=1)).shape[0] > 0
    assert engine.metrics()["sessions_active"] == 0


def test_cancel_while_the_reference_is_being_encoded(engine: TTSEngine) -> None:
    before = engine.metrics().get("requests_cancelled_total", 0)
    voice = _voice(seconds=3.0)  # encoding takes a moment, in a worker thread

    async def main() -> None:
        async def consume() -> None:
            async for _ in engine.stream(SynthesisRequest("Gone.", references=[voice], sampling=FRAMES)):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0)  # let the stream start its submit in the worker thread
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    deadline = time.monotonic() + 30
    while engine.metrics().get("requests_cancelled_total", 0) == before:
        assert time.monotonic() < deadline, "the abandoned request was never dropped"
        time.sleep(0.01)
    assert engine.metrics()["sessions_active"] == 0


@pytest.mark.slow
def test_compiled_engine_warms_up_and_never_compiles_while_serving(ckpt_dir: Path, engine: TTSEngine) -> None:
    """The whole decode frame compiled by inductor on CPU: every bucket is compiled when the
    engine starts (here one: 1 row x a 256-position window), serving adds no graph and no
    graph break, and the audio equals eager's."""
    from torch._dynamo.utils import counters

    request = lambda text: SynthesisRequest(text, sampling=FRAMES, seed=4)  # noqa: E731
    expected = engine.synthesize(request("Compiled."))
    before = counters["stats"]["unique_graphs"]
    breaks = sum(counters["graph_break"].values())
    config = EngineConfig(max_sessions=1, max_seq_len=256, compile=True)
    with TTSEngine(load_checkpoint(ckpt_dir), load_codec(ckpt_dir), config) as compiled:
        warmed = counters["stats"]["unique_graphs"]
        assert (
            warmed - before == len(compiled.decoder.batch_buckets) * len(compiled.decoder.length_buckets) == 1
        )
        audio = compiled.synthesize(request("Compiled."))
        compiled.synthesize(request("A second request, with other text."))
        assert counters["stats"]["unique_graphs"] == warmed
    assert sum(counters["graph_break"].values()) == breaks
    np.testing.assert_allclose(audio, expected, atol=1e-5)


def test_a_caller_driven_engine_serves_traced_requests_like_the_threaded_one(
    ckpt_dir: Path, engine: TTSEngine
) -> None:
    """threaded=False: the caller's ``step()`` runs the scheduler; a traced request's last chunk
    holds each text batch's prompt, raw codes and log-probs, and the audio is the threaded engine's."""
    text = "<|speaker:0|>First turn here.<|speaker:1|>And a second one."
    request = SynthesisRequest(text, sampling=FRAMES, seed=3, chunk_length=20, trace=True)
    want = engine.synthesize(SynthesisRequest(text, sampling=FRAMES, seed=3, chunk_length=20))
    with pytest.raises(EngineError, match="threaded=False"):
        engine.step()
    driven = TTSEngine(
        load_checkpoint(ckpt_dir),
        load_codec(ckpt_dir),
        EngineConfig(max_sessions=2, max_seq_len=1024, threaded=False),
    )
    chunks: list = []
    driven.submit(request, chunks.append)
    steps = 1
    while driven.step():
        steps += 1
    driven.close()
    assert steps == 2 * 12  # two text batches of 12 frames, one frame per step
    assert all(not isinstance(c, BaseException) for c in chunks)
    np.testing.assert_allclose(np.concatenate([c.pcm for c in chunks]), want, atol=1e-5)
    trace = chunks[-1].trace
    assert trace is not None and len(trace) == 2
    assert all(c.trace is None for c in chunks[:-1])
    for b in trace:
        assert b.codes.shape == (10, 12) and not b.finished  # min_new_tokens: the budget ends it
        assert b.slow_logprobs.shape == (12,) and b.fast_logprobs.shape == (12, 9)
        assert bool((b.slow_logprobs <= 0).all()) and bool((b.fast_logprobs <= 0).all())
    # the second batch's prompt holds the first batch's prompt and codes
    first, second = trace
    assert torch.equal(second.prompt[1:, first.prompt.shape[1] : first.prompt.shape[1] + 12], first.codes)
    with pytest.raises(EngineError, match="closed"):
        driven.step()
