"""Training samples for the Dual-AR LM, in exactly the inference prompt format.

A :class:`Conversation` is what one training sample says: reference voices for the system turn
(transcript + codes of other utterances of the speakers) and one or more turns, each a text batch
(with its ``<|speaker:i|>`` tags and inline instructions such as ``[whisper]``) and the codes spoken
for it. :class:`SampleBuilder` encodes it with the *inference* :class:`~s2tts.text.prompt.PromptBuilder`
parts -- system turn, then per turn ``user_parts(text) + voice_parts(codes)`` -- so the columns up
to turn k's first frame are exactly ``PromptBuilder.build(text_k, references, history=turns[:k])``:
what the model is trained on is what it is prompted with (tests check this).

Each column also gets a *target kind* for the token that follows it (the label of column t is
column t + 1):

* ``IGNORE`` (0): the target is inside the system turn (instructions, reference transcripts,
  reference audio) -- never trained on, so the model does not learn to copy references (S2 §4.2);
  also the last column (nothing follows) and padding.
* ``TEXT`` (1): user-turn text and turn headers; trained only when the loss config asks for text
  loss (pre-training: next-token prediction over the whole interleaved stream).
* ``AUDIO`` (2): a semantic token of an assistant voice turn, or the ``<|im_end|>`` that closes it
  (the stop decision). The fast AR is trained at the AUDIO positions whose target is semantic.

Shapes: ``LMSample.values`` (1 + C, T) int64, ``kinds`` (T,) int64. :func:`collate` right-pads a
list into ``values`` (B, 1 + C, T_max) (pad token in row 0, zeros below) and ``kinds`` (B, T_max)
(0 on padding), and returns per-sample token counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from s2tts.errors import TrainingDataError
from s2tts.text.prompt import Part, PromptBuilder, Reference, TextPart

IGNORE, TEXT, AUDIO = 0, 1, 2

__all__ = ["AUDIO", "IGNORE", "TEXT", "Conversation", "LMSample", "SampleBuilder", "Turn", "collate"]


@dataclass(frozen=True, eq=False)
class Turn:
    """One text batch and the codes ``(C, n)`` spoken for it."""

    text: str
    codes: Tensor


@dataclass(frozen=True, eq=False)
class Conversation:
    """A training sample before encoding: system-turn references, then turns in order; ``language``
    (ISO 639-1) is what the prompt builder's text front end reads its text as (None = its default)."""

    turns: Sequence[Turn]
    references: Sequence[Reference] = field(default_factory=tuple)
    speaker: str = ""
    language: str | None = None


@dataclass(frozen=True, eq=False)
class LMSample:
    values: Tensor  # (1 + C, T) int64
    kinds: Tensor  # (T,) int64: target kind of column t (its label is column t + 1)

    @property
    def length(self) -> int:
        return int(self.values.shape[1])


class SampleBuilder:
    """Encodes :class:`Conversation` s with the inference prompt builder; ``max_len`` caps T."""

    def __init__(self, prompt: PromptBuilder, max_len: int | None = None) -> None:
        self.prompt = prompt
        self.max_len = max_len

    def parts(self, conv: Conversation) -> list[tuple[Part, int]]:
        """The prompt parts of ``conv`` with the kind of their columns as targets."""
        p = self.prompt
        if not conv.turns:
            raise TrainingDataError("a training conversation needs at least one turn")
        out: list[tuple[Part, int]] = [
            (part, IGNORE) for part in p.system_parts(conv.references, conv.language)
        ]
        for turn in conv.turns:
            if turn.codes.ndim != 2 or turn.codes.shape[1] < 1:
                raise TrainingDataError(
                    f"turn codes must be (C, n) with n >= 1, got {tuple(turn.codes.shape)}"
                )
            out += [(part, TEXT) for part in p.user_parts(turn.text, conv.language)]
            voice = p.voice_parts(turn.codes)  # header, codes, <|im_end|>\n
            out += [(voice[0], TEXT), (voice[1], AUDIO), (voice[2], AUDIO)]
        return out

    def build(self, conv: Conversation) -> LMSample:
        cols: list[Tensor] = []
        col_kinds: list[Tensor] = []
        tok = self.prompt.tokenizer
        for part, kind in self.parts(conv):
            encoded = self.prompt.encode_parts([part])
            k = torch.full((encoded.shape[1],), kind, dtype=torch.int64)
            if kind == AUDIO and isinstance(part, TextPart):
                # the closing "<|im_end|>\n": the stop token is an AUDIO target, the newline is text
                k[encoded[0] != tok.im_end_id] = TEXT
            cols.append(encoded)
            col_kinds.append(k)
        values = torch.cat(cols, dim=1)
        target_kind = torch.cat(col_kinds)
        # column t's label is column t + 1, so its kind is the next column's
        kinds = torch.cat([target_kind[1:], torch.zeros(1, dtype=torch.int64)])
        if self.max_len is not None and values.shape[1] > self.max_len:
            raise TrainingDataError(
                f"sample is {values.shape[1]} columns, longer than max_len {self.max_len}; "
                "use shorter references or fewer turns per sample"
            )
        return LMSample(values, kinds)

    def build_fitting(self, conv: Conversation) -> LMSample:
        """``build``, dropping the references and then trailing turns while the sample is longer
        than ``max_len`` (a too-long single turn still raises)."""
        try:
            return self.build(conv)
        except TrainingDataError:
            if self.max_len is None:
                raise
        if conv.references:
            conv = replace(conv, references=())
        while True:
            try:
                return self.build(conv)
            except TrainingDataError:
                if len(conv.turns) <= 1:
                    raise
                conv = _without_last_turn(conv)


def _without_last_turn(conv: Conversation) -> Conversation:
    return replace(conv, turns=conv.turns[:-1])


def collate(samples: Sequence[LMSample], pad_id: int) -> tuple[Tensor, Tensor]:
    """Right-pad: values (B, 1 + C, T_max), kinds (B, T_max) with IGNORE on padding."""
    if not samples:
        raise TrainingDataError("cannot collate an empty batch")
    rows = samples[0].values.shape[0]
    t_max = max(s.length for s in samples)
    values = torch.zeros(len(samples), rows, t_max, dtype=torch.int64)
    values[:, 0] = pad_id
    kinds = torch.zeros(len(samples), t_max, dtype=torch.int64)
    for i, s in enumerate(samples):
        values[i, :, : s.length] = s.values
        kinds[i, : s.length] = s.kinds
    return values, kinds
