"""The synthetic corpus end to end: real engines, real effects, manifest, resume, CLI errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from s2tts.data.manifest import MANIFEST_SCHEMA, SPLITS, read_manifest
from s2tts.data.synth_plan import Piece, UtterancePlan
from s2tts.data.synth_render import SAMPLE_RATE, render_chunk
from s2tts.data.voices import Speaker

KAL = Speaker("festival", "kal_diphone", "en")
WORDS = ("Seven brave sailors crossed the river", "and found a quiet town by the sea.")


def _plan(uid: str, index: int, tag: str = "", effect: str = "", params: dict | None = None,
          event: Piece | None = None) -> UtterancePlan:  # fmt: skip
    first = Piece("speech", WORDS[0], 0, char_start=0, char_end=len(WORDS[0]))
    second = Piece("speech", WORDS[1], 0, tag, effect, json.dumps(params or {}))
    pieces = (first, event, second) if event else (first, second)
    text = " ".join(
        f"[{p.tag}] {p.text}" if p.tag and p.kind == "speech" else p.text or f"[{p.tag}]" for p in pieces
    )
    return UtterancePlan(uid, index, "train", "single", "en", (KAL,), pieces, text, " ".join(WORDS))


def _whole(uid: str, index: int, tag: str, gain_db: float) -> UtterancePlan:
    """``[tag] <both word groups>``: a gain tag over the whole utterance."""
    words = " ".join(WORDS)
    text = f"[{tag}] {words}"
    piece = Piece("speech", words, 0, tag, "gain", json.dumps({"gain_db": gain_db}), len(tag) + 3, len(text))
    return UtterancePlan(uid, index, "train", "single", "en", (KAL,), (piece,), text, words)


def _span(path: Path, start: float, end: float) -> np.ndarray:
    audio, sr = sf.read(path, dtype="float32")
    assert sr == SAMPLE_RATE
    return audio[int(start * sr) : int(end * sr)]


def _rms_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-12)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("render")
    breath = Piece("event", "", 0, "breath", "breath_noise", json.dumps({"seconds": 0.5, "level_db": -16.0}))
    plans = [
        _plan("plain", 0),
        _plan("loud", 1, "loud", "gain", {"gain_db": 8.0}),
        _plan("fast", 2, "fast", "tempo", {"factor": 1.5}),
        _plan("whisper", 3, "whisper", "noise_excited_envelope", {"gain_db": 0.0}),
        _plan("breath", 4, event=breath),
        _whole("loud_all", 5, "loud", 6.0),
        _whole("soft_all", 6, "soft", -10.0),
    ]
    rows = {r.id: r for r in render_chunk(plans, out, seed=0, audio_subdir="a")}
    assert set(rows) == {p.id for p in plans}
    return {"out": out, "rows": rows}


def _parts(rendered: dict, uid: str) -> tuple[np.ndarray, np.ndarray]:
    """(first piece, tagged second piece) of an utterance, located by the recorded tag span."""
    row = rendered["rows"][uid]
    path = rendered["out"] / row.path
    if uid == "plain":
        other = rendered["rows"]["loud"].tags[0]
        return _span(path, 0.15, other.start_s - 0.05), _span(path, other.start_s, row.duration_s - 0.15)
    tag = row.tags[-1]
    return _span(path, 0.15, tag.start_s - 0.05), _span(path, tag.start_s, tag.end_s)


def test_loud_tag_raises_the_level_of_its_span(rendered: dict) -> None:
    plain_a, plain_b = _parts(rendered, "plain")
    loud_a, loud_b = _parts(rendered, "loud")
    gain = (_rms_db(loud_b) - _rms_db(loud_a)) - (_rms_db(plain_b) - _rms_db(plain_a))
    assert abs(gain - 8.0) < 1.0
    assert rendered["rows"]["loud"].tags[0].params == {"gain_db": 8.0}


def test_a_gain_tag_over_the_whole_utterance_survives_levelling(rendered: dict) -> None:
    """Every utterance is levelled to -20 dBFS as if untagged, so [soft] over every word stays
    10 dB under plain speech, and [loud] stays louder (as far as the 0.95 peak allows)."""
    out, rows = rendered["out"], rendered["rows"]

    def level(uid: str) -> float:
        audio, _ = sf.read(out / rows[uid].path, dtype="float32")
        return _rms_db(audio)

    assert abs(level("plain") + 20.0) < 0.5
    assert abs(level("soft_all") - level("plain") + 10.0) < 1.0
    loud, _ = sf.read(out / rows["loud_all"].path, dtype="float32")
    assert level("loud_all") - level("plain") > 3.0 and np.abs(loud).max() <= 0.95 + 1e-4


def test_fast_tag_shortens_its_span(rendered: dict) -> None:
    tag = rendered["rows"]["fast"].tags[0]
    ref = rendered["rows"]["loud"].tags[0]  # the same words at normal speed
    assert tag.effect == "tempo"
    assert abs((ref.end_s - ref.start_s) / (tag.end_s - tag.start_s) - 1.5) < 0.1


def test_whisper_tag_removes_voicing_in_its_span(rendered: dict) -> None:
    def voicing(x: np.ndarray) -> float:
        """Median over loud 46 ms frames of the autocorrelation peak at pitch lags (2-15 ms)."""
        frames = x[: x.size // 2048 * 2048].reshape(-1, 2048)
        frames = frames[np.sqrt((frames**2).mean(1)) > 0.01]
        scores = []
        for f in frames:
            ac = np.correlate(f, f, "full")[2047:] / (2048 - np.arange(2048))
            scores.append(ac[88:660].max() / ac[0])
        return float(np.median(scores))

    _, plain = _parts(rendered, "plain")
    _, whisper = _parts(rendered, "whisper")
    assert voicing(plain) > 0.55 and voicing(whisper) < 0.42  # measured: 0.69 and 0.31


def test_breath_event_is_a_quiet_sound_between_the_words(rendered: dict) -> None:
    row = rendered["rows"]["breath"]
    (tag,) = row.tags
    assert tag.tag == "breath" and abs(tag.end_s - tag.start_s - 0.5) < 0.01
    speech, _ = _parts(rendered, "plain")
    breath = _span(rendered["out"] / row.path, tag.start_s, tag.end_s)
    assert -24 < _rms_db(breath) - _rms_db(speech) < -8


def s2tts(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "s2tts.cli", *args], capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_synth_cli_makes_a_resumable_corpus(tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    args = [
        "data",
        "synth",
        "--hours",
        "0.03",
        "--out",
        str(out),
        "--languages",
        "en,de",
        "--chunk-size",
        "12",
    ]
    first = s2tts(*args, "--seed", "5")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    rows = read_manifest(out)
    assert summary["utterances"] == len(rows) > 20 and summary["x_realtime"] > 0
    assert {r.source for r in rows} >= {"festival", "piper", "espeak"}
    assert {r.language for r in rows} == {"en", "de"} and {r.split for r in rows} <= set(SPLITS)
    import pyarrow.parquet as pq

    assert pq.read_schema(out / "manifest.parquet").equals(MANIFEST_SCHEMA)
    for r in rows:
        info = sf.info(out / r.path)
        assert info.samplerate == 44100 and info.channels == 1
        assert abs(info.duration - r.duration_s) < 1e-3
        assert all(0 <= t.start_s < t.end_s <= r.duration_s for t in r.tags)
        assert [t.start_s for t in r.turns] == sorted(t.start_s for t in r.turns)
    speakers = json.loads((out / "speakers.json").read_text())
    held = {s["id"] for s in speakers if s["heldout"]}
    assert all((r.speaker_id in held) == (r.split == "heldout_speaker") for r in rows)

    again = s2tts(*args, "--seed", "5")
    assert again.returncode == 0, again.stderr
    redo = json.loads(again.stdout.strip().splitlines()[-1])
    assert redo["rendered_audio_s"] == 0 and redo["chunks_already_done"] > 0
    assert read_manifest(out) == rows

    clash = s2tts(*args, "--seed", "6")
    assert clash.returncode == 1 and "other settings" in clash.stderr
    assert len(clash.stderr.strip().splitlines()) == 1


def test_synth_cli_rejects_bad_arguments(tmp_path: Path) -> None:
    for bad in (["--languages", "en,xx"], ["--hours", "0"], ["--mix", "festival=1,foo=2"]):
        args = ["data", "synth", "--hours", "1", "--out", str(tmp_path / "c"), *bad]
        if bad[0] == "--hours":
            args = ["data", "synth", "--out", str(tmp_path / "c"), *bad]
        res = s2tts(*args)
        assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert "Traceback" not in res.stderr
