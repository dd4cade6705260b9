"""Codecs under the evaluation harness: each case's original audio as it is (``originals``) and
through a codec's encode + decode (``codec:DIR``), scored by real Whisper on real festival speech."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from s2tts.errors import EvalError
from s2tts.eval.runner import run_eval
from s2tts.eval.scoring import ScorerConfig, Scorers
from s2tts.eval.systems import ResynthesisSystem, open_system
from s2tts.eval.testset import TestCase
from s2tts.models.codec.codec import Codec
from s2tts.models.codec.config import CodecConfig
from s2tts.models.codec.weights import save_codec

from .speech import SENTENCES


@pytest.fixture(scope="module")
def cases(speech: dict[str, Path]) -> list[TestCase]:
    return [
        TestCase(f"o-{key}", SENTENCES[key[-1]], extra={"original": str(speech[key])})
        for key in ("kal_a", "slt_b")
    ]


@pytest.fixture(scope="module")
def untrained_codec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("codec")
    save_codec(Codec(CodecConfig.preset("tiny")).eval(), folder / "codec.safetensors")
    return folder


def test_originals_score_as_speech_and_an_untrained_codec_does_not(
    cases: list[TestCase], untrained_codec: Path, tmp_path: Path
) -> None:
    scorers = Scorers(ScorerConfig(asr="tiny.en", asr_beam_size=1, quality=False, speaker=False))
    originals = run_eval(open_system("originals"), cases, tmp_path / "orig", scorers, progress=False)
    codec = open_system(f"codec:{untrained_codec}")
    resynth = run_eval(codec, cases, tmp_path / "codec", scorers, progress=False)
    assert originals["wer"] <= 0.1  # festival speech, the ceiling
    assert resynth["wer"] >= 0.8  # a random codec keeps no words
    assert resynth["meta"]["system"]["kind"] == "codec" and resynth["rtf"] > 0
    generated = next(codec.generate(cases[:1]))
    assert generated.sample_rate == 44100 and generated.audio.shape[0] % 2048 == 0


def test_cases_without_an_original_are_refused_up_front(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="no original audio for p"):
        ResynthesisSystem(None).generate([TestCase("p", "hello")])
    with pytest.raises(EvalError, match="codec:"):
        open_system(f"codec:{tmp_path}")


def test_speaker_identification_among_the_test_sets_voices(speech: dict[str, Path], tmp_path: Path) -> None:
    """Real festival voices: each recording is closest to its own speaker's other recordings; a
    case whose reference names the wrong speaker is counted as a miss."""
    from s2tts.eval.testset import PromptVoice

    def case(audio: str, ref: str, speaker: str) -> TestCase:
        voice = PromptVoice(speech[ref], SENTENCES[ref[-1]], speaker)
        return TestCase(f"{audio}-{ref}", SENTENCES[audio[-1]], (voice,), category="clone",
                        extra={"original": str(speech[audio])})  # fmt: skip

    cases = [
        case("kal_a", "kal_d", "kal"),
        case("slt_a", "slt_d", "slt"),
        case("slt_b", "slt_c", "slt"),
        case("kal_b", "slt_c", "slt"),  # kal's voice given slt's reference: misidentified
    ]
    scorers = Scorers(ScorerConfig(asr="tiny.en", asr_beam_size=1, quality=False))
    summary = run_eval(open_system("originals"), cases, tmp_path / "r", scorers, progress=False)
    assert summary["speaker_id_accuracy"] == 0.75
    assert summary["speaker_id_cases"] == 4 and summary["speaker_id_candidates"] == 2
    assert "Speaker identification" in (tmp_path / "r" / "report.md").read_text()
