"""Where LM training conversations come from, and the deterministic order they are consumed in.

Sources (``DataConfig.source``):

* ``synthetic``: a small generated fixture, no files: speakers with utterances whose codes are a
  fixed function of (text bytes, speaker), so a tiny model can learn text -> codes and overfit.
  The smoke config and the tests use it.
* ``shards``: a code shard directory of the data pipeline (``s2tts data run``), read through
  ``s2tts.data.dataset.CodesDataset`` (its speaker-grouped multi-turn packing and reference
  selection) and :mod:`s2tts.training.lm.shards`; validation on ``val_split``.
* ``jsonl``: a manifest, one JSON object per line ``{"text": ..., "speaker": ..., "codes": "x.npy"}``
  (codes ``(C, T)`` int .npy, path relative to the manifest); optional ``"split": "train"|"val"``.

Both become :class:`Utterance` lists; :func:`conversations` groups them by speaker into
conversations of ``turns_per_sample`` consecutive utterances (multi-turn, as S2's speaker-grouped
packing), each with probability ``reference_prob`` given another utterance of the same speaker as
its system-turn reference. Everything is seeded.

:class:`StepSampler` is the data position: the sample indices of optimizer step ``s`` are a pure
function of (seed, s, global batch), through a per-epoch permutation, so a resumed run reads
exactly the samples the interrupted one would have read (the checkpoint stores the step), and rank
r of world w takes every w-th slice of each micro-batch.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from s2tts.errors import TrainingDataError
from s2tts.text.prompt import Reference
from s2tts.text.split import DEFAULT_CHUNK_LENGTH
from s2tts.training.lm.samples import Conversation, Turn

__all__ = [
    "DataConfig",
    "StepSampler",
    "SyntheticConfig",
    "Utterance",
    "conversations",
    "load_utterances",
    "synthetic_utterances",
]

_WORDS = [
    "the",
    "a",
    "one",
    "two",
    "three",
    "red",
    "green",
    "blue",
    "cat",
    "dog",
    "bird",
    "runs",
    "jumps",
    "sings",
    "quickly",
    "slowly",
    "today",
    "tomorrow",
    "house",
    "river",
    "light",
    "dark",
    "small",
    "large",
    "happy",
    "quiet",
    "morning",
    "evening",
    "seven",
    "nine",
]


@dataclass(frozen=True)
class SyntheticConfig:
    speakers: int = 4
    utterances_per_speaker: int = 8
    min_words: int = 2
    max_words: int = 5
    frames_per_byte: int = 1
    code_vocab: int = 32  # codes drawn from [0, code_vocab): small, so tiny models learn fast
    seed: int = 0


@dataclass(frozen=True)
class DataConfig:
    source: Literal["synthetic", "jsonl", "shards"] = "synthetic"
    path: Path | None = None
    synthetic: SyntheticConfig = SyntheticConfig()
    turns_per_sample: int = 1
    reference_prob: float = 0.5
    val_fraction: float = 0.1
    max_len: int = 1024
    seed: int = 0
    # shards (s2tts.data code shards + CodesDataset packing)
    val_split: str = "heldout_text"
    multi_turn_prob: float = 0.3
    max_turns: int = 4
    max_frames: int = 2048
    chunk_length: int = DEFAULT_CHUNK_LENGTH  # the engine's text batch size: samples batched as at inference
    max_speakers: int = 5
    # Regroup the samples of this many consecutive steps by length (s2tts.training.lm.length_groups):
    # less padding, the same samples. 1: random batches.
    length_group_steps: int = 1


@dataclass(frozen=True, eq=False)
class Utterance:
    text: str
    codes: torch.Tensor  # (C, T) int64
    speaker: str
    split: str = "train"


def synthetic_utterances(cfg: SyntheticConfig, num_codebooks: int, codebook_size: int) -> list[Utterance]:
    """Deterministic fixture: codes of byte b of the text (speaker s, frame j, codebook k) are
    ``(b * (k + 1) + 7 * s + 3 * j) % code_vocab``."""
    vocab = min(cfg.code_vocab, codebook_size)
    rng = np.random.default_rng(cfg.seed)
    out = []
    for s in range(cfg.speakers):
        for _ in range(cfg.utterances_per_speaker):
            n = int(rng.integers(cfg.min_words, cfg.max_words + 1))
            text = " ".join(str(w) for w in rng.choice(_WORDS, size=n)).capitalize() + "."
            data = np.frombuffer(text.encode(), dtype=np.uint8).astype(np.int64)
            b = np.repeat(data, cfg.frames_per_byte)
            j = np.arange(b.size) % cfg.frames_per_byte
            k = np.arange(num_codebooks)[:, None]
            codes = (b[None] * (k + 1) + 7 * s + 3 * j[None]) % vocab
            out.append(Utterance(text, torch.from_numpy(codes), f"synth-{s}"))
    return out


def load_utterances(cfg: DataConfig, num_codebooks: int, codebook_size: int) -> list[Utterance]:
    if cfg.source == "synthetic":
        return synthetic_utterances(cfg.synthetic, num_codebooks, codebook_size)
    if cfg.path is None:
        raise TrainingDataError("data.path is required for data.source=jsonl")
    path = Path(cfg.path)
    if not path.is_file():
        raise TrainingDataError(f"training manifest not found: {path}")
    out = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            codes_path = path.parent / row["codes"]
            codes = np.load(codes_path, allow_pickle=False)
            text, speaker = str(row["text"]), str(row.get("speaker", "0"))
        except (json.JSONDecodeError, KeyError, OSError, ValueError) as exc:
            raise TrainingDataError(f"{path}:{i}: bad manifest row ({exc})") from exc
        if codes.ndim != 2 or codes.shape[0] != num_codebooks or not np.issubdtype(codes.dtype, np.integer):
            raise TrainingDataError(
                f"{codes_path}: codes must be integer ({num_codebooks}, T), got {codes.shape}"
            )
        if codes.size and (codes.min() < 0 or codes.max() >= codebook_size):
            raise TrainingDataError(f"{codes_path}: codes outside [0, {codebook_size})")
        out.append(
            Utterance(text, torch.from_numpy(codes.astype(np.int64)), speaker, row.get("split", "train"))
        )
    if not out:
        raise TrainingDataError(f"training manifest {path} is empty")
    return out


def conversations(
    utts: Sequence[Utterance], cfg: DataConfig
) -> tuple[list[Conversation], list[Conversation]]:
    """(train, val) conversations: per speaker, consecutive groups of ``turns_per_sample`` utterances."""
    if cfg.turns_per_sample < 1:
        raise TrainingDataError("turns_per_sample must be >= 1")
    rng = np.random.default_rng(cfg.seed)
    by_speaker: dict[str, list[Utterance]] = defaultdict(list)
    for u in utts:
        by_speaker[u.speaker].append(u)
    train: list[Conversation] = []
    val: list[Conversation] = []
    explicit_splits = any(u.split != "train" for u in utts)
    for speaker in sorted(by_speaker):
        group = by_speaker[speaker]
        for start in range(0, len(group), cfg.turns_per_sample):
            chunk = group[start : start + cfg.turns_per_sample]
            refs: tuple[Reference, ...] = ()
            others = [u for u in group if all(u is not c for c in chunk)]
            if others and rng.random() < cfg.reference_prob:
                ref = others[int(rng.integers(len(others)))]
                refs = (Reference(ref.text, ref.codes),)
            conv = Conversation([Turn(u.text, u.codes) for u in chunk], refs, speaker)
            if explicit_splits:
                is_val = any(u.split != "train" for u in chunk)
            else:
                is_val = bool(rng.random() < cfg.val_fraction)
            (val if is_val else train).append(conv)
    if not train:
        raise TrainingDataError("no training conversations (all went to validation?)")
    return train, val


class ListConversations:
    """In-memory conversations with the ``get(index, epoch)`` interface of the shard source."""

    def __init__(self, items: Sequence[Conversation]) -> None:
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def get(self, index: int, epoch: int = 0) -> Conversation:
        return self.items[index]


def load_sources(cfg: DataConfig, num_codebooks: int, codebook_size: int) -> tuple[Any, Any]:
    """(train, val) conversation sources, each with ``len()`` and ``get(index, epoch)``."""
    if cfg.source == "shards":
        from s2tts.training.lm.shards import ShardConversations

        if cfg.path is None or not Path(cfg.path).is_dir():
            raise TrainingDataError(f"data.path must be a code shard directory, got {cfg.path}")
        train = ShardConversations(Path(cfg.path), cfg, "train")
        if train.num_codebooks != num_codebooks:
            raise TrainingDataError(
                f"the shards hold {train.num_codebooks} codebooks, the model {num_codebooks}"
            )
        try:
            val: Any = ShardConversations(Path(cfg.path), cfg, cfg.val_split)
        except TrainingDataError:
            val = ListConversations([])
        return train, val
    train_list, val_list = conversations(load_utterances(cfg, num_codebooks, codebook_size), cfg)
    return ListConversations(train_list), ListConversations(val_list)


class StepSampler:
    """Sample indices per (step, micro-batch, rank): a pure function of the step (exact resume)."""

    def __init__(
        self, num_samples: int, batch_size: int, grad_accum: int, world_size: int, seed: int
    ) -> None:
        if num_samples < 1:
            raise TrainingDataError("no training samples")
        self.n = num_samples
        self.batch_size = batch_size
        self.grad_accum = grad_accum
        self.world_size = world_size
        self.seed = seed
        self._perm: tuple[int, torch.Tensor] | None = None

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.grad_accum * self.world_size

    def _permutation(self, epoch: int) -> torch.Tensor:
        if self._perm is None or self._perm[0] != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = (epoch, torch.randperm(self.n, generator=g))
        return self._perm[1]

    def positions(self, step: int, micro: int, rank: int) -> list[tuple[int, int]]:
        """(sample index, epoch) pairs of this step's micro-batch ``micro`` on ``rank``."""
        start = step * self.global_batch + (micro * self.world_size + rank) * self.batch_size
        return [
            (int(self._permutation(i // self.n)[i % self.n]), i // self.n)
            for i in range(start, start + self.batch_size)
        ]

    def indices(self, step: int, micro: int, rank: int) -> list[int]:
        return [i for i, _ in self.positions(step, micro, rank)]
