"""The reference implementation's decode, timed side by side with ours by ``bench/lm_decode.py``.

The reference (the fish-speech repository) is not part of this project and nothing of it is copied
here: the user points ``--reference-dir`` at a plain checkout of it (its files, e.g. from
``git archive``), and this module imports the reference's own modules from there, in a child
process of its own, exactly as a user running the reference beside us would.

What runs is the reference's code alone: its Dual-AR model class built with the same shape as our
preset (random weights from its own initialiser), its own prefill (the per-frame function applied
to the whole prompt, as its ``generate`` does) and its own decode loop (``decode_n_tokens``),
which calls its per-frame function (slow step, constrained and repetition-aware sampling of the
semantic token, the fast codebook steps and their sampling) once a frame -- eager, or wrapped in
``torch.compile(..., fullgraph=True)`` as its ``init_model`` does. Two inputs are chosen to match
our run rather than its ``generate``:

* the logit bias admits the semantic tokens only, not ``<|im_end|>``, so that a random model never
  stops early (our side holds the end token off with ``min_new_tokens``; the bias is one add
  either way);
* its KV caches hold ``cache_len`` positions, as ours do (the reference attends over its whole
  cache every frame, so this is the favourable size for it; its ``generate`` sizes the cache to
  ``max_seq_len``).

Its decode loop reads the end-token id from ``model.tokenizer``; a random-weight model has no
tokenizer files, so the model gets a two-line object that answers that one id (the model itself is
the reference's, untouched).

The reference's modules are imported as its package, not loaded file by file: its decode module
imports its tokenizer and conversation modules at the top, so loading only the needed files would
still pull ``transformers`` (or need a stand-in module, which we avoid); ``transformers`` is light
enough here (a few seconds of import, before any timing) and comes with our ``dev`` extra, beside
``einops``, ``loguru`` and ``loralib`` for its model module. Importing its decode module also
applies its inductor settings, which belong to how it compiles. Run as ``python bench/_reference.py --child --reference-dir DIR ...``; the
last stdout line is one JSON object with the same keys as ``bench/lm_decode.py``'s children.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import peak_rss_mb  # noqa: E402

# Where the reference keeps the two modules the benchmark needs, relative to its checkout.
REFERENCE_MODULE = "fish_speech.models.text2semantic.inference"
REFERENCE_FILE = Path("fish_speech/models/text2semantic/inference.py")


class _EndTokenIds:
    """Answers the reference decode loop's one tokenizer question: the id of its end token."""

    def __init__(self, end_id: int) -> None:
        self.end_id = end_id

    def get_token_id(self, token: str) -> int:
        return self.end_id


def check_reference_dir(path: str) -> str | None:
    """None when ``path`` holds the reference's decode module, else why not (one line)."""
    if not (Path(path) / REFERENCE_FILE).is_file():
        return f"--reference-dir {path}: no {REFERENCE_FILE} there (a checkout of fish-speech is needed)"
    return None


def reference_args(preset: str, cache_len: int):
    """The reference's model config with the shape of our ``preset`` (see module docstring)."""
    from fish_speech.models.text2semantic.llama import DualARModelArgs

    from s2tts.models.config import DualARConfig

    cfg = DualARConfig.preset(preset)
    slow, fast = cfg.slow, cfg.fast
    return DualARModelArgs(
        model_type="dual_ar",
        vocab_size=cfg.vocab_size,
        n_layer=slow.n_layer,
        n_head=slow.n_head,
        n_local_heads=slow.n_kv_head,
        dim=slow.dim,
        head_dim=slow.head_dim,
        intermediate_size=slow.intermediate_size,
        rope_base=slow.rope_base,
        norm_eps=slow.norm_eps,
        max_seq_len=cache_len,
        tie_word_embeddings=cfg.tie_word_embeddings,
        attention_qkv_bias=slow.qkv_bias,
        attention_o_bias=slow.o_bias,
        attention_qk_norm=slow.qk_norm,
        codebook_size=cfg.codebook_size,
        num_codebooks=cfg.num_codebooks,
        semantic_begin_id=cfg.semantic_begin_id,
        semantic_end_id=cfg.semantic_end_id,
        scale_codebook_embeddings=cfg.scale_codebook_embeddings,
        use_gradient_checkpointing=False,
        n_fast_layer=fast.n_layer,
        fast_dim=fast.dim,
        fast_n_head=fast.n_head,
        fast_n_local_heads=fast.n_kv_head,
        fast_head_dim=fast.head_dim,
        fast_intermediate_size=fast.intermediate_size,
        fast_attention_qkv_bias=fast.qkv_bias,
        fast_attention_qk_norm=fast.qk_norm,
        fast_attention_o_bias=fast.o_bias,
        # As the reference reads a released (fish_qwen3_omni) checkpoint: the fast AR takes the
        # normed slow state, like ours.
        norm_fastlayer_input=True,
    )


