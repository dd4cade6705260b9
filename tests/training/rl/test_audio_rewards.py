"""The audio rewards on real speech (festival voices), through the evaluation scorers."""

from __future__ import annotations

import numpy as np
import pytest

from eval.speech import SENTENCES, festival, noisy
from s2tts.audio import downmix, read_audio
from s2tts.eval.audio import SCORING_RATE, to_16k
from s2tts.training.rl.audio_rewards import DNSMOS, DistillMOS, Intelligibility, Similarity, TagActivation
from s2tts.training.rl.rewards import RewardInput

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[np.ndarray, int]]:
    root = tmp_path_factory.mktemp("rl-speech")
    out = {}
    made = [(f"{v}_{k}", v, k) for v in ("kal", "slt") for k in ("a", "b", "d")]
    for name, voice, key in made:
        audio, rate = read_audio(festival(SENTENCES[key], voice, root / f"{name}.wav"))
        out[name] = (downmix(audio), rate)
    return out


def _inp(audio: np.ndarray, rate: int, text: str, **kw: object) -> RewardInput:
    return RewardInput(
        audio=audio, sample_rate=rate, text=text, codes=np.zeros((10, 0), np.int64), finished=True, **kw
    )  # type: ignore[arg-type]


def test_intelligibility_rewards_the_right_words(clips: dict[str, tuple[np.ndarray, int]]) -> None:
    audio, rate = clips["kal_a"]
    reward = Intelligibility(asr="tiny.en")
    right, wrong, cut = reward(
        [
            _inp(audio, rate, "<|speaker:0|>" + SENTENCES["a"]),  # markup is not spoken
            _inp(audio, rate, SENTENCES["b"]),  # another sentence: everything wrong
            _inp(audio[: len(audio) // 2], rate, SENTENCES["a"]),  # the second half is missing
        ]
    )
    assert right["error_rate"] <= 0.2
    assert wrong["error_rate"] >= 0.8
    assert cut["deletions"] >= 3
    # the continuous term: Whisper's probability of the target tokens
    assert right["confidence"] > 0.5 > wrong["confidence"]
    assert right["confidence"] > cut["confidence"]
    assert right["score"] > cut["score"] > wrong["score"]


def test_a_dialogue_with_swapped_speakers_loses_the_misattribution_margin(
    clips: dict[str, tuple[np.ndarray, int]],
) -> None:
    """Same words, same two voices: kal then slt as written, or slt then kal. The swapped clip's
    turns are closer to the other speaker's voice, which costs twice a fully wrong turn's share."""
    rate = SCORING_RATE
    gap = np.zeros(rate // 2, np.float32)
    c = {k: to_16k(*v) for k, v in clips.items()}  # the voices speak at different rates
    text = f"<|speaker:0|>{SENTENCES['a']}<|speaker:1|>{SENTENCES['b']}"
    voices = (clips["kal_d"], clips["slt_d"])  # speaker 0 is kal, speaker 1 is slt
    right = np.concatenate([c["kal_a"], gap, c["slt_b"]])
    swapped = np.concatenate([c["slt_a"], gap, c["kal_b"]])
    batch = [_inp(right, rate, text, voices=voices), _inp(swapped, rate, text, voices=voices)]
    w, weight = 0.5, 2.0
    good, bad = Intelligibility(asr="tiny.en", confidence_weight=w, misattribution_weight=weight)(batch)
    assert good["error_rate"] <= 0.2 and bad["error_rate"] <= 0.2  # the words are right in both
    assert good["turns_misattributed"] == 0.0 and good["misattribution"] == 0.0
    assert bad["turns_misattributed"] == 2.0 and bad["misattribution"] == 1.0
    margin = (1 - w) * weight * 1.0  # both turns, all the words, wrong speaker
    assert good["score"] - bad["score"] >= margin - 0.1
    # without the penalty the two clips score alike: the margin is the speaker check's
    plain_good, plain_bad = Intelligibility(asr="tiny.en", confidence_weight=w, misattribution_weight=0.0)(
        batch
    )
    assert abs(plain_good["score"] - plain_bad["score"]) < 0.1
    assert plain_good["score"] == pytest.approx(good["score"])
    # one turn right, one wrong: half the words misattributed
    half = np.concatenate([c["kal_a"], gap, c["kal_b"]])
    [one] = Intelligibility(asr="tiny.en", confidence_weight=w)([_inp(half, rate, text, voices=voices)])
    assert one["turns_misattributed"] == 1.0 and 0.3 < one["misattribution"] < 0.7
    # a dialogue without a voice per speaker is scored like any text
    [novoice] = Intelligibility(asr="tiny.en")([_inp(swapped, rate, text)])
    assert "misattribution" not in novoice


def test_similarity_prefers_the_reference_speaker(clips: dict[str, tuple[np.ndarray, int]]) -> None:
    audio, rate = clips["kal_a"]
    same, other, none = Similarity()(
        [
            _inp(audio, rate, "x", reference=clips["kal_b"][0], reference_rate=clips["kal_b"][1]),
            _inp(audio, rate, "x", reference=clips["slt_b"][0], reference_rate=clips["slt_b"][1]),
            _inp(audio, rate, "x"),
        ]
    )
    assert same["score"] > other["score"] + 0.05
    assert none == {"score": 0.0, "applicable": 0.0}


def test_quality_rewards_prefer_clean_speech(clips: dict[str, tuple[np.ndarray, int]]) -> None:
    audio, rate = clips["kal_a"]
    batch = [_inp(audio, rate, "x"), _inp(noisy(audio, 0.0), rate, "x"), _inp(audio[:100], rate, "x")]
    for reward in (DNSMOS(), DistillMOS()):
        clean, dirty, tiny = reward(batch)
        assert 0.0 <= dirty["score"] < clean["score"] <= 1.0
        assert tiny["score"] == 0.0  # too short to judge: no reward


def test_tag_reward_sees_a_louder_clip(clips: dict[str, tuple[np.ndarray, int]]) -> None:
    audio, rate = clips["kal_a"]
    quiet = audio * 0.25
    loud, unchanged, untagged = TagActivation()(
        [
            _inp(audio, rate, "[loud] " + SENTENCES["a"], baseline=quiet),  # +12 dB: activated
            _inp(quiet, rate, "[loud] " + SENTENCES["a"], baseline=quiet),  # no change
            _inp(audio, rate, SENTENCES["a"], baseline=quiet),  # no tag: not applicable
        ]
    )
    assert loud["score"] == 1.0 and unchanged["score"] == 0.0
    assert untagged["applicable"] == 0.0
