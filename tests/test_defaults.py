"""Every surface that offers sampling or text-batching knobs defaults to the same values.

The values live in ``DEFAULT_SAMPLING`` (``s2tts.inference.params``) and ``DEFAULT_CHUNK_LENGTH``
(``s2tts.text.split``). Sampling knobs a caller leaves out are None up to the point where the
model's own defaults (its ``sampling.json``) or ``DEFAULT_SAMPLING`` fill them
(``SamplingParams.from_user``). A CLI flag, an HTTP field, the engine's request, the long-form
generators, the evaluation harness or LM training that hard-codes its own number makes this test fail.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from s2tts.cli import build_parser
from s2tts.eval.systems import Sampling
from s2tts.inference.long_form import generate_long, generate_long_frames
from s2tts.inference.params import DEFAULT_SAMPLING, SamplingParams
from s2tts.inference.types import SynthesisRequest
from s2tts.server.schemas import LiveTTSRequest, ServeTTSRequest, SpeechRequest
from s2tts.server.synthesis import build_request
from s2tts.text.prompt import IterativePrompt
from s2tts.text.split import DEFAULT_CHUNK_LENGTH
from s2tts.training.lm.data import DataConfig
from s2tts.training.lm.listen import SampleConfig
from s2tts.training.lm.shards import to_conversation

KNOBS = ("temperature", "top_p", "top_k", "max_new_tokens")


def test_the_defaults_are_fish_audios() -> None:
    """fish.audio's HTTP API defaults, which the s2-pro model card's examples use."""
    assert [getattr(DEFAULT_SAMPLING, k) for k in KNOBS] == [0.8, 0.8, 30, 1024]
    assert DEFAULT_CHUNK_LENGTH == 200


@pytest.mark.parametrize(
    "argv",
    [
        ["speak", "hi", "-o", "x.wav"],
        ["generate-codes", "--checkpoint", "c", "--text", "hi", "-o", "c.npy"],
        ["eval", "--system", "s", "--testset", "t", "--out", "o"],
    ],
    ids=lambda a: a[0],
)
def test_cli_flags(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert {k: getattr(args, k) for k in KNOBS} == dict.fromkeys(KNOBS)  # the model's, else DEFAULT_SAMPLING
    assert SamplingParams.from_user(*(getattr(args, k) for k in KNOBS)) == DEFAULT_SAMPLING
    if hasattr(args, "chunk_length"):
        assert args.chunk_length == DEFAULT_CHUNK_LENGTH
    assert argv[0] == "eval" or hasattr(args, "chunk_length")


@pytest.mark.parametrize(
    "body",
    [ServeTTSRequest(text="x"), SpeechRequest(input="x"), LiveTTSRequest()],
    ids=lambda b: type(b).__name__,
)
def test_http_fields_and_the_request_the_server_builds(body: Any) -> None:
    assert (body.temperature, body.top_p, body.top_k) == (None, None, None)  # the model's defaults
    assert body.max_new_tokens == DEFAULT_SAMPLING.max_new_tokens
    if hasattr(body, "chunk_length"):
        assert body.chunk_length == DEFAULT_CHUNK_LENGTH
    request = build_request("x", [], body)
    assert request.sampling == DEFAULT_SAMPLING
    assert request.chunk_length == DEFAULT_CHUNK_LENGTH
    model = SamplingParams(temperature=0.5, top_p=0.7, top_k=20, use_ras=False)
    assert build_request("x", [], body, defaults=model).sampling == model


def test_engine_request_eval_and_training() -> None:
    assert SynthesisRequest("x").chunk_length == DEFAULT_CHUNK_LENGTH
    assert SynthesisRequest("x").sampling is None  # the engine's checkpoint decides
    assert Sampling().resolve(DEFAULT_SAMPLING) == Sampling(*(getattr(DEFAULT_SAMPLING, k) for k in KNOBS))
    sample = SampleConfig()
    assert (sample.temperature, sample.top_p, sample.top_k) == (
        DEFAULT_SAMPLING.temperature,
        DEFAULT_SAMPLING.top_p,
        DEFAULT_SAMPLING.top_k,
    )
    assert DataConfig().chunk_length == DEFAULT_CHUNK_LENGTH


@pytest.mark.parametrize("fn", [IterativePrompt, generate_long, generate_long_frames, to_conversation])
def test_chunk_length_parameters(fn: Callable[..., Any]) -> None:
    assert inspect.signature(fn).parameters["chunk_length"].default == DEFAULT_CHUNK_LENGTH
