"""A checkpoint's own sampling defaults (``sampling.json``): the file, and every surface that
starts from it -- the engine for a request without sampling, ``from_user`` for a partial change,
``s2tts speak`` with its flags left out. A checkpoint whose file makes it greedy (a tiny random one,
and a copy of the packaged model where a request gives no length): greedy output does not depend on
the seed, sampled output does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from s2tts.audio.io import read_audio
from s2tts.checkpoint import init_checkpoint, load_checkpoint
from s2tts.cli import main
from s2tts.errors import SamplingError, WeightsError
from s2tts.inference.engine import EngineConfig
from s2tts.inference.factory import load_engine
from s2tts.inference.model_sampling import SAMPLING_FILE, read_model_sampling, write_model_sampling
from s2tts.inference.params import DEFAULT_SAMPLING, SamplingParams
from s2tts.inference.types import SynthesisRequest


@pytest.fixture(scope="module")
def greedy_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny checkpoint whose sampling.json says top_k 1 (greedy) at temperature 0.5."""
    directory = init_checkpoint(tmp_path_factory.mktemp("greedy"), "tiny", seed=0, codec_preset="tiny")
    write_model_sampling(directory, temperature=0.5, top_k=1)
    return directory


def test_the_file_round_trips_and_a_missing_one_means_the_global_defaults(tmp_path: Path) -> None:
    assert read_model_sampling(tmp_path) == DEFAULT_SAMPLING
    write_model_sampling(tmp_path, temperature=0.5, top_p=0.9, use_ras=False)
    read = read_model_sampling(tmp_path)
    assert (read.temperature, read.top_p, read.use_ras) == (0.5, 0.9, False)
    assert (read.top_k, read.max_new_tokens) == (DEFAULT_SAMPLING.top_k, DEFAULT_SAMPLING.max_new_tokens)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"temperature": 0.5}, "not a sampling file"),
        ({"format": "s2tts-sampling", "version": 2}, "version 2"),
        ({"format": "s2tts-sampling", "version": 1, "max_new_tokens": 10}, "sets max_new_tokens"),
        ({"format": "s2tts-sampling", "version": 1, "top_k": "30"}, "top_k must be of type int"),
        ({"format": "s2tts-sampling", "version": 1, "use_ras": 1}, "use_ras must be of type bool"),
        ({"format": "s2tts-sampling", "version": 1, "top_p": 1.5}, "top_p must be in"),
    ],
)
def test_a_bad_file_is_a_weights_error_naming_it(
    tmp_path: Path, body: dict[str, object], message: str
) -> None:
    (tmp_path / SAMPLING_FILE).write_text(json.dumps(body))
    with pytest.raises(WeightsError, match=message):
        read_model_sampling(tmp_path)


def test_writing_refuses_lengths_and_bad_values(tmp_path: Path) -> None:
    with pytest.raises(SamplingError, match="cannot set max_new_tokens"):
        write_model_sampling(tmp_path, max_new_tokens=10)
    with pytest.raises(SamplingError, match="temperature"):
        write_model_sampling(tmp_path, temperature=0.0)
    assert not (tmp_path / SAMPLING_FILE).exists()


def test_from_user_changes_only_what_is_given() -> None:
    model = SamplingParams(temperature=0.5, top_k=1, ras_top_p=0.5)
    given = SamplingParams.from_user(top_p=0.7, max_new_tokens=9, defaults=model)
    assert (given.temperature, given.top_p, given.top_k, given.max_new_tokens) == (0.5, 0.7, 1, 9)
    assert given.ras_top_p == 0.5  # what the CLI and the API cannot set stays the model's
    assert SamplingParams.from_user(temperature=0.0, defaults=model).greedy


@pytest.fixture(scope="module")
def greedy_shipped(tmp_path_factory: pytest.TempPathFactory, packaged_copy) -> Path:
    """The packaged small model with a sampling.json that makes it greedy: a trained model says
    something for a request with no length given (a random one may stop at once)."""
    directory = packaged_copy(tmp_path_factory.mktemp("greedy-shipped"))
    write_model_sampling(directory, temperature=0.5, top_k=1)
    return directory


def test_the_engine_speaks_a_request_without_sampling_with_the_models(greedy_shipped: Path) -> None:
    assert load_checkpoint(greedy_shipped).sampling.top_k == 1
    engine = load_engine(greedy_shipped, config=EngineConfig(max_sessions=1))
    try:
        assert engine.default_sampling == SamplingParams(temperature=0.5, top_k=1)
        bare = [engine.synthesize(SynthesisRequest("Hello there.", seed=s)) for s in (1, 2)]
        np.testing.assert_array_equal(bare[0], bare[1])  # greedy: the seed does not matter
        assert len(bare[0]) > 0
        eight = SamplingParams.from_user(max_new_tokens=8, min_new_tokens=8, defaults=engine.default_sampling)
        short = [engine.synthesize(SynthesisRequest("Hello there.", sampling=eight, seed=s)) for s in (1, 2)]
        np.testing.assert_array_equal(short[0], short[1])  # a length change keeps the model's top_k
        sampled = SamplingParams.from_user(top_k=30, max_new_tokens=8, min_new_tokens=8)
        drawn = [
            engine.synthesize(SynthesisRequest("Hello there.", sampling=sampled, seed=s)) for s in (1, 2)
        ]
        assert not np.array_equal(drawn[0], drawn[1])  # without it the seed matters: the check can fail
    finally:
        engine.close()


def test_speak_flags_left_out_take_the_models_defaults(greedy_model: Path, tmp_path: Path) -> None:
    def speak(seed: int, *flags: str) -> np.ndarray:
        out = tmp_path / f"{seed}{''.join(flags)}.wav"
        args = [
            "speak",
            "Hello there.",
            "-o",
            str(out),
            "--checkpoint",
            str(greedy_model),
            "--seed",
            str(seed),
        ]
        assert main([*args, "--max-new-tokens", "8", "--min-new-tokens", "8", *flags]) == 0
        return read_audio(out)[0]

    np.testing.assert_array_equal(speak(1), speak(2))
    assert not np.array_equal(speak(1, "--top-k", "30"), speak(2, "--top-k", "30"))
