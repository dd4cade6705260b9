"""Pipeline records: one flat dict per item (a file, then a segment), the same columns at every stage.

A stage's Parquet table (``OUT/stages/<stage>/part-*.parquet``, schema ``RECORD_SCHEMA``) holds one
row per output record plus ``key``: the key of the input record it came from, so a re-run knows which
inputs are done. ``status`` is "ok" (goes on to the next stage), "quarantined" (a bad file: unreadable,
empty, silent, too short, not audio) or "dropped" (a quality decision); ``reason`` says why and
``scores`` (a JSON object) holds every measurement so far, so each decision is recorded with its
scores.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

RECORD_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("id", pa.string()),
        ("source_path", pa.string()),
        ("audio", pa.string()),
        ("content_hash", pa.string()),
        ("duration_s", pa.float64()),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("text", pa.string()),
        ("plain_text", pa.string()),
        ("speaker_id", pa.string()),
        ("language", pa.string()),
        ("split", pa.string()),
        ("source", pa.string()),
        ("kind", pa.string()),
        ("tags", pa.string()),
        ("turns", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("scores", pa.string()),
        ("shard", pa.string()),
        ("offset", pa.int64()),
        ("frames", pa.int32()),
    ]
)
_DEFAULTS: dict[str, Any] = {
    "key": "", "id": "", "source_path": "", "audio": "", "content_hash": "", "duration_s": 0.0,
    "start_s": 0.0, "end_s": 0.0, "text": "", "plain_text": "", "speaker_id": "", "language": "",
    "split": "train", "source": "recording", "kind": "single", "tags": "[]", "turns": "[]",
    "status": "ok", "reason": "", "scores": "{}", "shard": "", "offset": 0, "frames": 0,
}  # fmt: skip


def new_record(**fields: Any) -> dict[str, Any]:
    unknown = set(fields) - set(_DEFAULTS)
    if unknown:
        raise KeyError(f"unknown record fields: {sorted(unknown)}")
    return {**_DEFAULTS, **fields}


def derive(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of ``record`` with ``changes``; ``scores`` given as a dict are merged into the old ones."""
    out = dict(record)
    if "scores" in changes and isinstance(changes["scores"], dict):
        changes["scores"] = json.dumps({**json.loads(record["scores"]), **changes["scores"]}, sort_keys=True)
    out.update(changes)
    return out


def reject(record: dict[str, Any], status: str, reason: str, scores: dict | None = None) -> dict[str, Any]:
    return derive(record, status=status, reason=reason, scores=scores or {})


def stage_key(stage: str, config: dict[str, Any], record: dict[str, Any]) -> str:
    """Identity of (stage settings, input item): settings, item id and audio content hash."""
    blob = json.dumps([stage, config, record["id"], record["content_hash"]], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def file_hash(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_part(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write a part file atomically: it either exists complete or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp")
    pq.write_table(pa.Table.from_pylist(rows, schema=RECORD_SCHEMA), tmp)
    tmp.replace(path)


def read_parts(directory: Path) -> list[dict[str, Any]]:
    """Every row of a stage's part files, in file-name order."""
    rows: list[dict[str, Any]] = []
    for part in sorted(directory.glob("part-*.parquet")):
        rows.extend(pq.read_table(part, schema=RECORD_SCHEMA).to_pylist())
    return rows
