"""Streaming codec-training data: an index of real audio files, crops read from disk, exact resume."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from s2tts.cli import main as cli_main
from s2tts.data.manifest import Utterance, write_manifest
from s2tts.errors import TrainingDataError
from s2tts.training.checkpointing import Checkpointer
from s2tts.training.codec.config import CodecTrainConfig
from s2tts.training.codec.data import (
    CropSampler,
    InMemoryClips,
    fixed_crops,
    list_audio,
    list_manifest,
    load_folder,
)
from s2tts.training.codec.recipe import train
from s2tts.training.codec.stream import StreamingClips, build_index
from s2tts.training.run_config import load_config

from .conftest import tiny_run
from .test_recipe import _assert_same

SR, FRAME = 44100, 2048  # the tiny codec's rate and frame


def _tone(path: Path, rate: int, seconds: float, channels: int = 1, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    audio = 0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t)[:, None] + 0.05 * rng.standard_normal(
        (n, channels)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio.astype(np.float32), rate, subtype="FLOAT" if path.suffix == ".wav" else "PCM_24")
    return path


@pytest.fixture
def mixed_dir(tmp_path: Path) -> Path:
    """Files at three rates (one stereo, one nested), one too short to train on, one not audio."""
    root = tmp_path / "audio"
    _tone(root / "a" / "one.wav", 22050, 0.6, seed=1)
    _tone(root / "two.flac", 16000, 0.5, channels=2, seed=2)
    _tone(root / "three.wav", SR, 0.3, seed=3)
    _tone(root / "short.wav", SR, 0.01, seed=4)  # 441 samples < one codec frame
    (root / "notes.txt").write_text("not audio")
    return root


def _sources(root: Path, cache: Path) -> tuple[InMemoryClips, StreamingClips]:
    names = list_audio(root)
    memory = InMemoryClips(load_folder(root, SR, FRAME, names))
    stream = StreamingClips(root, build_index(root, names, cache, progress=False), SR, FRAME)
    return memory, stream


def test_streaming_crops_are_the_in_memory_crops(mixed_dir: Path, tmp_path: Path) -> None:
    memory, stream = _sources(mixed_dir, tmp_path / "index.json")
    assert len(stream) == len(memory) == 3  # the short file is dropped by both
    assert stream.paths == ("a/one.wav", "three.wav", "two.flac")
    assert [stream.length(i) for i in range(3)] == [26460, 13230, 22050]
    assert [memory.length(i) for i in range(3)] == [26460, 13230, 22050]
    crop = 16384  # longer than three.wav: its crops are zero-padded
    a = CropSampler(memory, crop, 4, rank=0, world=1, seed=5)
    b = CropSampler(stream, crop, 4, rank=0, world=1, seed=5)
    picked = set()
    for _ in range(6):
        xa, ia, sa = a.next_batch()
        xb, ib, sb = b.next_batch()
        assert xb.shape == (4, 1, crop) and xb.dtype == torch.float32
        assert (ib, sb) == (ia, sa)
        torch.testing.assert_close(xb, xa, rtol=0, atol=1e-6)  # resampled files: float rounding
        for row, index in zip(xb, ib, strict=True):
            if index == 1:  # the 44.1 kHz file is sliced, not resampled: bit-identical, padded
                assert torch.equal(row, xa[ib.index(1)])
                assert torch.all(row[0, 13230:] == 0) and row[0, :13230].abs().max() > 0.1
        picked.update(ib)
    assert picked == {0, 1, 2}
    val_a, val_b = fixed_crops(memory, 3 * FRAME, 2), fixed_crops(stream, 3 * FRAME, 2)
    assert val_b.shape == (2, 1, 3 * FRAME)
    torch.testing.assert_close(val_b, val_a, rtol=0, atol=1e-6)


def test_streaming_crops_are_seeded_and_resume_from_the_generator_state(
    mixed_dir: Path, tmp_path: Path
) -> None:
    _, stream = _sources(mixed_dir, tmp_path / "index.json")
    a, b = CropSampler(stream, 4096, 2, 0, 1, seed=1), CropSampler(stream, 4096, 2, 0, 1, seed=1)
    first = [a.next_batch()[0] for _ in range(3)]
    assert all(torch.equal(x, b.next_batch()[0]) for x in first)
    other = CropSampler(stream, 4096, 2, 0, 1, seed=2).next_batch()[0]
    assert not torch.equal(other, first[0])
    state = a.generator.get_state()  # what the checkpoint stores as the data position
    ahead = [a.next_batch()[0] for _ in range(2)]
    resumed = CropSampler(stream, 4096, 2, 0, 1, seed=99)
    resumed.generator.set_state(state)
    assert all(torch.equal(x, resumed.next_batch()[0]) for x in ahead)
    # two processes each keep their half of the same global batch
    halves = [CropSampler(stream, 4096, 2, r, 2, seed=1).next_batch()[0] for r in (0, 1)]
    assert torch.equal(torch.cat(halves), first[0])


def test_the_streaming_source_holds_no_waveforms(mixed_dir: Path, tmp_path: Path) -> None:
    memory, stream = _sources(mixed_dir, tmp_path / "index.json")
    assert any(isinstance(c.audio, torch.Tensor) and c.audio.numel() > 10_000 for c in memory.clips)
    for name, value in vars(stream).items():
        assert not isinstance(value, (np.ndarray, torch.Tensor)), name
        items = value if isinstance(value, tuple) else (value,)
        assert all(isinstance(v, (int, str, Path)) for v in items), name


def test_the_index_cache_is_reused_and_refreshed(mixed_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "index.json"
    names = list_audio(mixed_dir)
    fresh = build_index(mixed_dir, names, cache, progress=False)
    assert [(e.path, e.frames, e.rate) for e in fresh][:2] == [
        ("a/one.wav", 13230, 22050),
        ("short.wav", 441, SR),
    ]
    data = json.loads(cache.read_text())
    data["entries"][0][1] = 7  # a cached entry whose file is unchanged is trusted, not re-read
    cache.write_text(json.dumps(data))
    assert build_index(mixed_dir, names, cache, progress=False)[0].frames == 7
    _tone(mixed_dir / "a" / "one.wav", 22050, 0.7, seed=1)  # changed size: read again
    os.utime(mixed_dir / "a" / "one.wav", ns=(1, 1))
    again = build_index(mixed_dir, names[1:] + names[:1], cache, progress=False)
    assert again[-1].frames == 15434 and len(json.loads(cache.read_text())["entries"]) == 4
    smaller = build_index(mixed_dir, names[1:], cache, progress=False)  # a file left the list
    assert [e.path for e in smaller] == names[1:]
    assert [row[0] for row in json.loads(cache.read_text())["entries"]] == names[1:]
    with pytest.raises(TrainingDataError, match="not found"):
        build_index(mixed_dir, ["gone.wav"], cache, progress=False)


def test_a_manifest_selects_its_split(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    rows = []
    for i, split in enumerate(("train", "heldout_text", "train")):
        _tone(corpus / "audio" / f"u{i}.wav", SR, 0.2, seed=i)
        rows.append(Utterance(f"u{i}", f"audio/u{i}.wav", 0.2, SR, "hi.", "hi.", "s0", "en", "espeak", split))
    write_manifest(corpus / "manifest.parquet", rows)
    assert list_manifest(corpus, "train") == (corpus, ["audio/u0.wav", "audio/u2.wav"])
    assert list_manifest(corpus / "manifest.parquet", "")[1] == [
        "audio/u0.wav",
        "audio/u1.wav",
        "audio/u2.wav",
    ]
    with pytest.raises(TrainingDataError, match="no rows of split 'heldout_speaker'"):
        list_manifest(corpus, "heldout_speaker")
    with pytest.raises(TrainingDataError, match="manifest not found"):
        list_manifest(tmp_path / "nowhere", "train")


def test_bad_data_settings_are_one_line_errors(tmp_path: Path, capsys) -> None:
    base = ["train", "codec", f"out_dir={tmp_path / 'run'}", "model.preset=tiny"]
    assert cli_main([*base, f"data.audio_dir={tmp_path}", f"data.manifest={tmp_path}"]) != 0
    assert "data.audio_dir or data.manifest, not both" in capsys.readouterr().err
    assert cli_main([*base, f"data.manifest={tmp_path}", "data.stream=true"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "manifest not found" in err[0]


def test_streaming_training_resumes_exactly(tmp_path: Path, speech_dir: Path) -> None:
    def run(out: Path, *extra: str) -> None:
        train(load_config(CodecTrainConfig, None, tiny_run(out, speech_dir, "data.stream=true", *extra)))

    run(tmp_path / "a")
    run(tmp_path / "b", "steps=3")  # stops after the warm-up and k-means, before the GAN
    run(tmp_path / "b")
    assert (tmp_path / "b" / "audio-index.json").is_file()
    a = Checkpointer.read(Checkpointer(tmp_path / "a" / "checkpoints").latest())
    b = Checkpointer.read(Checkpointer(tmp_path / "b" / "checkpoints").latest())
    assert a["step"] == b["step"] == 6
    _assert_same(a["objects"], b["objects"], "objects")


def test_streaming_and_in_memory_train_alike_on_codec_rate_files(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    rows = [
        Utterance(f"u{i}", f"u{i}.wav", 0.4, SR, "hi.", "hi.", "s0", "en", "espeak", "train")
        for i in range(3)
    ]
    for i in range(3):
        _tone(corpus / f"u{i}.wav", SR, 0.4, seed=i)
    write_manifest(corpus / "manifest.parquet", rows)
    ckpts = []
    for mode in ("false", "true"):
        extra = ("data.audio_dir=null", f"data.manifest={corpus}", f"data.stream={mode}", "steps=3")
        train(load_config(CodecTrainConfig, None, tiny_run(tmp_path / mode, corpus, *extra)))
        ckpts.append(Checkpointer.read(Checkpointer(tmp_path / mode / "checkpoints").latest()))
    _assert_same(ckpts[0]["objects"], ckpts[1]["objects"], "objects")  # files at 44.1 kHz: bit for bit
