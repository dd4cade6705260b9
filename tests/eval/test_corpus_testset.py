"""Writing a test set from a corpus manifest (the data pipeline's schema, real Parquet I/O)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from s2tts.cli import main
from s2tts.data.manifest import TagSpan, Turn, Utterance, write_manifest
from s2tts.errors import EvalError
from s2tts.eval.corpus_testset import write_corpus_testset, write_voice_testset
from s2tts.eval.testset import load_testset

from .speech import SENTENCES


def _row(uid: str, path: str, text: str, speaker: str, split: str, **kw: object) -> Utterance:
    plain = kw.pop("plain_text", text)
    return Utterance(
        uid, path, 3.0, 44100, text, plain, speaker, kw.pop("language", "en"), "festival", split, **kw
    )  # type: ignore[arg-type]


@pytest.fixture
def corpus(speech: dict[str, Path], tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "audio").mkdir(parents=True)
    for key in ("kal_a", "kal_b", "slt_a", "slt_b", "ked_a"):
        shutil.copy(speech[key], root / "audio" / f"{key}.wav")
    a, b = SENTENCES["a"], SENTENCES["b"]
    rows = [
        _row("tr1", "audio/kal_a.wav", a, "kal", "train"),
        _row("ht1", "audio/kal_b.wav", b, "kal", "heldout_text"),
        _row("hs1", "audio/slt_a.wav", a, "slt", "heldout_speaker"),
        _row("hs2", "audio/slt_b.wav", b, "slt", "heldout_speaker"),
        _row("hs3", "audio/ked_a.wav", a, "ked", "heldout_speaker"),
        _row(
            "tag1",
            "audio/slt_a.wav",
            f"We will meet again [fast] {a[19:]}",
            "slt",
            "heldout_speaker",
            plain_text=a,
            tags=(TagSpan("fast", 19, len(a) + 7, 1.0, 3.0, "tempo", '{"factor": 1.4}'),),
        ),
        _row(
            "dlg1",
            "audio/kal_a.wav",
            f"<|speaker:0|>{a}<|speaker:1|>{b}",
            "kal",
            "heldout_text",
            plain_text=f"{a} {b}",
            kind="dialogue",
            turns=(
                Turn(0, "kal", "festival", 13, 13 + len(a), 0.0, 3.0),
                Turn(1, "slt", "festival", 0, 0, 3.0, 6.0),
            ),
        ),
        _row("de1", "audio/kal_b.wav", "Das Wetter ist heute schön.", "kal", "heldout_text", language="de"),
    ]
    rows += [
        _row(f"ht-long{i}", "audio/kal_b.wav", SENTENCES["cd"[i % 2]], "kal", "heldout_text")
        for i in range(16)
    ]
    write_manifest(root / "manifest.parquet", rows)
    return root


def test_testset_from_corpus_has_every_category(corpus: Path, tmp_path: Path) -> None:
    path, counts = write_corpus_testset(
        corpus, tmp_path / "set" / "eval.jsonl", per_category=3, seed=1, long_words=30
    )
    cases = {c.id: c for c in load_testset(path)}
    # dialogue: the held-out row + 3 composed for the two held-out speakers; long: 3, one voice each
    assert counts == {"plain": 3, "clone": 2, "tagged": 2, "dialogue": 4, "long": 3, "multilingual": 1}
    assert not any("tr1" in uid for uid in cases)  # training rows never appear
    clone = cases["clone-hs1"]
    assert clone.references[0].audio == (corpus / "audio" / "slt_b.wav").resolve()  # another utterance
    tagged = cases["tag-tag1-0"]
    assert tagged.text == f"[fast] {SENTENCES['a']}" and tagged.baseline == "tag-tag1-plain"
    assert cases[tagged.baseline].text == SENTENCES["a"] and cases[tagged.baseline].seed == tagged.seed
    dialogue = cases["dialogue-dlg1"]
    assert [r.speaker for r in dialogue.references] == ["kal", "slt"]
    composed = cases["dialogue-held-000"]
    assert set(composed.speakers) == {"slt", "ked"} and [r.speaker for r in composed.references] == list(
        composed.speakers
    )
    assert composed.text.startswith("<|speaker:0|>") and "<|speaker:1|>" in composed.text
    assert len(composed.turns) >= 2 and all(t in SENTENCES.values() for _, t in composed.turns)
    long = next(c for c in cases.values() if c.category == "long")
    sentences = [s for s in SENTENCES.values() if s in long.text]
    assert len(long.text.split()) >= 30 and long.references and len(sentences) >= 3
    assert sum(len(s.split()) for s in sentences) == len(long.text.split())  # each sentence once
    assert cases["de-de1"].language == "de"
    # single-row cases carry their row's audio (what the originals and codec:DIR systems read)
    assert cases["clone-hs1"].extra["original"] == str((corpus / "audio" / "slt_a.wav").resolve())
    assert cases["de-de1"].extra["original"] == str((corpus / "audio" / "kal_b.wav").resolve())
    assert "original" not in dialogue.extra and "original" not in tagged.extra
    again, _ = write_corpus_testset(corpus, tmp_path / "again.jsonl", per_category=3, seed=1, long_words=30)
    assert [c.to_json() for c in load_testset(again)] == [c.to_json() for c in load_testset(path)]


def test_references_are_3_to_10_seconds_when_the_speaker_has_such(
    speech: dict[str, Path], tmp_path: Path
) -> None:
    """A reference is drawn from the speaker's 3-10 s utterances (the cloning target's length; a long
    one crowds a small model's context); a speaker with none still gets one of the others."""
    root = tmp_path / "corpus"
    (root / "audio").mkdir(parents=True)
    shutil.copy(speech["slt_a"], root / "audio" / "a.wav")
    seconds = {
        "slt-a": 4.0,
        "slt-long": 14.0,
        "slt-short": 1.5,
        "slt-ok": 6.0,
        "ked-a": 4.0,
        "ked-long": 12.0,
    }
    rows = [
        Utterance(
            uid,
            "audio/a.wav",
            s,
            44100,
            f"Sentence {uid}.",
            f"Sentence {uid}.",
            uid.split("-")[0],
            "en",
            "festival",
            "heldout_speaker",
        )  # fmt: skip
        for uid, s in seconds.items()
    ]
    write_manifest(root / "manifest.parquet", rows)
    for seed in range(6):
        path, _ = write_corpus_testset(root, tmp_path / f"set{seed}.jsonl", per_category=10, seed=seed)
        cases = {c.id: c for c in load_testset(path)}
        drawn = {r.text for c in cases.values() for r in c.references}
        assert drawn & {"Sentence slt-a.", "Sentence slt-ok."} and "Sentence slt-long." not in drawn
        assert "Sentence slt-short." not in drawn
        assert cases["clone-slt-a"].references[0].text == "Sentence slt-ok."  # another utterance, 3-10 s
        # ked's only 3-10 s utterance is the case's own sentence: the 12 s one, rather than none
        assert cases["clone-ked-a"].references[0].text == "Sentence ked-long."


