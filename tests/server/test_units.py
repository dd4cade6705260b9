"""Small pieces: settings from the environment, auth helpers, metrics text, live text splitting."""

from __future__ import annotations

from pathlib import Path

import pytest

from s2tts.server.auth import bearer_token, key_matches
from s2tts.server.live import split_ready
from s2tts.server.metrics import ServerStats, metric_name, render
from s2tts.server.settings import ServerSettings


def test_settings_from_env() -> None:
    env = {
        "S2TTS_API_KEY": "k",
        "S2TTS_DATA_DIR": "/srv/d",
        "S2TTS_MAX_SESSIONS": "3",
        "S2TTS_MAX_QUEUE": "5",
        "S2TTS_QUEUE_TIMEOUT_S": "2.5",
        "S2TTS_CORS_ORIGINS": "http://a, http://b",
        "S2TTS_CACHE_VOICE_CODES": "false",
        "S2TTS_REQUEST_TIMEOUT_S": "30",
    }
    s = ServerSettings.from_env(env, port=9000, host=None)
    assert (s.api_key, s.data_dir, s.max_sessions, s.max_queue, s.port) == ("k", Path("/srv/d"), 3, 5, 9000)
    assert s.queue_timeout_s == 2.5
    assert (
        s.cors_origins == ("http://a", "http://b") and not s.cache_voice_codes and s.request_timeout_s == 30.0
    )
    assert s.host == "127.0.0.1" and s.voices_dir == Path("/srv/d/voices")
    assert ServerSettings.from_env({"S2TTS_API_KEY": ""}).api_key is None
    with pytest.raises(ValueError):
        ServerSettings.from_env({"S2TTS_MAX_SESSIONS": "lots"})
    with pytest.raises(ValueError):
        ServerSettings(max_sessions=0)
    with pytest.raises(ValueError):
        ServerSettings(max_queue=-1)


def test_bearer_parsing_and_compare() -> None:
    assert bearer_token([(b"authorization", b"Bearer abc ")]) == b"abc"
    assert bearer_token([(b"authorization", b"bearer abc")]) == b"abc"
    assert bearer_token([(b"authorization", b"Basic abc")]) is None
    assert bearer_token([(b"authorization", b"Bearer ")]) is None
    assert bearer_token([(b"x-api-key", b"k2")]) == b"k2"
    assert key_matches(b"abc", b"abc") and not key_matches(b"abd", b"abc")
    assert not key_matches(None, b"abc") and not key_matches(b"ab", b"abc")


def test_metrics_text() -> None:
    stats = ServerStats()
    stats.count("/v1/tts", 200)
    stats.count("/v1/tts", 200)
    text = render({"queue_depth": 2, "cache_hits_total": 5, "ttfa seconds.p50": 0.1, "bad": "x"}, stats, {})
    assert "# TYPE s2tts_queue_depth gauge\ns2tts_queue_depth 2" in text
    assert "# TYPE s2tts_cache_hits_total counter" in text
    assert "s2tts_ttfa_seconds_p50 0.1" in text and "bad" not in text
    assert 's2tts_http_requests_total{route="/v1/tts",status="200"} 2' in text
    assert metric_name("9x") == "s2tts__9x"


def test_live_split_ready() -> None:
    assert split_ready("Hello there. How", 5, 200) == (["Hello there."], " How")
    assert split_ready("Hi. Yes.", 5, 200) == (["Hi. Yes."], "")
    assert split_ready("No end yet", 0, 200) == ([], "No end yet")
    assert split_ready("你好。再见", 0, 200) == (["你好。"], "再见")
    segs, rest = split_ready("word " * 30, 0, 40)
    assert all(len(s) <= 40 for s in segs) and len(segs) == 4 and rest.strip() == "word"
    assert split_ready("3.14 is pi", 0, 200) == ([], "3.14 is pi")  # a dot inside a number is no end
