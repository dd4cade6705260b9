"""The corpus manifest: one row per utterance, as dataclasses and as the Parquet schema on disk.

This module is the single definition of the format; the synthetic corpus generator writes it, the
pipeline's final stage writes it, the training view and the evaluation harness read it.

A corpus directory holds ``manifest.parquet`` (schema ``MANIFEST_SCHEMA``) and the audio files the
rows point at (``path`` is relative to the directory holding the manifest). Columns:

    id            str    unique utterance id within the corpus
    path          str    audio file, relative to the manifest's directory (44.1 kHz mono FLAC/WAV)
    duration_s    f64    audio length in seconds
    sample_rate   i32    sample rate of the file (44100)
    text          str    training text with inline tags, as S2 reads it: "[whisper] some words. [laugh]"
                         dialogues: "<|speaker:0|>turn one<|speaker:1|>turn two"
    plain_text    str    the spoken words only: tags and speaker markers removed
    speaker_id    str    stable pseudo-speaker id (first turn's speaker for a dialogue)
    language      str    ISO 639-1 code ("en", "de", ...)
    source        str    engine that spoke it: "festival", "piper", "espeak" ("mixed" for dialogues
                         whose turns come from different engines); "recording" for real audio
    split         str    "train", "heldout_text" (training speakers, sentences never in train) or
                         "heldout_speaker" (speakers and sentences never in train)
    kind          str    "single" or "dialogue"
    tags          list<TagSpan>  every inline tag: what it says, where it applies, what was done
    turns         list<Turn>     dialogue turns (empty for "single")

TagSpan: ``tag`` (e.g. "whisper", "high pitch", "breath"), ``char_start``/``char_end`` (the span of
``text`` the tag applies to, tag itself excluded; an event such as "[breath]" spans its own tag),
``start_s``/``end_s`` (where that span lies in the audio), ``effect`` (the signal operation applied, e.g.
"tempo", "gain", "pitch_shift", "noise_excited_envelope", "silence", "breath_noise", "voiced_laugh"),
``params_json`` (its parameters as a JSON object, e.g. ``{"factor": 1.4}``, ``{"gain_db": 8.0}``).

Turn: ``speaker_index`` (the i of ``<|speaker:i|>``), ``speaker_id``, ``source``, ``char_start``/
``char_end`` (the turn's words in ``text``), ``start_s``/``end_s``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from s2tts.errors import S2TTSError

MANIFEST_NAME = "manifest.parquet"
SPLITS = ("train", "heldout_text", "heldout_speaker")


class ManifestError(S2TTSError, ValueError):
    """A manifest file is missing, unreadable or lacks required columns."""


@dataclass(frozen=True)
class TagSpan:
    tag: str
    char_start: int
    char_end: int
    start_s: float
    end_s: float
    effect: str
    params_json: str = "{}"

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json)


@dataclass(frozen=True)
class Turn:
    speaker_index: int
    speaker_id: str
    source: str
    char_start: int
    char_end: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Utterance:
    id: str
    path: str
    duration_s: float
    sample_rate: int
    text: str
    plain_text: str
    speaker_id: str
    language: str
    source: str
    split: str
    kind: str = "single"
    tags: tuple[TagSpan, ...] = field(default_factory=tuple)
    turns: tuple[Turn, ...] = field(default_factory=tuple)

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["tags"] = [asdict(t) for t in self.tags]
        row["turns"] = [asdict(t) for t in self.turns]
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Utterance:
        data = dict(row)
        data["tags"] = tuple(TagSpan(**t) for t in data.get("tags") or ())
        data["turns"] = tuple(Turn(**t) for t in data.get("turns") or ())
        return cls(**{k: data[k] for k in _FIELDS})


_TAG_TYPE = pa.struct(
    [
        ("tag", pa.string()),
        ("char_start", pa.int32()),
        ("char_end", pa.int32()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("effect", pa.string()),
        ("params_json", pa.string()),
    ]
)
_TURN_TYPE = pa.struct(
    [
        ("speaker_index", pa.int32()),
        ("speaker_id", pa.string()),
        ("source", pa.string()),
        ("char_start", pa.int32()),
        ("char_end", pa.int32()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
    ]
)
MANIFEST_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("path", pa.string()),
        ("duration_s", pa.float64()),
        ("sample_rate", pa.int32()),
        ("text", pa.string()),
        ("plain_text", pa.string()),
        ("speaker_id", pa.string()),
        ("language", pa.string()),
        ("source", pa.string()),
        ("split", pa.string()),
        ("kind", pa.string()),
        ("tags", pa.list_(_TAG_TYPE)),
        ("turns", pa.list_(_TURN_TYPE)),
    ]
)
_FIELDS = tuple(MANIFEST_SCHEMA.names)


def to_table(utterances: list[Utterance]) -> pa.Table:
    return pa.Table.from_pylist([u.to_row() for u in utterances], schema=MANIFEST_SCHEMA)


def write_manifest(path: str | Path, utterances: list[Utterance]) -> None:
    """Write rows atomically (a temporary file renamed over ``path``)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(to_table(utterances), tmp)
    tmp.replace(path)


def read_manifest(path: str | Path) -> list[Utterance]:
    """Rows of a manifest file (or of ``DIR/manifest.parquet`` when given a directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.exists():
        raise ManifestError(f"manifest not found: {path}")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc}") from exc
    missing = [n for n in _FIELDS if n not in table.column_names]
    if missing:
        raise ManifestError(f"manifest {path} lacks columns: {', '.join(missing)}")
    return [Utterance.from_row(r) for r in table.select(list(_FIELDS)).to_pylist()]