def test_cli_and_errors(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval-testset", "--corpus", str(corpus), "--out", str(tmp_path / "t.jsonl")]) == 0
    assert '"clone": 2' in capsys.readouterr().out
    with pytest.raises(EvalError, match="manifest not found"):
        write_corpus_testset(tmp_path / "nowhere", tmp_path / "x.jsonl")
    assert (
        main(["eval-testset", "--corpus", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.jsonl")]) == 1
    )
    assert "manifest not found" in capsys.readouterr().err


def test_a_voice_test_set_holds_one_speakers_own_utterances(corpus: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "kal.jsonl"
    assert main(["eval-testset", "--corpus", str(corpus), "--out", str(out), "--speaker", "kal",
                 "--per-category", "5"]) == 0  # fmt: skip
    assert '"plain": 5' in capsys.readouterr().out
    cases = load_testset(out)
    # held-out sentences first (ht1, then the long-form pool's rows), never a tagged, dialogue or German row
    assert [c.id for c in cases][:1] == ["voice-ht1"] and len(cases) == 5
    assert all(c.category == "plain" and c.language == "en" and not c.references for c in cases)
    assert all(Path(c.extra["original"]).is_file() for c in cases)
    ids = {c.id for c in load_testset(write_voice_testset(corpus, tmp_path / "all.jsonl", "kal", 100)[0])}
    assert "voice-tr1" in ids and "voice-de1" not in ids and "voice-dlg1" not in ids and len(ids) == 18
    with pytest.raises(EvalError, match="no English single untagged utterance of speaker 'nobody'"):
        write_voice_testset(corpus, tmp_path / "x.jsonl", "nobody")
    assert main(["eval-testset", "--corpus", str(corpus), "--out", str(out), "--per-category", "0"]) == 1
    assert "--per-category must be >= 1" in capsys.readouterr().err
