"""Text normalisation for WER/CER: what is compared is the words, not their spelling.

Both the target text and the ASR transcript go through the same function, so a system is not
charged for "25" against "twenty-five", "Dr." against "doctor" or a missing comma.

``normalize_for_wer(text, language)``:
    1. drops S2 markup: ``<|speaker:i|>`` turns and inline ``[instructions]``;
    2. Unicode NFKC, lower case, curly quotes to ASCII;
    3. English only: numbers are spelled out (``25`` -> ``twenty five``, ``3.5`` -> ``three point
       five``, ``1st`` -> ``first``, ``1990`` -> ``nineteen ninety``, ``$5`` -> ``five dollars``,
       ``50%`` -> ``fifty percent``), a few abbreviations are expanded (``mr`` -> ``mister``...),
       ``&`` -> ``and``;
    4. punctuation becomes a space (apostrophes inside words are kept: ``don't``), hyphens split
       words, whitespace is collapsed.

``chars_for_cer`` goes further for languages scored by characters (Chinese, Japanese...): it
removes every space as well, so the unit is one character.
"""

from __future__ import annotations

import re
import unicodedata

_MARKUP = re.compile(r"<\|[^|>]*\|>|\[[^\]]*\]")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "`": "'"})
_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
_ABBREVIATIONS = {
    "mr": "mister",
    "mrs": "missus",
    "ms": "miss",
    "dr": "doctor",
    "st": "saint",
    "vs": "versus",
    "etc": "et cetera",
    "ok": "okay",
}
_CURRENCY = {"$": "dollars", "£": "pounds", "€": "euros"}
_NUMBER = re.compile(r"([$£€])?(\d[\d,]*)(?:\.(\d+))?(st|nd|rd|th|%)?")


def int_to_words(n: int) -> str:
    """0 <= n < 10**12 -> English words without "and" or hyphens: 1234 -> "one thousand two hundred
    thirty four"."""
    if n < 0:
        return "minus " + int_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + int_to_words(rest))
    for scale, name in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            return int_to_words(high) + " " + name + ("" if rest == 0 else " " + int_to_words(rest))
    raise AssertionError("unreachable")


def _year_words(n: int) -> str:
    """1990 -> "nineteen ninety", 2005 -> "two thousand five", 1900 -> "nineteen hundred"."""
    high, low = divmod(n, 100)
    if 2000 <= n < 2010 or low == 0 and n % 1000 == 0:
        return int_to_words(n)
    if low == 0:
        return int_to_words(high) + " hundred"
    return int_to_words(high) + " " + ("oh " + _ONES[low] if low < 10 else int_to_words(low))


def _ordinal(words: str) -> str:
    head, _, last = words.rpartition(" ")
    if last in _ORDINAL_WORDS:
        last = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head} {last}".strip()


def _spell_number(match: re.Match[str]) -> str:
    currency, digits, decimals, suffix = match.groups()
    raw = digits.replace(",", "")
    if not raw.isdigit() or len(raw) > 12:
        return match.group(0)
    value = int(raw)
    plain = "," not in digits and decimals is None and currency is None and suffix is None
    words = _year_words(value) if plain and 1100 <= value <= 2099 else int_to_words(value)
    if decimals is not None:
        words += " point " + " ".join(_ONES[int(d)] for d in decimals)
    if suffix in ("st", "nd", "rd", "th"):
        words = _ordinal(words)
    elif suffix == "%":
        words += " percent"
    if currency is not None:
        words += " " + _CURRENCY[currency]
    return f" {words} "


def normalize_for_wer(text: str, language: str = "en") -> str:
    """``text`` -> lower-case words separated by single spaces (see the module docstring)."""
    text = _MARKUP.sub(" ", text)
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    if language.split("-")[0] == "en":
        text = text.replace("&", " and ")
        text = _NUMBER.sub(_spell_number, text)
        words = re.sub(r"[^\w\s']|_", " ", text).split()
        words = [_ABBREVIATIONS.get(w, w) for w in words]
        text = " ".join(words)
    else:
        text = re.sub(r"[^\w\s']|_", " ", text)
    words = [w.strip("'") for w in text.split()]
    return " ".join(w for w in words if w)


def chars_for_cer(text: str, language: str) -> str:
    """``text`` normalised, then without spaces: the character string that CER compares."""
    return normalize_for_wer(text, language).replace(" ", "")
