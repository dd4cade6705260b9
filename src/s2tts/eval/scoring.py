"""Score utterances: one ``Scorers`` object holds every model, loaded once, on first use.

``Scorers.score(cases, clips)`` scores a batch of generated clips (mono float32 at 16 kHz) against
their test cases and returns one flat record per utterance:

* ``transcript``, ``wer``, ``cer`` (``error_rate`` = the one the language is judged by);
* ``sim``: cosine with the first reference voice (cloning cases only); for a dialogue with a
  reference per speaker, ``dialogue``: per turn (placed in time by the ASR word alignment) the
  similarity to its own speaker and to the others, ``sim_own`` / ``sim_other`` means and the
  share of turns closer to their own speaker than to any other (``turn_accuracy``);
* ``dnsmos_sig`` / ``dnsmos_bak`` / ``dnsmos_ovrl`` / ``dnsmos_p808`` and ``distillmos``;
* ``long_form`` for clips of a minute or more (``s2tts.eval.longform``).

Instruction following needs the tagged clip and its baseline together, so it is scored once all
clips exist (``score_tags``); so does speaker identification (``Scorers.identify_speakers``): each
single-voice cloning case's clip against every voice of the test set. For rewards, the single scorers (``WhisperASR``, ``SpeakerEncoder``,
``DNSMOS``, ``DistillMOS``) can be used directly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from s2tts.eval import acoustics
from s2tts.eval.asr import MAX_CLIP_S, WhisperASR, Word
from s2tts.eval.audio import load_16k
from s2tts.eval.dialogue import attribute_turns, dialogue_record
from s2tts.eval.instruction import tag_activation
from s2tts.eval.longform import long_form_report
from s2tts.eval.testset import TestCase
from s2tts.eval.textnorm import normalize_for_wer
from s2tts.eval.wer import char_errors, uses_cer, word_errors
from s2tts.scoring.quality import DNSMOS, DistillMOS
from s2tts.scoring.speaker import SpeakerEncoder

LONG_FORM_S = 60.0


@dataclass(frozen=True)
class ScorerConfig:
    """Which scorers run and how. asr: "base", "tiny.en" or a CTranslate2 directory."""

    asr: str = "base"
    asr_beam_size: int = 5
    asr_batch_size: int = 8
    threads: int = 1
    speaker: bool = True
    quality: bool = True
    device: str = "cpu"


class Scorers:
    """Every scoring model, loaded lazily once per object."""

    def __init__(self, config: ScorerConfig | None = None) -> None:
        self.config = config or ScorerConfig()
        self._asr: WhisperASR | None = None
        self._speaker: SpeakerEncoder | None = None
        self._dnsmos: DNSMOS | None = None
        self._distillmos: DistillMOS | None = None
        self._refs: dict[str, np.ndarray] = {}

    @property
    def asr(self) -> WhisperASR:
        if self._asr is None:
            c = self.config
            self._asr = WhisperASR(
                c.asr, c.device, threads=c.threads, beam_size=c.asr_beam_size, batch_size=c.asr_batch_size
            )
        return self._asr

    @property
    def speaker(self) -> SpeakerEncoder:
        if self._speaker is None:
            self._speaker = SpeakerEncoder(self.config.device)
        return self._speaker

    @property
    def dnsmos(self) -> DNSMOS:
        if self._dnsmos is None:
            self._dnsmos = DNSMOS(self.config.threads)
        return self._dnsmos

    @property
    def distillmos(self) -> DistillMOS:
        if self._distillmos is None:
            self._distillmos = DistillMOS(self.config.device)
        return self._distillmos

    def reference(self, case: TestCase, index: int) -> np.ndarray:
        return self._ref_clip(str(case.references[index].audio))

    def score(self, cases: list[TestCase], clips: list[np.ndarray]) -> list[dict[str, Any]]:
        """cases[i] and its clip (n,) float32 at 16 kHz -> one record per case."""
        records: list[dict[str, Any]] = [
            {"id": c.id, "duration_s": len(x) / acoustics.SR} for c, x in zip(cases, clips, strict=True)
        ]
        words: dict[int, list[Word]] = {}
        batch = []
        for i, (case, clip) in enumerate(zip(cases, clips, strict=True)):
            if len(clip) / acoustics.SR > MAX_CLIP_S or self._is_dialogue(case):
                words[i] = self.asr.transcribe_words(clip, case.language)
            elif len(clip):
                batch.append(i)
        for i, text in zip(
            batch,
            self.asr.transcribe([clips[i] for i in batch], [cases[i].language for i in batch]),
            strict=True,
        ):
            records[i]["transcript"] = text
        for i, w in words.items():
            records[i]["transcript"] = " ".join(x.text for x in w)
        for i, case in enumerate(cases):
            hyp = records[i].setdefault("transcript", "")
            w, c = (
                word_errors(case.spoken_text, hyp, case.language),
                char_errors(case.spoken_text, hyp, case.language),
            )
            records[i].update(
                wer=w.rate, cer=c.rate, error_rate=c.rate if uses_cer(case.language) else w.rate
            )
        if self.config.speaker:
            self._score_speaker(cases, clips, records, words)
        if self.config.quality:
            self._score_quality(clips, records)
        return records

    def identify_speakers(self, cases: list[TestCase], clips: list[np.ndarray]) -> dict[str, dict[str, Any]]:
        """For every case with one reference voice: is its clip closer to that voice than to any
        other voice referenced by the test set's single-voice cases? -> {case id: {"id_correct",
        "sim_best_other", "id_candidates"}}; {} when fewer than two voices are referenced.

        A voice is a reference's ``speaker`` id (its clips' embeddings averaged), or its file when
        it has none. This is the cloning target "closer to its own reference than to any other
        held-out speaker's"."""
        single = [i for i, c in enumerate(cases) if len(c.references) == 1 and len(clips[i])]
        voice_of = {i: cases[i].references[0].speaker or str(cases[i].references[0].audio) for i in single}
        voices: dict[str, list[str]] = {}
        for i in single:
            files = voices.setdefault(voice_of[i], [])
            if str(cases[i].references[0].audio) not in files:
                files.append(str(cases[i].references[0].audio))
        if len(voices) < 2 or not self.config.speaker:
            return {}
        names = sorted(voices)
        files = [f for n in names for f in voices[n]]
        ref_emb = self.speaker.embed([self._ref_clip(f) for f in files])
        centroids = []
        start = 0
        for n in names:
            mean = ref_emb[start : start + len(voices[n])].mean(axis=0)
            centroids.append(mean / max(float(np.linalg.norm(mean)), 1e-8))
            start += len(voices[n])
        centre = np.stack(centroids)  # (V, 256)
        clip_emb = self.speaker.embed([clips[i] for i in single])
        out: dict[str, dict[str, Any]] = {}
        for row, i in enumerate(single):
            own = names.index(voice_of[i])
            sims = centre @ clip_emb[row]
            others = np.delete(sims, own)
            out[cases[i].id] = {
                "id_correct": bool(sims[own] > others.max()),
                "sim_best_other": float(others.max()),
                "id_candidates": len(names),
            }
        return out

    def _ref_clip(self, path: str) -> np.ndarray:
        if path not in self._refs:
            self._refs[path] = load_16k(path)
        return self._refs[path]

    @staticmethod
    def _is_dialogue(case: TestCase) -> bool:
        return len({s for s, _ in case.turns}) > 1 and len(case.references) > 1

    def _score_speaker(
        self,
        cases: list[TestCase],
        clips: list[np.ndarray],
        records: list[dict[str, Any]],
        words: dict[int, list[Word]],
    ) -> None:
        cloned = [i for i, c in enumerate(cases) if c.references and len(clips[i])]
        if cloned:
            sims = self.speaker.similarity(
                [clips[i] for i in cloned], [self.reference(cases[i], 0) for i in cloned]
            )
            for i, s in zip(cloned, sims, strict=True):
                records[i]["sim"] = s
        for i, case in enumerate(cases):
            if self._is_dialogue(case) and i in words:
                records[i]["dialogue"] = self._dialogue(case, clips[i], words[i])
            if len(clips[i]) / acoustics.SR >= LONG_FORM_S and i in words:
                ref = self.reference(case, 0) if case.references else None
                speaker = self.speaker if self.config.speaker else None
                records[i]["long_form"] = long_form_report(
                    case.spoken_text, words[i], clips[i], speaker, ref, case.language
                )

    def _dialogue(self, case: TestCase, clip: np.ndarray, words: list[Word]) -> dict[str, Any]:
        refs = {s: self.reference(case, s) for s, _ in case.turns if s < len(case.references)}
        return dialogue_record(attribute_turns(case.turns, clip, words, refs, self.speaker, case.language))

    def _score_quality(self, clips: list[np.ndarray], records: list[dict[str, Any]]) -> None:
        ok = [i for i, x in enumerate(clips) if len(x) >= acoustics.SR // 10]
        for i, d in zip(ok, self.dnsmos.score([clips[i] for i in ok]), strict=True):
            records[i].update(d)
        for i, m in zip(ok, self.distillmos.score([clips[i] for i in ok]), strict=True):
            records[i]["distillmos"] = m


def score_tags(cases: list[TestCase], clips: dict[str, np.ndarray]) -> dict[str, list[dict[str, Any]]]:
    """Per tagged case id: one activation record per tag (against its baseline's clip)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for case in cases:
        if not case.tags or case.baseline is None or case.baseline not in clips or case.id not in clips:
            continue
        words = len(normalize_for_wer(case.spoken_text, case.language).split())
        results = [tag_activation(t, clips[case.id], clips[case.baseline], words) for t in case.tags]
        out[case.id] = [asdict(r) for r in results if r is not None]
    return out
