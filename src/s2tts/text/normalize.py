"""Light, opt-in text cleanup before prompting (the reference's ``normalize`` flag does nothing).

``normalize_text`` only evens out typography; it never rewrites words, numbers, ``<|speaker:N|>`` tags or
inline ``[instructions]``:
    - Unicode NFC;
    - curly single/double quotes and primes -> ASCII ``'`` and ``"``;
    - tabs, no-break and other Unicode spaces -> a plain space; runs of spaces -> one space;
    - spaces around line breaks removed, three or more line breaks -> two; outer whitespace stripped.
"""

from __future__ import annotations

import re
import unicodedata

_QUOTES = str.maketrans(
    {
        "\u2018": "'",  # left single quotation mark
        "\u2019": "'",  # right single quotation mark
        "\u201a": "'",  # single low-9 quotation mark
        "\u2032": "'",  # prime
        "\u201c": '"',  # left double quotation mark
        "\u201d": '"',  # right double quotation mark
        "\u201e": '"',  # double low-9 quotation mark
        "\u2033": '"',  # double prime
    }
)
_SPACES = re.compile(r"[^\S\r\n]+")  # whitespace other than line breaks (includes NBSP, thin space, tab)
_SPACED_BREAK = re.compile(r" ?(\r\n|\r|\n) ?")
_MANY_BREAKS = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """``text`` with quotes and whitespace evened out (see module docstring)."""
    text = unicodedata.normalize("NFC", text).translate(_QUOTES)
    text = _SPACES.sub(" ", text)
    text = _SPACED_BREAK.sub("\n", text)
    return _MANY_BREAKS.sub("\n\n", text).strip()
