"""S2 tokenizer: a byte-level BPE (Qwen3's, in the released model) plus S2's control and semantic tokens.

What S2 adds to the base BPE, in this relative order (ids of the released s2-pro checkpoint in brackets):

    <|endoftext|> [151643]  <|im_start|> [151644]  <|im_end|> [151645]  <|pad|> [151669]
    <|phoneme_start|> <|phoneme_end|> <|text|> <|voice|> <|interleave|> <|audio_start|> <|audio_end|>
                                                                                        [151670..151676]
    <|audio_pad|> [151677]  <|semantic:0|> .. <|semantic:4095|> [151678..155773]

The first three already exist in Qwen3's vocab (ids 151643..151645, with Qwen's other added tokens up to
151668), so appending the rest in order lands every token at S2's id.

The semantic tokens carry codebook 0 of the codec in the main row of the LM input: the token for code ``c``
is ``semantic_begin_id + c``. ``semantic_begin_id`` / ``semantic_end_id`` are read from the vocab (min / max
id of the ``<|semantic:i|>`` tokens; they win over any value in a model config) and must be contiguous and
ordered by code. ``<|speaker:i|>`` is *not* a special token: it is ordinary BPE text.

Text is encoded without BOS/EOS (``add_special_tokens=False``) and with special tokens matched inline, as the
reference does. This module uses only the ``tokenizers`` library, never ``transformers``.

Public API:
    S2Tokenizer                         wraps a ``tokenizers.Tokenizer``; ids of S2's tokens as properties
    add_s2_special_tokens(tok, n, ids)  a copy of a base tokenizer with S2's tokens appended / placed
    s2_pro_token_ids(num_semantic)      the released checkpoint's ids, for ``add_s2_special_tokens``
    make_byte_tokenizer(num_semantic)   tiny deterministic byte-level tokenizer for random test checkpoints
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

from s2tts.errors import CodesError, TokenizerError

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
PAD = "<|pad|>"
VOICE = "<|voice|>"

# S2's control tokens in the order they occupy in the vocab (semantic tokens follow them).
S2_SPECIAL_TOKENS: tuple[str, ...] = (
    ENDOFTEXT,
    IM_START,
    IM_END,
    PAD,
    "<|phoneme_start|>",
    "<|phoneme_end|>",
    "<|text|>",
    VOICE,
    "<|interleave|>",
    "<|audio_start|>",
    "<|audio_end|>",
    "<|audio_pad|>",
)
_REQUIRED = (IM_START, IM_END, VOICE)
_SEMANTIC_RE = re.compile(r"<\|semantic:(\d+)\|>")

# The Qwen2/Qwen3 pre-tokenizer split (contractions, letter runs, single digits, punctuation, whitespace).
_QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def semantic_token(code: int) -> str:
    """The token string for codebook-0 code ``code``: ``<|semantic:code|>``."""
    return f"<|semantic:{code}|>"


class S2Tokenizer:
    """A ``tokenizers.Tokenizer`` that holds S2's control tokens and a contiguous semantic-token range.

    Construction validates the vocab: ``<|im_start|>``, ``<|im_end|>``, ``<|voice|>`` and at least one
    ``<|semantic:i|>`` must exist, and the semantic ids must be ``semantic_begin_id + i`` for i = 0..n-1.
    Raises TokenizerError otherwise.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tok = tokenizer
        missing = [t for t in _REQUIRED if tokenizer.token_to_id(t) is None]
        if missing:
            raise TokenizerError(f"tokenizer lacks S2 special token(s): {', '.join(missing)}")
        self._im_start = _require_id(tokenizer, IM_START)
        self._im_end = _require_id(tokenizer, IM_END)
        self._voice = _require_id(tokenizer, VOICE)
        pad = tokenizer.token_to_id(PAD)
        if pad is None:
            pad = tokenizer.token_to_id(ENDOFTEXT)
        self._pad = self._im_end if pad is None else pad
        self._sem_begin, self._sem_end = _semantic_range(tokenizer)

    # -- construction / persistence -------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path) -> S2Tokenizer:
        """Load a ``tokenizer.json`` file."""
        path = Path(path)
        if not path.is_file():
            raise TokenizerError(f"tokenizer file not found: {path}")
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as e:  # the Rust side raises a plain Exception on bad JSON
            raise TokenizerError(f"cannot read tokenizer file {path}: {e}") from e
        return cls(tok)

    @classmethod
    def from_dir(cls, path: str | Path) -> S2Tokenizer:
        """Load ``<path>/tokenizer.json`` (a checkpoint directory)."""
        path = Path(path)
        file = path / "tokenizer.json"
        if not file.is_file():
            raise TokenizerError(f"no tokenizer.json in {path}")
        return cls.from_file(file)

    def save(self, path: str | Path) -> None:
        """Write ``tokenizer.json`` and a minimal ``tokenizer_config.json`` into directory ``path``.

        The config is enough for ``transformers.AutoTokenizer`` (fast tokenizer, ``<|im_end|>`` as EOS).
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._tok.save(str(path / "tokenizer.json"))
        config = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "eos_token": IM_END,
            "pad_token": self.id_to_token(self._pad),
            "bos_token": None,
            "unk_token": None,
            "clean_up_tokenization_spaces": False,
        }
        (path / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")

    # -- encoding -------------------------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``: no BOS/EOS added; special tokens written inline are matched as tokens."""
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        """Text of ``ids`` (special tokens kept unless ``skip_special_tokens``)."""
        return self._tok.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def token_to_id(self, token: str) -> int | None:
        """Id of ``token`` (base or added), or None."""
        return self._tok.token_to_id(token)

    def id_to_token(self, token_id: int) -> str | None:
        """Token string of ``token_id`` (byte-level symbols, e.g. ``Ġthe``), or None."""
        return self._tok.id_to_token(token_id)

    def semantic_id(self, code: int) -> int:
        """Main-row token id of codebook-0 code ``code``: ``semantic_begin_id + code``."""
        if not 0 <= code < self.num_semantic:
            raise CodesError(f"semantic code {code} out of range [0, {self.num_semantic})")
        return self._sem_begin + code

    # -- ids ------------------------------------------------------------------------------------------

    @property
    def backend(self) -> Tokenizer:
        """The wrapped ``tokenizers.Tokenizer`` (do not add tokens to it; ids here would go stale)."""
        return self._tok

    @property
    def im_start_id(self) -> int:
        return self._im_start

    @property
    def im_end_id(self) -> int:
        """``<|im_end|>``: ends every turn; the LM's stop token."""
        return self._im_end

    @property
    def voice_id(self) -> int:
        """``<|voice|>``: modality token opening an assistant voice turn."""
        return self._voice

    @property
    def pad_id(self) -> int:
        """``<|pad|>``, else ``<|endoftext|>``, else ``<|im_end|>``."""
        return self._pad

    @property
    def semantic_begin_id(self) -> int:
        """Id of ``<|semantic:0|>``."""
        return self._sem_begin

    @property
    def semantic_end_id(self) -> int:
        """Id of the last semantic token (inclusive)."""
        return self._sem_end

    @property
    def num_semantic(self) -> int:
        """Number of semantic tokens (= codebook-0 size the tokenizer can express)."""
        return self._sem_end - self._sem_begin + 1

    @property
    def vocab_size(self) -> int:
        """Ids in use, base + added (max id + 1 for a gap-free vocab). A model's embedding may be larger."""
        return self._tok.get_vocab_size(with_added_tokens=True)

    def __repr__(self) -> str:
        return (
            f"S2Tokenizer(vocab_size={self.vocab_size}, semantic=[{self._sem_begin}, {self._sem_end}], "
            f"im_end={self._im_end}, voice={self._voice})"
        )


