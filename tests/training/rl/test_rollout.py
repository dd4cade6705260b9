"""Rollouts through the serving engine: continuous batching, per-sample seeds, sampling
log-probs equal to the teacher-forced policy, long texts as several text batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from s2tts.checkpoint import init_checkpoint, load_checkpoint, random_model
from s2tts.models.codec import Codec, load_codec
from s2tts.models.config import DualARConfig
from s2tts.text.prompt import Reference
from s2tts.text.tokenizer import S2Tokenizer
from s2tts.training.rl.grpo import pack, sampling_logprobs
from s2tts.training.rl.logprobs import rollout_logprobs
from s2tts.training.rl.rollout import RolloutConfig, RolloutJob, RolloutSampler

Parts = tuple[S2Tokenizer, Codec, DualARConfig]


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Parts:
    directory = init_checkpoint(
        tmp_path_factory.mktemp("rollout") / "tiny", "tiny", seed=0, codec_preset="tiny"
    )
    ckpt = load_checkpoint(directory)
    return ckpt.tokenizer, load_codec(directory / "codec.safetensors"), ckpt.model.config


def _sampler(parts: Parts, **cfg: object) -> RolloutSampler:
    # std 0.2: a random model that sometimes stops by itself, so lengths differ
    model = random_model(parts[2], seed=3, std=0.2)
    return RolloutSampler(model, parts[0], parts[1], RolloutConfig(**cfg))  # type: ignore[arg-type]


def _jobs(text: str, seeds: list[int]) -> list[RolloutJob]:
    return [RolloutJob(0, i, text, (), s) for i, s in enumerate(seeds)]


def test_samples_come_out_the_same_alone_or_continuously_batched(parts: Parts) -> None:
    cfg = {"group_size": 2, "temperature": 0.9, "max_new_tokens": 9, "min_new_tokens": 2}
    jobs = _jobs("Hello there.", [11, 12, 13, 14, 15])
    batched = _sampler(parts, batch_size=2, **cfg)  # 5 samples through 2 rows: freed rows refill
    ended: list[int] = []
    together = batched.run(jobs, lambda job, r: ended.append(job.sample_index))
    assert sorted(ended) == [0, 1, 2, 3, 4] and [r.seed for r in together] == [11, 12, 13, 14, 15]
    assert len({r.frames for r in together}) >= 2  # the samples differ (some stop early)
    alone = _sampler(parts, batch_size=1, **cfg)
    for job, r in zip(jobs, together, strict=True):
        [single] = alone.run([job])
        assert torch.equal(single.codes, r.codes)
        [b], [c] = single.batches, r.batches
        torch.testing.assert_close(b.slow_logprobs, c.slow_logprobs, atol=1e-5, rtol=0)
        torch.testing.assert_close(b.fast_logprobs, c.fast_logprobs, atol=1e-5, rtol=0)
    # the engine decoded each rollout's audio once, the same as decoding its codes in one go
    codec = parts[1]
    r = together[0]
    want = codec.decode(codec.clamp_codes(r.codes)[None])[0, 0].numpy()
    assert r.audio is not None and r.audio.shape == want.shape
    np.testing.assert_allclose(r.audio, want, atol=1e-4)


def test_sampling_logprobs_equal_the_teacher_forced_policy(parts: Parts) -> None:
    sampler = _sampler(parts, group_size=4, temperature=0.9, max_new_tokens=9, min_new_tokens=2, batch_size=3)
    rollouts = sampler.run(_jobs("Hello there.", [11, 12, 13, 14]))
    assert any(r.finished for r in rollouts) and not all(r.finished for r in rollouts)
    batch, owners = pack(sampler.model, rollouts)
    assert owners.tolist() == [0, 1, 2, 3]
    sampled = sampling_logprobs(rollouts, batch)
    with torch.no_grad():
        forced = rollout_logprobs(sampler.model, batch, temperature=0.9, min_frames=2)
    assert torch.allclose(sampled.slow * batch.slow_mask, forced.slow, atol=1e-4)
    assert torch.allclose(sampled.fast * batch.fast_mask, forced.fast, atol=1e-4)


def test_a_long_dialogue_runs_as_several_text_batches(parts: Parts) -> None:
    """Two speaker turns that do not fit one text batch: each rollout holds two batches, the
    second batch's prompt holds the first's codes, and every token's sampling log-prob is what
    the policy gives it in the context it was drawn in."""
    text = "<|speaker:0|>The first speaker says this.<|speaker:1|>And the second one answers that."
    sampler = _sampler(parts, group_size=2, max_new_tokens=6, chunk_length=40, batch_size=2)
    rollouts = sampler.run(_jobs(text, [5, 6, 7]))
    counts = [len(r.batches) for r in rollouts]
    assert counts == [2, 2, 2]  # one text batch per turn
    for r in rollouts:
        for first, second in zip(r.batches, r.batches[1:], strict=False):
            n, length = first.codes.shape[1], first.prompt.shape[1]
            assert n > 0
            # the next batch's prompt: this batch's prompt, then its frames as an assistant voice turn
            assert torch.equal(second.prompt[:, :length], first.prompt)
            assert torch.equal(second.prompt[1:, length : length + n], first.codes)
        assert torch.equal(r.codes, torch.cat([b.codes for b in r.batches], dim=1))
    batch, owners = pack(sampler.model, rollouts)
    assert owners.tolist() == [0, 0, 1, 1, 2, 2]
    sampled = sampling_logprobs(rollouts, batch)
    with torch.no_grad():
        forced = rollout_logprobs(sampler.model, batch)
    assert torch.allclose(sampled.slow * batch.slow_mask, forced.slow, atol=1e-4)
    assert torch.allclose(sampled.fast * batch.fast_mask, forced.fast, atol=1e-4)


def _holds(prompt: torch.Tensor, codes: torch.Tensor) -> bool:
    """Whether the codebook rows of ``prompt`` (1+N, L) hold ``codes`` (N, n) as consecutive frames."""
    n = codes.shape[1]
    return any(torch.equal(prompt[1:, j : j + n], codes) for j in range(prompt.shape[1] - n + 1))


def test_a_prompt_without_reference_speaks_in_the_default_voice(parts: Parts) -> None:
    """As the served model does: the checkpoint's default voice is the reference of every prompt
    that names none; a prompt with its own reference keeps it; no default voice, no reference."""
    config = parts[2]
    g = torch.Generator().manual_seed(5)
    voice, own = (
        Reference(text, torch.randint(1, config.codebook_size, (config.num_codebooks, 6), generator=g))
        for text in ("The default voice.", "Its own reference.")
    )
    cfg = RolloutConfig(group_size=2, max_new_tokens=4, min_new_tokens=2)
    model = random_model(config, seed=3, std=0.2)
    with_voice = RolloutSampler(model, parts[0], parts[1], cfg, default_voice=voice)
    [plain], [cloned] = (
        with_voice.run([RolloutJob(0, 0, "Hello there.", refs, 11)]) for refs in ((), (own,))
    )
    assert _holds(plain.batches[0].prompt, voice.codes)
    assert _holds(cloned.batches[0].prompt, own.codes) and not _holds(cloned.batches[0].prompt, voice.codes)
    [bare] = RolloutSampler(model, parts[0], parts[1], cfg).run([RolloutJob(0, 0, "Hello there.", (), 11)])
    assert not _holds(bare.batches[0].prompt, voice.codes)
    assert bare.batches[0].prompt.shape[1] < plain.batches[0].prompt.shape[1]
