"""Model-shape configs for the Dual-AR LM, read from and written to a checkpoint's ``config.json``.

Two on-disk layouts are understood:

* ``fish_qwen3_omni`` (the released ``s2-pro``): top-level token ids, the slow AR under
  ``text_config`` and the fast AR under ``audio_decoder_config``. As in the reference loader,
  ``rope_base`` and ``norm_eps`` of *both* parts come from ``text_config``.
* the older flat ``dual_ar`` / ``naive`` layout, every field at top level (``fast_*`` for the fast AR).

We always write the ``fish_qwen3_omni`` layout.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from s2tts.errors import ConfigError


@dataclass(frozen=True)
class TransformerConfig:
    """Shape of one decoder stack (slow or fast AR)."""

    n_layer: int
    dim: int
    n_head: int
    n_kv_head: int
    head_dim: int
    intermediate_size: int
    max_seq_len: int
    rope_base: float = 1_000_000.0
    norm_eps: float = 1e-6
    qk_norm: bool = False
    qkv_bias: bool = False
    o_bias: bool = False

    def __post_init__(self) -> None:
        for name in ("n_layer", "dim", "n_head", "n_kv_head", "head_dim", "intermediate_size", "max_seq_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.n_head % self.n_kv_head:
            raise ConfigError(
                f"n_head ({self.n_head}) must be a multiple of n_kv_head/n_local_heads ({self.n_kv_head})"
            )
        if self.head_dim % 2:
            raise ConfigError(f"head_dim must be even for rotary embeddings, got {self.head_dim}")

    @property
    def q_size(self) -> int:
        return self.n_head * self.head_dim

    @property
    def kv_size(self) -> int:
        return self.n_kv_head * self.head_dim


@dataclass(frozen=True)
class DualARConfig:
    """The whole Dual-AR LM: slow AR over time, fast AR over the codebooks of one frame.

    vocab_size: rows of the shared text/semantic embedding (= logits width).
    codebook_size: entries per codebook (fast-AR vocab; 4096 for s2-pro).
    semantic_begin_id..semantic_end_id: the contiguous ids of ``<|semantic:i|>``.
    text_frontend: what the model reads for text (``s2tts.text.frontend``): ``"text"`` (as written; s2-pro
        and every checkpoint whose config.json has no ``text_frontend``) or ``"espeak"`` (IPA phonemes).
    """

    slow: TransformerConfig
    fast: TransformerConfig
    vocab_size: int
    codebook_size: int
    num_codebooks: int
    semantic_begin_id: int
    semantic_end_id: int
    eos_token_id: int
    pad_token_id: int
    audio_pad_token_id: int | None = None
    scale_codebook_embeddings: bool = True
    tie_word_embeddings: bool = True
    dtype: str = "bfloat16"
    text_frontend: str = "text"

    def __post_init__(self) -> None:
        if not isinstance(self.text_frontend, str) or not self.text_frontend:
            raise ConfigError(f"text_frontend must be a non-empty string, got {self.text_frontend!r}")
        if self.fast.max_seq_len < self.num_codebooks:
            raise ConfigError(
                f"fast max_seq_len ({self.fast.max_seq_len}) must be >= num_codebooks ({self.num_codebooks})"
            )
        if not (0 <= self.semantic_begin_id <= self.semantic_end_id < self.vocab_size):
            raise ConfigError(
                f"semantic id range [{self.semantic_begin_id}, {self.semantic_end_id}] "
                f"must lie inside vocab_size {self.vocab_size}"
            )
        if not (0 <= self.eos_token_id < self.vocab_size):
            raise ConfigError(f"eos_token_id {self.eos_token_id} outside vocab_size {self.vocab_size}")
        if self.num_codebooks < 1 or self.codebook_size < 1:
            raise ConfigError("num_codebooks and codebook_size must be positive")
        if not self.tie_word_embeddings:
            raise ConfigError("only tied word embeddings are supported (tie_word_embeddings=true)")

    # ------------------------------------------------------------------ derived
    @property
    def num_semantic(self) -> int:
        return self.semantic_end_id - self.semantic_begin_id + 1

    @property
    def codebook_scale(self) -> float:
        """Divisor of semantic-position embeddings at inference: sqrt(num_codebooks + 1)."""
        return math.sqrt(self.num_codebooks + 1) if self.scale_codebook_embeddings else 1.0

    def with_ids(self, semantic_begin_id: int, semantic_end_id: int) -> DualARConfig:
        """A copy with the semantic range taken from a tokenizer (the tokenizer wins, as in the reference)."""
        return replace(self, semantic_begin_id=semantic_begin_id, semantic_end_id=semantic_end_id)

    # ------------------------------------------------------------------ I/O
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DualARConfig:
        model_type = d.get("model_type")
        if model_type == "fish_qwen3_omni" or "text_config" in d:
            return _from_omni(d)
        if model_type in ("dual_ar", "naive") or "n_layer" in d:
            return _from_flat(d)
        raise ConfigError(
            f"unknown config layout (model_type={model_type!r}): expected 'fish_qwen3_omni' "
            "(text_config + audio_decoder_config) or the flat 'dual_ar' layout"
        )

    @classmethod
    def from_json(cls, path: str | Path) -> DualARConfig:
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a JSON object")
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The ``fish_qwen3_omni`` layout of the released checkpoint."""
        s, f = self.slow, self.fast
        return {
            "model_type": "fish_qwen3_omni",
            "eos_token_id": self.eos_token_id,
            "pad_token_id": self.pad_token_id,
            "audio_pad_token_id": self.audio_pad_token_id,
            "semantic_start_token_id": self.semantic_begin_id,
            "semantic_end_token_id": self.semantic_end_id,
            "dtype": self.dtype,
            "text_frontend": self.text_frontend,
            "text_config": {
                "model_type": "fish_qwen3",
                "vocab_size": self.vocab_size,
                "n_layer": s.n_layer,
                "n_head": s.n_head,
                "n_local_heads": s.n_kv_head,
                "head_dim": s.head_dim,
                "dim": s.dim,
                "intermediate_size": s.intermediate_size,
                "rope_base": s.rope_base,
                "norm_eps": s.norm_eps,
                "max_seq_len": s.max_seq_len,
                "dropout": 0.0,
                "tie_word_embeddings": self.tie_word_embeddings,
                "attention_qkv_bias": s.qkv_bias,
                "attention_o_bias": s.o_bias,
                "attention_qk_norm": s.qk_norm,
            },
            "audio_decoder_config": {
                "model_type": "fish_qwen3_audio_decoder",
                "vocab_size": self.codebook_size,
                "num_codebooks": self.num_codebooks,
                "n_layer": f.n_layer,
                "dim": f.dim,
                "n_head": f.n_head,
                "n_local_heads": f.n_kv_head,
                "head_dim": f.head_dim,
                "intermediate_size": f.intermediate_size,
                "text_dim": s.dim,
                "max_seq_len": f.max_seq_len,
                "rope_base": f.rope_base,
                "norm_eps": f.norm_eps,
                "attention_qkv_bias": f.qkv_bias,
                "attention_o_bias": f.o_bias,
                "attention_qk_norm": f.qk_norm,
                "tie_word_embeddings": False,
                "dropout": 0.0,
            },
        }

    def save(self, path: str | Path) -> None:
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def preset(cls, name: str) -> DualARConfig:
        try:
            return PRESETS[name]
        except KeyError:
            raise ConfigError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}") from None

    def summary(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------- parsing helpers
def _req(d: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...] = int) -> Any:
    if key not in d:
        raise ConfigError(f"config is missing required field '{where}{key}'")
    value = d[key]
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"config field '{where}{key}' has the wrong type: {value!r}")
    return value


