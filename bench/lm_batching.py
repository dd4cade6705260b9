"""LM training on real shards: random batches against length-grouped batches of the same samples.

Builds the model of an LM run config (e.g. the small recipe's pre-training) and its training data
(code shards), then times optimizer steps of the trainer's objective (forward, backward, clipping,
AdamW, the config's precision) on the batches two samplers make from the same steps' samples:
``StepSampler`` (random batches, ``data.length_group_steps=1``) and ``LengthGroupedSampler``
(``--group-steps`` consecutive steps' samples sorted by length, then cut into batches). Each
group of steps is run by both arms, interleaved and alternating which goes first, so both train
on exactly the same samples and machine load hits both alike.

Per arm: seconds per step, target tokens per second (text + audio targets, as the trainer's
``tok_s``), positions processed per step (batch x longest sample) and the share of them that is
padding. The last stdout line is one JSON object with ``speedup`` (random step time over grouped
step time), both arms' figures and ``loadavg`` at the start and end.

    python bench/lm_batching.py --config runs/small/lm/pretrain/config.yaml --threads 1 \\
        --groups 2 --group-steps 16

(a training run's saved ``config.yaml`` names its shards; a recipe config needs
``--set data.source=shards data.path=...``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import load_average  # noqa: E402


def main() -> None:
    from s2tts.text.frontend import TextFrontend
    from s2tts.text.prompt import PromptBuilder
    from s2tts.training.lm.config import LMRunConfig
    from s2tts.training.lm.data import StepSampler, load_sources
    from s2tts.training.lm.length_groups import LengthGroupedSampler
    from s2tts.training.lm.losses import combine
    from s2tts.training.lm.objective import DualARObjective
    from s2tts.training.lm.samples import SampleBuilder, collate
    from s2tts.training.lm.setup import build_model, build_optimizer
    from s2tts.training.precision import Precision
    from s2tts.training.run_config import load_config

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="an LM run config (YAML)")
    ap.add_argument("--set", nargs="*", default=[], help="config overrides key=value")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--groups", type=int, default=2)
    ap.add_argument("--group-steps", type=int, default=16)
    ap.add_argument("--first-step", type=int, default=2000, help="the run's step whose samples come first")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load_start = load_average()

    cfg = load_config(LMRunConfig, args.config, args.set)
    torch.manual_seed(cfg.seed)
    model, tokenizer = build_model(cfg)
    mc = model.config
    builder = PromptBuilder(
        tokenizer, mc.num_codebooks, mc.codebook_size, frontend=TextFrontend(mc.text_frontend)
    )
    sb = SampleBuilder(builder, max_len=min(cfg.data.max_len, mc.slow.max_seq_len))
    train, _ = load_sources(cfg.data, mc.num_codebooks, mc.codebook_size)
    base = StepSampler(len(train), cfg.batch_size, 1, 1, cfg.data.seed)
    built: dict[tuple[int, int], object] = {}

    def sample(i: int, epoch: int):  # built once: both arms use the same samples
        if (i, epoch) not in built:
            built[(i, epoch)] = sb.build_fitting(train.get(i, epoch))
        return built[(i, epoch)]

    arms = {
        "random": base,
        "grouped": LengthGroupedSampler(
            base, args.group_steps, lambda i, e: sample(i, e).length, cfg.data.seed
        ),
    }
    prec = Precision.parse(cfg.precision, torch.device("cpu"))
    objective = DualARObjective(model, cfg.loss, cfg.model.scale_codebook_embeddings)
    objective.to(dtype=prec.param_dtype)
    opt = build_optimizer(model, cfg)
    params = [p for p in objective.parameters() if p.requires_grad]
    gen = torch.Generator().manual_seed(0)

    def step(values: torch.Tensor, kinds: torch.Tensor) -> float:
        t0 = time.perf_counter()
        keep = objective.fast_keep(kinds, gen)
        slow_n, fast_n = objective.counts(values, kinds, keep)
        with prec.autocast():
            s, f = objective(values, kinds, keep)
        combine(s, slow_n, f, fast_n, cfg.loss).backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t0

    stats = {name: {"times": [], "targets": 0, "positions": 0, "real": 0} for name in arms}
    for g in range(args.groups):
        steps = range(args.first_step + g * args.group_steps, args.first_step + (g + 1) * args.group_steps)
        order = list(arms) if g % 2 == 0 else list(reversed(arms))
        for name in order:
            for s in steps:
                samples = [sample(i, e) for i, e in arms[name].positions(s, 0, 0)]
                values, kinds = collate(samples, tokenizer.pad_id)
                st = stats[name]
                st["times"].append(step(values, kinds))
                st["targets"] += int((kinds > 0).sum())
                st["positions"] += kinds.numel()
                st["real"] += sum(x.length for x in samples)
            print(
                f"group {g} {name}: {statistics.mean(stats[name]['times'][-len(steps) :]):.2f} s/step",
                flush=True,
            )

    out: dict[str, object] = {
        "threads": args.threads,
        "group_steps": args.group_steps,
        "precision": prec.name,
    }
    for name, st in stats.items():
        total = sum(st["times"])
        n = len(st["times"])
        out[name] = {
            "s_per_step": round(total / n, 3),
            "target_tokens_per_s": round(st["targets"] / total, 1),
            "positions_per_step": round(st["positions"] / n, 1),
            "padding": round(1 - st["real"] / st["positions"], 3),
        }
        print(f"{name:8s} {out[name]}")
    out["speedup"] = round(sum(stats["random"]["times"]) / sum(stats["grouped"]["times"]), 3)
    out["loadavg"] = [load_start, load_average()]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
