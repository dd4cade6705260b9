"""Codec shape: frozen, nested dataclasses, presets, and JSON in two dialects.

``CodecConfig`` describes the causal "modded DAC" codec of S2 (reference-spec §4):

    audio (44.1 kHz) -> Encoder (rates ``encoder.rates``, transformer in the blocks listed by
    ``encoder.transformer_layers``) -> latent @ 86 Hz -> Quantizer (downsample x2 x2 -> pre
    transformer -> 1 semantic + N residual codebooks) -> codes @ 21.5 Hz -> Quantizer decode (post
    transformer -> upsample x2 x2) -> Decoder (rates ``decoder.rates``) -> tanh -> audio.

JSON dialects accepted by :meth:`CodecConfig.from_dict`:

* ours: ``{"format": "s2tts-codec", "sample_rate": ..., "encoder": {...}, ...}`` (what ``to_dict``
  writes);
* the reference's constructor values, as in ``tests/data/parity/codec/codec_config.json``
  (top-level keys ``DAC``, ``quantizer``, ``transformer_general_config ...`` and
  ``quantizer.pre_module / post_module ...``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s2tts.errors import ConfigError

FORMAT_TAG = "s2tts-codec"


@dataclass(frozen=True)
class WindowTransformerConfig:
    """A window-limited causal transformer (pre/post module of the quantizer)."""

    n_layer: int = 8
    n_head: int = 16
    head_dim: int = 64
    intermediate_size: int = 3072
    window_size: int = 128
    rope_base: float = 10000.0
    norm_eps: float = 1e-5


@dataclass(frozen=True)
class EncoderConfig:
    """Encoder. ``kind="conv"`` (the released one): conv -> blocks (3 residual units, Snake, strided
    conv[, transformer]) -> Snake -> conv. Block ``i`` outputs ``dim * 2**(i+1)`` channels; a block
    with ``transformer_layers[i] > 0`` ends with a window-limited transformer of that width,
    ``width // transformer_head_dim`` heads and an FFN of ``width * transformer_ffn_ratio``.

    ``kind="stft"`` (the iSTFT decoder's mirror, not in the released family): causal STFT of
    ``stft_n_fft`` (0: 2 * hop) with hop ``prod(rates)`` -> log-magnitude -> conv -> ``stft_layers``
    ConvNeXt blocks of width ``dim`` at the latent rate -> linear (``transformer_*`` unused).
    """

    dim: int = 64
    rates: tuple[int, ...] = (2, 4, 8, 8)
    transformer_layers: tuple[int, ...] = (0, 0, 0, 4)
    transformer_head_dim: int = 64
    transformer_ffn_ratio: int = 3
    transformer_window: int = 512
    rope_base: float = 10000.0
    norm_eps: float = 1e-5
    kind: str = "conv"
    stft_layers: int = 4
    stft_n_fft: int = 0  # 0: 2 * hop


@dataclass(frozen=True)
class QuantizerConfig:
    """Downsample x prod(factors), pre transformer, semantic + residual RVQ, post, upsample."""

    codebook_dim: int = 8
    semantic_codebook_size: int = 4096
    codebook_size: int = 1024
    n_codebooks: int = 9
    downsample_factors: tuple[int, ...] = (2, 2)
    transformer: WindowTransformerConfig = field(default_factory=WindowTransformerConfig)


@dataclass(frozen=True)
class DecoderConfig:
    """Decoder. ``kind="dac"`` (the released one): conv -> blocks (Snake, transposed conv, 3
    residual units) -> Snake -> conv -> tanh; block ``i`` outputs ``dim // 2**(i+1)`` channels.

    ``kind="istft"`` (Vocos-style, not in the released family): conv -> ``istft_layers`` ConvNeXt
    blocks of width ``dim`` at the latent rate -> linear -> log-magnitude and phase of
    ``istft_n_fft // 2 + 1`` bins -> causal overlap-add iSTFT with hop ``prod(rates)``.
    """

    dim: int = 1536
    rates: tuple[int, ...] = (8, 8, 4, 2)
    kind: str = "dac"
    istft_layers: int = 8
    istft_n_fft: int = 0  # 0: 4 * hop


@dataclass(frozen=True)
class CodecConfig:
    """Full codec shape. Defaults are the released S2 codec (``codec.pth``)."""

    sample_rate: int = 44100
    latent_dim: int = 1024
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    quantizer: QuantizerConfig = field(default_factory=QuantizerConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)

    def __post_init__(self) -> None:
        self.validate()

    # -- derived sizes -------------------------------------------------------------------------
    @property
    def hop_length(self) -> int:
        """Audio samples per encoder latent frame (prod of encoder rates)."""
        return math.prod(self.encoder.rates)

    @property
    def frame_length(self) -> int:
        """Audio samples per code frame (hop x quantizer downsampling)."""
        return self.hop_length * math.prod(self.quantizer.downsample_factors)

    @property
    def num_codebooks(self) -> int:
        return 1 + self.quantizer.n_codebooks

    @property
    def codebook_sizes(self) -> tuple[int, ...]:
        q = self.quantizer
        return (q.semantic_codebook_size,) + (q.codebook_size,) * q.n_codebooks

    @property
    def encoder_width(self) -> int:
        """Channels at the encoder's last block (input of its final conv or head)."""
        if self.encoder.kind == "stft":
            return self.encoder.dim
        return self.encoder.dim * 2 ** len(self.encoder.rates)

    # -- checks --------------------------------------------------------------------------------
    def validate(self) -> None:
        e, q, d = self.encoder, self.quantizer, self.decoder
        positive = {
            "sample_rate": self.sample_rate,
            "latent_dim": self.latent_dim,
            "encoder.dim": e.dim,
            "encoder.transformer_head_dim": e.transformer_head_dim,
            "encoder.transformer_ffn_ratio": e.transformer_ffn_ratio,
            "encoder.transformer_window": e.transformer_window,
            "quantizer.codebook_dim": q.codebook_dim,
            "quantizer.semantic_codebook_size": q.semantic_codebook_size,
            "quantizer.codebook_size": q.codebook_size,
            "quantizer.transformer.n_head": q.transformer.n_head,
            "quantizer.transformer.head_dim": q.transformer.head_dim,
            "quantizer.transformer.intermediate_size": q.transformer.intermediate_size,
            "quantizer.transformer.window_size": q.transformer.window_size,
            "decoder.dim": d.dim,
        }
        for name, value in positive.items():
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"codec config: {name} must be a positive integer, got {value!r}")
        if q.n_codebooks < 0 or q.transformer.n_layer < 0:
            raise ConfigError("codec config: layer and codebook counts must be >= 0")
        for name, rates in (
            ("encoder.rates", e.rates),
            ("decoder.rates", d.rates),
            ("quantizer.downsample_factors", q.downsample_factors),
        ):
            if not rates or any(not isinstance(r, int) or r < 1 for r in rates):
                raise ConfigError(f"codec config: {name} must be a non-empty list of integers >= 1")
        if len(e.transformer_layers) != len(e.rates) or any(n < 0 for n in e.transformer_layers):
            raise ConfigError(
                "codec config: encoder.transformer_layers needs one count >= 0 per encoder rate, "
                f"got {list(e.transformer_layers)} for rates {list(e.rates)}"
            )
        if e.kind not in ("conv", "stft"):
            raise ConfigError(f"codec config: encoder.kind must be 'conv' or 'stft', got {e.kind!r}")
        if e.kind == "stft":
            hop = math.prod(e.rates)
            n_fft = e.stft_n_fft or 2 * hop
            if e.stft_layers < 0 or e.stft_n_fft < 0 or n_fft % hop:
                raise ConfigError(
                    f"codec config: stft encoder needs stft_layers >= 0 and stft_n_fft a multiple "
                    f"of the hop {hop}, got {e.stft_layers}, {e.stft_n_fft}"
                )
        for i, n in enumerate(e.transformer_layers if e.kind == "conv" else ()):
            width = e.dim * 2 ** (i + 1)
            if n and width % e.transformer_head_dim:
                raise ConfigError(
                    f"codec config: encoder block {i} width {width} is not a multiple of "
                    f"transformer_head_dim {e.transformer_head_dim}"
                )
        if d.kind not in ("dac", "istft"):
            raise ConfigError(f"codec config: decoder.kind must be 'dac' or 'istft', got {d.kind!r}")
        if d.kind == "istft":
            hop = math.prod(d.rates)
            n_fft = d.istft_n_fft or 4 * hop
            if d.istft_layers < 0 or n_fft % hop or n_fft < hop:
                raise ConfigError(
                    f"codec config: istft decoder needs istft_layers >= 0 and istft_n_fft a multiple "
                    f"of the hop {hop}, got {d.istft_layers}, {d.istft_n_fft}"
                )
        elif d.dim % 2 ** len(d.rates):
            raise ConfigError(
                f"codec config: decoder.dim {d.dim} must be divisible by 2**{len(d.rates)} "
                "(each decoder block halves the width)"
            )
        if math.prod(e.rates) != math.prod(d.rates):
            raise ConfigError(
                f"codec config: encoder rates {list(e.rates)} and decoder rates {list(d.rates)} "
                "must have the same product (hop length)"
            )

    # -- construction --------------------------------------------------------------------------
    @staticmethod
    def preset(name: str) -> CodecConfig:
        """A named shape: ``s2-codec`` (released), ``small`` (fast demos/engine), ``tiny`` (tests),
        ``cpu-small`` and ``cpu-small-stft`` (the small CPU model's first and second codec),
        ``cpu-small-stft-deep`` (a deeper encoder: the candidate third)."""
        try:
            return PRESETS[name]
        except KeyError:
            raise ConfigError(f"unknown codec preset {name!r}; choose one of {sorted(PRESETS)}") from None

    def replace(self, **changes: Any) -> CodecConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT_TAG}
        out.update(_to_plain(self))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodecConfig:
        """Parse our JSON dialect or the reference's constructor values (see module docstring)."""
        if not isinstance(data, dict):
            raise ConfigError(f"codec config must be a JSON object, got {type(data).__name__}")
        if "DAC" in data:
            return _from_reference(data)
        body = {k: v for k, v in data.items() if k != "format"}
        if data.get("format", FORMAT_TAG) != FORMAT_TAG:
            raise ConfigError(f"codec config has format {data.get('format')!r}, expected {FORMAT_TAG!r}")
        return _build(cls, body, "codec config")

    def save_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> CodecConfig:
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise ConfigError(f"cannot read codec config {path}: {exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"codec config {path} is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [_to_plain(v) for v in obj]
    return obj


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    """Build a (nested) frozen dataclass from plain JSON values, with errors naming the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a JSON object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}")
    defaults = cls()
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        default = getattr(defaults, name)
        if dataclasses.is_dataclass(default):
            kwargs[name] = _build(type(default), value, f"{where}.{name}")
        elif isinstance(default, tuple):
            if not isinstance(value, (list, tuple)):
                raise ConfigError(f"{where}.{name} must be a list, got {value!r}")
            kwargs[name] = tuple(value)
        elif isinstance(default, float):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(f"{where}.{name} must be a number, got {value!r}")
            kwargs[name] = float(value)
        else:
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _find(data: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The value of the key starting with ``prefix`` (reference keys carry a comment after it)."""
    for key, value in data.items():
        if key == prefix or key.startswith(prefix + " "):
            return value
    raise ConfigError(f"reference codec config lacks a {prefix!r} section")


def _from_reference(data: dict[str, Any]) -> CodecConfig:
    """Map the reference's DAC / quantizer / transformer constructor values onto ours."""
    try:
        dac = data["DAC"]
        quant = _find(data, "quantizer")
        general = _find(data, "transformer_general_config")
        module = _find(data, "quantizer.pre_module")
        mcfg = module["config"]
        if quant.get("downsample_dims") not in (None, []):
            raise ConfigError("reference codec config: downsample_dims other than null is not supported")
        if not dac.get("causal", True) or not module.get("causal", True):
            raise ConfigError("reference codec config: only the causal codec is supported")
        latent = int(dac["latent_dim"])
        if int(quant["input_dim"]) != latent or int(mcfg["dim"]) != latent:
            raise ConfigError("reference codec config: quantizer dims must equal DAC latent_dim")
        n_local = int(mcfg.get("n_local_heads", -1))
        if n_local not in (-1, int(mcfg["n_head"])):
            raise ConfigError("reference codec config: grouped-query heads are not supported in the codec")
        window = module.get("window_size", mcfg.get("window_size"))
        return CodecConfig(
            sample_rate=int(dac["sample_rate"]),
            latent_dim=latent,
            encoder=EncoderConfig(
                dim=int(dac["encoder_dim"]),
                rates=tuple(int(r) for r in dac["encoder_rates"]),
                transformer_layers=tuple(int(n) for n in dac["encoder_transformer_layers"]),
                transformer_head_dim=int(general["head_dim"]),
                transformer_ffn_ratio=3,
                transformer_window=int(general.get("window_size", 512)),
                rope_base=float(general["rope_base"]),
                norm_eps=float(general["norm_eps"]),
            ),
            quantizer=QuantizerConfig(
                codebook_dim=int(quant["codebook_dim"]),
                semantic_codebook_size=int(quant["semantic_codebook_size"]),
                codebook_size=int(quant["codebook_size"]),
                n_codebooks=int(quant["n_codebooks"]),
                downsample_factors=tuple(int(f) for f in quant["downsample_factor"]),
                transformer=WindowTransformerConfig(
                    n_layer=int(mcfg["n_layer"]),
                    n_head=int(mcfg["n_head"]),
                    head_dim=int(mcfg["head_dim"]),
                    intermediate_size=int(mcfg["intermediate_size"]),
                    window_size=int(window),
                    rope_base=float(mcfg["rope_base"]),
                    norm_eps=float(mcfg["norm_eps"]),
                ),
            ),
            decoder=DecoderConfig(
                dim=int(dac["decoder_dim"]), rates=tuple(int(r) for r in dac["decoder_rates"])
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"reference codec config is missing or has a bad field: {exc}") from exc


PRESETS: dict[str, CodecConfig] = {
    # The released S2 codec (reference-spec §4).
    "s2-codec": CodecConfig(),
    # Fast shape for benchmarks, demos and engine tests: the real codebook sizes (any code stream
    # valid for the released codec is valid here) with narrow convolutions and short windows.
    "small": CodecConfig(
        latent_dim=256,
        encoder=EncoderConfig(dim=16, transformer_layers=(0, 0, 0, 1), transformer_window=64),
        quantizer=QuantizerConfig(
            transformer=WindowTransformerConfig(
                n_layer=2, n_head=4, head_dim=64, intermediate_size=768, window_size=32
            )
        ),
        decoder=DecoderConfig(dim=96),
    ),
    # The parity shape (tests/data/parity/codec): tiny and exercised against the reference.
    "tiny": CodecConfig(
        latent_dim=64,
        encoder=EncoderConfig(dim=4, transformer_layers=(0, 0, 0, 2), transformer_window=32),
        quantizer=QuantizerConfig(
            semantic_codebook_size=64,
            codebook_size=32,
            transformer=WindowTransformerConfig(
                n_layer=2, n_head=4, head_dim=16, intermediate_size=192, window_size=8
            ),
        ),
        decoder=DecoderConfig(dim=64),
    ),
    # The small CPU model's first codec (about 5.4 M parameters, 4 M in the decoder): the released
    # frame rate (44.1 kHz, 2048 samples a frame, 21.5 frames/s), a narrow causal encoder without
    # transformers, a one-layer quantizer transformer, 1 semantic codebook of 1024 + 3 residual
    # codebooks of 256, and the Vocos-style iSTFT decoder (ConvNeXt at 86 frames/s), which trained
    # faster and better than a mirrored transposed-conv decoder at equal CPU time.
    "cpu-small": CodecConfig(
        latent_dim=128,
        encoder=EncoderConfig(dim=8, transformer_layers=(0, 0, 0, 0)),
        quantizer=QuantizerConfig(
            codebook_dim=8,
            semantic_codebook_size=1024,
            codebook_size=256,
            n_codebooks=3,
            transformer=WindowTransformerConfig(
                n_layer=1, n_head=4, head_dim=32, intermediate_size=384, window_size=32
            ),
        ),
        decoder=DecoderConfig(dim=256, kind="istft", istft_layers=6),
    ),
}
# The small model's codec: ``cpu-small`` with the spectral encoder (causal STFT, then 4 ConvNeXt
# blocks of width 256 at 86 frames/s); the same codebooks and frame rate, so an LM of ``cpu-small``'s
# shape reads its codes. bench/codec_encoder.py (600 steps each, same audio): phone probe on
# codebook 0 0.483 against the conv encoder's 0.413 (baseline 0.219), at 0.29x its step time.
PRESETS["cpu-small-stft"] = PRESETS["cpu-small"].replace(
    encoder=EncoderConfig(dim=256, kind="stft", stft_layers=4, transformer_layers=(0, 0, 0, 0))
)
# A deeper spectral encoder (8 ConvNeXt blocks): the phone probes put most of the second codec's
# loss in its encoder (latent 0.72 against Whisper's 0.87; docs/codec-training.md), and resynthesis
# errors are phone confusions. Same codebooks and frame rate as ``cpu-small-stft``.
PRESETS["cpu-small-stft-deep"] = PRESETS["cpu-small"].replace(
    encoder=EncoderConfig(dim=256, kind="stft", stft_layers=8, transformer_layers=(0, 0, 0, 0))
)
