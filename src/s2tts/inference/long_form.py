"""Long and multi-speaker text through the iterative prompt, one frame at a time.

Batch k's prompt is batch k-1's prompt plus its generated codes and the next user turn
(``IterativePrompt``), so the frames of every batch stream out in order. This module prefills
each batch's whole prompt, like the reference; the engine (``s2tts.inference.engine``) keeps the
KV cache across batches instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from s2tts.inference.generate import generate_frames, stack_frames
from s2tts.inference.params import SamplingParams
from s2tts.models.dual_ar import DualARTransformer
from s2tts.text.prompt import IterativePrompt, PromptBuilder, Reference
from s2tts.text.split import DEFAULT_CHUNK_LENGTH


def generate_long_frames(
    model: DualARTransformer,
    builder: PromptBuilder,
    text: str,
    references: Sequence[Reference] = (),
    params: SamplingParams | None = None,
    chunk_length: int = DEFAULT_CHUNK_LENGTH,
    generator: torch.Generator | None = None,
) -> Iterator[torch.Tensor]:
    """Yield frames (num_codebooks,) of every text batch in order."""
    plan = IterativePrompt(builder, text, references, chunk_length=chunk_length)
    while not plan.done:
        frames: list[torch.Tensor] = []
        for frame in generate_frames(model, plan.next_prompt(), params, generator):
            frames.append(frame)
            yield frame
        plan.add_codes(stack_frames(frames, model.config.num_codebooks))


def generate_long(
    model: DualARTransformer,
    builder: PromptBuilder,
    text: str,
    references: Sequence[Reference] = (),
    params: SamplingParams | None = None,
    chunk_length: int = DEFAULT_CHUNK_LENGTH,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """All codes (num_codebooks, n) of a long text."""
    frames = list(generate_long_frames(model, builder, text, references, params, chunk_length, generator))
    return stack_frames(frames, model.config.num_codebooks)
