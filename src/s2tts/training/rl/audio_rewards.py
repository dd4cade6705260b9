"""The audio rewards: the evaluation harness's scorers (``s2tts.eval``) wrapped as rewards.

Each class loads its model once (in the reward worker that builds it) and scores a batch of
:class:`~s2tts.training.rl.rewards.RewardInput`; every score is "higher is better" and roughly
in [0, 1], so the weights of the run config compare like with like.

* ``Intelligibility`` -- Whisper (faster-whisper, offline ``tiny.en`` or ``base``) transcribes the
  clip; ``error_rate`` is WER (CER for languages without spaces) against the spoken text (tags
  and speaker markers removed), so missed and hallucinated words both count. The continuous term
  is S2's "per-token confidence": Whisper's probability of each token of the *target* text given
  the audio (teacher-forced through the decoder's alignment pass), averaged in log space; a
  skipped or garbled word drags it down even when the transcript happens to match.
  ``score = (1 - w) * (1 - min(error_rate, 1)) + w * confidence``. In a dialogue (``<|speaker:i|>``
  turns and a reference voice per speaker) a wrong speaker costs more than wrong words: each turn
  is placed in time by the ASR and compared with every voice (``s2tts.eval.dialogue``); a turn
  closer to another speaker's voice than to its own is *misattributed*, and the score loses
  ``(1 - w) * misattribution_weight * share``, where ``share`` is the misattributed turns' part of
  the words -- ``misattribution_weight`` (2) times what the same turns cost if every word of them
  were wrong.
* ``Similarity`` -- resemblyzer cosine between the clip and the prompt's reference voice (0 and
  ``applicable = 0`` for prompts without one).
* ``DNSMOS`` / ``DistillMOS`` -- quality MOS mapped from [1, 5] to [0, 1].
* ``TagActivation`` -- for a tagged prompt, the share of its tags whose acoustic effect shows
  against the untagged baseline clip (same seed), using the harness's rules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from s2tts.errors import TrainConfigError
from s2tts.eval.asr import MAX_CLIP_S, WhisperASR
from s2tts.eval.audio import SCORING_RATE, to_16k
from s2tts.eval.testset import TestCase
from s2tts.eval.wer import char_errors, uses_cer, word_errors
from s2tts.training.rl.rewards import RewardInput

if TYPE_CHECKING:
    from s2tts.scoring.speaker import SpeakerEncoder

MIN_QUALITY_SAMPLES = SCORING_RATE // 10  # the quality models need 0.1 s


def _clip(s: RewardInput) -> np.ndarray:
    return to_16k(s.audio, s.sample_rate) if len(s.audio) else np.zeros(0, dtype=np.float32)


def spoken_text(text: str) -> str:
    """The words to be heard (the harness's rule: tags and speaker markers removed)."""
    return TestCase(id="", text=text).spoken_text


def target_confidence(
    asr: WhisperASR, clips: Sequence[np.ndarray], texts: Sequence[str], language: str
) -> list[float]:
    """Geometric-mean probability Whisper gives each token of ``texts[i]`` given ``clips[i]``
    (16 kHz, <= 30 s). Empty text or audio -> 0."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer

    model = asr.model
    out = [0.0] * len(clips)
    todo = [i for i, (c, t) in enumerate(zip(clips, texts, strict=True)) if len(c) and t.strip()]
    if not todo:
        return out
    fx = model.feature_extractor
    tokenizer = Tokenizer(
        model.hf_tokenizer,
        asr.multilingual,
        task="transcribe",
        language=language if asr.multilingual else None,
    )
    feats = []
    frames = []
    for i in todo:
        f = fx(np.asarray(clips[i][: int(MAX_CLIP_S * SCORING_RATE)], dtype=np.float32))[
            :, : fx.nb_max_frames
        ]
        frames.append(int(f.shape[-1]))
        feats.append(pad_or_trim(f))
    encoded = model.encode(np.stack(feats))
    tokens = [tokenizer.encode(" " + texts[i].strip()) for i in todo]
    results = model.model.align(encoded, tokenizer.sot_sequence, tokens, frames)
    for i, res in zip(todo, results, strict=True):
        probs = np.clip(np.asarray(res.text_token_probs, dtype=np.float64), 1e-6, 1.0)
        out[i] = float(np.exp(np.log(probs).mean())) if probs.size else 0.0
    return out


def dialogue_turns(s: RewardInput) -> list[tuple[int, str]]:
    """(speaker, spoken text) per turn when ``s`` is a dialogue with a voice per speaker, else []."""
    turns = TestCase(id="", text=s.text).turns
    speakers = {k for k, _ in turns}
    if len(speakers) < 2 or not all(k < len(s.voices) for k in speakers):
        return []
    return turns


class Intelligibility:
    def __init__(
        self,
        asr: str = "tiny.en",
        beam_size: int = 1,
        batch_size: int = 8,
        threads: int = 1,
        confidence_weight: float = 0.5,
        misattribution_weight: float = 2.0,
        device: str = "cpu",
    ) -> None:
        if misattribution_weight < 0 or not 0 <= confidence_weight <= 1:
            raise TrainConfigError(
                "intelligibility needs misattribution_weight >= 0 and confidence_weight in [0, 1]"
            )
        self.asr = WhisperASR(asr, device, threads=threads, beam_size=beam_size, batch_size=batch_size)
        self.confidence_weight = confidence_weight
        self.misattribution_weight = misattribution_weight
        self.device = device
        self._speaker: SpeakerEncoder | None = None

    def __call__(self, batch: Sequence[RewardInput]) -> list[dict[str, float]]:
        clips = [_clip(s) for s in batch]
        texts = [spoken_text(s.text) for s in batch]
        live = [i for i, c in enumerate(clips) if len(c)]
        turns = {i: t for i in live if (t := dialogue_turns(batch[i]))}
        hyps = [""] * len(batch)
        plain = [i for i in live if i not in turns]
        for i, h in zip(
            plain,
            self.asr.transcribe([clips[i] for i in plain], [batch[i].language for i in plain]),
            strict=True,
        ):
            hyps[i] = h
        misattributed = {i: self._misattribution(batch[i], clips[i], t) for i, t in turns.items()}
        for i in turns:
            hyps[i] = misattributed[i][2]
        conf = [0.0] * len(batch)
        if self.confidence_weight > 0:
            for lang in sorted({s.language for s in batch}):
                idx = [i for i in live if batch[i].language == lang]
                for i, c in zip(
                    idx,
                    target_confidence(self.asr, [clips[i] for i in idx], [texts[i] for i in idx], lang),
                    strict=True,
                ):
                    conf[i] = c
        out = []
        w = self.confidence_weight
        for i, s in enumerate(batch):
            counts = (char_errors if uses_cer(s.language) else word_errors)(texts[i], hyps[i], s.language)
            rate = counts.rate
            row = {
                "score": (1 - w) * (1.0 - min(rate, 1.0)) + w * conf[i],
                "error_rate": rate,
                "deletions": float(counts.deletions),
                "insertions": float(counts.insertions),
                "confidence": conf[i],
            }
            if i in misattributed:
                wrong, share, _ = misattributed[i]
                row["turns_misattributed"] = float(wrong)
                row["misattribution"] = share
                row["score"] -= (1 - w) * self.misattribution_weight * share
            out.append(row)
        return out

    def _misattribution(
        self, s: RewardInput, clip: np.ndarray, turns: list[tuple[int, str]]
    ) -> tuple[int, float, str]:
        """(misattributed turns, their share of the words, the transcript) of one dialogue."""
        from s2tts.eval.dialogue import attribute_turns

        if self._speaker is None:
            from s2tts.scoring.speaker import SpeakerEncoder

            self._speaker = SpeakerEncoder(self.device)
        words = self.asr.transcribe_words(clip, s.language)
        voices = {k: to_16k(s.voices[k][0], s.voices[k][1]) for k, _ in turns}
        scores = attribute_turns(turns, clip, words, voices, self._speaker, s.language)
        total = sum(t.words for t in scores)
        wrong = [t for t in scores if t.correct is False]
        share = sum(t.words for t in wrong) / total if total else 0.0
        return len(wrong), share, " ".join(w.text for w in words)


class Similarity:
    def __init__(self, device: str = "cpu") -> None:
        from s2tts.scoring.speaker import SpeakerEncoder

        self.encoder = SpeakerEncoder(device)

    def __call__(self, batch: Sequence[RewardInput]) -> list[dict[str, float]]:
        out = [{"score": 0.0, "applicable": 0.0} for _ in batch]
        idx = [i for i, s in enumerate(batch) if s.reference is not None and s.reference_rate]
        if idx:
            clips = [_clip(batch[i]) for i in idx]
            refs = [to_16k(batch[i].reference, int(batch[i].reference_rate or 0)) for i in idx]  # type: ignore[arg-type]
            for i, sim in zip(idx, self.encoder.similarity(clips, refs), strict=True):
                out[i] = {"score": float(sim), "applicable": 1.0}
        return out


def _mos01(value: float) -> float:
    return min(max((value - 1.0) / 4.0, 0.0), 1.0)


class DNSMOS:
    def __init__(self, threads: int = 1) -> None:
        from s2tts.scoring.quality import DNSMOS as Model

        self.model = Model(threads)

    def __call__(self, batch: Sequence[RewardInput]) -> list[dict[str, float]]:
        clips = [_clip(s) for s in batch]
        ok = [i for i, c in enumerate(clips) if len(c) >= MIN_QUALITY_SAMPLES]
        out = [{"score": 0.0, "ovrl": math.nan} for _ in batch]
        for i, r in zip(ok, self.model.score([clips[i] for i in ok]), strict=True):
            out[i] = {"score": _mos01(r["dnsmos_ovrl"]), "ovrl": r["dnsmos_ovrl"]}
        return out


class DistillMOS:
    def __init__(self, device: str = "cpu") -> None:
        from s2tts.scoring.quality import DistillMOS as Model

        self.model = Model(device)

    def __call__(self, batch: Sequence[RewardInput]) -> list[dict[str, float]]:
        clips = [_clip(s) for s in batch]
        ok = [i for i, c in enumerate(clips) if len(c) >= MIN_QUALITY_SAMPLES]
        out = [{"score": 0.0, "mos": math.nan} for _ in batch]
        for i, mos in zip(ok, self.model.score([clips[i] for i in ok]), strict=True):
            out[i] = {"score": _mos01(mos), "mos": mos}
        return out


class TagActivation:
    """Needs ``RewardInput.baseline`` (the untagged clip, same seed); the tags come from the
    request's ``tags`` or, failing that, the ``[tag]`` markers in the text."""

    def __call__(self, batch: Sequence[RewardInput]) -> list[dict[str, float]]:
        from s2tts.eval.instruction import tag_activation

        out = []
        for s in batch:
            tags = list(s.request.get("tags") or _inline_tags(s.text))
            if not tags or s.baseline is None or not len(s.audio):
                out.append({"score": 0.0, "applicable": 0.0})
                continue
            clip, base = _clip(s), to_16k(s.baseline, s.sample_rate)
            words = len(spoken_text(s.text).split())
            results = [r for t in tags if (r := tag_activation(t, clip, base, words)) is not None]
            score = float(np.mean([r.activated for r in results])) if results else 0.0
            out.append({"score": score, "applicable": float(bool(results))})
        return out


def _inline_tags(text: str) -> list[str]:
    import re

    return [m.strip() for m in re.findall(r"\[([^\]]+)\]", text)]
