"""The training views: LM samples from code shards, raw audio crops for the codec."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from s2tts.data.dataset import AudioCropDataset, CodesDataset, DatasetConfig
from s2tts.data.manifest import read_manifest
from s2tts.data.shards import ShardReader


def test_single_samples_carry_text_codes_speaker_tags_and_reference(synth_prepared: Path) -> None:
    ds = CodesDataset(synth_prepared / "shards", DatasetConfig(multi_turn_prob=0.0, reference_prob=1.0))
    reader = ShardReader(synth_prepared / "shards")
    assert len(ds) == sum(r["split"] == "train" for r in reader.rows)
    for i in range(len(ds)):
        s = ds[i]
        row = reader.rows[ds.rows[i]]
        if row["kind"] == "dialogue":
            continue
        assert s.text == row["text"] and s.speaker == row["speaker_id"]
        assert s.codes.shape == (10, row["frames"]) and s.codes.dtype == np.int64
        assert [t.tag for t in s.tags] == [t["tag"] for t in row["tags"]]
        same = [
            r
            for r in reader.rows
            if r["speaker_id"] == s.speaker
            and r["id"] != row["id"]
            and r["split"] == "train"
            and r["kind"] == "single"
        ]
        if same:
            (ref,) = s.references
            assert ref.speaker_id == s.speaker and ref.text in {r["plain_text"] for r in same}
        else:
            assert s.references == ()


def test_dialogue_rows_become_turns_cut_at_the_turn_times(synth_prepared: Path) -> None:
    ds = CodesDataset(synth_prepared / "shards", DatasetConfig(multi_turn_prob=0.0))
    dialogues = [i for i in range(len(ds)) if ds.reader.rows[ds.rows[i]]["kind"] == "dialogue"]
    assert dialogues
    for i in dialogues:
        s = ds[i]
        row = ds.reader.rows[ds.rows[i]]
        assert s.multi_turn and s.text == row["text"]
        assert sum(t.codes.shape[1] for t in s.turns) == row["frames"]
        for turn, meta in zip(s.turns, row["turns"], strict=True):
            assert abs(turn.codes.shape[1] / ds.frame_rate - (meta["end_s"] - meta["start_s"])) < 0.8


def test_packing_groups_speakers_into_turns_within_the_frame_budget(synth_prepared: Path) -> None:
    cfg = DatasetConfig(multi_turn_prob=1.0, max_turns=4, max_frames=600, seed=1)
    ds = CodesDataset(synth_prepared / "shards", cfg)
    packed = [ds[i] for i in range(len(ds)) if ds.reader.rows[ds.rows[i]]["kind"] == "single"]
    multi = [s for s in packed if s.multi_turn]
    assert len(multi) > len(packed) // 2
    for s in multi:
        assert s.codes.shape[1] <= 600 or len(s.turns) == 1
        assert s.text.startswith("<|speaker:0|>")
        assert all(a.speaker_id != b.speaker_id for a, b in zip(s.turns, s.turns[1:], strict=False))
        idx = {t.speaker_id: t.speaker_index for t in s.turns}
        assert sorted(idx.values()) == list(range(len(idx)))
        for ref in s.references:
            assert idx[ref.speaker_id] == ref.speaker_index and ref.text not in {t.text for t in s.turns}


def test_samples_are_reproducible_by_seed_and_change_with_epoch(synth_prepared: Path) -> None:
    cfg = DatasetConfig(multi_turn_prob=0.5, seed=3)
    a, b = CodesDataset(synth_prepared / "shards", cfg), CodesDataset(synth_prepared / "shards", cfg)
    assert [a[i].ids for i in range(len(a))] == [b[i].ids for i in range(len(b))]
    b.set_epoch(1)
    assert [a[i].ids for i in range(len(a))] != [b[i].ids for i in range(len(b))]


def test_heldout_splits_are_separate(synth_prepared: Path) -> None:
    train = CodesDataset(synth_prepared / "shards", DatasetConfig(split="train"))
    held = CodesDataset(synth_prepared / "shards", DatasetConfig(split="heldout_speaker"))
    train_speakers = {train.reader.rows[i]["speaker_id"] for i in train.rows}
    assert held.rows and not {held.reader.rows[i]["speaker_id"] for i in held.rows} & train_speakers


def test_audio_crops_have_fixed_length_and_come_from_the_file(small_corpus: Path) -> None:
    crops = AudioCropDataset(small_corpus / "manifest.parquet", crop_seconds=0.5, seed=0)
    x = crops[0]
    assert x.shape == (22050,) and x.dtype == np.float32 and np.abs(x).max() > 0.01
    import soundfile as sf

    full, _ = sf.read(small_corpus / crops.utterances[0].path, dtype="float32")
    windows = np.lib.stride_tricks.sliding_window_view(full, 64)
    start = int(np.argmin(np.abs(windows - x[1000:1064]).sum(axis=1))) - 1000
    assert np.allclose(full[start : start + 22050], x, atol=1e-4)
    assert np.array_equal(crops[0], x)
    crops.set_epoch(1)
    assert not np.array_equal(crops[0], x)


def test_empty_split_is_a_typed_error(synth_prepared: Path) -> None:
    from s2tts.data.manifest import ManifestError

    with pytest.raises(ManifestError):
        CodesDataset(synth_prepared / "shards", DatasetConfig(split="nope"))
    assert read_manifest(synth_prepared)  # the pipeline's own manifest reads back
