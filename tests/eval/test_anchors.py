"""The anchors: the harness scores known cases as it must, with the real models on real speech.

* festival originals are transcribed almost perfectly by Whisper base (WER ~ 0);
* the same voice saying the words in another order, or buried in noise, scores worse;
* the same speaker is more similar to itself than to another speaker;
* batching does not change what Whisper hears.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from s2tts.eval.audio import load_16k
from s2tts.eval.scoring import Scorers
from s2tts.eval.testset import PromptVoice, TestCase

from .speech import SENTENCES, festival, noisy

pytestmark = pytest.mark.slow


def _case(key: str, ref: Path | None = None) -> TestCase:
    refs = (PromptVoice(ref, "reference"),) if ref else ()
    return TestCase(key, SENTENCES[key.split("_")[1]], refs)


def test_originals_score_wer_near_zero(speech: dict[str, Path], scorers: Scorers) -> None:
    keys = ["kal_a", "kal_b", "kal_c", "slt_b", "slt_c", "slt_d"]
    records = scorers.score([_case(k) for k in keys], [load_16k(speech[k]) for k in keys])
    wers = [r["wer"] for r in records]
    assert max(wers) <= 0.1, [(r["id"], r["transcript"]) for r in records]
    assert np.mean(wers) <= 0.03
    assert all(1.0 <= r["distillmos"] <= 5.0 and 1.0 <= r["dnsmos_ovrl"] <= 5.0 for r in records)


def test_swapped_words_and_noise_score_worse(
    speech: dict[str, Path], scorers: Scorers, tmp_path: Path
) -> None:
    words = SENTENCES["a"].rstrip(".").split()
    swapped = " ".join(words[5:] + words[:5]) + "."  # the second half first
    wrong = load_16k(festival(swapped, "kal", tmp_path / "swapped.wav"))
    clean = load_16k(speech["kal_a"])
    noise = noisy(clean, snr_db=-5.0)
    clean_r, wrong_r, noise_r = scorers.score([_case("kal_a")] * 3, [clean, wrong, noise])
    assert wrong_r["wer"] >= clean_r["wer"] + 0.3
    assert noise_r["wer"] > clean_r["wer"]
    assert noise_r["dnsmos_ovrl"] < clean_r["dnsmos_ovrl"] - 0.8
    assert noise_r["dnsmos_bak"] < clean_r["dnsmos_bak"] - 1.5
    assert noise_r["distillmos"] < clean_r["distillmos"] - 1.0


def test_same_speaker_is_more_similar_than_another(speech: dict[str, Path], scorers: Scorers) -> None:
    ref = speech["kal_d"]
    same = _case("kal_a", ref)
    other = _case("slt_a", ref)
    other_male = _case("ked_a", ref)
    clips = [load_16k(speech[k]) for k in ("kal_a", "slt_a", "ked_a")]
    refs = [load_16k(c.references[0].audio) for c in (same, other, other_male)]
    s_same, s_other, s_male = scorers.speaker.similarity(clips, refs)
    assert s_same > 0.8
    assert s_same > s_other + 0.2
    assert s_same > s_male + 0.05


def test_batched_transcription_matches_one_by_one(speech: dict[str, Path], scorers: Scorers) -> None:
    clips = [load_16k(speech[k]) for k in ("kal_b", "slt_c", "slt_d")]
    batched = scorers.asr.transcribe(clips)
    single = [scorers.asr.transcribe([c])[0] for c in clips]
    assert batched == single
    words = scorers.asr.transcribe_words(clips[0])
    assert " ".join(w.text for w in words).lower().startswith("please open the window")
    assert all(0 <= w.start <= w.end <= len(clips[0]) / 16000 + 0.1 for w in words)


def test_speaker_embeddings_are_batch_independent(speech: dict[str, Path], scorers: Scorers) -> None:
    clips = [load_16k(speech[k]) for k in ("kal_a", "slt_b")]
    together = scorers.speaker.embed(clips)
    alone = np.stack([scorers.speaker.embed([c])[0] for c in clips])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert not scorers.speaker.embed([np.zeros(800, np.float32)]).any()  # too short: zero vector


def test_tiny_en_is_english_only(speech: dict[str, Path]) -> None:
    from s2tts.errors import EvalError
    from s2tts.eval.asr import WhisperASR

    asr = WhisperASR("tiny.en", beam_size=1)
    assert "before the train leaves" in asr.transcribe([load_16k(speech["kal_a"])])[0].lower()
    with pytest.raises(EvalError, match="English-only"):
        asr.transcribe([load_16k(speech["kal_a"])], ["de"])
    assert subprocess.run(["text2wave", "--help"], capture_output=True).returncode in (0, 1)
