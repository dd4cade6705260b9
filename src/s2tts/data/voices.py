"""Pseudo-speakers for the synthetic corpus: base voices x variants x pitch / vocal tract / speed.

A ``Speaker`` is a base voice of one engine (festival, piper, espeak-ng) plus perturbations applied to
everything it says:

- ``tract``: resample-then-stretch factor. The voice's audio is resampled so that it plays ``tract``
  times faster (every frequency, pitch and formants alike, scales by ``tract``, as a shorter vocal tract
  would), then time-stretched back (WSOLA, duration restored). > 1 sounds smaller / younger.
- ``speed``: speaking-rate factor (> 1 faster), applied in the same time stretch.
- espeak only: ``variant`` (espeak-ng's ``+m3``, ``+f2``, ``+klatt``... voice variants) and ``pitch``
  (espeak-ng's ``-p`` base pitch, 0-99).

The inventory is a fixed list that does not depend on the seed or the corpus size, and each speaker's
id is a readable string built from its parameters (``festival:slt:t1.05:s0.90``), so ids are stable
across corpora. A hash of the ids picks ``HELDOUT_SPEAKER_FRACTION`` of each engine's speakers (at
least one per engine and language) for the held-out set, never used for training.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

FESTIVAL_VOICES = {"kal": "kal_diphone", "ked": "ked_diphone", "slt": "cmu_us_slt_arctic_hts"}
PIPER_VOICES = ("joe",)
ESPEAK_EN_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan")
ESPEAK_EN_VARIANTS = ("m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f4", "klatt", "Andy", "Annie")
ESPEAK_OTHER_VOICES = {"de": ("de",), "es": ("es", "es-419"), "it": ("it",)}
ESPEAK_OTHER_VARIANTS = ("m1", "m3", "f1", "f3", "klatt", "Andy")
TRACTS = (0.9, 0.95, 1.0, 1.05, 1.1)
SPEEDS = (0.9, 1.0, 1.1)
ESPEAK_PITCHES = (38, 62)
HELDOUT_SPEAKER_FRACTION = 0.1


@dataclass(frozen=True)
class Speaker:
    """One pseudo-speaker. ``voice`` is the engine's own voice name."""

    source: str  # "festival" | "piper" | "espeak"
    voice: str
    language: str
    tract: float = 1.0
    speed: float = 1.0
    variant: str = ""
    pitch: int = 50
    heldout: bool = False  # set by speaker_inventory; not part of the id

    @property
    def id(self) -> str:
        if self.source == "espeak":
            base = f"espeak:{self.voice}+{self.variant}:p{self.pitch}"
        else:
            short = {v: k for k, v in FESTIVAL_VOICES.items()}.get(self.voice, self.voice)
            base = f"{self.source}:{short}"
        return f"{base}:t{self.tract:.2f}:s{self.speed:.2f}"

    @property
    def engine_voice(self) -> str:
        """What the engine is asked for: festival voice, piper voice, or espeak ``voice+variant``."""
        return f"{self.voice}+{self.variant}" if self.source == "espeak" else self.voice


def _unit_hash(text: str) -> float:
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "big") / 2**64


def speaker_inventory(languages: tuple[str, ...] = ("en",)) -> list[Speaker]:
    """Every pseudo-speaker for ``languages``, in a fixed order."""
    out: list[Speaker] = []
    if "en" in languages:
        for voice in FESTIVAL_VOICES.values():
            out += [Speaker("festival", voice, "en", t, s) for t in TRACTS for s in SPEEDS]
        for voice in PIPER_VOICES:
            out += [Speaker("piper", voice, "en", t, s) for t in TRACTS for s in SPEEDS]
        for voice in ESPEAK_EN_VOICES:
            for variant in ESPEAK_EN_VARIANTS:
                for i, pitch in enumerate(ESPEAK_PITCHES):
                    tract = TRACTS[(len(out) + i) % len(TRACTS)]
                    out.append(Speaker("espeak", voice, "en", tract, 1.0, variant, pitch))
    for lang in languages:
        if lang == "en":
            continue
        for voice in ESPEAK_OTHER_VOICES[lang]:
            for variant in ESPEAK_OTHER_VARIANTS:
                for pitch in ESPEAK_PITCHES:
                    out.append(Speaker("espeak", voice, lang, 1.0, 1.0, variant, pitch))
    return _mark_heldout(out)


def _mark_heldout(speakers: list[Speaker]) -> list[Speaker]:
    """Hold out the ``HELDOUT_SPEAKER_FRACTION`` (at least one) of each (engine, language) group whose
    ids hash lowest; the choice depends on ids only, so it is the same for every corpus."""
    groups: dict[tuple[str, str], list[Speaker]] = {}
    for spk in speakers:
        groups.setdefault((spk.source, spk.language), []).append(spk)
    chosen: set[str] = set()
    for group in groups.values():
        n = max(1, round(HELDOUT_SPEAKER_FRACTION * len(group)))
        chosen.update(s.id for s in sorted(group, key=lambda s: _unit_hash(s.id))[:n])
    return [replace(s, heldout=s.id in chosen) for s in speakers]
