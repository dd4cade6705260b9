"""Everything a route needs, in one object made by ``create_app`` (no module-level state)."""

from __future__ import annotations

from dataclasses import dataclass

from s2tts.server.engine_api import Engine
from s2tts.server.limits import ConcurrencyLimiter
from s2tts.server.metrics import ServerStats
from s2tts.server.settings import ServerSettings
from s2tts.server.voices import VoiceStore


@dataclass
class ServerContext:
    engine: Engine
    settings: ServerSettings
    voices: VoiceStore
    limiter: ConcurrencyLimiter
    stats: ServerStats
