"""Request and response bodies of the HTTP API (pydantic), with the wire names clients use.

- ``ServeTTSRequest``: fish-speech's ``/v1/tts`` body (same names and defaults), widened to what
  the fish.audio cloud and its SDK send (``prosody``, ``mp3_bitrate``, ``opus_bitrate``,
  ``sample_rate``, ``latency: low``; ``temperature``/``top_p`` 0 means greedy). Unknown fields are
  ignored, as both servers do.
- ``SpeechRequest``: OpenAI's ``/v1/audio/speech`` plus the vLLM-Omni / SGLang-Omni extras
  (``ref_audio``, ``ref_text``, ``references``, ``stream``, ``language``, sampling knobs).

Both speech bodies take ``language`` (vLLM-Omni's name for it; fish.audio's API has no such field):
an ISO 639-1 code (``en``, ``de``, ``es``) or espeak-ng voice name that a phoneme model reads the
text as; unset or ``auto``: the model's default (English). A malformed value is a 422; one that
espeak-ng does not know is a 400 from a phoneme model, and text models ignore the field.
- Reference CRUD and codec bodies of fish-speech.

Bytes fields take raw bytes (msgpack) or a base64 string / ``data:`` URL (JSON).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from s2tts.inference.params import DEFAULT_SAMPLING, MAX_TEMPERATURE
from s2tts.server.audio_input import decode_base64
from s2tts.text.frontend import check_language
from s2tts.text.split import DEFAULT_CHUNK_LENGTH


def _bytes_or_base64(value: Any) -> Any:
    if isinstance(value, str):
        return decode_base64(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


AudioBytes = Annotated[
    bytes,
    BeforeValidator(_bytes_or_base64),
    Field(description="Audio file bytes (msgpack) or base64 / data URL (JSON)."),
]


def _language(value: Any) -> Any:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    if not isinstance(value, str):
        raise ValueError("language must be a string such as 'en'")
    return check_language(value.strip())  # TextFrontendError is a ValueError: a 422


Language = Annotated[
    str | None,
    BeforeValidator(_language),
    Field(
        description="Language of the text: ISO 639-1 code (en, de, es...) or espeak-ng voice name, read by "
        "phoneme models; unset or 'auto': the model's default (English). Text models ignore it.",
        examples=["en"],
    ),
]

TTSFormat = Literal["wav", "pcm", "mp3", "opus", "flac", "aac"]
SpeechFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
OPENAI_VOICES = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse"}
    | {"marin", "cedar", "default"}
)


class ReferenceAudio(BaseModel):
    """One reference clip: audio and its transcript."""

    model_config = ConfigDict(extra="ignore")

    audio: AudioBytes
    text: str = ""


class Prosody(BaseModel):
    """fish.audio's prosody: speed factor and volume change in dB (applied to the output)."""

    model_config = ConfigDict(extra="ignore")

    speed: float = Field(1.0, ge=0.5, le=2.0)
    volume: float = Field(0.0, ge=-20.0, le=20.0)


# Sampling knobs a request leaves out take the model's own defaults (its sampling.json).
MODEL_DEFAULT = "Omitted or null: the model's default (GET /v1/health, 'sampling'); without one, "


class SamplingFields(BaseModel):
    """What both speech endpoints share: sampling knobs (the model's defaults when left out, else
    fish's), seed and language."""

    model_config = ConfigDict(extra="ignore")

    temperature: float | None = Field(
        None,
        ge=0.0,
        le=MAX_TEMPERATURE,
        description=f"0 means greedy. {MODEL_DEFAULT}{DEFAULT_SAMPLING.temperature}.",
    )
    top_p: float | None = Field(
        None, ge=0.0, le=1.0, description=f"0 means greedy. {MODEL_DEFAULT}{DEFAULT_SAMPLING.top_p}."
    )
    top_k: int | None = Field(None, ge=1, le=4096, description=f"{MODEL_DEFAULT}{DEFAULT_SAMPLING.top_k}.")
    repetition_penalty: float = Field(
        1.1, ge=0.9, le=2.0, description="Accepted for compatibility; S2 uses repetition-aware sampling."
    )
    max_new_tokens: int = Field(
        DEFAULT_SAMPLING.max_new_tokens,
        ge=0,
        le=32768,
        description="Per text batch; 0: until the context is full.",
    )
    min_new_tokens: int = Field(0, ge=0, le=32768, description="Steps before the end token is allowed.")
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    language: Language = None


