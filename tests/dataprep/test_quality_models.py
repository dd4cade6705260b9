"""The quality stage's model scores on real speech: DistillMOS and speaker consistency.

Festival voices (run as subprocesses) give two clearly different speakers; a segment that splices
one onto the other must fail the consistency check, and a clean single voice must pass it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from s2tts.audio import read_audio, resample
from s2tts.data.pipeline_config import QualityConfig
from s2tts.data.records import new_record
from s2tts.data.stages import quality

RATE = 44100
TEXT = "Please open the window because the room is getting very warm, and we will meet again at the station."


def _festival(voice: str, path: Path) -> np.ndarray:
    subprocess.run(["text2wave", "-eval", f"(voice_{voice})", "-o", str(path)], input=TEXT.encode(),
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    audio, rate = read_audio(path)
    return resample(audio.mean(axis=0), rate, RATE).astype(np.float32)


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    d = tmp_path_factory.mktemp("voices")
    return {v: _festival(v, d / f"{v}.wav") for v in ("kal_diphone", "cmu_us_slt_arctic_hts")}


@pytest.fixture(scope="module")
def models() -> quality.Scorers:
    return quality.setup(QualityConfig(dnsmos=False))


def _run(
    audio: np.ndarray, cfg: QualityConfig, models: quality.Scorers, kind: str = "single"
) -> tuple[dict, dict]:
    record = quality.process([(new_record(id="x", kind=kind), audio)], cfg, models)[0][0][0]
    return record, json.loads(record["scores"])


def test_two_spliced_voices_fail_speaker_consistency_and_one_voice_passes(
    voices: dict[str, np.ndarray], models: quality.Scorers
) -> None:
    cfg = QualityConfig(dnsmos=False, min_distillmos=1.0)
    kal, slt = voices["kal_diphone"], voices["cmu_us_slt_arctic_hts"]
    spliced = np.concatenate([kal[: kal.size // 2], slt[slt.size // 2 :]])
    clean, clean_scores = _run(kal, cfg, models)
    bad, bad_scores = _run(spliced, cfg, models)
    assert clean["status"] == "ok", clean["reason"]
    assert clean_scores["speaker_windows"] >= 2
    assert clean_scores["speaker_consistency"] >= cfg.min_speaker_consistency
    assert bad["status"] == "dropped" and bad["reason"].startswith("speaker_consistency ")
    assert bad_scores["speaker_consistency"] < clean_scores["speaker_consistency"] - 0.1
    # a dialogue has several speakers by design: it is not checked
    dialogue, dialogue_scores = _run(spliced, cfg, models, kind="dialogue")
    assert dialogue["status"] == "ok" and "speaker_consistency" not in dialogue_scores


def test_distillmos_is_recorded_and_drops_noisy_speech(
    voices: dict[str, np.ndarray], models: quality.Scorers
) -> None:
    cfg = QualityConfig(dnsmos=False, min_snr_db=0.0, speaker_consistency=False)
    kal = voices["kal_diphone"]
    noise = np.random.default_rng(0).standard_normal(kal.size).astype(np.float32)
    noisy = kal + noise * np.sqrt(np.mean(kal**2))  # 0 dB SNR
    clean, clean_scores = _run(kal, cfg, models)
    bad, bad_scores = _run(noisy, cfg, models)
    assert clean["status"] == "ok" and 1.8 <= clean_scores["distillmos"] <= 5.0
    assert bad["status"] == "dropped" and bad["reason"] == f"distillmos {bad_scores['distillmos']} < 1.8"
    assert bad_scores["distillmos"] < clean_scores["distillmos"] - 0.4
    assert "speaker_consistency" not in bad_scores  # not asked for


def test_a_segment_of_one_window_is_not_checked(
    voices: dict[str, np.ndarray], models: quality.Scorers
) -> None:
    cfg = QualityConfig(dnsmos=False, distillmos=False, speaker_window_seconds=30.0)
    record, scores = _run(voices["kal_diphone"], cfg, models)
    assert record["status"] == "ok" and scores["speaker_windows"] == 1 and "speaker_consistency" not in scores