def _require_id(tok: Tokenizer, token: str) -> int:
    token_id = tok.token_to_id(token)
    if token_id is None:
        raise TokenizerError(f"tokenizer lacks {token}")
    return token_id


def _semantic_range(tok: Tokenizer) -> tuple[int, int]:
    """(begin, end) ids of the ``<|semantic:i|>`` tokens; they must be begin + i for i = 0..n-1."""
    found: dict[int, int] = {}
    for token, token_id in tok.get_vocab(with_added_tokens=True).items():
        if token.startswith("<|semantic:"):
            m = _SEMANTIC_RE.fullmatch(token)
            if m is not None:
                found[int(m.group(1))] = token_id
    if not found:
        raise TokenizerError("tokenizer has no <|semantic:i|> tokens")
    begin, end = min(found.values()), max(found.values())
    if end - begin + 1 != len(found):
        raise TokenizerError(
            f"semantic token ids are not contiguous: {len(found)} tokens span ids [{begin}, {end}]"
        )
    bad = [code for code, token_id in found.items() if token_id != begin + code]
    if bad:
        code = min(bad)
        raise TokenizerError(
            f"semantic tokens are not in code order: {semantic_token(code)} has id {found[code]}, "
            f"expected {begin + code}"
        )
    return begin, end


# -- builders -----------------------------------------------------------------------------------------


