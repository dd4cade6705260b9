"""Code generation from prepared prompts: a streaming frame iterator and a batched API.

Both run on :class:`s2tts.inference.decoder.Decoder`, the stepper the engine uses too (the same
frame function, positions, budget and stop rule): ``generate_frames`` yields one frame of codes
(num_codebooks,) at a time -- what streaming needs; ``generate_batch`` runs several prompts
together, each row at its own length.

Stop rule (as the reference; ``RowState.advance``): a sequence ends when the main token is
``<|im_end|>`` (that frame is not returned) or when its budget (``frame_budget``) is spent. The
reference computes one extra frame at the end and always drops it; we do not, so
``max_new_tokens = n`` yields at most ``n - 1`` frames, exactly the reference's output.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from s2tts.errors import PromptError
from s2tts.inference.decoder import Decoder, Step, frame_budget
from s2tts.inference.params import SamplingParams
from s2tts.models.dual_ar import DualARTransformer


def stack_frames(frames: Sequence[torch.Tensor], num_codebooks: int) -> torch.Tensor:
    """Frames (num_codebooks,) each -> codes (num_codebooks, n) int64 on the CPU (n may be 0)."""
    if not frames:
        return torch.zeros(num_codebooks, 0, dtype=torch.long)
    return torch.stack(list(frames), dim=1).cpu()


def check_prompt(model: DualARTransformer, prompt: torch.Tensor) -> None:
    rows = model.config.num_codebooks + 1
    if prompt.dim() != 2 or prompt.shape[0] != rows or prompt.shape[1] == 0:
        raise PromptError(f"prompt must have shape ({rows}, T>0), got {tuple(prompt.shape)}")
    if prompt.dtype not in (torch.int64, torch.int32):
        raise PromptError(f"prompt must be an integer tensor, got {prompt.dtype}")


@torch.inference_mode()
def decode_rows(
    model: DualARTransformer,
    prompts: Sequence[torch.Tensor],
    params: Sequence[SamplingParams],
    generators: Sequence[torch.Generator | None],
    *,
    compile: bool = False,
    want_logits: bool = False,
    decoder: Decoder | None = None,
) -> Iterator[Step]:
    """A fixed batch on the one stepper: prefill every prompt into its own slot, then
    :meth:`Decoder.step` until every row's text batch has ended (positions, counts, budgets and
    stops are the decoder's). Yields each step; ``step.counted[b]`` says row b's frame counts.

    ``decoder``: reuse one (e.g. compiled and warmed up) instead of making one per call; it needs
    a slot per prompt, and its cache length is then the context.
    """
    for p in prompts:
        check_prompt(model, p)
    if decoder is not None and decoder.max_batch < len(prompts):
        raise PromptError(f"{len(prompts)} prompts for a decoder of {decoder.max_batch} slots")
    context = model.config.slow.max_seq_len if decoder is None else decoder.cache_len
    budgets = [frame_budget(context, p.shape[1], prm) for p, prm in zip(prompts, params, strict=True)]
    if all(b <= 0 for b in budgets):
        return
    if decoder is None:  # a cache just long enough for the longest row: its prompt and budget
        cache_len = max(p.shape[1] + b for p, b in zip(prompts, budgets, strict=True))
        decoder = Decoder(model, len(prompts), cache_len, compile=compile)
    for row, (prompt, prm, gen) in enumerate(zip(prompts, params, generators, strict=True)):
        decoder.open(row, prm, gen)
        if budgets[row] > 0:  # (a row with no budget is done from the start)
            decoder.prefill(row, prompt)
            decoder.start(row)
    while decoder.running(len(prompts)):
        yield decoder.step(len(prompts), want_logits=want_logits)


def generate_frames(
    model: DualARTransformer,
    prompt: torch.Tensor,
    params: SamplingParams | None = None,
    generator: torch.Generator | None = None,
    logits_out: dict[str, list[torch.Tensor]] | None = None,
    *,
    compile: bool = False,
) -> Iterator[torch.Tensor]:
    """Yield frames (num_codebooks,) int64 for one prompt (1+N, T).

    logits_out, when given, collects each frame's constrained main-token logits under "slow"
    (1, num_semantic + 1) and the fast steps' logits under "fast" (1, N - 1, codebook_size)."""
    params = params or SamplingParams()
    for step in decode_rows(
        model, [prompt], [params], [generator], compile=compile, want_logits=logits_out is not None
    ):
        out = step.frame
        if logits_out is not None:
            assert out.slow_logits is not None and out.fast_logits is not None
            logits_out.setdefault("slow", []).append(out.slow_logits)
            logits_out.setdefault("fast", []).append(out.fast_logits)
        if not step.counted[0]:
            return
        yield out.codes[0]


def generate_codes(
    model: DualARTransformer,
    prompt: torch.Tensor,
    params: SamplingParams | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """All frames of one prompt: (num_codebooks, n) int64."""
    return stack_frames(list(generate_frames(model, prompt, params, generator)), model.config.num_codebooks)


def generate_batch(
    model: DualARTransformer,
    prompts: Sequence[torch.Tensor],
    params: SamplingParams | Sequence[SamplingParams] | None = None,
    generators: Sequence[torch.Generator | None] | None = None,
    *,
    compile: bool = False,
    decoder: Decoder | None = None,
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
    outputs: list[list[torch.Tensor]] = [[] for _ in range(bsz)]
    for step in decode_rows(model, prompts, plist, gens, compile=compile, decoder=decoder):
        for b in range(bsz):
            if step.counted[b]:
                outputs[b].append(step.frame.codes[b])
    return [stack_frames(o, model.config.num_codebooks) for o in outputs]
