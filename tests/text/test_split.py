"""Long-text splitting: sentence, then clause, then word, then character boundaries within a byte budget."""

from __future__ import annotations

import pytest

from s2tts.text.prompt import split_batches
from s2tts.text.split import pack_pieces, split_text, utf8_len


def test_sentences_first() -> None:
    text = "First sentence. Second one, with a clause. Third!"
    assert split_text(text, 30) == ["First sentence.", "Second one, with a clause.", "Third!"]
    assert split_text(text, 100) == [text]  # fits: one piece


def test_pieces_are_packed_up_to_the_budget() -> None:
    text = "A. B. C. D. E. F."
    assert split_text(text, 6) == ["A. B.", "C. D.", "E. F."]


def test_clauses_then_words_when_a_sentence_is_too_long() -> None:
    text = "This part comes first, this part comes second; and a third part comes last."
    assert split_text(text, 30) == [
        "This part comes first,",
        "this part comes second;",
        "and a third part comes last.",
    ]
    words = split_text("one two three four five six seven eight nine ten", 14)
    assert words == ["one two three", "four five six", "seven eight", "nine ten"]


def test_characters_for_one_very_long_word() -> None:
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_budget_is_in_utf8_bytes() -> None:
    text = "é" * 30  # 60 bytes
    pieces = split_text(text, 20)
    assert pieces == ["é" * 10] * 3


def test_tags_stay_with_the_text_they_precede() -> None:
    text = "Hello there my friend [super happy] how are you doing today"
    pieces = split_text(text, 20)
    assert all(utf8_len(p) <= 20 for p in pieces)
    tagged = [p for p in pieces if "[super happy]" in p]
    assert tagged and tagged[0].startswith("[super happy] ")  # never "... [super happy]" + "how ..."
    assert " ".join(pieces) == text
    # A tag is never broken, even when the budget is smaller than the tag.
    assert "[super happy]" in " ".join(split_text("[super happy] yes", 4)).split(" yes")[0]


def test_special_tokens_are_never_cut() -> None:
    pieces = split_text("<|speaker:12|>abcdefghijklmnop", 6)
    assert pieces[0].startswith("<|speaker:12|>")


@pytest.mark.parametrize(
    "text",
    [
        "今天天气很好。我们去公园散步吧！你觉得怎么样？好的，我们走吧。" * 20,  # Chinese, no spaces
        "きょうはいいてんきですね。こうえんにいきましょう。" * 20,  # Japanese
        "สวัสดีครับวันนี้อากาศดีมากเราไปเดินเล่นกันไหม" * 10,  # Thai, no punctuation or spaces
    ],
)
def test_scripts_without_spaces(text: str) -> None:
    pieces = split_text(text, 60)
    assert len(pieces) > 1
    assert all(utf8_len(p) <= 60 for p in pieces)
    assert "".join(pieces) == text  # nothing lost, nothing added
    assert not any(p[0] in "。！？，" for p in pieces)  # no piece starts with closing punctuation


def test_twenty_thousand_characters() -> None:
    text = ("The quick brown fox jumps over the lazy dog, and then it runs away. " * 300)[:20_000]
    pieces = split_text(text, 200)
    assert all(utf8_len(p) <= 200 for p in pieces)
    assert " ".join(pieces).split() == text.split()
    assert sum(p.endswith(".") for p in pieces) >= len(pieces) - 1  # whole sentences where they fit


def test_forty_turn_dialogue_keeps_turns_whole() -> None:
    turns = [f"<|speaker:{i % 2}|>Turn {i}: a short line of dialogue." for i in range(40)]
    batches = split_batches("".join(turns), 200)
    flat = [line for b in batches for line in b.split("\n")]
    assert flat == turns  # every turn intact and in order
    assert all(b.count("<|speaker:") <= 5 for b in batches)


def test_pack_pieces() -> None:
    assert pack_pieces(["aa", "bb", "cc"], 4, 5) == [["aa", "bb"], ["cc"]]
    assert pack_pieces(["aaaaaa", "b"], 4, 5) == [["aaaaaa"], ["b"]]  # an oversized piece stands alone
    assert pack_pieces(["a", "b", "c"], 100, 2) == [["a", "b"], ["c"]]


def test_empty_and_bad_budget() -> None:
    assert split_text("   ", 10) == []
    with pytest.raises(ValueError):
        split_text("x", 0)
