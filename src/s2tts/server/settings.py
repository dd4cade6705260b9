"""Server configuration: one frozen dataclass, built by the CLI and passed to ``create_app``.

Every cap the server enforces lives here, so a deployment can see (and tune) its whole attack
surface in one place: body size, text length, reference length, concurrency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "S2TTS_"


@dataclass(frozen=True)
class ServerSettings:
    """How the HTTP server runs and what it accepts.

    api_key: when set, every route except ``public_paths`` needs ``Authorization: Bearer <key>``.
    data_dir: stored voices live under ``data_dir/voices``.
    max_body_bytes: cap on any request body (and any websocket message), enforced while reading.
    max_text_chars: cap on the text of one request (or the buffered text of a live session).
    max_sessions: synthesis / codec jobs running at once (also the engine's rows decoded together).
    max_queue: requests allowed to wait for a running slot; more get 429 + Retry-After at once.
    queue_timeout_s: how long a queued request waits for a slot before 503 + Retry-After (0: no
        wait, a request that finds every slot busy gets 503 at once).
    retry_after_s: the Retry-After value sent with 429/503.
    max_reference_seconds: cap on the reference audio of one request (all its clips together).
    max_codec_seconds: cap on the audio of one ``/v1/vqgan/encode`` or ``/v1/vqgan/decode`` request.
    max_references: cap on the number of references of one request.
    low_latency_first_chunk_frames: first streamed chunk size (codec frames) for latency
        ``balanced``/``low``; ``normal`` keeps the engine's defaults.
    cache_voice_codes: store a voice's codec codes beside its audio after its first use.
    request_timeout_s: deadline handed to the engine with each request (None: no deadline).
    live_idle_timeout_s: a live websocket session with no message for this long is closed.
    """

    api_key: str | None = None
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 20 * 1024 * 1024
    max_text_chars: int = 10_000
    max_sessions: int = 8
    max_queue: int = 64
    queue_timeout_s: float = 30.0
    retry_after_s: int = 1
    max_reference_seconds: float = 90.0
    max_codec_seconds: float = 90.0
    max_references: int = 8
    max_voice_id_chars: int = 128
    low_latency_first_chunk_frames: int = 1
    cache_voice_codes: bool = True
    request_timeout_s: float | None = None
    live_idle_timeout_s: float = 300.0
    cors_origins: tuple[str, ...] = ()
    public_paths: frozenset[str] = field(
        default_factory=lambda: frozenset({"/", "/v1/health", "/docs", "/redoc", "/openapi.json"})
    )
    log_level: str = "info"

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1024:
            raise ValueError("max_body_bytes must be at least 1024")
        if self.max_text_chars < 1 or self.max_sessions < 1 or self.max_references < 0 or self.max_queue < 0:
            raise ValueError(
                "max_text_chars and max_sessions must be >= 1, max_references and max_queue >= 0"
            )
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key must not be blank (use None for no key)")
        if self.queue_timeout_s < 0 or self.retry_after_s < 0:
            raise ValueError("queue_timeout_s and retry_after_s must be >= 0")

    @property
    def voices_dir(self) -> Path:
        return Path(self.data_dir) / "voices"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> ServerSettings:
        """Settings from ``S2TTS_<FIELD>`` variables (e.g. ``S2TTS_API_KEY``, ``S2TTS_DATA_DIR``,
        ``S2TTS_MAX_SESSIONS``), then ``overrides`` (explicit CLI flags) on top. An empty
        ``S2TTS_API_KEY`` means no key; ``S2TTS_CORS_ORIGINS`` is comma-separated."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None or f.name == "public_paths":
                continue
            values[f.name] = _parse(f.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


_INTS = {"port", "max_body_bytes", "max_text_chars", "max_sessions", "max_queue", "retry_after_s"}
_INTS |= {"max_references", "max_voice_id_chars", "low_latency_first_chunk_frames"}
_FLOATS = {"queue_timeout_s", "max_reference_seconds", "max_codec_seconds", "live_idle_timeout_s"}


def _parse(name: str, raw: str) -> Any:
    try:
        if name in _INTS:
            return int(raw)
        if name in _FLOATS:
            return float(raw)
        if name == "request_timeout_s":
            return float(raw) if raw.strip() else None
    except ValueError as exc:
        raise ValueError(f"{ENV_PREFIX}{name.upper()} must be a number, got {raw!r}") from exc
    if name == "api_key":
        return raw.strip() or None
    if name == "data_dir":
        return Path(raw)
    if name == "cache_voice_codes":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if name == "cors_origins":
        return tuple(o.strip() for o in raw.split(",") if o.strip())
    return raw
