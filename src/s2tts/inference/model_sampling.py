"""A checkpoint's own sampling defaults: how its makers found it speaks best.

Sampling knobs that suit ``s2-pro`` need not suit another model: the packaged small model reads
its text more clearly when it samples cooler (docs/small-model.md). A checkpoint directory may hold
``sampling.json`` with the knobs it was evaluated with, as Hugging Face models ship a generation
config::

    {"format": "s2tts-sampling", "version": 1, "temperature": 0.5, "top_p": 0.8, "top_k": 30}

Every surface (the engine for a request without ``sampling``, ``s2tts speak`` flags left out, HTTP
fields left out, the web page's sliders, ``s2tts eval``) starts from these defaults and changes only
what the caller gives. Checkpoints without the file use ``DEFAULT_SAMPLING``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

from s2tts.atomic import atomic_write_text
from s2tts.errors import SamplingError, WeightsError
from s2tts.inference.params import DEFAULT_SAMPLING, SamplingParams
from s2tts.inference.versioned_json import read_versioned_json

SAMPLING_FILE = "sampling.json"
SAMPLING_FORMAT = "s2tts-sampling"
SAMPLING_VERSION = 1
# What a model may set: how tokens are drawn. Lengths (max_new_tokens, min_new_tokens) are the
# request's business.
MODEL_KNOBS = ("temperature", "top_p", "top_k", "use_ras", "ras_window", "ras_temperature", "ras_top_p")


def write_model_sampling(directory: str | Path, **knobs: Any) -> Path:
    """Write ``sampling.json`` into ``directory`` atomically: the given knobs (``MODEL_KNOBS``) over
    ``DEFAULT_SAMPLING``, checked the way a request's are. Returns its path."""
    unknown = sorted(set(knobs) - set(MODEL_KNOBS))
    if unknown:
        raise SamplingError(f"a model's sampling defaults cannot set {', '.join(unknown)}")
    params = replace(DEFAULT_SAMPLING, **knobs)  # validates
    body = {"format": SAMPLING_FORMAT, "version": SAMPLING_VERSION}
    body |= {k: v for k, v in asdict(params).items() if k in MODEL_KNOBS}
    path = Path(directory) / SAMPLING_FILE
    return atomic_write_text(path, json.dumps(body, indent=1) + "\n")


def read_model_sampling(directory: str | Path) -> SamplingParams:
    """The sampling defaults of a checkpoint directory (``DEFAULT_SAMPLING`` without a file).

    A file that is there but is not a sampling file, sets an unknown knob or a value out of range
    is a WeightsError naming the problem."""
    path = Path(directory) / SAMPLING_FILE
    body = read_versioned_json(path, SAMPLING_FORMAT, SAMPLING_VERSION, WeightsError, "sampling file")
    if body is None:
        return DEFAULT_SAMPLING
    knobs = {k: v for k, v in body.items() if k not in ("format", "version")}
    unknown = sorted(set(knobs) - set(MODEL_KNOBS))
    if unknown:
        raise WeightsError(
            f"{path} sets {', '.join(unknown)}; a model's sampling file sets only {MODEL_KNOBS}"
        )
    types = {f.name: f.type for f in fields(SamplingParams)}
    for name, value in knobs.items():
        wanted = {"float": (int, float), "int": (int,), "bool": (bool,)}[str(types[name])]
        if isinstance(value, bool) != (wanted == (bool,)) or not isinstance(value, wanted):
            raise WeightsError(f"{path}: {name} must be of type {types[name]}, got {value!r}")
    try:
        return replace(DEFAULT_SAMPLING, **knobs)
    except SamplingError as exc:
        raise WeightsError(f"{path}: {exc}") from exc
