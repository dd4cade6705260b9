"""Long-form stability: WER per minute, speaker drift over time, and collapse detection.

For an utterance of a minute or more (S2 speaks whole paragraphs in one go) the global WER
hides *when* things go wrong; a model that collapses after 90 s scores a mediocre WER, not a
failure. ``long_form_report`` takes the time-stamped ASR words (``WhisperASR.transcribe_words``)
and the audio and returns:

* ``wer_per_minute``: errors attributed to the minute where they occur (through the word
  alignment, ``s2tts.eval.align``) over the reference words spoken in that minute;
* ``sim_per_window`` / ``sim_drift_per_min``: speaker similarity of consecutive 10 s windows
  with the reference voice (or with the first window when there is none) and the slope of a
  least-squares line through them, in cosine per minute (negative = the voice wanders);
* ``collapse``: ``repeats`` (4-grams of the text said at least 3 times more often than written:
  the model loops), ``silence_runs`` (inner silences longer than 2 s),
  ``truncated`` (the last 20 % of the reference words are mostly missing: it stopped early);
  ``collapsed`` is true when any of them fired.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from s2tts.eval import acoustics
from s2tts.eval.align import align, hyp_tokens
from s2tts.eval.asr import Word
from s2tts.eval.textnorm import normalize_for_wer
from s2tts.scoring.speaker import SpeakerEncoder

WINDOW_S = 10.0
LONG_SILENCE_S = 2.0
REPEAT_EXCESS = 3
TRUNCATION_TAIL = 0.2


def wer_per_minute(reference: str, words: list[Word], language: str = "en") -> list[float]:
    """Per minute of audio: attributed errors / reference tokens spoken in it."""
    ref = normalize_for_wer(reference, language).split()
    hyp = hyp_tokens(words, language)
    if not hyp:
        return [1.0] if ref else []
    al = align(ref, hyp)
    minutes = int(hyp[-1].end // 60) + 1
    errors, spoken = np.zeros(minutes), np.zeros(minutes)
    for j, count in al.errors:
        errors[int(hyp[max(j, 0)].start // 60)] += count
    last = 0
    for j in al.ref_to_hyp:
        if j is not None:
            last = int(hyp[j].start // 60)
        spoken[last] += 1
    return [float(e / s) if s else float(e > 0) for e, s in zip(errors, spoken, strict=True)]


def repeated_ngrams(reference: str, transcript: str, language: str = "en", n: int = 4) -> int:
    """How many 4-grams of the reference occur REPEAT_EXCESS or more times more often in the transcript."""

    def grams(text: str) -> Counter[tuple[str, ...]]:
        w = normalize_for_wer(text, language).split()
        return Counter(tuple(w[i : i + n]) for i in range(len(w) - n + 1))

    ref, hyp = grams(reference), grams(transcript)
    # Only 4-grams of the text count: a misheard phrase of a text that itself repeats ("this
    # station" for "the station", five times) is an ASR error, not a loop.
    return sum(1 for g, c in hyp.items() if g in ref and c - ref[g] >= REPEAT_EXCESS)


def silence_runs(audio: np.ndarray, min_s: float = LONG_SILENCE_S) -> list[float]:
    """Lengths (s) of inner inactive runs of at least ``min_s`` (audio: (n,) at 16 kHz)."""
    act = acoustics.activity(audio)
    idx = np.flatnonzero(act)
    if idx.size < 2:
        return []
    runs, run = [], 0
    for silent in ~act[idx[0] : idx[-1] + 1]:
        if silent:
            run += 1
        else:
            if run * acoustics.FRAME / acoustics.SR >= min_s:
                runs.append(run * acoustics.FRAME / acoustics.SR)
            run = 0
    return runs


def truncated(reference: str, words: list[Word], language: str = "en") -> bool:
    """True when more than half of the last TRUNCATION_TAIL of reference tokens were not spoken."""
    ref = normalize_for_wer(reference, language).split()
    tail = max(1, int(len(ref) * TRUNCATION_TAIL))
    if not ref:
        return False
    mapping = align(ref, hyp_tokens(words, language)).ref_to_hyp
    return sum(m is None for m in mapping[-tail:]) > tail / 2


def similarity_drift(
    audio: np.ndarray, encoder: SpeakerEncoder, reference: np.ndarray | None = None
) -> tuple[list[float], float]:
    """(similarity per 10 s window, least-squares slope per minute). audio/reference: 16 kHz."""
    step = int(WINDOW_S * acoustics.SR)
    windows = [
        audio[i : i + step] for i in range(0, len(audio), step) if len(audio[i : i + step]) >= step // 2
    ]
    if not windows:
        return [], 0.0
    anchor = reference if reference is not None else windows[0]
    emb = encoder.embed([anchor, *windows])
    sims = [float(np.dot(emb[0], e)) for e in emb[1:]]
    if len(sims) < 2:
        return sims, 0.0
    t = np.arange(len(sims)) * WINDOW_S / 60.0
    return sims, float(np.polyfit(t, np.asarray(sims), 1)[0])


def long_form_report(
    reference: str,
    words: list[Word],
    audio: np.ndarray,
    encoder: SpeakerEncoder | None,
    reference_audio: np.ndarray | None = None,
    language: str = "en",
) -> dict[str, Any]:
    transcript = " ".join(w.text for w in words)
    report: dict[str, Any] = {"wer_per_minute": wer_per_minute(reference, words, language)}
    if encoder is not None:
        sims, slope = similarity_drift(audio, encoder, reference_audio)
        report["sim_per_window"], report["sim_drift_per_min"] = sims, slope
    repeats = repeated_ngrams(reference, transcript, language)
    silences = silence_runs(audio)
    cut = truncated(reference, words, language)
    report["collapse"] = {
        "repeats": repeats,
        "silence_runs": silences,
        "truncated": cut,
        "collapsed": bool(repeats or silences or cut),
    }
    return report
