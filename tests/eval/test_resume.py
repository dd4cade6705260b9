"""A stopped evaluation resumes: the same run again generates only what its journal lacks, and
scores exactly what a straight run scores (real festival speech through the ``originals`` system,
real Whisper tiny.en)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s2tts.errors import EvalError
from s2tts.eval.journal import JOURNAL
from s2tts.eval.runner import run_eval
from s2tts.eval.scoring import ScorerConfig, Scorers
from s2tts.eval.systems import Generated, System, open_system
from s2tts.eval.testset import TestCase

from .speech import SENTENCES


class Killed(Exception):
    pass


class StopsAfter:
    """A real system whose run is killed after ``n`` cases (as a session's end kills a process)."""

    def __init__(self, inner: System, n: int) -> None:
        self.inner, self.n, self.name = inner, n, inner.name

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def generate(self, cases: list[TestCase]) -> Iterator[Generated]:
        for i, generated in enumerate(self.inner.generate(cases)):
            if i == self.n:
                raise Killed
            yield generated

    def close(self) -> None:
        pass


@pytest.fixture
def cases(speech: dict[str, Path], tmp_path: Path) -> list[TestCase]:
    """Three cases whose originals are copies the test may delete."""
    root = tmp_path / "originals"
    root.mkdir()
    out = []
    for key in ("kal_a", "slt_b", "kal_c"):
        copy = shutil.copy(speech[key], root / f"{key}.wav")
        out.append(TestCase(f"o-{key}", SENTENCES[key[-1]], extra={"original": str(copy)}))
    return out


@pytest.fixture(scope="module")
def scorers() -> Scorers:
    return Scorers(ScorerConfig(asr="tiny.en", asr_beam_size=1, quality=False, speaker=False))


def records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "utterances.jsonl").read_text().splitlines()]


def test_a_killed_run_resumes_without_generating_again(
    cases: list[TestCase], scorers: Scorers, tmp_path: Path
) -> None:
    straight = run_eval(open_system("originals"), cases, tmp_path / "straight", scorers, progress=False)
    out = tmp_path / "resumed"
    with pytest.raises(Killed):
        run_eval(StopsAfter(open_system("originals"), 2), cases, out, scorers, progress=False)
    assert not (out / "summary.json").exists()
    journal = (out / JOURNAL).read_text().splitlines()
    assert len(journal) == 3  # the system, then the two cases made before the kill
    for case in cases[:2]:  # the originals system refuses a case without its file, up front
        Path(case.extra["original"]).unlink()
    resumed = run_eval(open_system("originals"), cases, out, scorers, progress=False)
    assert resumed["meta"]["resumed"] == 2 and resumed["n"] == 3
    assert not (out / JOURNAL).exists()  # the report is written: nothing left to resume
    for a, b in zip(records(tmp_path / "straight"), records(out), strict=True):
        assert a["id"] == b["id"] and a["transcript"] == b["transcript"] and a["wer"] == b["wer"]
    assert resumed["wer"] == straight["wer"] <= 0.2  # festival speech, scored


def test_a_changed_case_or_a_cut_line_is_generated_again(
    cases: list[TestCase], scorers: Scorers, tmp_path: Path
) -> None:
    out = tmp_path / "r"
    with pytest.raises(Killed):
        run_eval(StopsAfter(open_system("originals"), 2), cases, out, scorers, progress=False)
    with open(out / JOURNAL, "a") as f:
        f.write('{"id": "o-kal_c", "audio": "audio/o-k')  # the kill cut the third line short
    changed = [TestCase(cases[0].id, SENTENCES["d"], extra=cases[0].extra), *cases[1:]]
    summary = run_eval(open_system("originals"), changed, out, scorers, progress=False)
    assert summary["meta"]["resumed"] == 1  # only the unchanged second case was kept
    first = records(out)[0]
    assert first["text"] == SENTENCES["d"] and first["wer"] > 0.5  # kal says sentence a, not d


def test_another_systems_unfinished_run_is_refused(
    cases: list[TestCase], speech: dict[str, Path], scorers: Scorers, tmp_path: Path
) -> None:
    out = tmp_path / "r"
    with pytest.raises(Killed):
        run_eval(StopsAfter(open_system("originals"), 1), cases, out, scorers, progress=False)
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    for case in cases:
        shutil.copy(case.extra["original"], wavs / f"{case.id}.wav")
    with pytest.raises(EvalError, match="unfinished run of another system"):
        run_eval(open_system(f"wavs:{wavs}"), cases, out, scorers, progress=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("not a report")
    with pytest.raises(EvalError, match="not an earlier report folder"):
        run_eval(open_system("originals"), cases, other, scorers, progress=False)
