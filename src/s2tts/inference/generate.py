"""Code generation from prepared prompts: a streaming frame iterator and a batched API.

``generate_frames`` yields one frame of codes (num_codebooks,) at a time -- what streaming needs.
``generate_batch`` runs several prompts together, each row at its own length.

Stop rule (as the reference): a sequence ends when the main token is ``<|im_end|>`` (that frame
is not returned) or after ``max_new_tokens`` steps, counting the prefill step. The reference
computes one extra frame at the end and always drops it; we do not compute it, so
``max_new_tokens = n`` yields at most ``n - 1`` frames, exactly the reference's output.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from s2tts.errors import PromptError, PromptTooLongError
from s2tts.inference.params import SamplingParams
from s2tts.inference.steps import (
    FastStep,
    FrameSampler,
    SemanticHead,
    frame_column,
    prefill,
    sample_frame,
    slow_step,
)
from s2tts.models.dual_ar import DualARTransformer


def stack_frames(frames: Sequence[torch.Tensor], num_codebooks: int) -> torch.Tensor:
    """Frames (num_codebooks,) each -> codes (num_codebooks, n) int64 on the CPU (n may be 0)."""
    if not frames:
        return torch.zeros(num_codebooks, 0, dtype=torch.long)
    return torch.stack(list(frames), dim=1).cpu()


def frame_budget(model: DualARTransformer, prompt_len: int, params: SamplingParams) -> int:
    """How many frames a prompt of this length may produce under ``params``."""
    limit = model.config.slow.max_seq_len
    if prompt_len >= limit:
        raise PromptTooLongError(f"prompt of {prompt_len} tokens does not fit the context of {limit}")
    room = limit - prompt_len
    return room if params.max_new_tokens == 0 else min(params.max_new_tokens - 1, room)


def check_prompt(model: DualARTransformer, prompt: torch.Tensor) -> None:
    rows = model.config.num_codebooks + 1
    if prompt.dim() != 2 or prompt.shape[0] != rows or prompt.shape[1] == 0:
        raise PromptError(f"prompt must have shape ({rows}, T>0), got {tuple(prompt.shape)}")
    if prompt.dtype not in (torch.int64, torch.int32):
        raise PromptError(f"prompt must be an integer tensor, got {prompt.dtype}")


@torch.inference_mode()
def generate_frames(
    model: DualARTransformer,
    prompt: torch.Tensor,
    params: SamplingParams | None = None,
    generator: torch.Generator | None = None,
    head: SemanticHead | None = None,
    logits_out: dict[str, list[torch.Tensor]] | None = None,
    fast_step: FastStep | None = None,
) -> Iterator[torch.Tensor]:
    """Yield frames (num_codebooks,) int64 for one prompt (1+N, T).

    ``fast_step`` replaces ``model.fast.step`` (see ``s2tts.inference.compile``)."""
    params = params or SamplingParams()
    check_prompt(model, prompt)
    device = model.slow.embeddings.weight.device
    prompt = prompt.to(device=device, dtype=torch.long)
    length = prompt.shape[1]
    frames = frame_budget(model, length, params)
    if frames <= 0:
        return
    head = head or SemanticHead.from_model(model)
    slow_cache, fast_cache = model.allocate_caches(1, length + frames)
    sampler = FrameSampler.empty()
    sampler.add(params, generator)
    hidden = prefill(model, prompt, slow_cache, 0).unsqueeze(0)
    for i in range(frames):
        tokens, codes = sample_frame(model, head, hidden, fast_cache, sampler, logits_out, fast_step)
        if tokens[0] == model.config.eos_token_id:
            return
        yield codes[0]
        if i + 1 < frames:
            hidden = slow_step(model, frame_column(tokens, codes), [length + i], slow_cache)


def generate_codes(
    model: DualARTransformer,
    prompt: torch.Tensor,
    params: SamplingParams | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """All frames of one prompt: (num_codebooks, n) int64."""
    return stack_frames(list(generate_frames(model, prompt, params, generator)), model.config.num_codebooks)


@torch.inference_mode()
def generate_batch(
    model: DualARTransformer,
    prompts: Sequence[torch.Tensor],
    params: SamplingParams | Sequence[SamplingParams] | None = None,
    generators: Sequence[torch.Generator | None] | None = None,
    fast_step: FastStep | None = None,
) -> list[torch.Tensor]:
    """Generate for several prompts at once; each row keeps its own position and stop.

    Returns one (num_codebooks, n_i) int64 tensor per prompt. With per-row generators, a row's
    codes are the same as when it runs alone.
    """
    bsz = len(prompts)
    if bsz == 0:
        return []
    plist = list(params) if isinstance(params, Sequence) else [params or SamplingParams()] * bsz
    gens = list(generators) if generators is not None else [None] * bsz
    if len(plist) != bsz or len(gens) != bsz:
        raise PromptError("params and generators must match the number of prompts")
    device = model.slow.embeddings.weight.device
    for p in prompts:
        check_prompt(model, p)
    lengths = [p.shape[1] for p in prompts]
    budgets = [frame_budget(model, n, prm) for n, prm in zip(lengths, plist, strict=True)]
    head = SemanticHead.from_model(model)
    slow_cache, fast_cache = model.allocate_caches(
        bsz, max(n + b for n, b in zip(lengths, budgets, strict=True))
    )
    sampler = FrameSampler.empty()
    hidden_rows = []
    for row, (p, prm, g) in enumerate(zip(prompts, plist, gens, strict=True)):
        sampler.add(prm, g)
        hidden_rows.append(prefill(model, p.to(device=device, dtype=torch.long), slow_cache, row))
    hidden = torch.stack(hidden_rows)
    outputs: list[list[torch.Tensor]] = [[] for _ in range(bsz)]
    done = [b <= 0 for b in budgets]
    step = 0
    while not all(done):
        tokens, codes = sample_frame(model, head, hidden, fast_cache, sampler, fast_step=fast_step)
        for b in range(bsz):
            if done[b]:
                continue
            if tokens[b] == model.config.eos_token_id:
                done[b] = True
                continue
            outputs[b].append(codes[b])
            if len(outputs[b]) >= budgets[b]:
                done[b] = True
        if all(done):
            break
        step += 1
        positions = [min(n + step - 1, slow_cache.max_seq_len - 1) for n in lengths]
        hidden = slow_step(model, frame_column(tokens, codes), positions, slow_cache)
    return [stack_frames(o, model.config.num_codebooks) for o in outputs]
