"""The generation journal of an evaluation run: what lets a stopped run resume.

Generating a test set can take an hour (two-minute long-form cases on a CPU); scoring needs all of
it. While a run generates, ``out/generated.jsonl`` gets one line per finished case (flushed at
once): the case's record without scores, plus a key of the case as the test set wrote it. Its first
line names the system. Run the same command again after a stop and the cases whose line and audio
file are there are not generated again; a run of another system or a changed case is refused or
redone. The journal is deleted once the report is written.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any, TextIO

from s2tts.errors import EvalError
from s2tts.eval.testset import TestCase

JOURNAL = "generated.jsonl"


def case_key(case: TestCase) -> str:
    """A fingerprint of everything that makes the case's audio (text, references, seed, tags...)."""
    row = json.dumps(case.to_json(), sort_keys=True, ensure_ascii=False, default=str)
    return f"{zlib.crc32(row.encode()):08x}"


def read_journal(out: Path, cases: list[TestCase], system: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The records of ``cases`` already generated into ``out`` by the same system (by case id).

    A line counts when its case key matches the case as given now and its audio file (if it made
    any) is there. A journal of another system raises ``EvalError``; a last line cut short by the
    stop is ignored.
    """
    path = out / JOURNAL
    if not path.is_file():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    header = _parse(lines[0]) if lines else None
    if header is None or "system" not in header:
        return {}
    if header["system"] != system:
        raise EvalError(
            f"{out} holds an unfinished run of another system ({header['system'].get('name')}, "
            f"{_differs(header['system'], system)}); choose an empty --out or delete {path.name}"
        )
    keys = {c.id: case_key(c) for c in cases}
    done: dict[str, dict[str, Any]] = {}
    for line in lines[1:]:
        row = _parse(line)
        if row is None or keys.get(row.get("id")) != row.get("key"):
            continue
        if row.get("audio") is not None and not (out / row["audio"]).is_file():
            continue
        done[row["id"]] = {k: v for k, v in row.items() if k != "key"}
    return done


def open_journal(out: Path, system: dict[str, Any], done: list[tuple[TestCase, dict[str, Any]]]) -> TextIO:
    """A journal for this run: the system, then the cases already done (rewritten without any stale
    or cut line); the caller adds one line per case it generates with ``append``."""
    f = open(out / JOURNAL, "w", encoding="utf-8")  # noqa: SIM115 -- the caller's with-block closes it
    f.write(json.dumps({"system": system}, ensure_ascii=False) + "\n")
    for case, record in done:
        append(f, case, record)
    return f


def append(f: TextIO, case: TestCase, record: dict[str, Any]) -> None:
    f.write(json.dumps({**record, "key": case_key(case)}, ensure_ascii=False) + "\n")
    f.flush()


def _parse(line: str) -> dict[str, Any] | None:
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    return row if isinstance(row, dict) else None


def _differs(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return "differs in " + ", ".join(keys)
