"""Audio samples during training: what the model says now, through the inference path.

At every validation (main process, DDP or one process) the current weights are copied, LoRA
adapters merged into the copy, and the copy is prepared for decoding and run through
``s2tts.inference.long_form.generate_long_frames`` -- the same prompt builder, sampler and stop
rule as ``s2tts speak`` -- on ``sample.text`` with a fixed seed. The codes go to
``out_dir/samples/step-NNNNNNNN.npy`` and, when a codec is available (``sample.codec``, else the
codec of ``model.init_from``), the audio to ``.wav`` beside them. Under FSDP no sample is made
(the weights are sharded).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from s2tts.inference.params import DEFAULT_SAMPLING
from s2tts.models.dual_ar import DualARTransformer
from s2tts.text.prompt import PromptBuilder

__all__ = ["SampleConfig", "write_sample"]


@dataclass(frozen=True)
class SampleConfig:
    text: str | None = None  # None: no samples
    max_frames: int = 200
    codec: Path | None = None
    seed: int = 0
    temperature: float = DEFAULT_SAMPLING.temperature
    top_p: float = DEFAULT_SAMPLING.top_p
    top_k: int = DEFAULT_SAMPLING.top_k


def _codec_path(cfg: SampleConfig, init_from: Path | None) -> Path | None:
    for base in (cfg.codec, init_from):
        if base is None:
            continue
        base = Path(base)
        if base.is_file():
            return base
        for name in ("codec.safetensors", "codec.pth"):
            if (base / name).is_file():
                return base / name
    return None


@torch.no_grad()
def write_sample(
    model: DualARTransformer,
    builder: PromptBuilder,
    cfg: SampleConfig,
    out_dir: Path,
    step: int,
    init_from: Path | None = None,
) -> dict[str, float]:
    """Generate ``cfg.text`` with a copy of ``model``; returns {"sample_frames": n}."""
    from s2tts.inference.generate import stack_frames
    from s2tts.inference.long_form import generate_long_frames
    from s2tts.inference.params import SamplingParams
    from s2tts.inference.prepare import prepare_for_decode
    from s2tts.training.lora import merge_lora

    assert cfg.text is not None
    twin = merge_lora(copy.deepcopy(model)).eval()
    device = next(twin.parameters()).device
    prepare_for_decode(twin, dtype=torch.float32)
    params = SamplingParams(
        temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k, max_new_tokens=cfg.max_frames
    )
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    frames = [f.cpu() for f in generate_long_frames(twin, builder, cfg.text, (), params, generator=gen)]
    codes = stack_frames(frames, model.config.num_codebooks)
    out = out_dir / "samples"
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / f"step-{step:08d}.npy", codes.numpy().astype(np.int64))
    codec_path = _codec_path(cfg, init_from)
    if codec_path is not None and codes.shape[1] > 0:
        from s2tts.audio.io import write_audio
        from s2tts.models.codec import load_codec

        codec = load_codec(codec_path)
        audio = codec.decode(codec.clamp_codes(codes[None]))[0]
        write_audio(out / f"step-{step:08d}.wav", audio.cpu().numpy(), codec.sample_rate)
    return {"sample_frames": float(codes.shape[1])}
