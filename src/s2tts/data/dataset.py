"""Training views of prepared data: LM samples from code shards, raw audio crops for the codec.

LM trainer::

    from s2tts.data.dataset import CodesDataset, DatasetConfig
    ds = CodesDataset("prepared/shards", DatasetConfig(split="train", seed=0))
    ds.set_epoch(epoch)                 # new packing and references each epoch, reproducible
    sample = ds[i]                      # a Sample
    sample.text                         # "[whisper] words" or "<|speaker:0|>...<|speaker:1|>..."
    sample.codes                        # (K, T) int64: every turn's codes, in order
    sample.turns                        # per turn: speaker_index, speaker_id, text, codes (K, T_j)
    sample.references                   # per speaker in the sample (when it has another
                                        # utterance): speaker_index, speaker_id, text, codes (K, T_r)
    sample.tags, sample.speaker         # tag spans (single-utterance samples), first speaker's id

Item ``i`` is built around the i-th utterance of the split. With probability ``multi_turn_prob`` it
is packed with utterances of one or two other speakers (and sometimes the same speaker again) into a
multi-turn sample of at most ``max_turns`` turns and ``max_frames`` frames, alternating speakers
as a dialogue does. A manifest dialogue (kind "dialogue") is already multi-turn; its codes are cut
per turn at the turn times. The reference of each speaker is another utterance of the same speaker
that is not in the sample (none if it has no other utterance), kept with ``reference_prob``.
Randomness comes from ``numpy.random.default_rng((seed, epoch, i))``: the same (seed, epoch, i)
gives the same sample in any worker.

Codec trainer::

    from s2tts.data.dataset import AudioCropDataset
    crops = AudioCropDataset("corpus/manifest.parquet", crop_seconds=1.0, split="train", seed=0)
    crops[i]                            # (n,) float32 at 44.1 kHz, n = round(crop_seconds * 44100)

Both are ``torch.utils.data.Dataset``s (map-style) and hold no torch state.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from s2tts.audio import downmix, read_audio_window, resample
from s2tts.data.manifest import ManifestError, TagSpan, Utterance, read_manifest
from s2tts.data.shards import ShardReader


@dataclass(frozen=True)
class DatasetConfig:
    split: str | tuple[str, ...] = "train"
    multi_turn_prob: float = 0.3
    max_turns: int = 4
    max_frames: int = 2048
    reference_prob: float = 0.9
    seed: int = 0


@dataclass(frozen=True)
class SampleTurn:
    speaker_index: int
    speaker_id: str
    text: str
    codes: np.ndarray  # (K, T_j)


@dataclass(frozen=True)
class Reference:
    speaker_index: int
    speaker_id: str
    text: str
    codes: np.ndarray  # (K, T_r)


@dataclass(frozen=True)
class Sample:
    ids: tuple[str, ...]
    turns: tuple[SampleTurn, ...]
    references: tuple[Reference, ...]
    tags: tuple[TagSpan, ...]
    language: str

    @property
    def speaker(self) -> str:
        return self.turns[0].speaker_id

    @property
    def multi_turn(self) -> bool:
        return len(self.turns) > 1

    @property
    def text(self) -> str:
        if not self.multi_turn:
            return self.turns[0].text
        return "".join(f"<|speaker:{t.speaker_index}|>{t.text}" for t in self.turns)

    @property
    def codes(self) -> np.ndarray:
        return np.concatenate([t.codes for t in self.turns], axis=1)


class CodesDataset(torch.utils.data.Dataset):
    """LM training samples from a shard directory (see module docstring)."""

    def __init__(self, shards: str | Path, config: DatasetConfig = DatasetConfig()) -> None:
        self.reader = ShardReader(shards)
        self.config = config
        splits = (config.split,) if isinstance(config.split, str) else tuple(config.split)
        self.rows = [i for i, r in enumerate(self.reader.rows) if r["split"] in splits]
        if not self.rows:
            raise ManifestError(f"no utterances of split {config.split!r} in {shards}")
        self.frame_rate = float(self.reader.codec_info.get("frame_rate", 44100 / 2048))
        self.epoch = 0
        self._by_speaker: dict[str, list[int]] = defaultdict(list)
        for i in self.rows:
            row = self.reader.rows[i]
            if row["kind"] == "single":
                self._by_speaker[row["speaker_id"]].append(i)
        self._singles = [i for i in self.rows if self.reader.rows[i]["kind"] == "single"]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> Sample:
        cfg = self.config
        rng = np.random.default_rng((cfg.seed, self.epoch, i))
        anchor = self.rows[i]
        row = self.reader.rows[anchor]
        if row["kind"] == "dialogue":
            turns = self._dialogue_turns(anchor)
            ids = [row["id"]]
        elif rng.random() < cfg.multi_turn_prob and len(self._by_speaker) > 1:
            ids, turns = self._pack(anchor, rng)
        else:
            utt = self.reader.utterance(anchor)
            turns = [SampleTurn(0, utt.speaker_id, utt.text, self.reader.codes(anchor))]
            ids = [utt.id]
        tags = self.reader.utterance(anchor).tags if len(turns) == 1 else ()
        refs = self._references(turns, set(ids), rng)
        return Sample(tuple(ids), tuple(turns), refs, tags, row["language"])

    def _dialogue_turns(self, index: int) -> list[SampleTurn]:
        utt = self.reader.utterance(index)
        codes = self.reader.codes(index)
        bounds = [round(t.start_s * self.frame_rate) for t in utt.turns[1:]]
        pieces = np.split(codes, [min(b, codes.shape[1]) for b in bounds], axis=1)
        return [
            SampleTurn(t.speaker_index, t.speaker_id, utt.text[t.char_start : t.char_end], c)
            for t, c in zip(utt.turns, pieces, strict=True)
        ]

    def _pack(self, anchor: int, rng: np.random.Generator) -> tuple[list[str], list[SampleTurn]]:
        cfg = self.config
        first = self.reader.rows[anchor]["speaker_id"]
        others = [s for s in self._by_speaker if s != first]
        n_spk = 2 if len(others) < 2 or rng.random() < 0.7 else 3
        speakers = [first, *[others[int(j)] for j in rng.choice(len(others), n_spk - 1, replace=False)]]
        n_turns = int(rng.integers(2, cfg.max_turns + 1))
        chosen, used, frames = [anchor], {anchor}, self.reader.rows[anchor]["frames"]
        last = 0  # index in speakers of the last turn's speaker: the next turn is someone else
        for _ in range(n_turns - 1):
            who = (last + 1 + int(rng.integers(0, len(speakers) - 1))) % len(speakers)
            pool = [j for j in self._by_speaker[speakers[who]] if j not in used]
            if not pool:
                continue
            last = who
            j = pool[int(rng.integers(len(pool)))]
            if frames + self.reader.rows[j]["frames"] > cfg.max_frames:
                break
            chosen.append(j)
            used.add(j)
            frames += self.reader.rows[j]["frames"]
        order: dict[str, int] = {}
        turns = []
        for j in chosen:
            utt = self.reader.utterance(j)
            idx = order.setdefault(utt.speaker_id, len(order))
            turns.append(SampleTurn(idx, utt.speaker_id, utt.text, self.reader.codes(j)))
        return [self.reader.rows[j]["id"] for j in chosen], turns

    def _references(self, turns: list[SampleTurn], ids: set[str], rng: np.random.Generator) -> tuple:
        refs = []
        for idx, spk in sorted({(t.speaker_index, t.speaker_id) for t in turns}):
            pool = [j for j in self._by_speaker.get(spk, []) if self.reader.rows[j]["id"] not in ids]
            if not pool or rng.random() >= self.config.reference_prob:
                continue
            j = pool[int(rng.integers(len(pool)))]
            refs.append(Reference(idx, spk, self.reader.rows[j]["plain_text"], self.reader.codes(j)))
        return tuple(refs)


class AudioCropDataset(torch.utils.data.Dataset):
    """Fixed-length raw audio crops for codec training: item i is a crop of utterance i."""

    def __init__(self, manifest: str | Path, crop_seconds: float = 1.0, split: str = "train",
                 sample_rate: int = 44100, seed: int = 0) -> None:  # fmt: skip
        path = Path(manifest)
        self.root = path if path.is_dir() else path.parent
        self.utterances: list[Utterance] = [u for u in read_manifest(path) if u.split == split]
        if not self.utterances:
            raise ManifestError(f"no utterances of split {split!r} in {manifest}")
        self.crop = round(crop_seconds * sample_rate)
        self.sample_rate, self.seed, self.epoch = sample_rate, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, i: int) -> np.ndarray:
        utt = self.utterances[i]
        rng = np.random.default_rng((self.seed, self.epoch, i))
        audio, rate = read_audio_window(self.root / utt.path, self.crop, self.sample_rate, rng)
        x = downmix(audio)
        if rate != self.sample_rate:
            x = resample(x, rate, self.sample_rate)
        out = np.zeros(self.crop, dtype=np.float32)
        out[: min(self.crop, x.size)] = x[: self.crop]
        return out
