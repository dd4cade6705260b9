"""Text front end: what the LM reads for a piece of user or reference text.

Two kinds, recorded in a checkpoint's ``config.json`` as ``text_frontend`` (absent = ``"text"``):

* ``"text"`` (default, and the only one ``s2-pro`` uses): the text as written; the tokenizer sees
  raw characters.
* ``"espeak"``: plain text is replaced by its IPA transcription from the espeak-ng phonemizer (as
  Piper and Kokoro do), wrapped in S2's ``<|phoneme_start|>`` ... ``<|phoneme_end|>`` tokens. A
  small model then reads sounds rather than learning English spelling from a few hours of speech;
  espeak's letter-to-sound rules cover words never seen in training, and it reads numbers.

Only plain text is converted: markup -- inline tags such as ``[laugh]``, ``<|speaker:i|>`` and
other special tokens (``s2tts.text.split.MARKUP``) -- passes through unchanged, and so does the
punctuation that ends a clause (``, . ! ? ; :`` ...), which espeak would drop but which carries
prosody. IPA already inside ``<|phoneme_start|>`` ... ``<|phoneme_end|>`` is kept too, so a
pronunciation can be given by hand. For example (language ``en``)::

    "[laugh] Hello, world!<|speaker:1|>Hi."
    -> "[laugh] <|phoneme_start|>həlˈoʊ, wˈɜːld!<|phoneme_end|><|speaker:1|><|phoneme_start|>hˈaɪ.<|phoneme_end|>"

espeak-ng runs as a subprocess (the Debian ``espeak-ng`` binary), once per call of
:meth:`TextFrontend.convert_many` for all the clauses not already in the front end's cache: the
clauses go in as blank-line separated paragraphs and come back in the same order (when espeak's
output does not split into exactly one paragraph per clause, each clause is phonemised on its own).
espeak's language-switch marks such as ``(en)`` ... ``(de)`` are removed from its output.

Languages are ISO 639-1 codes mapped to espeak voices (``en`` -> ``en-us``, ``de``, ``es``, ...) or
any espeak voice name; each call may name one, else the front end's default is used.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Sequence

from s2tts.errors import TextFrontendError
from s2tts.text.split import MARKUP

FRONTENDS: tuple[str, ...] = ("text", "espeak")
PHONEME_START = "<|phoneme_start|>"
PHONEME_END = "<|phoneme_end|>"

#: ISO 639-1 code -> espeak-ng voice; other names are passed to espeak-ng as they are.
ESPEAK_VOICES: dict[str, str] = {
    "en": "en-us",
    "de": "de",
    "es": "es",
    "fr": "fr-fr",
    "it": "it",
    "pt": "pt",
    "nl": "nl",
    "pl": "pl",
    "ru": "ru",
}

# Clause punctuation kept as written: a run of these not inside a word (so "3.50" and "e.g" stay
# whole and go to espeak, which reads them).
_PUNCT = r"[.,;:!?¡¿…—–\"«»“”()]"
_CLAUSE_BREAK = re.compile(rf"(\s*(?:(?<!\w){_PUNCT}+|{_PUNCT}+(?!\w))\s*)")
_WORD = re.compile(r"[^\W_]")  # a letter or digit: something espeak reads
_LANGUAGE_SWITCH = re.compile(r"\([a-z]{2,3}(?:-[a-z0-9]+)*\)")
_VOICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]{0,31}")  # a language code or espeak voice name
_TIMEOUT_S = 120.0
# Kept as written: markup, and phonemes already inside phoneme tokens (a pronunciation given by hand,
# or text that went through the front end before: converting twice changes nothing).
_KEEP = re.compile(rf"{re.escape(PHONEME_START)}.*?{re.escape(PHONEME_END)}|{MARKUP.pattern}", re.S)


class TextFrontend:
    """Converts user/reference text for the LM (see module docstring); callable on one text.

    Args:
        kind: ``"text"`` (identity) or ``"espeak"`` (IPA in phoneme tokens).
        language: default language (ISO 639-1 code or espeak voice name) of calls that name none.
        cache_size: clauses whose IPA is kept (least recently used dropped first).
        executable: the espeak-ng binary (name on PATH or a path).

    Raises TextFrontendError for an unknown kind or, with ``"espeak"``, when the binary is missing.
    Thread-safe: the cache is guarded; espeak runs outside the lock.
    """

    def __init__(
        self,
        kind: str = "text",
        language: str = "en",
        cache_size: int = 8192,
        executable: str = "espeak-ng",
    ) -> None:
        if kind not in FRONTENDS:
            raise TextFrontendError(f"unknown text front end {kind!r}; choose from {list(FRONTENDS)}")
        self.kind = kind
        self.language = language
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()
        self._exe = ""
        if kind == "espeak":
            found = shutil.which(executable)
            if found is None:
                raise TextFrontendError(
                    f"the espeak text front end needs the espeak-ng program, not found as {executable!r} "
                    "(install it: apt-get install espeak-ng)"
                )
            self._exe = found
            _voice(language)  # a bad default language fails here, not at the first request

    def __repr__(self) -> str:
        return f"TextFrontend(kind={self.kind!r}, language={self.language!r})"

    def __call__(self, text: str, language: str | None = None) -> str:
        """``text`` as the LM reads it."""
        return self.convert_many([text], language)[0]

    def convert_many(self, texts: Sequence[str], language: str | None = None) -> list[str]:
        """Each of ``texts`` as the LM reads it, with (at most) one espeak-ng run for all of them."""
        if self.kind == "text":
            return list(texts)
        voice = _voice(language or self.language)
        layouts = [_layout(text) for text in texts]
        clauses = [piece for layout in layouts for span in layout for kind, piece in span if kind == "w"]
        ipa = self._phonemise(clauses, voice)
        return [_assemble(layout, ipa) for layout in layouts]

    # -- espeak ---------------------------------------------------------------------------------------

    def _phonemise(self, clauses: list[str], voice: str) -> dict[str, str]:
        """IPA of each clause (cached ones from the cache, the rest from one espeak-ng run)."""
        found: dict[str, str] = {}
        with self._lock:
            for clause in clauses:
                hit = self._cache.get((voice, clause))
                if hit is not None:
                    self._cache.move_to_end((voice, clause))
                    found[clause] = hit
        todo = list(dict.fromkeys(c for c in clauses if c not in found))
        if not todo:
            return found
        paragraphs = _paragraphs(self._run("\n\n".join(todo) + "\n", voice))
        if len(paragraphs) != len(todo) or not all(paragraphs):
            paragraphs = [" ".join(_paragraphs(self._run(c + "\n", voice))) for c in todo]
        new = dict(zip(todo, paragraphs, strict=True))
        with self._lock:
            for clause, ipa in new.items():
                self._cache[(voice, clause)] = ipa
                self._cache.move_to_end((voice, clause))
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return found | new

    def _run(self, text: str, voice: str) -> str:
        cmd = [self._exe, "-q", "-b", "1", "--ipa", "-v", voice]
        try:
            done = subprocess.run(
                cmd, input=text.encode("utf-8"), capture_output=True, timeout=_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise TextFrontendError(f"espeak-ng failed to run: {e}") from e
        err = done.stderr.decode("utf-8", "replace").strip()
        if done.returncode != 0 or err:
            detail = err.splitlines()[0] if err else f"exit status {done.returncode}"
            raise TextFrontendError(f"espeak-ng failed for language {voice!r}: {detail}")
        return done.stdout.decode("utf-8", "replace")


def check_language(language: str) -> str:
    """``language`` if it has the form of a language code or espeak-ng voice name (letters, digits,
    ``_+-``, at most 32 characters), else TextFrontendError. Whether espeak-ng knows it is only
    found out when a phoneme model runs it; text models ignore the language."""
    if not isinstance(language, str) or not _VOICE_NAME.fullmatch(language):
        shown = language[:40] if isinstance(language, str) else language
        raise TextFrontendError(f"bad language {shown!r}: expected an ISO 639-1 code or espeak-ng voice name")
    return language


def _voice(language: str) -> str:
    """The espeak-ng voice of ``language``; TextFrontendError for a name that is not a voice name."""
    check_language(language)
    return ESPEAK_VOICES.get(language.lower(), language)


def _paragraphs(output: str) -> list[str]:
    """espeak-ng output -> one string per blank-line separated paragraph (its clause lines joined)."""
    paragraphs: list[list[str]] = [[]]
    for line in output.splitlines():
        line = _LANGUAGE_SWITCH.sub("", line).strip()
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return [" ".join(p) for p in paragraphs if p]


# A text's layout: a list of spans; a span is a list of (kind, piece) with kind "m" (markup or
# whitespace, copied), "p" (punctuation and spacing, copied inside the phoneme span), "w" (a clause
# of words, phonemised), or "s" (a piece without letters or digits, copied inside the phoneme span).
Layout = list[list[tuple[str, str]]]


def _layout(text: str) -> Layout:
    spans: Layout = []
    pos = 0
    for m in _KEEP.finditer(text):
        spans += _plain(text[pos : m.start()])
        spans.append([("m", m.group())])
        pos = m.end()
    return spans + _plain(text[pos:])


def _plain(text: str) -> Layout:
    """A plain span: outer whitespace as markup, the rest cut into clauses and punctuation."""
    body = text.strip()
    if not body:
        return [[("m", text)]] if text else []
    lead, trail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
    pieces: list[tuple[str, str]] = []
    for i, piece in enumerate(_CLAUSE_BREAK.split(body)):
        if not piece:
            continue
        if i % 2:
            pieces.append(("p", piece))
        else:
            core = " ".join(piece.split())
            pad_l, pad_r = piece[: len(piece) - len(piece.lstrip())], piece[len(piece.rstrip()) :]
            if pad_l:
                pieces.append(("p", pad_l))
            pieces.append(("w" if _WORD.search(core) else "s", core))
            if pad_r:
                pieces.append(("p", pad_r))
    out: Layout = [[("m", lead)]] if lead else []
    out.append([("m", PHONEME_START), *pieces, ("m", PHONEME_END)])
    return out + ([[("m", trail)]] if trail else [])


def _assemble(layout: Layout, ipa: dict[str, str]) -> str:
    return "".join(ipa[piece] if kind == "w" else piece for span in layout for kind, piece in span)