def _opt(d: dict[str, Any], key: str, default: Any) -> Any:
    value = d.get(key, default)
    return default if value is None else value


def _stack(
    d: dict[str, Any], where: str, prefix: str = "", rope_norm: dict[str, Any] | None = None
) -> TransformerConfig:
    src = rope_norm if rope_norm is not None else d
    dim = _req(d, prefix + "dim", where)
    n_head = _req(d, prefix + "n_head", where)
    head_dim = d.get(prefix + "head_dim")
    if head_dim is None:
        if dim % n_head:
            raise ConfigError(
                f"'{where}{prefix}head_dim' is missing and dim {dim} is not divisible by n_head {n_head}"
            )
        head_dim = dim // n_head
    return TransformerConfig(
        n_layer=_req(d, prefix + "n_layer", where),
        dim=dim,
        n_head=n_head,
        n_kv_head=int(_opt(d, prefix + "n_local_heads", n_head)),
        head_dim=int(head_dim),
        intermediate_size=_req(d, prefix + "intermediate_size", where),
        max_seq_len=int(_opt(d, prefix + "max_seq_len", 0)) or 0,
        rope_base=float(_opt(src, "rope_base", 1_000_000.0)),
        norm_eps=float(_opt(src, "norm_eps", 1e-6)),
        qk_norm=bool(_opt(d, prefix + "attention_qk_norm", False)),
        qkv_bias=bool(_opt(d, prefix + "attention_qkv_bias", False)),
        o_bias=bool(_opt(d, prefix + "attention_o_bias", False)),
    )


