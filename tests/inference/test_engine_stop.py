"""The engine's ``<|im_end|>`` stop path, on a checkpoint that stops by itself: the parity ``lm_b``,
whose greedy generation for "Hello world." ends after 3 frames in the reference (manifest.json)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from s2tts.checkpoint import load_checkpoint
from s2tts.inference.engine import EngineConfig, TTSEngine
from s2tts.inference.params import SamplingParams
from s2tts.inference.types import SynthesisRequest
from s2tts.models.codec import load_codec

PARITY = Path(__file__).parents[1] / "data" / "parity"


def test_engine_stops_on_im_end_where_the_reference_does() -> None:
    summary = json.loads((PARITY / "manifest.json").read_text())["lm_b"]["gen_g0"][0]
    assert summary["stopped_on_im_end"] and summary["codes_shape"] == [10, 3]
    golden = load_file(str(PARITY / "lm_b_golden.safetensors"))["gen_g0_b0_codes"]
    ckpt = load_checkpoint(PARITY / "lm_b")
    assert not ckpt.random_weights  # no length rule: the model alone decides when to stop
    greedy = SamplingParams(top_k=1, top_p=0.9, temperature=1.0, max_new_tokens=summary["max_new_tokens"])
    with TTSEngine(
        ckpt, load_codec(PARITY / "codec"), EngineConfig(max_sessions=2, max_seq_len=256)
    ) as engine:
        chunks = list(engine.iter_stream(SynthesisRequest("Hello world.", sampling=greedy, seed=0)))
        metrics = engine.metrics()
    streamed = torch.cat([c.codes for c in chunks if c.codes is not None], dim=1)
    assert streamed.shape[1] == 3 < greedy.max_new_tokens - 1  # ended by <|im_end|>, not by the budget
    assert torch.equal(streamed, engine.codec.clamp_codes(golden))
    assert chunks[-1].is_last and chunks[-1].metrics["frames"] == 3
    assert metrics["requests_completed_total"] == 1
