"""S2 prompt format: text, reference voices and earlier output -> the LM input ``(1 + C, T)`` int64.

The prompt is a chat transcript. Every text part is tokenized on its own (special tokens matched inline) and
the id lists are concatenated; codes parts become audio frames. For C = 10 codebooks:

    <|im_start|>system\\n                                     one text part each, in this order
    convert the provided text to speech reference to the following:\\n\\nText:\\n
    <|speaker:0|>ref text 0\\n<|speaker:1|>ref text 1         (``<|speaker:i|>`` added when a text has none)
    \\n\\nSpeech:\\n
    [frames of all references, concatenated in time]
    <|im_end|>\\n
    -- per earlier batch (iterative prompt): --
    <|im_start|>user\\n | batch text | <|im_end|>\\n | <|im_start|>assistant\\n<|voice|> | [its frames] | <|im_end|>\\n
    -- the batch to generate: --
    <|im_start|>user\\n | batch text | <|im_end|>\\n | <|im_start|>assistant\\n<|voice|>

Without references the system turn is ``<|im_start|>system\\n`` | ``convert the provided text to speech`` |
``<|im_end|>\\n``.

Columns: a text token is ``[id, 0, ..., 0]``; an audio frame with codes c0..c9 is
``[semantic_begin_id + c0, c0, c1, ..., c9]`` (codebook 0 appears twice).

Long text: the text is split on ``<|speaker:N|>`` tags into turns (text before the first tag is dropped).
A turn whose text is longer than ``chunk_length`` UTF-8 bytes, and text without tags, is cut at sentence, then clause,
then word (then character) boundaries by ``s2tts.text.split`` (inline ``[tags]`` stay with the text they
precede; each piece of a cut turn keeps its ``<|speaker:N|>`` tag). The pieces are grouped into batches of
at most ``max_speakers`` turns and ``chunk_length`` bytes, joined with "\\n". Batch k's prompt is the system
turn, then batches 0..k-1 with their generated codes as assistant voice turns, then batch k. So each batch's
prompt starts with the previous batch's prompt followed by that batch's codes, and every prompt starts with
the system turn: ``system_prompt(references)`` is a reusable KV prefix (``IterativePrompt.prefix_len``).

When a batch's prompt would exceed ``IterativePrompt``'s ``max_len`` (by default the builder's
``max_prompt_len``), the oldest earlier batches are left out of it (the system turn and its references are
always kept); only a batch that does not fit even without history raises PromptTooLongError.

Text front end: the builder passes every user-turn text and reference transcript through the model's
:class:`~s2tts.text.frontend.TextFrontend` (the checkpoint's ``text_frontend``) right before tokenizing, so
training samples (built from these parts) and inference prompts read the same. With the default ``"text"``
front end the text is tokenized as written; with ``"espeak"`` plain text becomes IPA inside
``<|phoneme_start|>`` ... ``<|phoneme_end|>`` (tags and ``<|speaker:i|>`` stay as written). Splitting into
batches and frame budgets always work on the text as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from s2tts.errors import PromptError, PromptTooLongError
from s2tts.text.frontend import TextFrontend
from s2tts.text.split import DEFAULT_CHUNK_LENGTH, pack_pieces, split_text, utf8_len
from s2tts.text.tokenizer import S2Tokenizer

# Frame budget of one text batch (about 21.5 frames per second of audio): speech takes about one frame
# per UTF-8 byte of English text and fewer per byte of CJK text; tags such as [laugh] or [pause] need a
# few seconds whatever their length.
FRAMES_PER_BYTE = 4
MIN_BATCH_FRAMES = 100

SPEAKER_TAG = re.compile(r"<\|speaker:\d+\|>")

SYSTEM_HEADER = "<|im_start|>system\n"
SYSTEM_NO_REFERENCE = "convert the provided text to speech"
SYSTEM_WITH_REFERENCE = "convert the provided text to speech reference to the following:\n\nText:\n"
SPEECH_HEADER = "\n\nSpeech:\n"
USER_HEADER = "<|im_start|>user\n"
TURN_END = "<|im_end|>\n"
VOICE_HEADER = "<|im_start|>assistant\n<|voice|>"


@dataclass(frozen=True, eq=False)
class Reference:
    """A reference voice: its transcript and codec codes ``(num_codebooks, T)`` (int, T >= 1)."""

    text: str
    codes: Tensor

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise PromptError(f"reference text must be a str, got {type(self.text).__name__}")
        if not isinstance(self.codes, Tensor) or self.codes.ndim != 2:
            raise PromptError("reference codes must be a 2-D tensor (num_codebooks, T)")


@dataclass(frozen=True)
class TextPart:
    """Text tokenized on its own; special tokens inside are matched inline."""

    text: str


@dataclass(frozen=True, eq=False)
class CodesPart:
    """Audio frames: codes ``(num_codebooks, T)``."""

    codes: Tensor


Part = TextPart | CodesPart


# -- text splitting -------------------------------------------------------------------------------------


def split_turns(text: str) -> list[str]:
    """Speaker turns of ``text``: each starts with its ``<|speaker:N|>`` tag and is stripped.

    Text before the first tag is dropped. No tags -> ``[]``.
    """
    tags = list(SPEAKER_TAG.finditer(text))
    turns = []
    for i, tag in enumerate(tags):
        end = tags[i + 1].start() if i + 1 < len(tags) else len(text)
        turns.append((tag.group() + text[tag.end() : end]).strip())
    return turns


def split_batches(text: str, chunk_length: int, max_speakers: int = 5) -> list[str]:
    """Cut ``text`` into batches, each generated with one prompt (see the module docstring).

    A batch holds at most ``max_speakers`` turns and, unless it is a single piece, at most ``chunk_length``
    UTF-8 bytes of turn text (the "\\n" joins are not counted); turns are joined with "\\n". A turn is cut
    only when its text (after its speaker tag) is longer than ``chunk_length``; each piece then starts with
    the turn's tag.
    """
    if chunk_length < 1:
        raise PromptError(f"chunk_length must be >= 1, got {chunk_length}")
    if max_speakers < 1:
        raise PromptError(f"max_speakers must be >= 1, got {max_speakers}")
    turns = split_turns(text)
    if not turns:
        return split_text(text, chunk_length) or [text]
    pieces: list[str] = []
    for turn in turns:
        tag = SPEAKER_TAG.match(turn)
        assert tag is not None  # split_turns starts every turn with its tag
        body = turn[tag.end() :]
        if utf8_len(body) <= chunk_length:
            pieces.append(turn)
        else:
            pieces += [tag.group() + piece for piece in split_text(body, chunk_length)]
    return ["\n".join(group) for group in pack_pieces(pieces, chunk_length, max_speakers)]


# -- prompt building ------------------------------------------------------------------------------------


class PromptBuilder:
    """Builds S2 prompts as ``(1 + num_codebooks, T)`` int64 CPU tensors.

    Args:
        tokenizer: the checkpoint's tokenizer.
        num_codebooks: codebooks per audio frame (10 for S2).
        codebook_size: codes must lie in [0, codebook_size); codebook 0 also in [0, tokenizer.num_semantic).
            Defaults to ``tokenizer.num_semantic``.
        max_prompt_len: longest prompt allowed (e.g. the model's ``max_seq_len`` minus room to generate);
            None = unlimited.
        frontend: what user and reference text become before tokenizing (default: the text as written).
        language: language of the text for the front end (None = the front end's default); each method
            that takes text also takes a ``language`` for one call.
    """

    def __init__(
        self,
        tokenizer: S2Tokenizer,
        num_codebooks: int = 10,
        codebook_size: int | None = None,
        max_prompt_len: int | None = None,
        frontend: TextFrontend | None = None,
        language: str | None = None,
    ) -> None:
        if num_codebooks < 1:
            raise PromptError(f"num_codebooks must be >= 1, got {num_codebooks}")
        self.tokenizer = tokenizer
        self.num_codebooks = num_codebooks
        self.codebook_size = tokenizer.num_semantic if codebook_size is None else codebook_size
        self.max_prompt_len = max_prompt_len
        self.frontend = TextFrontend() if frontend is None else frontend
        self.language = language

    # -- parts ----------------------------------------------------------------------------------------

    def system_parts(self, references: Sequence[Reference] = (), language: str | None = None) -> list[Part]:
        """The system turn, with zero or more reference voices (transcripts through the front end)."""
        if not references:
            return [TextPart(SYSTEM_HEADER), TextPart(SYSTEM_NO_REFERENCE), TextPart(TURN_END)]
        texts = []
        for i, ref in enumerate(references):
            if not isinstance(ref, Reference):
                raise PromptError(f"reference {i} must be a Reference, got {type(ref).__name__}")
            if ref.codes.shape[-1] < 1:
                raise PromptError(f"reference {i} has no frames")
            self.check_codes(ref.codes, f"reference {i}")
            texts.append(ref.text if SPEAKER_TAG.search(ref.text) else f"<|speaker:{i}|>{ref.text}")
        codes = torch.cat([ref.codes.to("cpu", torch.int64) for ref in references], dim=1)
        texts = self.frontend.convert_many(texts, language or self.language)
        return [
            TextPart(SYSTEM_HEADER),
            TextPart(SYSTEM_WITH_REFERENCE),
            TextPart("\n".join(texts)),
            TextPart(SPEECH_HEADER),
            CodesPart(codes),
            TextPart(TURN_END),
        ]

    def user_parts(self, text: str, language: str | None = None) -> list[Part]:
        """A user turn holding one batch of text, through the front end (tags such as ``[whisper]`` pass
        through as text)."""
        return [
            TextPart(USER_HEADER),
            TextPart(self.frontend(text, language or self.language)),
            TextPart(TURN_END),
        ]

    @staticmethod
    def voice_parts(codes: Tensor) -> list[Part]:
        """A finished assistant voice turn holding generated codes ``(num_codebooks, T)``."""
        return [TextPart(VOICE_HEADER), CodesPart(codes), TextPart(TURN_END)]

    @staticmethod
    def generation_parts() -> list[Part]:
        """The open assistant voice turn that generation continues."""
        return [TextPart(VOICE_HEADER)]

    def continuation_parts(
        self, batch_text: str, history: Sequence[tuple[str, Tensor]] = (), language: str | None = None
    ) -> list[Part]:
        """Everything after the system turn: earlier batches with their codes, then ``batch_text``."""
        parts: list[Part] = []
        for text, codes in history:
            parts += self.user_parts(text, language) + self.voice_parts(codes)
        return parts + self.user_parts(batch_text, language) + self.generation_parts()

    def prompt_parts(
        self,
        batch_text: str,
        references: Sequence[Reference] = (),
        history: Sequence[tuple[str, Tensor]] = (),
        language: str | None = None,
    ) -> list[Part]:
        """All parts of the prompt for ``batch_text``, in order."""
        return self.system_parts(references, language) + self.continuation_parts(
            batch_text, history, language
        )

    # -- tensors --------------------------------------------------------------------------------------

    def encode_parts(self, parts: Sequence[Part]) -> Tensor:
        """Parts -> ``(1 + num_codebooks, T)`` int64: text columns ``[id, 0..0]``, frames ``[sem0 + c0, c]``."""
        columns = []
        for part in parts:
            if isinstance(part, TextPart):
                ids = torch.tensor(self.tokenizer.encode(part.text), dtype=torch.int64)
                col = torch.zeros(1 + self.num_codebooks, ids.numel(), dtype=torch.int64)
                col[0] = ids
            else:
                codes = self.check_codes(part.codes, "codes")
                col = torch.cat([codes[:1] + self.tokenizer.semantic_begin_id, codes], dim=0)
            columns.append(col)
        if not columns:
            return torch.zeros(1 + self.num_codebooks, 0, dtype=torch.int64)
        return torch.cat(columns, dim=1)

    def system_prompt(self, references: Sequence[Reference] = (), language: str | None = None) -> Tensor:
        """The system turn ``(1 + C, S)``: a prefix shared by every batch's prompt for these references."""
        return self.encode_parts(self.system_parts(references, language))

    def continuation(
        self, batch_text: str, history: Sequence[tuple[str, Tensor]] = (), language: str | None = None
    ) -> Tensor:
        """The columns after the system turn ``(1 + C, T - S)`` (see ``continuation_parts``)."""
        return self.encode_parts(self.continuation_parts(batch_text, history, language))

    def build(
        self,
        batch_text: str,
        references: Sequence[Reference] = (),
        history: Sequence[tuple[str, Tensor]] = (),
        language: str | None = None,
    ) -> Tensor:
        """The full prompt ``(1 + C, T)`` for ``batch_text``.

        ``history`` lists earlier batches as (batch text, generated codes ``(C, n)``), oldest first.
        Raises PromptTooLongError if T > max_prompt_len.
        """
        return self.join(
            self.system_prompt(references, language), self.continuation(batch_text, history, language)
        )

    def join(self, system: Tensor, continuation: Tensor) -> Tensor:
        """``system`` followed by ``continuation``, checked against ``max_prompt_len``."""
        prompt = torch.cat([system, continuation], dim=1)
        self.check_length(prompt.shape[1], prefix_len=system.shape[1])
        return prompt

    def check_length(self, length: int, prefix_len: int | None = None) -> None:
        """Raise PromptTooLongError if a prompt of ``length`` columns exceeds ``max_prompt_len``."""
        if self.max_prompt_len is not None and length > self.max_prompt_len:
            detail = "" if prefix_len is None else f" (system turn with references: {prefix_len})"
            raise PromptTooLongError(
                f"prompt is {length} tokens{detail}, longer than the limit of {self.max_prompt_len}; "
                "use shorter or fewer references, or a smaller chunk_length"
            )

    def check_codes(self, codes: Tensor, what: str) -> Tensor:
        """Validate codes ``(num_codebooks, T)`` and return them as int64 on CPU."""
        if not isinstance(codes, Tensor):
            raise PromptError(f"{what}: codes must be a torch.Tensor, got {type(codes).__name__}")
        if codes.dtype == torch.bool or codes.is_floating_point() or codes.is_complex():
            raise PromptError(f"{what}: codes must be an integer tensor, got {codes.dtype}")
        if codes.ndim != 2 or codes.shape[0] != self.num_codebooks:
            raise PromptError(
                f"{what}: codes must have shape ({self.num_codebooks}, T), got {tuple(codes.shape)}"
            )
        codes = codes.to("cpu", torch.int64)
        if codes.numel():
            lo, hi = int(codes.min()), int(codes.max())
            if lo < 0 or hi >= self.codebook_size:
                raise PromptError(f"{what}: codes must lie in [0, {self.codebook_size}), got [{lo}, {hi}]")
            hi0 = int(codes[0].max())
            if hi0 >= self.tokenizer.num_semantic:
                raise PromptError(
                    f"{what}: codebook-0 code {hi0} has no semantic token "
                    f"(tokenizer has {self.tokenizer.num_semantic})"
                )
        return codes


def too_long_hint(prefix_len: int, limit: int) -> str:
    """The fix for a prompt over ``limit`` whose system turn (with references) takes ``prefix_len``."""
    if prefix_len >= limit // 2:
        return "use shorter or fewer references"
    return "use a smaller chunk_length"


class IterativePrompt:
    """The reference's long-form flow: split ``text`` into batches and build each batch's prompt in turn.

    Usage::

        plan = IterativePrompt(builder, text, references, chunk_length=200)
        while not plan.done:
            prompt = plan.next_prompt()          # (1 + C, T); prompt[:, :plan.prefix_len] == plan.system
            codes = generate(prompt)             # (C, n) frames of this batch, stop token dropped
            plan.add_codes(codes)

    Each prompt is the previous one, then the previous batch's codes, ``<|im_end|>\\n`` and the next user
    turn, so an engine can keep its KV cache between batches (``reusable_len`` says how much of it). When
    that would make a prompt longer than ``max_len`` (default: the builder's ``max_prompt_len``), the oldest
    earlier batches are left out from then on; the system turn with its references always stays. Raises
    PromptTooLongError only when a batch with no earlier batch is over the builder's ``max_prompt_len``
    (``max_len`` is a target for leaving history out, not a limit).
    """

    def __init__(
        self,
        builder: PromptBuilder,
        text: str,
        references: Sequence[Reference] = (),
        chunk_length: int = DEFAULT_CHUNK_LENGTH,
        max_speakers: int = 5,
        max_len: int | None = None,
        language: str | None = None,
    ) -> None:
        if not text.strip():
            raise PromptError("text is empty")
        self.builder = builder
        self.language = language
        self.batches = split_batches(text, chunk_length, max_speakers)
        self.system = builder.system_prompt(references, language)
        self.max_len = builder.max_prompt_len if max_len is None else max_len
        self._history: list[tuple[str, Tensor]] = []
        self._columns: list[Tensor] = []  # each finished batch as prompt columns (user + voice turn)
        self._first_kept = 0  # history before this index is no longer in the prompt
        self._trimmed_batch = -1  # the last batch whose prompt left out more earlier batches
        self._reusable = self.prefix_len

    @property
    def prefix_len(self) -> int:
        """Columns of the system turn, the prefix every batch's prompt shares."""
        return self.system.shape[1]

    @property
    def batch_index(self) -> int:
        """Index of the batch ``next_prompt`` builds."""
        return len(self._history)

    @property
    def done(self) -> bool:
        return len(self._history) == len(self.batches)

    @property
    def history(self) -> tuple[tuple[str, Tensor], ...]:
        """Earlier batches in the current prompt, as (batch text, codes ``(C, n)``)."""
        return tuple(self._history[self._first_kept :])

    @property
    def dropped(self) -> int:
        """Earlier batches left out of the prompt so far to stay within ``max_len``."""
        return self._first_kept

    @property
    def reusable_len(self) -> int:
        """Leading columns of the prompt last returned by ``next_prompt`` that equal the previous batch's
        prompt followed by its codes: everything before the new user turn normally, only the system turn
        when this prompt left out more earlier batches than the previous one did."""
        return self._reusable

    def frame_limit(self, index: int | None = None) -> int:
        """Most frames batch ``index`` (default: the current one) may generate: ``FRAMES_PER_BYTE`` per UTF-8 byte of its text plus
        ``MIN_BATCH_FRAMES``, several times what speech of that text takes, so a model that never stops
        cannot turn a short text into unbounded work."""
        text = self.batches[self.batch_index if index is None else index]
        return MIN_BATCH_FRAMES + FRAMES_PER_BYTE * utf8_len(text)

    def next_prompt(self) -> Tensor:
        """Prompt ``(1 + C, T)`` for batch ``batch_index`` (same result until ``add_codes`` is called)."""
        if self.done:
            raise PromptError("all batches are done")
        current = self.builder.encode_parts(
            self.builder.user_parts(self.batches[self.batch_index], self.language)
            + self.builder.generation_parts()
        )
        fixed = self.prefix_len + current.shape[1]
        kept = sum(c.shape[1] for c in self._columns[self._first_kept :])
        while (
            self.max_len is not None and fixed + kept > self.max_len and self._first_kept < len(self._columns)
        ):
            kept -= self._columns[self._first_kept].shape[1]
            self._first_kept += 1
            self._trimmed_batch = self.batch_index
        hard = self.builder.max_prompt_len
        if hard is not None and fixed > hard:
            raise PromptTooLongError(
                f"text batch {self.batch_index + 1} needs a prompt of {fixed} tokens (system turn with "
                f"references: {self.prefix_len}), longer than the limit of {hard}; "
                + too_long_hint(self.prefix_len, hard)
            )
        trimmed = self._trimmed_batch == self.batch_index
        self._reusable = self.prefix_len if trimmed else self.prefix_len + kept
        return torch.cat([self.system, *self._columns[self._first_kept :], current], dim=1)

    def add_codes(self, codes: Tensor) -> None:
        """Record the codes ``(C, n)`` generated for the current batch; the next prompt will include them."""
        if self.done:
            raise PromptError("all batches are done")
        codes = self.builder.check_codes(codes, f"batch {self.batch_index}")
        text = self.batches[self.batch_index]
        self._history.append((text, codes))
        self._columns.append(
            self.builder.encode_parts(
                self.builder.user_parts(text, self.language) + self.builder.voice_parts(codes)
            )
        )
