"""LM training from the data pipeline's code shards: conversations laid out as the engine's
long-form prompts, and a run on a tiny shard directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from s2tts.data.manifest import Turn as DialogueTurn
from s2tts.data.manifest import Utterance
from s2tts.data.shards import index_rows, write_index, write_shard
from s2tts.text.prompt import IterativePrompt, PromptBuilder, Reference
from s2tts.text.tokenizer import make_byte_tokenizer
from s2tts.training.lm.config import LMRunConfig
from s2tts.training.lm.data import DataConfig
from s2tts.training.lm.recipe import train_lm
from s2tts.training.lm.samples import SampleBuilder
from s2tts.training.lm.shards import ShardConversations
from s2tts.training.run_config import load_config

FRAME_RATE = 44100 / 2048


def _utt(i: int, speaker: str, text: str, split: str = "train", **kw) -> Utterance:
    return Utterance(
        id=f"u{i}", path=f"a/u{i}.flac", duration_s=1.0, sample_rate=44100, text=text, plain_text=text,
        speaker_id=speaker, language="en", source="festival", split=split, **kw,
    )  # fmt: skip


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shards")
    rng = np.random.default_rng(0)
    utts, codes = [], []
    for i in range(12):
        spk = f"spk{i % 3}"
        split = "heldout_text" if i >= 10 else "train"
        utts.append(_utt(i, spk, f"[soft] Sentence number {i}." if i % 4 == 0 else f"Sentence {i}.", split))
        codes.append(rng.integers(0, 64, size=(10, 4 + i % 3)))
    text = "Hello there.How are you?"
    turns = (
        DialogueTurn(0, "spk0", "festival", 0, 12, 0.0, 0.3),
        DialogueTurn(1, "spk1", "festival", 12, len(text), 0.3, 0.6),
    )
    utts.append(_utt(12, "spk0", text, kind="dialogue", turns=turns))
    codes.append(rng.integers(0, 64, size=(10, 13)))
    refs = write_shard(root, "codes-00000.npy", codes)
    write_index(root, index_rows(utts, refs), {"frame_rate": FRAME_RATE, "num_codebooks": 10})
    return root


def test_conversations_are_the_engines_long_form_batches(shard_dir: Path) -> None:
    cfg = DataConfig(
        source="shards", path=shard_dir, multi_turn_prob=1.0, reference_prob=1.0, chunk_length=40
    )
    source = ShardConversations(shard_dir, cfg, "train")
    builder = PromptBuilder(make_byte_tokenizer(64), 10, 64)
    sb = SampleBuilder(builder)
    multi = 0
    for index in range(len(source)):
        conv = source.get(index, epoch=1)
        sample = sb.build(conv)
        text = "".join(t.text for t in conv.turns)
        if "<|speaker:" not in text:
            assert len(conv.turns) == 1
            continue
        multi += 1
        # the engine, given the same text and references, builds the same prompts batch by batch
        # (every fixture turn is under chunk_length bytes, so inference cuts no turn either)
        plan = IterativePrompt(
            builder, "\n".join(t.text for t in conv.turns), conv.references, chunk_length=40
        )
        assert plan.batches == [t.text for t in conv.turns]
        for turn in conv.turns:
            prompt = plan.next_prompt()
            assert torch.equal(sample.values[:, : prompt.shape[1]], prompt)
            plan.add_codes(turn.codes)
        assert all(isinstance(r, Reference) and r.text.startswith("<|speaker:") for r in conv.references)
    assert multi > 0
    # reproducible by (index, epoch)
    assert torch.equal(sb.build(source.get(3, 2)).values, sb.build(source.get(3, 2)).values)


def test_too_long_samples_drop_references_then_turns(shard_dir: Path) -> None:
    cfg = DataConfig(source="shards", path=shard_dir, multi_turn_prob=1.0, reference_prob=1.0)
    conv = ShardConversations(shard_dir, cfg, "train").get(0)
    builder = PromptBuilder(make_byte_tokenizer(64), 10, 64)
    full = SampleBuilder(builder).build(conv).length
    fitted = SampleBuilder(builder, max_len=full - 1).build_fitting(conv)
    assert fitted.length < full


def test_training_on_shards(shard_dir: Path, tmp_path: Path) -> None:
    cfg = load_config(
        LMRunConfig, None,
        [f"out_dir={tmp_path}", "device=cpu", "threads=1", "steps=2", "batch_size=2", "export_on_finish=false",
         "data.source=shards", f"data.path={shard_dir}", "data.multi_turn_prob=0.5"],
    )  # fmt: skip
    result = train_lm(cfg)
    assert result["steps"] == 2 and result["val_loss"] is not None  # heldout_text is the validation split


def test_espeak_frontend_is_warmed_once_for_every_training_text(shard_dir: Path) -> None:
    from s2tts.text.frontend import TextFrontend
    from s2tts.training.lm.prephonemise import warm_frontend

    cfg = DataConfig(source="shards", path=shard_dir, multi_turn_prob=1.0, reference_prob=1.0)
    train = ShardConversations(shard_dir, cfg, "train")
    val = ShardConversations(shard_dir, cfg, "heldout_text")
    texts = {t for t, _ in train.texts()}
    assert {"Hello there.", "How are you?", "[soft] Sentence number 0.", "Sentence 1."} <= texts
    fresh = TextFrontend("espeak", cache_size=2)
    warmed = TextFrontend("espeak", cache_size=2)
    assert warm_frontend(warmed, (train, val), chunk=4, progress=False) == len(texts) + 2  # + 2 held out
    # from now on no espeak-ng run is needed: samples convert with the program gone
    warmed._exe = "/nonexistent/espeak-ng"
    builder = PromptBuilder(make_byte_tokenizer(64), 10, 64, frontend=warmed)
    sb = SampleBuilder(builder, max_len=4096)
    for epoch in range(3):
        for i in range(len(train)):
            conv = train.get(i, epoch)
            sb.build(conv)
            for turn in conv.turns:
                assert warmed(turn.text, conv.language) == fresh(turn.text, conv.language)
