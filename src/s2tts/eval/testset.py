"""Test sets: the Seed-TTS-Eval list format and s2tts's JSONL, both read into ``TestCase``.

Seed-TTS-Eval (``*.lst``), one case per line, paths relative to the list file::

    utt_id|prompt_text|prompt_wav|target_text

JSONL (``*.jsonl``), one object per line; only ``id`` and ``text`` are required::

    {"id": "tag-003-fast", "text": "[fast] The train leaves at 9.", "language": "en",
     "category": "tagged", "references": [{"audio": "refs/spk7.wav", "text": "...", "speaker": "spk7"}],
     "speakers": ["spk7"], "tags": ["fast"], "baseline": "tag-003-plain", "seed": 3}

``references`` are the prompt voices (speaker *i* of a ``<|speaker:i|>`` dialogue is reference
*i*); ``tags`` the instructions whose effect is measured against the ``baseline`` case (the same
sentence untagged, same seed); ``category`` groups the report's breakdowns (``clone``,
``dialogue``, ``tagged``, ``long``, ``plain``...). Relative audio paths are relative to the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from s2tts.errors import EvalError

_TAG = re.compile(r"\[([^\]]+)\]")
_SPEAKER = re.compile(r"<\|speaker:(\d+)\|>")


@dataclass(frozen=True)
class PromptVoice:
    """A reference clip and its transcript (absolute path)."""

    audio: Path
    text: str
    speaker: str | None = None


@dataclass(frozen=True)
class TestCase:
    """One utterance to synthesize and score."""

    __test__ = False  # not a pytest class, whatever its name

    id: str
    text: str
    references: tuple[PromptVoice, ...] = ()
    language: str = "en"
    category: str = "plain"
    speakers: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    baseline: str | None = None
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def spoken_text(self) -> str:
        """The words to be heard: tags and speaker markers removed."""
        return " ".join(_SPEAKER.sub(" ", _TAG.sub(" ", self.text)).split())

    @property
    def turns(self) -> list[tuple[int, str]]:
        """(speaker index, spoken text) per ``<|speaker:i|>`` turn; one turn of speaker 0 if none."""
        parts = _SPEAKER.split(self.text)
        if len(parts) == 1:
            return [(0, self.spoken_text)]
        turns = []
        for i in range(1, len(parts), 2):
            words = " ".join(_TAG.sub(" ", parts[i + 1]).split())
            if words:
                turns.append((int(parts[i]), words))
        return turns

    def to_json(self, root: Path | None = None) -> dict[str, Any]:
        """A JSONL row; audio paths relative to ``root`` when they lie under it."""
        row = asdict(self)
        row["references"] = [
            {"audio": _rel(r.audio, root), "text": r.text, **({"speaker": r.speaker} if r.speaker else {})}
            for r in self.references
        ]
        row["speakers"], row["tags"] = list(self.speakers), list(self.tags)
        extra = row.pop("extra")
        row.update(extra)
        return {k: v for k, v in row.items() if v not in (None, [], {})}


def load_testset(path: str | Path) -> list[TestCase]:
    """Read a ``.lst`` (Seed-TTS-Eval) or ``.jsonl`` test set. Ids must be unique."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"test set not found: {path}")
    cases = _read_jsonl(path) if path.suffix == ".jsonl" else _read_seed_list(path)
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise EvalError(f"{path}: utterance id {case.id!r} appears twice")
        seen.add(case.id)
    ids = {c.id for c in cases}
    for case in cases:
        if case.baseline is not None and case.baseline not in ids:
            raise EvalError(
                f"{path}: case {case.id!r} names baseline {case.baseline!r}, which is not in the set"
            )
    if not cases:
        raise EvalError(f"{path}: no test cases")
    return resolve_seeds(cases)


def resolve_seeds(cases: list[TestCase]) -> list[TestCase]:
    """A tagged case without a seed takes its baseline's seed, so the pair is generated alike."""
    seeds = {c.id: c.seed for c in cases}
    return [
        replace(c, seed=seeds[c.baseline])
        if c.seed is None and c.baseline in seeds and seeds[c.baseline] is not None
        else c
        for c in cases
    ]


def write_testset(path: str | Path, cases: list[TestCase]) -> Path:
    """Write JSONL; reference paths are stored relative to the file's folder when under it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = path.parent.resolve()
    with open(path, "w", encoding="utf-8") as f:
        for case in cases:
            f.write(json.dumps(case.to_json(root), ensure_ascii=False) + "\n")
    return path


def _read_seed_list(path: Path) -> list[TestCase]:
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("|")
        if len(parts) < 4:
            raise EvalError(
                f"{path}:{n}: expected 'utt|prompt_text|prompt_wav|target_text', got {len(parts)} fields"
            )
        utt, prompt_text, prompt_wav, target = parts[0], parts[1], parts[2], "|".join(parts[3:])
        if not utt.strip() or not target.strip():
            raise EvalError(f"{path}:{n}: empty utterance id or target text")
        refs = (PromptVoice(_abs(prompt_wav, path.parent), prompt_text),) if prompt_wav.strip() else ()
        language = "zh" if re.search(r"[\u4e00-\u9fff]", target) else "en"
        cases.append(TestCase(utt.strip(), target.strip(), refs, language, "clone" if refs else "plain"))
    return cases


def _read_jsonl(path: Path) -> list[TestCase]:
    known = {"id", "text", "references", "language", "category", "speakers", "tags", "baseline", "seed"}
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalError(f"{path}:{n}: not JSON ({exc.msg})") from exc
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("id"), str)
            or not isinstance(row.get("text"), str)
        ):
            raise EvalError(f"{path}:{n}: each line needs string fields 'id' and 'text'")
        try:
            refs = tuple(
                PromptVoice(_abs(r["audio"], path.parent), str(r.get("text", "")), r.get("speaker"))
                for r in row.get("references", [])
            )
        except (KeyError, TypeError) as exc:
            raise EvalError(f"{path}:{n}: each reference needs an 'audio' path") from exc
        seed = row.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise EvalError(f"{path}:{n}: seed must be an integer")
        cases.append(
            TestCase(
                id=row["id"],
                text=row["text"],
                references=refs,
                language=str(row.get("language", "en")),
                category=str(row.get("category", "clone" if refs else "plain")),
                speakers=tuple(str(s) for s in row.get("speakers", [])),
                tags=tuple(str(t) for t in row.get("tags", [])),
                baseline=row.get("baseline"),
                seed=seed,
                extra={k: v for k, v in row.items() if k not in known},
            )
        )
    return cases


def _abs(p: str, root: Path) -> Path:
    path = Path(p.strip())
    return path if path.is_absolute() else (root / path).resolve()


def _rel(p: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(p.resolve().relative_to(root))
        except ValueError:
            pass
    return str(p)
