"""RL prompts are phonemised in their own language by a phoneme model's prompt builder."""

from __future__ import annotations

from s2tts.text.frontend import TextFrontend
from s2tts.text.prompt import PromptBuilder
from s2tts.text.tokenizer import make_byte_tokenizer
from s2tts.training.rl.prompts import build_prompts
from s2tts.training.rl.rollout import RLPrompt


def test_each_prompt_is_read_in_its_language() -> None:
    tok = make_byte_tokenizer(64)
    builder = PromptBuilder(tok, 3, 64, frontend=TextFrontend("espeak"))
    german, english = build_prompts(
        builder, [RLPrompt("Guten Tag, wie geht es?", language="de"), RLPrompt("Guten Tag, wie geht es?")]
    )
    said = tok.decode(german[0].tolist())
    assert "ɡˈuːtən tˈɑːk," in said and "Guten" not in said
    assert tok.decode(english[0].tolist()) != said  # English rules read the same words otherwise