def child(args: argparse.Namespace) -> dict:
    """Build, prefill and time the reference's decode; returns the per-run figures."""
    sys.path.insert(0, str(Path(args.reference_dir).resolve()))
    import importlib

    from lm_decode import prompt_for  # the same prompt as our side's row 0

    ref = importlib.import_module(REFERENCE_MODULE)
    from fish_speech.models.text2semantic.llama import DualARTransformer

    from s2tts.models.config import DualARConfig

    torch.set_num_threads(args.threads)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    ours = DualARConfig.preset(args.preset)
    with torch.random.fork_rng():  # the reference initialises and samples from the global RNG
        torch.manual_seed(0)
        model = DualARTransformer(reference_args(args.preset, args.cache_len))
        model = model.to(device=args.device, dtype=dtype).eval()
        model.tokenizer = _EndTokenIds(ours.eos_token_id)
        with torch.device(args.device):
            model.setup_caches(max_batch_size=1, max_seq_len=args.cache_len, dtype=dtype)
        return _timed(args, ref, model, dtype, prompt_for(ours, 0, args.device))


def _timed(args: argparse.Namespace, ref, model, dtype: torch.dtype, prompt: torch.Tensor) -> dict:
    """prompt: (num_codebooks + 1, T) long. Prefill eager (as the reference does), then decode."""
    cfg = model.config
    rows, length = prompt.shape
    device = prompt.device
    temperature = torch.tensor(0.8, device=device, dtype=dtype)
    top_p = torch.tensor(0.8, device=device, dtype=dtype)
    top_k = 30
    bias = torch.full((1, 1, cfg.vocab_size), float("-inf"), device=device, dtype=dtype)
    bias[0, 0, cfg.semantic_begin_id : cfg.semantic_end_id + 1] = 0.0
    step = ref.decode_one_token_ar
    if args.mode == "compiled":
        step = torch.compile(step, backend=args.backend, fullgraph=True)

    def prefill() -> torch.Tensor:
        pos = torch.arange(0, length, device=device, dtype=torch.long)
        return ref.decode_one_token_ar(
            model, prompt.view(1, rows, -1), pos, temperature, top_p, top_k, bias, None, None
        )

    def decode(first: torch.Tensor, frames: int) -> torch.Tensor:
        pos = torch.tensor([length], device=device, dtype=torch.int)
        return ref.decode_n_tokens(
            model, first.view(1, rows, -1), pos, frames, temperature=temperature, top_p=top_p,
            top_k=top_k, semantic_logit_bias=bias, audio_masks=None, audio_parts=None,
            decode_one_token=step,
        )  # fmt: skip

    with torch.inference_mode():
        prefill()
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(3):
            first = prefill()
        prefill_ms = (time.perf_counter() - start) / 3 * 1000
        prefill_cpu = (time.process_time() - cpu_start) / 3
        start = time.perf_counter()
        decode(first, 4)  # warm-up: compiles the frame in compiled mode
        warmup_s = time.perf_counter() - start
        first = prefill()
        start, cpu_start = time.perf_counter(), time.process_time()
        out = decode(first, args.frames)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    produced = int(out.shape[1])
    return {
        "prefill_ms": round(prefill_ms, 2),
        "prefill_cpu_ms": round(prefill_cpu * 1000, 2),
        "frames_per_s": round(produced / max(elapsed, 1e-9), 2),
        "cpu_frames_per_s": round(produced / max(cpu, 1e-9), 2),
        "frames": produced,
        "warmup_s": round(warmup_s, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--reference-dir", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--mode", default="eager", choices=["eager", "compiled"])
    parser.add_argument("--backend", default="inductor")
    parser.add_argument("--preset", default="bench-small")
    parser.add_argument("--cache-len", type=int, default=256)
    args = parser.parse_args()
    problem = check_reference_dir(args.reference_dir)
    if problem:
        parser.error(problem)
    print(json.dumps(child(args)))


if __name__ == "__main__":
    main()
