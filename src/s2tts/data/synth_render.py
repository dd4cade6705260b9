"""Render planned utterances to 44.1 kHz audio files and manifest rows.

``render_chunk(plans, out_dir, seed)`` speaks every piece of every plan through the engines (one
engine process per engine and chunk), then per utterance:

1. each speech piece: silence trimmed, the speaker's perturbation (vocal tract, speed) applied, then
   the piece's tag effect (``[whisper]`` noise-excited envelope, ``[fast]``/``[slow]`` WSOLA tempo,
   ``[loud]``/``[soft]`` gain, ``[high pitch]``/``[low pitch]`` spectral shift);
2. each event: ``[pause]`` silence, ``[breath]`` a noise inhalation at a level relative to the speech,
   ``[laugh]`` "Ha ha ha!" in the speaker's own voice, raised in pitch and sped up;
3. pieces resampled to 44.1 kHz and joined with short gaps (longer between dialogue turns, each turn
   levelled to the same RMS first), the whole utterance normalised to -20 dBFS RMS, written as FLAC.
   The level is measured as if the tags' gains (``[loud]``, ``[soft]``, ``[whisper]``) were not
   there, so a tag that covers the whole utterance stays louder or softer than untagged speech
   (``[loud]``'s peaks are soft-limited below 0.95 rather than the whole utterance scaled down).

Every tag's audio span (start/end seconds) is measured from the pieces as they are joined and stored
in the manifest with the effect and its parameters. Noise comes from a generator seeded by
(seed, utterance index), so a re-rendered utterance is identical.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from s2tts.audio import resample, write_audio
from s2tts.data import effects
from s2tts.data.manifest import TagSpan, Turn, Utterance
from s2tts.data.synth_plan import Piece, UtterancePlan
from s2tts.data.tts_engines import SpeechRequest, synthesize
from s2tts.data.voices import Speaker

SAMPLE_RATE = 44100
EDGE_S = 0.15
PIECE_GAP_S = (0.06, 0.16)
TURN_GAP_S = (0.25, 0.6)


def _request(spk: Speaker, text: str) -> SpeechRequest:
    return SpeechRequest(spk.source, spk.engine_voice, text, spk.pitch)


def _speech(audio: np.ndarray, sr: int, spk: Speaker, piece: Piece, rng: np.random.Generator) -> np.ndarray:
    x = effects.trim_silence(audio, sr)
    x = effects.shift_spectrum(x, sr, spk.tract, spk.speed)
    params = json.loads(piece.params_json)
    if piece.effect == "tempo":
        x = effects.time_stretch(x, sr, params["factor"])
    elif piece.effect == "gain":
        x = effects.gain(x, params["gain_db"])
    elif piece.effect == "pitch_shift":
        x = effects.shift_spectrum(x, sr, 2 ** (params["semitones"] / 12))
    elif piece.effect == "noise_excited_envelope":
        x = effects.gain(effects.whisper(x, sr, rng), params["gain_db"])
    return x


def _gain_db(piece: Piece) -> float:
    """The level change a piece's tag applied (0 for untagged speech and events)."""
    if piece.effect not in ("gain", "noise_excited_envelope"):
        return 0.0
    return float(json.loads(piece.params_json)["gain_db"])