class ServeTTSRequest(SamplingFields):
    """Body of ``POST /v1/tts`` (fish-speech / fish.audio)."""

    text: str
    chunk_length: int = Field(
        DEFAULT_CHUNK_LENGTH, ge=100, le=1000, description="UTF-8 bytes per text batch."
    )
    format: TTSFormat = "wav"
    sample_rate: int | None = Field(None, ge=8000, le=192000)
    mp3_bitrate: Literal[64, 128, 192] = 128
    opus_bitrate: Literal[-1000, 24, 32, 48, 64] = -1000
    references: list[ReferenceAudio] = Field(default_factory=list)
    reference_id: str | list[str] | None = None
    use_memory_cache: Literal["on", "off"] = "off"
    normalize: bool = True
    streaming: bool | None = Field(
        None,
        description="true: chunked as made (wav with an open-ended header); false: one complete file; "
        "unset: chunked for pcm/mp3/opus/aac, complete for wav/flac.",
    )
    latency: Literal["normal", "balanced", "low"] = "normal"
    prosody: Prosody | None = None


class LiveTTSRequest(ServeTTSRequest):
    """The ``request`` of a live session's ``start`` event: text arrives later, in ``text`` events.

    min_chunk_length: characters to gather before a sentence end starts a segment.
    condition_on_previous_chunks: without a reference, later segments clone the first one's voice.
    """

    text: str = ""
    format: TTSFormat = "mp3"
    min_chunk_length: int = Field(50, ge=0, le=1000)
    condition_on_previous_chunks: bool = True


class VoiceId(BaseModel):
    """OpenAI's custom-voice object form ``{"id": "..."}``."""

    id: str


class SpeechRequest(SamplingFields):
    """Body of ``POST /v1/audio/speech`` (OpenAI, plus vLLM-Omni / SGLang-Omni extras)."""

    model: str = Field("s2-pro", description="Any name; the server has one model.")
    input: str = Field(min_length=1)
    voice: str | VoiceId = "default"
    response_format: SpeechFormat = "mp3"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    instructions: str | None = Field(None, max_length=4096)
    stream_format: Literal["audio", "sse"] = "audio"
    stream: bool | None = None
    sample_rate: int | None = Field(None, ge=8000, le=192000)
    ref_audio: str | None = Field(None, description="Reference audio as base64 or a data URL.")
    ref_text: str | None = None
    references: list[ReferenceAudio] = Field(default_factory=list)

    @property
    def voice_id(self) -> str:
        return self.voice.id if isinstance(self.voice, VoiceId) else self.voice


class VQGANEncodeRequest(BaseModel):
    """Body of ``POST /v1/vqgan/encode``: audio files to turn into codes."""

    audios: list[AudioBytes] = Field(min_length=1, max_length=16)


class VQGANEncodeResponse(BaseModel):
    tokens: list[list[list[int]]]


class VQGANDecodeRequest(BaseModel):
    """Body of ``POST /v1/vqgan/decode``: codes (K, T) per item."""

    tokens: list[list[list[int]]] = Field(min_length=1, max_length=16)


class VQGANDecodeResponse(BaseModel):
    audios: list[bytes] = Field(description="Little-endian float16 PCM, mono, one per item.")
    sample_rate: int


class AddReferenceRequest(BaseModel):
    """JSON / msgpack form of ``POST /v1/references/add`` (multipart takes the same names)."""

    id: str
    audio: AudioBytes
    text: str = ""


class DeleteReferenceRequest(BaseModel):
    reference_id: str


class UpdateReferenceRequest(BaseModel):
    old_reference_id: str
    new_reference_id: str


class ReferenceResponse(BaseModel):
    success: bool
    message: str
    reference_id: str | None = None


class ListReferencesResponse(BaseModel):
    success: bool
    reference_ids: list[str]
    message: str


class UpdateReferenceResponse(BaseModel):
    success: bool
    message: str
    old_reference_id: str
    new_reference_id: str


class VoiceObject(BaseModel):
    """A stored voice as ``/v1/audio/voices`` shows it (OpenAI's voice object, plus the transcript)."""

    id: str
    object: Literal["audio.voice"] = "audio.voice"
    name: str
    type: Literal["audio_sample"] = "audio_sample"
    created_at: int
    ref_text: str


class ErrorBody(BaseModel):
    """Every error answer: ``detail`` (fish/FastAPI style) and ``error`` (OpenAI style)."""

    detail: str
    error: dict[str, Any]
