"""Adapter from the data pipeline's code shards (``s2tts.data``) to LM training conversations.

``ShardConversations(path, cfg, split)`` wraps :class:`s2tts.data.dataset.CodesDataset` (speaker-
grouped packing into multi-turn samples, a reference utterance per speaker, reproducible by
(seed, epoch, index)) and turns each of its samples into a :class:`Conversation` laid out as the
engine lays out a long text at inference:

* each reference becomes a system-turn reference ``<|speaker:i|>text`` with its codes;
* a single-utterance sample is one turn (its text as written, inline tags kept);
* a multi-turn sample's speaker turns are written ``<|speaker:i|>text`` and grouped into text
  batches by ``s2tts.text.split.pack_pieces`` -- the packing ``split_batches`` applies -- with the
  engine's ``chunk_length`` and ``max_speakers``; each batch is one user turn + one voice turn
  holding the codes of its speaker turns, in order. These are exactly the batches
  ``IterativePrompt`` makes of that text whenever no single turn is longer than ``chunk_length``
  bytes; a longer turn stays whole here (its audio cannot be cut at a text boundary without word
  alignments), where inference would cut it into several batches.

Turns whose codes are empty are dropped. ``get(index, epoch)`` is what the step sampler calls.
"""

from __future__ import annotations

from pathlib import Path

import torch

from s2tts.errors import TrainingDataError
from s2tts.text.prompt import SPEAKER_TAG, Reference
from s2tts.text.split import DEFAULT_CHUNK_LENGTH, pack_pieces
from s2tts.training.lm.samples import Conversation, Turn

__all__ = ["ShardConversations", "to_conversation"]


def to_conversation(sample, chunk_length: int = DEFAULT_CHUNK_LENGTH, max_speakers: int = 5) -> Conversation:
    """A ``s2tts.data.dataset.Sample`` -> :class:`Conversation` (see module docstring)."""
    refs = tuple(
        Reference(f"<|speaker:{r.speaker_index}|>{r.text}", torch.from_numpy(r.codes).long())
        for r in sample.references
    )
    turns = [t for t in sample.turns if t.codes.shape[1] > 0]
    if not turns:
        raise TrainingDataError(f"sample {sample.ids} has no frames")
    if len(turns) == 1 and len(sample.turns) == 1:
        return Conversation(
            [Turn(turns[0].text, torch.from_numpy(turns[0].codes).long())],
            refs,
            sample.speaker,
            sample.language,
        )
    texts = [f"<|speaker:{t.speaker_index}|>{t.text.strip()}" for t in turns]
    if any(len(SPEAKER_TAG.findall(x)) != 1 for x in texts):
        raise TrainingDataError(f"sample {sample.ids}: a turn text holds its own speaker tag")
    out, k = [], 0
    for group in pack_pieces(texts, chunk_length, max_speakers):
        n = len(group)
        codes = torch.cat([torch.from_numpy(t.codes).long() for t in turns[k : k + n]], dim=1)
        out.append(Turn("\n".join(group), codes))
        k += n
    if k != len(turns):
        raise TrainingDataError(f"sample {sample.ids}: batches cover {k} of {len(turns)} turns")
    return Conversation(out, refs, sample.speaker, sample.language)


class ShardConversations:
    """Conversations from a shard directory; ``get(index, epoch)``, ``len()``."""

    def __init__(self, path: Path, cfg, split: str) -> None:
        from s2tts.data.dataset import CodesDataset, DatasetConfig
        from s2tts.data.manifest import ManifestError

        try:
            self.dataset = CodesDataset(
                path,
                DatasetConfig(
                    split=split,
                    multi_turn_prob=cfg.multi_turn_prob,
                    max_turns=cfg.max_turns,
                    max_frames=cfg.max_frames,
                    reference_prob=cfg.reference_prob,
                    seed=cfg.seed,
                ),
            )
        except ManifestError as exc:
            raise TrainingDataError(str(exc)) from exc
        self.chunk_length = cfg.chunk_length
        self.max_speakers = cfg.max_speakers

    @property
    def num_codebooks(self) -> int:
        return int(self.dataset.reader.codes(self.dataset.rows[0]).shape[0])

    def __len__(self) -> int:
        return len(self.dataset)

    def texts(self) -> list[tuple[str, str]]:
        """(text, language) of every utterance of this split (what samples are made of)."""
        reader = self.dataset.reader
        out = []
        for i in self.dataset.rows:
            utt, language = reader.utterance(i), reader.rows[i]["language"]
            if utt.turns:  # a dialogue's samples hold its turns' texts, not the whole text
                out += [(utt.text[t.char_start : t.char_end].strip(), language) for t in utt.turns]
            else:
                out.append((utt.text, language))
        return out

    def get(self, index: int, epoch: int = 0) -> Conversation:
        self.dataset.set_epoch(epoch)
        return to_conversation(self.dataset[index], self.chunk_length, self.max_speakers)