def _event(piece: Piece, audio: np.ndarray | None, sr: int, spk: Speaker, speech_rms: float,
           rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    params = json.loads(piece.params_json)
    if piece.effect == "silence":
        return effects.silence(sr, params["seconds"])
    if piece.effect == "breath_noise":
        level = speech_rms * 10 ** (params["level_db"] / 20)
        return effects.breath(sr, rng, params["seconds"], level)
    if piece.effect == "voiced_laugh" and audio is not None:
        x = effects.shift_spectrum(effects.trim_silence(audio, sr), sr, spk.tract, spk.speed)
        return effects.shift_spectrum(x, sr, 2 ** (params["semitones"] / 12), params["factor"])
    raise ValueError(f"cannot render event {piece.tag!r} ({piece.effect})")


def render_utterance(plan: UtterancePlan, spoken: list[tuple[np.ndarray, int] | None], seed: int,
                     out_path: Path, rel_path: str) -> Utterance | None:  # fmt: skip
    """Build, write and describe one utterance; ``spoken[i]`` is the engine output of ``plan.pieces[i]``
    (None for silent events). Returns None if an engine failed on one of its texts."""
    rng = np.random.default_rng([seed, plan.index])
    rendered: list[np.ndarray] = []
    for piece, res in zip(plan.pieces, spoken, strict=True):
        spk = plan.speakers[piece.speaker]
        if piece.kind == "speech":
            if res is None:
                return None
            x = _speech(res[0], res[1], spk, piece, rng)
            rendered.append(resample(x, res[1], SAMPLE_RATE))
        else:
            speech_rms = max((effects.rms(r) for r in rendered), default=0.05) or 0.05
            if piece.effect == "voiced_laugh" and res is None:
                return None
            sr = res[1] if res is not None else SAMPLE_RATE
            x = _event(piece, res[0] if res is not None else None, sr, spk, speech_rms, rng)
            rendered.append(resample(x, sr, SAMPLE_RATE))
    if plan.kind == "dialogue":
        rendered = [effects.normalize_rms(r) for r in rendered]
    parts = [effects.silence(SAMPLE_RATE, EDGE_S)]
    gains_db = [0.0]  # each part's tag gain (gaps and untagged speech: 0)
    times: list[tuple[float, float]] = []
    pos = parts[0].size
    for i, (x, piece) in enumerate(zip(rendered, plan.pieces, strict=True)):
        if i:
            lo, hi = TURN_GAP_S if plan.kind == "dialogue" else PIECE_GAP_S
            gap = effects.silence(SAMPLE_RATE, float(rng.uniform(lo, hi)))
            parts.append(gap)
            gains_db.append(0.0)
            pos += gap.size
        times.append((pos / SAMPLE_RATE, (pos + x.size) / SAMPLE_RATE))
        parts.append(x)
        gains_db.append(_gain_db(piece))
        pos += x.size
    parts.append(effects.silence(SAMPLE_RATE, EDGE_S))
    gains_db.append(0.0)
    audio = np.concatenate(parts)
    untagged = np.concatenate([p * np.float32(10 ** (-g / 20)) for p, g in zip(parts, gains_db, strict=True)])
    louder = max(gains_db) > 0  # [loud]: its peaks are bent, not the whole utterance scaled down
    audio = effects.normalize_rms(audio, level_of=untagged, limit=louder)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_audio(out_path, audio, SAMPLE_RATE)
    tags = tuple(
        TagSpan(p.tag, p.char_start, p.char_end, round(t0, 4), round(t1, 4), p.effect, p.params_json)
        for p, (t0, t1) in zip(plan.pieces, times, strict=True)
        if p.tag
    )
    turns = tuple(
        Turn(
            p.speaker,
            plan.speakers[p.speaker].id,
            plan.speakers[p.speaker].source,
            p.char_start,
            p.char_end,
            round(t0, 4),
            round(t1, 4),
        )  # fmt: skip
        for p, (t0, t1) in zip(plan.pieces, times, strict=True)
        if plan.kind == "dialogue"
    )
    return Utterance(
        id=plan.id,
        path=rel_path,
        duration_s=round(audio.size / SAMPLE_RATE, 4),
        sample_rate=SAMPLE_RATE,
        text=plan.text,
        plain_text=plan.plain_text,
        speaker_id=plan.speakers[0].id,
        language=plan.language,
        source=plan.source,
        split=plan.split,
        kind=plan.kind,
        tags=tags,
        turns=turns,
    )


def render_chunk(plans: list[UtterancePlan], out_dir: Path, seed: int, audio_subdir: str) -> list[Utterance]:
    """Speak and write every plan of a chunk; utterances an engine could not speak are left out."""
    requests: list[SpeechRequest] = []
    where: list[list[int | None]] = []
    for plan in plans:
        slots: list[int | None] = []
        for piece in plan.pieces:
            if piece.kind == "speech" or piece.effect == "voiced_laugh":
                slots.append(len(requests))
                requests.append(_request(plan.speakers[piece.speaker], piece.text))
            else:
                slots.append(None)
        where.append(slots)
    spoken = synthesize(requests, workdir=out_dir)
    rows = []
    for plan, slots in zip(plans, where, strict=True):
        rel = f"{audio_subdir}/{plan.id}.flac"
        results = [spoken[s] if s is not None else None for s in slots]
        row = render_utterance(plan, results, seed, out_dir / rel, rel)
        if row is not None:
            rows.append(row)
    return rows
