"""A checkpoint's ``text_frontend`` reaches the engine: a tiny checkpoint written with the espeak front
end loads with it and the engine prefills phoneme prompts; old configs without the field read text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s2tts.checkpoint import init_checkpoint, load_checkpoint
from s2tts.cli import main
from s2tts.errors import TextFrontendError
from s2tts.inference.engine import EngineConfig, TTSEngine
from s2tts.inference.params import SamplingParams
from s2tts.inference.types import SynthesisRequest
from s2tts.models.codec import load_codec
from s2tts.text.frontend import PHONEME_START
from s2tts.text.prompt import IterativePrompt, PromptBuilder


@pytest.fixture(scope="module")
def espeak_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny-espeak")
    assert main(["init-checkpoint", str(out), "--text-frontend", "espeak"]) == 0
    return out


def test_engine_prefills_phoneme_prompts(espeak_dir: Path) -> None:
    assert json.loads((espeak_dir / "config.json").read_text())["text_frontend"] == "espeak"
    ckpt = load_checkpoint(espeak_dir)
    assert ckpt.config.text_frontend == "espeak" and ckpt.frontend.kind == "espeak"
    text = "Hello world, 42 zorblaxes."
    with TTSEngine(ckpt, load_codec(espeak_dir), EngineConfig(max_sessions=1, max_seq_len=1024)) as engine:
        frames = SamplingParams(max_new_tokens=5, min_new_tokens=5)
        chunks = list(engine.iter_stream(SynthesisRequest(text, sampling=frames, seed=0)))
        prompt = IterativePrompt(engine.builder, text).next_prompt()
    metrics = chunks[-1].metrics
    assert metrics is not None and metrics["frames"] == 4
    assert metrics["prefill_tokens"] == prompt.shape[1]
    tok = ckpt.tokenizer
    said = tok.decode([i for i in prompt[0].tolist() if i < tok.semantic_begin_id])
    assert PHONEME_START in said and "həlˈoʊ wˈɜːld," in said and "Hello" not in said
    # the same checkpoint read as raw text would have prefilled another prompt
    raw = IterativePrompt(PromptBuilder(tok, ckpt.config.num_codebooks, ckpt.config.codebook_size), text)
    assert raw.next_prompt().shape[1] != prompt.shape[1]


def test_a_request_names_its_language(espeak_dir: Path) -> None:
    ckpt = load_checkpoint(espeak_dir)
    text = "Guten Tag, wie geht es Ihnen?"
    frames = SamplingParams(max_new_tokens=3, min_new_tokens=3)
    with TTSEngine(ckpt, load_codec(espeak_dir), EngineConfig(max_sessions=1, max_seq_len=1024)) as engine:
        chunks = list(engine.iter_stream(SynthesisRequest(text, sampling=frames, seed=0, language="de")))
        german = IterativePrompt(engine.builder, text, language="de").next_prompt()
        english = IterativePrompt(engine.builder, text).next_prompt()
        with pytest.raises(TextFrontendError, match="bad language"):
            engine.synthesize(SynthesisRequest(text, sampling=frames, language="-x"))
    metrics = chunks[-1].metrics
    assert metrics is not None and metrics["prefill_tokens"] == german.shape[1] != english.shape[1]
    said = ckpt.tokenizer.decode([i for i in german[0].tolist() if i < ckpt.tokenizer.semantic_begin_id])
    assert "ɡˈuːtən tˈɑːk," in said


def test_config_without_the_field_reads_text(tmp_path: Path) -> None:
    directory = init_checkpoint(tmp_path / "old", "tiny", codec_preset=None)
    config = json.loads((directory / "config.json").read_text())
    assert config.pop("text_frontend") == "text"
    (directory / "config.json").write_text(json.dumps(config))
    ckpt = load_checkpoint(directory)
    assert ckpt.config.text_frontend == "text" and ckpt.frontend.kind == "text"
    assert ckpt.prompt_builder().frontend("Hello, 42.") == "Hello, 42."
    config["text_frontend"] = "arpabet"
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(TextFrontendError, match="unknown text front end 'arpabet'"):
        load_checkpoint(directory)