def _from_omni(d: dict[str, Any]) -> DualARConfig:
    text = d.get("text_config")
    audio = d.get("audio_decoder_config")
    if not isinstance(text, dict):
        raise ConfigError("config is missing required section 'text_config'")
    if not isinstance(audio, dict):
        raise ConfigError("config is missing required section 'audio_decoder_config'")
    slow = _stack(text, "text_config.")
    fast = _stack(audio, "audio_decoder_config.", rope_norm=text)
    text_dim = audio.get("text_dim", slow.dim)
    if text_dim != slow.dim:
        raise ConfigError(
            f"audio_decoder_config.text_dim ({text_dim}) must equal text_config.dim ({slow.dim})"
        )
    return DualARConfig(
        slow=slow,
        fast=fast,
        vocab_size=_req(text, "vocab_size", "text_config."),
        codebook_size=_req(audio, "vocab_size", "audio_decoder_config."),
        num_codebooks=_req(audio, "num_codebooks", "audio_decoder_config."),
        semantic_begin_id=_req(d, "semantic_start_token_id", ""),
        semantic_end_id=_req(d, "semantic_end_token_id", ""),
        eos_token_id=_req(d, "eos_token_id", ""),
        pad_token_id=int(_opt(d, "pad_token_id", 0)),
        audio_pad_token_id=d.get("audio_pad_token_id"),
        tie_word_embeddings=bool(_opt(text, "tie_word_embeddings", True)),
        dtype=str(_opt(d, "dtype", _opt(d, "torch_dtype", "bfloat16"))),
        text_frontend=_opt(d, "text_frontend", "text"),
    )


def _from_flat(d: dict[str, Any]) -> DualARConfig:
    slow = _stack(d, "")
    n_fast = d.get("n_fast_layer")
    if n_fast is None:
        raise ConfigError("config is missing required field 'n_fast_layer'")
    fast_src = {
        "n_layer": n_fast,
        "dim": _opt(d, "fast_dim", slow.dim),
        "n_head": _opt(d, "fast_n_head", slow.n_head),
        "n_local_heads": _opt(d, "fast_n_local_heads", slow.n_kv_head),
        "head_dim": _opt(d, "fast_head_dim", slow.head_dim),
        "intermediate_size": _opt(d, "fast_intermediate_size", slow.intermediate_size),
        "max_seq_len": _req(d, "num_codebooks", "") + 1,
        "attention_qk_norm": _opt(d, "fast_attention_qk_norm", False),
        "attention_qkv_bias": _opt(d, "fast_attention_qkv_bias", False),
        "attention_o_bias": _opt(d, "fast_attention_o_bias", False),
    }
    fast = _stack(fast_src, "fast_", rope_norm=d)
    for key in ("semantic_begin_id", "semantic_end_id"):
        if key not in d:
            raise ConfigError(f"config is missing required field '{key}'")
    return DualARConfig(
        slow=slow,
        fast=fast,
        vocab_size=_req(d, "vocab_size", ""),
        codebook_size=_req(d, "codebook_size", ""),
        num_codebooks=_req(d, "num_codebooks", ""),
        semantic_begin_id=int(d["semantic_begin_id"]),
        semantic_end_id=int(d["semantic_end_id"]),
        eos_token_id=int(_opt(d, "eos_token_id", _opt(d, "im_end_id", 0))),
        pad_token_id=int(_opt(d, "pad_token_id", 0)),
        tie_word_embeddings=bool(_opt(d, "tie_word_embeddings", True)),
        dtype=str(_opt(d, "dtype", "bfloat16")),
        text_frontend=_opt(d, "text_frontend", "text"),
    )


