"""A JSONL test set from a synthetic corpus's held-out data (``s2tts eval-testset``).

Reads the corpus manifest (``s2tts.data.manifest``) and draws, with a seeded
``numpy.random.Generator``, up to ``per_category`` cases of each kind from the held-out splits
only (``heldout_text``: sentences never trained on; ``heldout_speaker``: voices and sentences never
trained on), English unless a category says otherwise:

* ``plain``: a held-out sentence, no reference voice;
* ``clone``: a held-out sentence spoken by a held-out speaker, whose reference is *another*
  utterance of that speaker (its audio and transcript), 3-10 s long when the speaker has one
  (``REFERENCE_SECONDS``; every reference below is drawn the same way);
* ``tagged``: for every tag type the corpus applied (whisper, fast, loud, high pitch, breath...),
  a pair of cases with the same seed: ``[tag] sentence`` and the sentence alone (its
  ``baseline``), so the tag's acoustic effect can be measured; span tags are moved before the
  sentence (the measurement takes the whole clip), event tags keep their place;
* ``dialogue``: a held-out multi-speaker dialogue as written, with one reference per speaker; and
  dialogues composed of held-out sentences for two held-out speakers (``<|speaker:0|>`` and
  ``<|speaker:1|>`` alternating over two to four turns, one reference each), since a corpus's
  dialogues may all be in its training split;
* ``long``: held-out sentences (of any speaker) joined, without repeats, until the text is long
  enough for ``long_words`` words (default ``LONG_WORDS``: 320, about two minutes at 2.5 words per
  second), spoken with a held-out speaker's reference (speakers taken in turn);
* ``multilingual``: held-out sentences in each other language of the corpus, with a reference of
  the same speaker when one exists.

Cases made from one corpus row (plain, clone, multilingual) record that row's audio as
``original``: the ``originals`` and ``codec:DIR`` systems read it.

``write_voice_testset`` (``s2tts eval-testset --speaker ID``) writes another kind of set: ``plain``
cases of one speaker's own English, untagged single utterances (its held-out sentences first, then a
seeded draw of its training ones), each with its ``original``. Resynthesised through a codec, it
measures the ceiling of that voice's intelligibility (the default voice's, for a packaged model).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from s2tts.errors import EvalError
from s2tts.eval.instruction import rule_for
from s2tts.eval.testset import PromptVoice, TestCase, write_testset

HELDOUT = ("heldout_text", "heldout_speaker")
LONG_WORDS = 320
# A reference voice is another untagged single utterance of the speaker, 3-10 s long when it has one
# (the cloning target's reference length; longer ones crowd a small model's context in a dialogue).
REFERENCE_SECONDS = (3.0, 10.0)


def _read_rows(corpus: Path) -> list:
    from s2tts.data.manifest import ManifestError, read_manifest

    try:
        return read_manifest(corpus)
    except ManifestError as exc:
        raise EvalError(str(exc)) from exc


def write_voice_testset(
    corpus: str | Path, out: str | Path, speaker: str, count: int = 20, seed: int = 0
) -> tuple[Path, dict[str, int]]:
    """Up to ``count`` plain cases spoken by ``speaker`` (held-out sentences first); returns (path, counts)."""
    corpus = Path(corpus)
    rows = _read_rows(corpus)
    root = corpus if corpus.is_dir() else corpus.parent
    own = [
        r
        for r in rows
        if r.speaker_id == speaker and r.kind == "single" and not r.tags and r.language == "en"
    ]
    if not own:
        known = sorted({r.speaker_id for r in rows})
        raise EvalError(
            f"{corpus}: no English single untagged utterance of speaker {speaker!r} "
            f"({len(known)} speakers, e.g. {', '.join(known[:3])})"
        )
    held = [r for r in own if r.split in HELDOUT][:count]
    train = [r for r in own if r.split not in HELDOUT]
    rng = np.random.default_rng(seed)
    n = min(count - len(held), len(train))
    chosen = held + [train[i] for i in sorted(rng.choice(len(train), n, replace=False))]
    cases = [
        TestCase(
            f"voice-{r.id}",
            r.plain_text,
            category="plain",
            language="en",
            extra={"original": str((root / r.path).resolve()), "split": r.split},
        )
        for r in chosen
    ]
    return write_testset(out, cases), {"plain": len(cases)}


def write_corpus_testset(
    corpus: str | Path, out: str | Path, per_category: int = 10, seed: int = 0, long_words: int = LONG_WORDS
) -> tuple[Path, dict[str, int]]:
    """Write the test set to ``out`` (JSONL); returns (path, cases per category)."""
    corpus = Path(corpus)
    rows = _read_rows(corpus)
    root = corpus if corpus.is_dir() else corpus.parent
    rng = np.random.default_rng(seed)
    held = [r for r in rows if r.split in HELDOUT]
    if not held:
        raise EvalError(f"{corpus}: the manifest has no held-out rows (splits {', '.join(HELDOUT)})")
    by_speaker: dict[str, list] = defaultdict(list)
    for r in rows:
        if r.kind == "single" and not r.tags:
            by_speaker[r.speaker_id].append(r)

    def pick(items: list, n: int) -> list:
        if len(items) <= n:
            return list(items)
        return [items[i] for i in sorted(rng.choice(len(items), n, replace=False))]

    def reference(speaker: str, exclude: str) -> PromptVoice | None:
        pool = [r for r in by_speaker.get(speaker, []) if r.id != exclude]
        if not pool:
            return None
        lo, hi = REFERENCE_SECONDS
        pool = [r for r in pool if lo <= r.duration_s <= hi] or pool
        r = pool[int(rng.integers(len(pool)))]
        return PromptVoice((root / r.path).resolve(), r.plain_text, speaker)

    def original(r) -> dict[str, str]:  # the row's own audio: what codec:DIR and originals read
        return {"original": str((root / r.path).resolve())}

    singles = [r for r in held if r.kind == "single" and not r.tags]
    english = [r for r in singles if r.language == "en"]
    cases: list[TestCase] = []
    for r in pick([r for r in english if r.split == "heldout_text"] or english, per_category):
        cases.append(
            TestCase(f"plain-{r.id}", r.plain_text, category="plain", language="en", extra=original(r))
        )
    clone_pool = [r for r in english if r.split == "heldout_speaker"]
    for r in pick(clone_pool, per_category):
        ref = reference(r.speaker_id, r.id)
        if ref is not None:
            cases.append(
                TestCase(
                    f"clone-{r.id}",
                    r.plain_text,
                    (ref,),
                    category="clone",
                    speakers=(r.speaker_id,),
                    extra=original(r),
                )
            )
    tagged: dict[str, list] = defaultdict(list)
    for r in held:
        if r.kind == "single" and len(r.tags) == 1 and rule_for(r.tags[0].tag) is not None:
            tagged[r.tags[0].tag].append(r)
    for tag, items in sorted(tagged.items()):
        for k, r in enumerate(pick(items, per_category)):
            seed_k = int(rng.integers(2**31))
            is_event = rule_for(tag)[0] == "event"  # type: ignore[index]
            text = r.text if is_event else f"[{tag}] {r.plain_text}"
            base_id = f"tag-{r.id}-plain"
            cases.append(TestCase(base_id, r.plain_text, category="tagged", language=r.language, seed=seed_k))
            cases.append(
                TestCase(
                    f"tag-{r.id}-{k}",
                    text,
                    category="tagged",
                    language=r.language,
                    tags=(tag,),
                    baseline=base_id,
                    seed=seed_k,
                )
            )
    for r in pick([r for r in held if r.kind == "dialogue"], per_category):
        turns = sorted({(t.speaker_index, t.speaker_id) for t in r.turns})
        refs = [reference(spk, r.id) for _, spk in turns]
        if (
            turns
            and all(ref is not None for ref in refs)
            and [i for i, _ in turns] == list(range(len(turns)))
        ):
            cases.append(
                TestCase(
                    f"dialogue-{r.id}",
                    r.text,
                    tuple(refs),
                    category="dialogue",
                    speakers=tuple(s for _, s in turns),
                )
            )  # type: ignore[arg-type]
    held_speakers = sorted({r.speaker_id for r in english if r.split == "heldout_speaker"})
    sentences = sorted({r.plain_text for r in english})
    for k in range(per_category if len(held_speakers) >= 2 else 0):
        a, b = (held_speakers[int(i)] for i in rng.choice(len(held_speakers), 2, replace=False))
        refs = (reference(a, ""), reference(b, ""))
        lines = [
            sentences[int(i)] for i in rng.choice(len(sentences), int(rng.integers(2, 5)), replace=False)
        ]
        if refs[0] is not None and refs[1] is not None and len(lines) >= 2:
            text = "".join(f"<|speaker:{n % 2}|>{line}" for n, line in enumerate(lines))
            cases.append(TestCase(f"dialogue-held-{k:03d}", text, refs, category="dialogue", speakers=(a, b)))
    for n in range(per_category if held_speakers else 0):
        order = [sentences[int(i)] for i in rng.permutation(len(sentences))]
        text, used = [], 0
        for sentence in order:
            text.append(sentence)
            used += len(sentence.split())
            if used >= long_words:
                break
        speaker = held_speakers[n % len(held_speakers)]
        ref = reference(speaker, "")
        if used >= long_words and ref is not None:
            cases.append(
                TestCase(
                    f"long-{n:03d}-{speaker}", " ".join(text), (ref,), category="long", speakers=(speaker,)
                )
            )
    for language in sorted({r.language for r in singles} - {"en"}):
        for r in pick([r for r in singles if r.language == language], per_category):
            ref = reference(r.speaker_id, r.id)
            refs = (ref,) if ref is not None else ()
            cases.append(
                TestCase(
                    f"{language}-{r.id}",
                    r.plain_text,
                    refs,
                    language=language,
                    category="multilingual",
                    extra=original(r),
                )
            )
    if not cases:
        raise EvalError(f"{corpus}: no usable held-out cases")
    counts: dict[str, int] = defaultdict(int)
    for c in cases:
        counts[c.category] += 1
    return write_testset(out, cases), dict(counts)
