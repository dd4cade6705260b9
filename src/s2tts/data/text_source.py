"""Real, varied sentences for the synthetic corpus, read from the Debian ``fortunes`` packages.

Source: the fortune-cookie databases of the Debian packages ``fortunes`` and ``fortunes-min`` (English;
BSD licence, fortune-mod by Ken Arnold et al.), ``fortunes-de`` (German, GPL-2+), ``fortunes-es``
(Spanish, GPL-2+) and ``fortunes-it`` (Italian, GPL-2+), installed under ``/usr/share/games/fortunes``.
They hold tens of thousands of quotations, proverbs, jokes and definitions by hundreds of authors: real
prose with numbers, dates, names, questions and rich punctuation. The corpus generator reads them at run
time and never ships their text; the synthetic audio it makes is derived data under the same licences.

``load_sentences(language)`` splits every fortune into sentences, drops attributions, ASCII art, code
and anything too short or too long to speak, and de-duplicates. Each sentence is assigned to the
held-out set by a hash of its text (``is_heldout_sentence``), so the split is the same for every seed
and every corpus size: a held-out sentence never appears in training audio.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from s2tts.errors import S2TTSError

FORTUNES_DIR = Path("/usr/share/games/fortunes")

#: Per language: the sub-directory of FORTUNES_DIR ("" = top level) and either the databases used
#: (English: an allow-list, since other packages drop files into the top level too) or those left out
#: (ASCII art, code, chat logs, list-like files).
_EN_DATABASES = [
    "computers",
    "cookie",
    "definitions",
    "disclaimer",
    "education",
    "food",
    "fortunes",
    "humorists",
    "kids",
    "law",
    "literature",
    "love",
    "magic",
    "medicine",
    "miscellaneous",
    "news",
    "paradoxum",
    "people",
    "pets",
    "platitudes",
    "politics",
    "pratchett",
    "riddles",
    "science",
    "songs-poems",
    "sports",
    "startrek",
    "wisdom",
    "work",
]
_LANGUAGE_DIRS: dict[str, tuple[str, frozenset[str], frozenset[str]]] = {
    "en": ("", frozenset(_EN_DATABASES), frozenset()),
    "de": (
        "de",
        frozenset(),
        frozenset({"asciiart", "channel-debian.fortunes", "debian", "computer", "linux"}),
    ),
    "es": ("es", frozenset(), frozenset({"informatica.fortunes", "varios.fortunes-pre"})),
    "it": ("it", frozenset(), frozenset({"banner", "computer", "zuse", "itatrek"})),
}
LANGUAGES = tuple(_LANGUAGE_DIRS)

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(¿¡]?[A-ZÀ-ÖØ-Ý0-9])")
_BAD_CHARS = re.compile(r"[<>{}|\\_@#*=~^`$/]|https?:|www\.|\.\.\.|\. \.|--|:\s*$|\b[nv]\.:")
_ATTRIBUTION = re.compile(r"^\s*(--|―|—)")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


class TextSourceError(S2TTSError, FileNotFoundError):
    """The text source for a language is not installed or yields no sentences."""


@dataclass(frozen=True)
class SentenceFilter:
    """Which sentences are kept: word-count bounds and a letters share (rejects tables and code)."""

    min_words: int = 4
    max_words: int = 28
    min_letter_share: float = 0.72


def _database_files(language: str, root: Path) -> list[Path]:
    if language not in _LANGUAGE_DIRS:
        raise TextSourceError(f"no text source for language {language!r} (have: {', '.join(LANGUAGES)})")
    sub, allowed, excluded = _LANGUAGE_DIRS[language]
    folder = root / sub if sub else root
    if not folder.is_dir():
        pkg = "fortunes" if language == "en" else f"fortunes-{language}"
        raise TextSourceError(f"{folder} not found: install the Debian package '{pkg}'")
    files = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix in (".dat", ".u8") or path.name in excluded:
            continue
        if allowed and path.name not in allowed:
            continue
        utf8 = path.with_name(path.name + ".u8")
        files.append(utf8 if utf8.exists() else path)
    return files


def split_fortunes(raw: str) -> list[str]:
    """The fortunes of one database file: the text between ``%`` lines, attributions dropped."""
    out = []
    for block in re.split(r"^%\s*$", raw, flags=re.MULTILINE):
        lines = [ln for ln in block.splitlines() if ln.strip() and not _ATTRIBUTION.match(ln)]
        if lines:
            out.append(" ".join(ln.strip() for ln in lines))
    return out


def split_sentences(text: str, rules: SentenceFilter = SentenceFilter()) -> list[str]:
    """Sentences of one fortune that pass ``rules`` (whitespace collapsed)."""
    text = re.sub(r"\s+", " ", text).strip()
    kept = []
    for sent in _SENTENCE_END.split(text):
        sent = sent.strip().strip("\"'").strip()
        if not sent or sent[-1] not in ".!?" or _BAD_CHARS.search(sent):
            continue
        if sent.count('"') % 2 or sent.count("(") != sent.count(")"):
            continue
        words = _WORD.findall(sent)
        if not rules.min_words <= len(words) <= rules.max_words:
            continue
        letters = sum(c.isalpha() for c in sent)
        if letters < rules.min_letter_share * len(sent.replace(" ", "")):
            continue
        if sent.isupper():
            continue
        kept.append(sent)
    return kept


def load_sentences(language: str = "en", root: Path = FORTUNES_DIR) -> list[str]:
    """All distinct usable sentences for ``language``, in a stable (sorted) order."""
    seen: set[str] = set()
    for path in _database_files(language, root):
        raw = path.read_bytes().decode("utf-8", errors="replace")
        for fortune in split_fortunes(raw):
            for sent in split_sentences(fortune):
                if "\ufffd" not in sent:
                    seen.add(sent)
    if not seen:
        raise TextSourceError(f"no usable sentences for language {language!r} under {root}")
    return sorted(seen)


def words_of(sentence: str) -> list[str]:
    """Lower-cased words of a sentence (letters and inner apostrophes only)."""
    return [w.lower() for w in _WORD.findall(sentence)]


def is_heldout_sentence(sentence: str, fraction: float) -> bool:
    """True for the ``fraction`` of sentences (by a hash of the text) kept out of training."""
    digest = hashlib.sha1(sentence.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction
