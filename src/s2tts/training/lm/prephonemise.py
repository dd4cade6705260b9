"""Phonemise a training run's texts once, before the first step, for a phoneme front end.

With ``text_frontend: espeak`` every prompt the sample builder makes goes through
:class:`~s2tts.text.frontend.TextFrontend`, which runs espeak-ng for the clauses its cache lacks.
Left to itself, a run would start one espeak-ng process per sample during the first epoch (tens of
milliseconds each, a noticeable share of a small model's step on CPU) and again whenever the
cache had dropped a clause. :func:`warm_frontend` instead converts every text of the training and
validation sources in a few large espeak-ng runs (one per language and chunk) and keeps them all
in the cache, so training never waits for espeak. The IPA is the same either way: the cache maps a
clause to what espeak-ng returned for it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm

from s2tts.text.frontend import TextFrontend

__all__ = ["source_texts", "warm_frontend"]


def source_texts(source: Any) -> list[tuple[str, str | None]]:
    """(text, language) of every utterance a conversation source can draw its samples from."""
    if hasattr(source, "texts"):
        return list(source.texts())
    out: list[tuple[str, str | None]] = []
    for conv in getattr(source, "items", ()):
        out += [(t.text, conv.language) for t in conv.turns]
        out += [(r.text, conv.language) for r in conv.references]
    return out


def warm_frontend(
    frontend: TextFrontend, sources: Iterable[Any], chunk: int = 256, progress: bool = True
) -> int:
    """Convert every text of ``sources`` once; returns how many distinct texts were converted.

    Grows the front end's cache to hold all of them. Does nothing for the ``text`` front end.
    """
    if frontend.kind == "text":
        return 0
    by_language: dict[str | None, list[str]] = defaultdict(list)
    for source in sources:
        for text, language in source_texts(source):
            by_language[language].append(text)
    batches = []
    total = 0
    for language, texts in by_language.items():
        unique = list(dict.fromkeys(texts))
        total += len(unique)
        batches += [(unique[i : i + chunk], language) for i in range(0, len(unique), chunk)]
    # every clause must stay cached: a generous bound (a text has a few clauses)
    frontend.cache_size = max(frontend.cache_size, 16 * total)
    for texts, language in tqdm(batches, desc="phonemise", unit="batch", disable=not progress):
        frontend.convert_many(texts, language)
    return total
