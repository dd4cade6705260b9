"""The one stepper every decode caller uses: caches, a slot table of per-row state, buckets.

``Decoder`` owns what a batch of sequences needs between frames -- the slow and fast KV caches,
each slot's sampling settings (as device tensors), its generator, its repetition window, its
step count and its current hidden state -- and runs :func:`s2tts.inference.frame.decode_frame`
over slots 0..B-1 (live slots are kept dense by the caller with :meth:`move`).

It also owns the stepping rules, so that ``generate_*``, the engine and the benchmarks share
them (:class:`RowState`, :meth:`Decoder.step`): where a row's next column goes (its position, set
by :meth:`prefill` and advanced by each frame that neither stops nor ends it), how many frames
its text batch may draw (:func:`frame_budget`, set by :meth:`start`), and when it stops -- at
``<|im_end|>`` (that frame is not counted) or when the budget is spent. A caller only opens a
slot, prefills, starts a text batch and steps; it keeps the counted frames.

Shapes are bucketed so a compiled frame never meets a new shape mid-stream:

* rows are padded to a batch bucket (1, 2, 4, 8, ... up to the slot count); padded rows write
  into free slots only;
* the slow attention window ``kv_len`` is the smallest length bucket (powers of two from 256,
  capped by the cache) that covers every row's position;
* the sampling width K is a power of two >= every row's top_k (32 for the default top_k 30).

Each frame draws its noise as one (N + 1, top_k) tensor per row from that row's generator, so a
row's randomness does not depend on its neighbours: the same seed gives the same audio alone or
batched. ``compile=True`` wraps ``decode_frame`` in ``torch.compile(fullgraph=True)`` (on CUDA
with ``mode="reduce-overhead"``: CUDA graphs); :meth:`warmup` compiles every bucket up front.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import torch

from s2tts.errors import PromptTooLongError
from s2tts.inference.frame import MAIN_DRAWS, ConstrainedHead, FrameOut, RowParams, decode_frame, prefill
from s2tts.inference.params import SamplingParams
from s2tts.models.dual_ar import DualARTransformer

MIN_LENGTH_BUCKET = 256
MIN_SAMPLE_WIDTH = 32
MIN_WINDOW = 16


def frame_budget(context: int, prompt_len: int, params: SamplingParams) -> int:
    """The one budget rule: frames a text batch whose prompt has ``prompt_len`` columns may draw
    in a context of ``context`` positions. ``max_new_tokens`` counts the prefill step (as the
    reference does), so n gives at most n - 1 frames; 0 means until the context is full."""
    if prompt_len >= context:
        raise PromptTooLongError(f"prompt of {prompt_len} tokens does not fit the context of {context}")
    room = context - prompt_len
    return room if params.max_new_tokens == 0 else min(params.max_new_tokens - 1, room)


@dataclass
class RowState:
    """Host-side state of one decoder row (its device-side state lives in the Decoder's tensors).

    params: the sequence's requested sampling settings (their ``max_new_tokens`` sets the budget).
    position: the next free cache position, where the row's next column goes. budget: frames the
    current text batch may draw; produced: frames it has drawn and counted; done: the text batch
    has ended (its later frames, if the batch keeps stepping, do not count).
    """

    params: SamplingParams | None = None
    generator: torch.Generator | None = None
    top_k: int = 1
    position: int = 0
    budget: int = 0
    produced: int = 0
    done: bool = True

    def advance(self, eos: bool) -> tuple[bool, bool]:
        """The stop rule for one frame whose main token is (``eos``) or is not ``<|im_end|>``.

        Returns (counted, ended): the frame belongs to the output; the text batch ends with it.
        ``<|im_end|>`` ends the batch and is not counted; the frame that spends the budget is
        counted and ends it. Only a frame that continues the batch moves the position on: an
        ending frame's column is left to the next prefill (the next text batch's prompt repeats
        the frames) or never read again."""
        if self.done:
            return False, False
        if eos:
            self.done = True
            return False, True
        self.produced += 1
        if self.produced >= self.budget:
            self.done = True
            return True, True
        self.position += 1
        return True, False


class Step(NamedTuple):
    """One :meth:`Decoder.step` over rows 0..B-1: the frame's outputs and each row's stop rule.

    counted[b]: row b's frame (``frame.codes[b]``) belongs to its output. ended[b]: row b's text
    batch ended at this frame -- by ``<|im_end|>`` where the frame is not counted, else by its
    budget. A row that had already ended is neither counted nor ended again."""

    frame: FrameOut
    counted: list[bool]
    ended: list[bool]

    def stopped_by_eos(self, row: int) -> bool:
        return self.ended[row] and not self.counted[row]


def _pow2_at_least(n: int, floor: int) -> int:
    size = floor
    while size < n:
        size *= 2
    return size


def batch_buckets(max_batch: int) -> list[int]:
    """1, 2, 4, ... and max_batch itself."""
    sizes = [1]
    while sizes[-1] * 2 < max_batch:
        sizes.append(sizes[-1] * 2)
    if max_batch > 1:
        sizes.append(max_batch)
    return sizes


def length_buckets(cache_len: int) -> list[int]:
    """Attention windows: 256, 512, ... capped by the cache length."""
    sizes = [min(MIN_LENGTH_BUCKET, cache_len)]
    while sizes[-1] < cache_len:
        sizes.append(min(sizes[-1] * 2, cache_len))
    return sizes


class Decoder:
    """Slot table + caches + (optionally compiled) decode frame for up to ``max_batch`` rows."""

    def __init__(
        self,
        model: DualARTransformer,
        max_batch: int,
        max_seq_len: int,
        *,
        compile: bool = False,
        compile_mode: str | None = None,
        compile_backend: str = "inductor",
    ) -> None:
        self.model = model
        self.config = model.config
        self.device = model.slow.embeddings.weight.device
        self.head = ConstrainedHead.from_model(model, decode_layout=not compile)
        self.slow_cache, self.fast_cache = model.allocate_caches(max_batch, max_seq_len)
        self.max_batch = max_batch
        self.cache_len = self.slow_cache.max_seq_len
        self.batch_buckets = batch_buckets(max_batch)
        self.length_buckets = length_buckets(self.cache_len)
        dev, b = self.device, max_batch
        f32 = {"dtype": torch.float32, "device": dev}
        i64 = {"dtype": torch.long, "device": dev}
        self.params = RowParams(
            temperature=torch.ones(b, 1, **f32),
            top_p=torch.ones(b, 1, **f32),
            top_k=torch.ones(b, 1, **i64),
            ras_temperature=torch.ones(b, 1, **f32),
            ras_top_p=torch.ones(b, 1, **f32),
            use_ras=torch.zeros(b, dtype=torch.bool, device=dev),
            ras_window=torch.ones(b, **i64),
            min_new=torch.zeros(b, **i64),
        )
        self.window = torch.full((b, MIN_WINDOW), -1, **i64)
        self.steps = torch.zeros(b, **i64)
        self.hidden = torch.zeros(b, model.config.slow.dim, dtype=self.head.weight.dtype, device=dev)
        self.slots = [RowState() for _ in range(b)]
        self.sample_width = MIN_SAMPLE_WIDTH
        self.compiled = compile
        self._graphs = compile and self.device.type == "cuda"
        if compile:
            if compile_mode is None and self.device.type == "cuda":
                compile_mode = "reduce-overhead"  # CUDA graphs of the whole frame
            if self.device.type == "cuda":
                for t in (self.slow_cache.k, self.slow_cache.v, self.fast_cache.k, self.fast_cache.v):
                    torch._dynamo.mark_static_address(t)
            self._frame: Callable[..., FrameOut] = torch.compile(
                decode_frame, fullgraph=True, dynamic=False, mode=compile_mode, backend=compile_backend
            )
        else:
            self._frame = decode_frame

    # ------------------------------------------------------------------ slot table
    def open(self, row: int, params: SamplingParams, generator: torch.Generator | None) -> None:
        """Give slot ``row`` a new sequence's sampling settings and generator."""
        self.slots[row] = RowState(params=params, generator=generator)
        self.set_params(row, params)

    def set_params(self, row: int, params: SamplingParams) -> None:
        """(Re)write the sampling settings the slot's frames use (not the ones :meth:`open` gave
        it, which still set its budget) and restart its repetition state."""
        p = self.params
        p.temperature[row] = params.temperature
        p.top_p[row] = params.top_p
        p.top_k[row] = params.top_k
        p.ras_temperature[row] = params.ras_temperature
        p.ras_top_p[row] = params.ras_top_p
        p.use_ras[row] = params.use_ras
        p.ras_window[row] = params.ras_window
        p.min_new[row] = params.min_new_tokens
        self.slots[row].top_k = params.top_k
        if params.ras_window > self.window.shape[1]:
            grown = torch.full((self.max_batch, _pow2_at_least(params.ras_window, MIN_WINDOW)), -1)
            grown[:, -self.window.shape[1] :] = self.window
            self.window = grown.to(self.device)
        self.restart(row)

    def restart(self, row: int) -> None:
        """Repetition window and step count restart (as at a text batch's start)."""
        self.window[row] = -1
        self.steps[row] = 0

    def start(self, row: int, limit: int | None = None) -> int:
        """A text batch starts in slot ``row``, whose prompt has been prefilled up to its
        position: restart the repetition state and set the batch's frame budget -- the one rule,
        :func:`frame_budget` of the slot's own settings, capped by ``limit`` when given. Returns
        the budget; a budget <= 0 leaves the slot ended at once."""
        slot = self.slots[row]
        assert slot.params is not None, "open() the slot first"
        self.restart(row)
        budget = frame_budget(self.cache_len, slot.position, slot.params)
        slot.budget = budget if limit is None else min(budget, limit)
        slot.produced = 0
        slot.done = slot.budget <= 0
        return slot.budget

    def position(self, row: int) -> int:
        """Cache positions of slot ``row`` that hold its sequence (its next column goes there)."""
        return self.slots[row].position

    def running(self, rows: int) -> bool:
        """Whether any of slots 0..rows-1 is still inside its text batch."""
        return any(not s.done for s in self.slots[:rows])

    def move(self, src: int, dst: int) -> None:
        """Slot ``src`` takes slot ``dst``'s place: its cache positions (up to and including the
        column of its latest frame), sampling state, generator, stepping state and hidden state
        (swap-remove compaction)."""
        self.slow_cache.copy_prefix(src, dst, min(self.slots[src].position + 1, self.cache_len))
        for t in (*self.params, self.window, self.steps, self.hidden):
            t[dst] = t[src]
        self.slots[dst] = replace(self.slots[src])

    # ------------------------------------------------------------------ compute
    def prefill(self, row: int, values: torch.Tensor, start_pos: int = 0) -> torch.Tensor:
        """Prompt columns (1+N, T) into slot ``row`` from ``start_pos``; sets and returns the
        slot's hidden state (dim,); the slot's position becomes start_pos + T."""
        hidden = prefill(self.model, values.to(self.device, torch.long), self.slow_cache, row, start_pos)
        self.hidden[row] = hidden
        self.slots[row].position = start_pos + values.shape[-1]
        return hidden

    def load_prefix(self, row: int, k: torch.Tensor, v: torch.Tensor) -> None:
        """Saved prefix keys/values (n_layer, n_kv_head, L, head_dim) into slot ``row``'s
        positions 0..L-1 (instead of prefilling them); the slot's position becomes L."""
        self.slow_cache.load_prefix(row, k, v)
        self.slots[row].position = k.shape[2]

    def set_hidden(self, row: int, hidden: torch.Tensor) -> None:
        self.hidden[row] = hidden

    def noise(self, rows: int, padded: int) -> torch.Tensor:
        """Exp(1) noise (padded, N + 1, K): row b draws (N + 1, top_k_b) from its generator (the
        rest stays 1, where the sampler has already cut the candidates off)."""
        width = self._width(rows)
        out = torch.ones(padded, self.config.num_codebooks + MAIN_DRAWS - 1, width, device=self.device)
        for b, slot in enumerate(self.slots[:rows]):
            out[b, :, : slot.top_k].exponential_(1.0, generator=slot.generator)
        return out

    def _width(self, rows: int) -> int:
        return _pow2_at_least(max((s.top_k for s in self.slots[:rows]), default=1), MIN_SAMPLE_WIDTH)

    def bucket(self, rows: int) -> int:
        return next(b for b in self.batch_buckets if b >= rows)

    def kv_bucket(self, max_position: int) -> int:
        return next(n for n in self.length_buckets if n > max_position)

    def frame(self, positions: Sequence[int], want_logits: bool = False) -> FrameOut:
        """One frame for slots 0..B-1 (B = len(positions)); ``positions[b]`` is where slot b's new
        column goes. Updates the slots' hidden state, window and step count; returns the rows'
        outputs (B rows; tensors that the next frame may overwrite on CUDA graphs)."""
        rows = len(positions)
        padded = self.bucket(rows)
        pos = torch.zeros(padded, dtype=torch.long)
        pos[:rows] = torch.as_tensor(list(positions), dtype=torch.long)
        kv_len = self.kv_bucket(int(pos.max()))
        out = self._frame(
            self.model,
            self.head,
            self.hidden if padded == self.max_batch else self.hidden[:padded],
            pos.to(self.device),
            self.slow_cache,
            self.fast_cache,
            kv_len,
            self.params.rows(padded),
            self.window if padded == self.max_batch else self.window[:padded],
            self.steps if padded == self.max_batch else self.steps[:padded],
            self.noise(rows, padded),
            want_logits,
        )
        self.hidden[:rows] = out.hidden[:rows]
        self.window[:rows] = out.window[:rows]
        self.steps[:rows] = out.steps[:rows]
        if self._graphs:  # under CUDA graphs the next replay overwrites the outputs' memory
            return FrameOut(*(None if t is None else t[:rows].clone() for t in out))
        return out if rows == padded else FrameOut(*(None if t is None else t[:rows] for t in out))

    def step(self, rows: int, want_logits: bool = False) -> Step:
        """One frame for slots 0..rows-1 at their positions, then the stop rule
        (:meth:`RowState.advance`) for each: positions, counts and ends move on here and nowhere
        else. Rows that have ended keep stepping at their last position (their column there is
        never read again); their frames are not counted."""
        slots = self.slots[:rows]
        out = self.frame([min(s.position, self.cache_len - 1) for s in slots], want_logits=want_logits)
        eos = self.config.eos_token_id
        flags = [s.advance(tok == eos) for s, tok in zip(slots, out.tokens.tolist(), strict=True)]
        return Step(out, [c for c, _ in flags], [e for _, e in flags])

    def warmup(self, sample_width: int | None = None) -> int:
        """Run (and, when compiled, compile) every batch x length bucket once on scratch slots.

        Call before serving, on an idle decoder: it overwrites the slots' state. Returns the
        number of buckets run."""
        saved = self.slots
        width = sample_width or MIN_SAMPLE_WIDTH
        scratch = torch.Generator(device=self.device).manual_seed(0)
        self.slots = [RowState(generator=scratch, top_k=min(width, s.top_k)) for s in saved]
        count = 0
        # CUDA graph trees record a graph on a shape's second run: run each bucket twice there.
        runs = 2 if self.compiled and self.device.type == "cuda" else 1
        for padded in self.batch_buckets:
            for kv_len in self.length_buckets:
                for _ in range(runs):
                    self.frame([kv_len - 1] + [0] * (padded - 1))
                count += 1
        self.slots = saved
        self.slow_cache.k.zero_()
        self.slow_cache.v.zero_()
        self.steps.zero_()
        self.window.fill_(-1)
        return count