# ---------------------------------------------------------------------- presets
def _make(
    *,
    dim: int,
    n_layer: int,
    n_head: int,
    n_kv_head: int,
    head_dim: int,
    ffn: int,
    fast_layers: int,
    vocab: int,
    codebook: int,
    sem_begin: int,
    im_end: int,
    max_seq_len: int,
    num_codebooks: int = 10,
    dtype: str = "float32",
    pad: int | None = None,
) -> DualARConfig:
    slow = TransformerConfig(n_layer, dim, n_head, n_kv_head, head_dim, ffn, max_seq_len, qk_norm=True)
    fast = TransformerConfig(fast_layers, dim, n_head, n_kv_head, head_dim, ffn, num_codebooks + 1)
    return DualARConfig(
        slow=slow,
        fast=fast,
        vocab_size=vocab,
        codebook_size=codebook,
        num_codebooks=num_codebooks,
        semantic_begin_id=sem_begin,
        semantic_end_id=sem_begin + codebook - 1,
        eos_token_id=im_end,
        pad_token_id=pad if pad is not None else im_end + 1,
        audio_pad_token_id=sem_begin - 1,
        dtype=dtype,
    )


# Ids of the byte-level tokenizer made by ``s2tts.text.tokenizer.make_byte_tokenizer``: 256 bytes,
# then 12 specials (im_end = 258), then the semantic ids from 268; vocab padded to a multiple of 16.
PRESETS: dict[str, DualARConfig] = {
    "s2-pro": _make(
        dim=2560,
        n_layer=36,
        n_head=32,
        n_kv_head=8,
        head_dim=128,
        ffn=9728,
        fast_layers=4,
        vocab=155776,
        codebook=4096,
        sem_begin=151678,
        im_end=151645,
        max_seq_len=32768,
        dtype="bfloat16",
        pad=151669,
    ),
    "bench-small": _make(
        dim=512,
        n_layer=8,
        n_head=8,
        n_kv_head=2,
        head_dim=64,
        ffn=1536,
        fast_layers=4,
        vocab=4432,
        codebook=4096,
        sem_begin=332,
        im_end=322,
        max_seq_len=4096,
    ),
    # The small CPU model (trained by ``s2tts recipe small``): 1 semantic codebook of 1024 + 3 residual
    # codebooks (the ``cpu-small`` codec), a slow AR of 6 x 320 and a narrower fast AR of 2 x 160
    # (sizes chosen by bench/small_sizes.py; see docs/small-model.md).
    "cpu-small": replace(
        _make(
            dim=320,
            n_layer=6,
            n_head=5,
            n_kv_head=1,
            head_dim=64,
            ffn=960,
            fast_layers=2,
            vocab=1296,
            codebook=1024,
            sem_begin=268,
            im_end=258,
            max_seq_len=2048,
            num_codebooks=4,
        ),
        fast=TransformerConfig(2, 160, 4, 2, 40, 480, 5),
    ),
    "tiny": _make(
        dim=64,
        n_layer=2,
        n_head=4,
        n_kv_head=2,
        head_dim=16,
        ffn=128,
        fast_layers=2,
        vocab=4368,
        codebook=4096,
        sem_begin=268,
        im_end=258,
        max_seq_len=2048,
    ),
}
