"""Batched transcription gives each segment what it gets alone (real speech: festival, espeak-ng)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from s2tts.audio import read_audio, resample
from s2tts.data.pipeline_config import TranscribeConfig
from s2tts.data.records import new_record
from s2tts.data.stages import transcribe

RATE = 44100
SAID = [
    ("festival", "voice_kal_diphone", "We will meet again at the station before the train leaves."),
    ("festival", "voice_cmu_us_slt_arctic_hts", "Please open the window because the room is getting warm."),
    ("espeak", "en-us", "I would like a cup of coffee with milk and no sugar please."),
    ("espeak", "en-us+f3", "He forgot his keys at home and had to call his brother."),
]


def _speak(engine: str, voice: str, text: str, path: Path) -> np.ndarray:
    if engine == "festival":
        cmd = ["text2wave", "-eval", f"({voice})", "-o", str(path)]
        subprocess.run(cmd, input=text.encode(), check=True, capture_output=True, timeout=60)
    else:
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    audio, rate = read_audio(path)
    return resample(audio.mean(axis=0), rate, RATE).astype(np.float32)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    d = tmp_path_factory.mktemp("asr")
    return [_speak(e, v, t, d / f"{i}.wav") for i, (e, v, t) in enumerate(SAID)]


@pytest.fixture(scope="module")
def model() -> object:
    return transcribe.setup(TranscribeConfig())


def test_batched_transcripts_equal_one_by_one(clips: list[np.ndarray], model: object) -> None:
    alone = [transcribe.transcribe_batch([c], RATE, model, 1, 1)[0] for c in clips]
    batched = transcribe.transcribe_batch(clips, RATE, model, 1, 3)  # a batch of 3, then 1
    for (text, conf, words), (b_text, b_conf, b_words), clip in zip(alone, batched, clips, strict=True):
        assert b_text == text and [w[0] for w in b_words] == [w[0] for w in words]
        assert b_conf == pytest.approx(conf, abs=1e-3)
        # word times come from cross-attention alignment, which may move by a frame or two (20 ms each) in a batch
        assert np.abs(np.array([w[1:3] for w in b_words]) - [w[1:3] for w in words]).max() <= 0.041
        assert words[0][1] >= 0.0 and words[-1][2] <= clip.size / RATE + 0.05
    for (_, _, text), (heard, conf, _) in zip(SAID, batched, strict=True):
        said = set(text.lower().rstrip(".").split())
        assert len(said & set(heard.lower().replace(".", "").split())) >= len(said) - 3 and conf > 0.5


def test_process_keeps_the_order_of_mixed_items(clips: list[np.ndarray], model: object) -> None:
    items = [(new_record(id=str(i), language="en"), c) for i, c in enumerate(clips)]
    items.insert(1, (new_record(id="given", text="known text"), clips[0]))
    out = transcribe.process(items, TranscribeConfig(batch_size=2), model)
    assert [o[0][0]["id"] for o in out] == ["0", "given", "1", "2", "3"]
    assert out[1][0][0]["text"] == "known text"
    alone = transcribe.transcribe_batch([clips[2]], RATE, model, 1, 1)[0]
    words = json.loads(out[3][0][0]["scores"])["words"]
    assert out[3][0][0]["text"] == alone[0] and [w[0] for w in words] == [w[0] for w in alone[2]]
