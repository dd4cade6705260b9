"""Request models: fish defaults and ranges, what the official SDKs send, base64 audio."""

from __future__ import annotations

import base64

import pytest
from fishaudio.types import ReferenceAudio as SdkReference
from fishaudio.types import TTSRequest as SdkRequest
from pydantic import ValidationError

from s2tts.server.schemas import LiveTTSRequest, ServeTTSRequest, SpeechRequest, VQGANEncodeRequest
from s2tts.server.synthesis import sampling_params


def test_fish_defaults() -> None:
    r = ServeTTSRequest(text="hi")
    assert (r.format, r.chunk_length, r.max_new_tokens) == ("wav", 200, 1024)
    assert (r.top_p, r.temperature, r.top_k) == (None, None, None)  # the model's (tests/test_defaults.py)
    assert r.repetition_penalty == 1.1 and r.seed is None and r.streaming is None and r.normalize
    assert r.references == [] and r.reference_id is None and r.latency == "normal"


@pytest.mark.parametrize(
    "field,value",
    [
        ("chunk_length", 99),
        ("chunk_length", 1001),
        ("top_p", 1.5),
        ("temperature", -0.1),
        ("temperature", 1.01),
        ("format", "ogg"),
        ("sample_rate", 1000),
        ("max_new_tokens", -1),
        ("seed", -5),
        ("latency", "fast"),
        ("mp3_bitrate", 100),
    ],
)
def test_fish_ranges(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        ServeTTSRequest.model_validate({"text": "hi", field: value})


def test_accepts_what_the_fish_sdk_sends() -> None:
    sdk = SdkRequest(
        text="hello",
        format="mp3",
        references=[SdkReference(audio=b"\x00\x01", text="ref")],
        reference_id="v1",
    )
    r = ServeTTSRequest.model_validate(sdk.model_dump(exclude_none=True))
    assert r.format == "mp3" and r.references[0].audio == b"\x00\x01" and r.reference_id == "v1"
    live = LiveTTSRequest.model_validate(SdkRequest(text="").model_dump())
    assert live.text == "" and live.min_chunk_length == 50


def test_json_audio_is_base64() -> None:
    b64 = base64.b64encode(b"abc").decode()
    r = ServeTTSRequest.model_validate({"text": "x", "references": [{"audio": b64, "text": "t"}]})
    assert r.references[0].audio == b"abc"
    with pytest.raises(ValidationError):
        ServeTTSRequest.model_validate(
            {"text": "x", "references": [{"audio": "http://x/y.wav", "text": "t"}]}
        )
    assert VQGANEncodeRequest.model_validate({"audios": [b64]}).audios == [b"abc"]


def test_openai_request() -> None:
    r = SpeechRequest.model_validate({"model": "tts-1", "input": "hi", "voice": "alloy"})
    assert (
        r.response_format == "mp3" and r.speed == 1.0 and r.voice_id == "alloy" and r.stream_format == "audio"
    )
    assert SpeechRequest.model_validate({"input": "hi", "voice": {"id": "v1"}}).voice_id == "v1"
    for bad in ({"input": ""}, {"input": "x", "speed": 5}, {"input": "x", "response_format": "ogg"}):
        with pytest.raises(ValidationError):
            SpeechRequest.model_validate(bad)


def test_sampling_mapping() -> None:
    p = sampling_params(ServeTTSRequest(text="x", temperature=0.5, top_p=0.9, max_new_tokens=7))
    assert (p.temperature, p.top_p, p.top_k, p.max_new_tokens) == (0.5, 0.9, 30, 7)
    greedy = sampling_params(ServeTTSRequest(text="x", temperature=0.0))
    assert greedy.top_k == 1
