"""Reading Seed-TTS-Eval lists and s2tts JSONL test sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s2tts.errors import EvalError
from s2tts.eval.testset import PromptVoice, TestCase, load_testset, write_testset


def test_seed_tts_eval_list_resolves_paths_relative_to_the_list(tmp_path: Path) -> None:
    (tmp_path / "prompt-wavs").mkdir()
    lst = tmp_path / "meta.lst"
    lst.write_text(
        "utt1|Prompt words here.|prompt-wavs/p1.wav|Target sentence one.\n"
        "\n"
        "utt2|你好。|prompt-wavs/p2.wav|今天天气很好|还有竖线\n"
    )
    cases = load_testset(lst)
    assert [c.id for c in cases] == ["utt1", "utt2"]
    assert cases[0].references[0].audio == (tmp_path / "prompt-wavs" / "p1.wav").resolve()
    assert cases[0].references[0].text == "Prompt words here."
    assert cases[0].text == "Target sentence one." and cases[0].language == "en"
    assert cases[0].category == "clone"
    assert cases[1].language == "zh" and cases[1].text == "今天天气很好|还有竖线"


def test_jsonl_carries_tags_speakers_baseline_and_extra_fields(tmp_path: Path) -> None:
    rows = [
        {"id": "p", "text": "The train leaves at nine.", "seed": 3},
        {
            "id": "t",
            "text": "[fast] The train leaves at nine.",
            "tags": ["fast"],
            "baseline": "p",
            "seed": 3,
            "category": "tagged",
            "references": [{"audio": "refs/a.wav", "text": "Ref.", "speaker": "spk1"}],
            "speakers": ["spk1"],
            "effects": {"fast": 1.3},
        },
        {"id": "d", "text": "<|speaker:0|>Hi. [laugh] <|speaker:1|>Hello there.", "language": "en"},
    ]
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cases = {c.id: c for c in load_testset(path)}
    t = cases["t"]
    assert t.tags == ("fast",) and t.baseline == "p" and t.seed == 3
    assert t.references == (PromptVoice((tmp_path / "refs" / "a.wav").resolve(), "Ref.", "spk1"),)
    assert t.extra == {"effects": {"fast": 1.3}}
    assert t.spoken_text == "The train leaves at nine."
    assert cases["d"].turns == [(0, "Hi."), (1, "Hello there.")]
    again = load_testset(write_testset(tmp_path / "copy" / "set.jsonl", list(cases.values())))
    assert again == list(cases.values())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json\n", "not JSON"),
        ('{"id": "a"}\n', "'id' and 'text'"),
        ('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', "appears twice"),
        ('{"id": "a", "text": "x", "baseline": "zz"}\n', "baseline 'zz'"),
        ('{"id": "a", "text": "x", "seed": "1"}\n', "seed must be an integer"),
        ('{"id": "a", "text": "x", "references": [{"text": "no audio"}]}\n', "'audio' path"),
        ("\n", "no test cases"),
    ],
)
def test_bad_jsonl_is_a_typed_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(EvalError, match=message):
        load_testset(path)


def test_bad_list_line_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.lst"
    path.write_text("only|three|fields\n")
    with pytest.raises(EvalError, match="bad.lst:1"):
        load_testset(path)
    with pytest.raises(FileNotFoundError):
        load_testset(tmp_path / "absent.lst")


def test_case_without_turn_markers_is_one_turn() -> None:
    assert TestCase("x", "[soft] Hello world.").turns == [(0, "Hello world.")]
