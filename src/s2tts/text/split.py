"""Split long text into pieces within a UTF-8 byte budget, at the most natural boundary that fits.

Pure functions over strings, used by the prompt builder's batching (``split_batches``)::

    split_text("First sentence. Second one, with a clause. Third.", max_bytes=30)
    -> ["First sentence.", "Second one, with a clause.", "Third."]

Boundaries, strongest first: sentence ends (``. ! ? …`` followed by a space, CJK full stops
``。！？`` with or without one, line breaks), clause marks (``, ; :`` and a space, CJK ``，、；：``,
dashes), spaces between words, and last any character boundary (scripts written without spaces,
such as Chinese or Japanese, and single words longer than the budget). A piece is cut at the
strongest level that brings it within the budget, and the resulting parts are packed back together
greedily, so pieces stay as large as the budget allows.

Markup is never cut or orphaned: an inline tag (``[laugh]``, ``[super happy]``) or a special token
(``<|speaker:0|>``) is one unit, and it stays with the text it precedes (no cut between a tag and
the word after it). A unit larger than the budget on its own is returned whole rather than broken.
"""

from __future__ import annotations

import re
import unicodedata

#: UTF-8 bytes of text per batch (one prompt each) unless a caller says otherwise: the one default
#: that the engine, the HTTP schemas, the CLIs, the long-form generators and LM training read.
DEFAULT_CHUNK_LENGTH = 200

# Spans that must stay whole: [tags] and <|special tokens|>.
MARKUP = re.compile(r"\[[^\[\]\n]{0,64}\]|<\|[^|<>\n]{1,64}\|>")

_CLOSERS = "\"'”’»)\\]」』）】"
# Cut positions per level (the cut is at the end of each match).
_LEVELS: tuple[re.Pattern[str], ...] = (
    re.compile(rf"(?:[.!?…]+[{_CLOSERS}]*\s+|[。！？]+[{_CLOSERS}]*\s*|\n\s*)"),  # sentences
    re.compile(rf"(?:[,;:]+[{_CLOSERS}]*\s+|[，、；：]+\s*|\s+[—–-]{{1,2}}\s+)"),  # clauses
    re.compile(r"\s+"),  # words
)


def utf8_len(text: str) -> int:
    """Length of ``text`` in UTF-8 bytes."""
    return len(text.encode("utf-8"))


def split_text(text: str, max_bytes: int) -> list[str]:
    """``text`` as stripped, non-empty pieces of at most ``max_bytes`` UTF-8 bytes each (see module doc).

    Joining the pieces with single spaces gives back the text up to whitespace at the cuts.
    """
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
    text = text.strip()
    if not text:
        return []
    blocked = _blocked_positions(text)
    pieces = _split(text, 0, len(text), max_bytes, 0, blocked)
    return [p for p in (text[a:b].strip() for a, b in pieces) if p]


def _blocked_positions(text: str) -> set[int]:
    """Cut positions that would break a markup span or leave a tag without the text after it."""
    blocked: set[int] = set()
    for m in MARKUP.finditer(text):
        blocked.update(range(m.start() + 1, m.end()))  # inside the span
        end = m.end()
        while end < len(text) and text[end].isspace():
            end += 1
        blocked.update(range(m.end(), end + 1))  # between the tag and what follows
    return blocked


def _cuts(text: str, start: int, end: int, level: int, blocked: set[int]) -> list[int]:
    """Allowed cut positions strictly inside [start, end) at ``level`` (3 = any character)."""
    if level < len(_LEVELS):
        positions = [m.end() for m in _LEVELS[level].finditer(text, start, end)]
    else:
        positions = [i for i in range(start + 1, end) if _can_start_piece(text[i])]
    return [p for p in positions if start < p < end and p not in blocked]


def _can_start_piece(char: str) -> bool:
    """A character-level cut may not leave a combining mark or closing punctuation at a piece's start."""
    return not unicodedata.combining(char) and unicodedata.category(char) not in ("Po", "Pe", "Pf")


def _split(
    text: str, start: int, end: int, budget: int, level: int, blocked: set[int]
) -> list[tuple[int, int]]:
    """Spans of text[start:end] within ``budget`` bytes, cutting at ``level`` and weaker levels."""
    if utf8_len(text[start:end].strip()) <= budget or level > len(_LEVELS):
        return [(start, end)]
    cuts = _cuts(text, start, end, level, blocked)
    if not cuts:
        return _split(text, start, end, budget, level + 1, blocked)
    bounds = [start, *cuts, end]
    parts: list[tuple[int, int]] = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        parts += _split(text, a, b, budget, level + 1, blocked)
    return _pack(text, parts, budget)


def _pack(text: str, parts: list[tuple[int, int]], budget: int) -> list[tuple[int, int]]:
    """Merge neighbouring spans greedily while the merged text stays within ``budget``."""
    out: list[tuple[int, int]] = []
    for a, b in parts:
        if out and utf8_len(text[out[-1][0] : b].strip()) <= budget:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def pack_pieces(pieces: list[str], max_bytes: int, max_items: int) -> list[list[str]]:
    """Group consecutive pieces: at most ``max_items`` per group and, unless a group is a single
    piece, at most ``max_bytes`` bytes of piece text (separators not counted)."""
    groups: list[list[str]] = []
    size = 0
    for piece in pieces:
        n = utf8_len(piece)
        if groups and len(groups[-1]) < max_items and size + n <= max_bytes:
            groups[-1].append(piece)
            size += n
        else:
            groups.append([piece])
            size = n
    return groups