def s2_pro_token_ids(num_semantic: int = 4096) -> dict[str, int]:
    """S2's token ids in the released s2-pro checkpoint (Qwen3 base vocab), for ``add_s2_special_tokens``.

    endoftext 151643, im_start 151644, im_end 151645, pad 151669, phoneme_start..audio_end 151670..151676,
    audio_pad 151677, ``<|semantic:i|>`` = 151678 + i.
    """
    ids = {ENDOFTEXT: 151643, IM_START: 151644, IM_END: 151645}
    for offset, token in enumerate(S2_SPECIAL_TOKENS[3:]):
        ids[token] = 151669 + offset
    sem0 = ids[S2_SPECIAL_TOKENS[-1]] + 1
    ids.update({semantic_token(i): sem0 + i for i in range(num_semantic)})
    return ids


def _special(content: str) -> AddedToken:
    return AddedToken(content, special=True, normalized=False, single_word=False, lstrip=False, rstrip=False)


def add_s2_special_tokens(
    tokenizer: Tokenizer, num_semantic: int, ids: Mapping[str, int] | None = None
) -> Tokenizer:
    """A copy of ``tokenizer`` with S2's control tokens and ``num_semantic`` semantic tokens added.

    Tokens are taken in S2's order (``S2_SPECIAL_TOKENS``, then ``<|semantic:0..n-1|>``). A token already in
    the vocab keeps its id. A new token goes to ``ids[token]`` when given, else to the next free id. When a
    requested id lies beyond the next free id, the gap is filled with placeholder special tokens
    ``<|reserved_{id}|>`` so the listed tokens land exactly where asked (Qwen3 needs none: its added tokens
    end at 151668, right before S2's ``<|pad|>``). Raises TokenizerError if an existing token sits at an id
    other than the requested one, or a requested id is already taken. The input tokenizer is not modified.
    """
    if num_semantic < 1:
        raise TokenizerError(f"num_semantic must be >= 1, got {num_semantic}")
    ids = dict(ids or {})
    tok = Tokenizer.from_str(tokenizer.to_str())
    wanted = [*S2_SPECIAL_TOKENS, *(semantic_token(i) for i in range(num_semantic))]
    unknown = set(ids) - set(wanted)
    if unknown:
        raise TokenizerError(f"ids given for tokens S2 does not add: {sorted(unknown)[:5]}")

    vocab = tok.get_vocab(with_added_tokens=True)
    next_id = max(vocab.values(), default=-1) + 1
    to_add: list[AddedToken] = []
    expected: dict[str, int] = {}
    for token in wanted:
        existing = vocab.get(token)
        if existing is not None:
            if token in ids and ids[token] != existing:
                raise TokenizerError(f"{token} already has id {existing}, cannot move it to {ids[token]}")
            continue
        target = ids.get(token, next_id)
        if target < next_id:
            raise TokenizerError(f"cannot place {token} at id {target}: ids below {next_id} are taken")
        for gap_id in range(next_id, target):
            to_add.append(_special(f"<|reserved_{gap_id}|>"))
        to_add.append(_special(token))
        expected[token] = target
        next_id = target + 1
    tok.add_special_tokens(to_add)

    for token, target in expected.items():
        got = tok.token_to_id(token)
        if got != target:  # the base vocab had holes the ``tokenizers`` library filled differently
            raise TokenizerError(f"{token} landed at id {got}, expected {target}")
    return tok


def _byte_symbols() -> list[str]:
    """The 256 byte-level symbols in GPT-2/Qwen id order: printable bytes as themselves, then the others
    shifted to U+0100.. (so every byte has a visible, whitespace-free symbol)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    symbol = {b: chr(b) for b in printable}
    shifted = 0
    for b in range(256):
        if b not in symbol:
            symbol[b] = chr(256 + shifted)
            shifted += 1
    return [symbol[b] for b in printable] + [symbol[b] for b in range(256) if b not in printable]


def make_byte_tokenizer(num_semantic: int) -> S2Tokenizer:
    """A tiny deterministic tokenizer for random checkpoints (``init-checkpoint --preset tiny``).

    Qwen2-style byte-level BPE with the 256 byte symbols (ids 0..255, same order as Qwen's first 256) and no
    merges, so every UTF-8 byte is one token. S2's control tokens follow at 256..267 and
    ``<|semantic:i|>`` at 268 + i. ``vocab_size`` = 268 + num_semantic; a model's embedding may be padded
    above it.
    """
    vocab = {s: i for i, s in enumerate(_byte_symbols())}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    return S2Tokenizer(add_s2_special_tokens(tok, num_semantic))
