"""Training: a generic library shared by the trainers, plus the trainers themselves.

Library (model-agnostic; a GAN trainer with a generator, discriminators and two optimizers uses it
as well as the LM trainer):

* :mod:`~s2tts.training.run_config` -- run configs as nested dataclasses from YAML/TOML/JSON with
  ``a.b=value`` overrides (strict: unknown keys and wrong types raise ``TrainConfigError``).
* :mod:`~s2tts.training.checkpointing` -- atomic, exact-resume checkpoints of any named stateful
  objects (models, optimizers, schedulers, generators) + RNG + data position + config; weights-only
  loading; works for plain, DDP and FSDP2 models.
* :mod:`~s2tts.training.schedules` -- warmup-stable-decay, cosine and constant LR schedules.
* :mod:`~s2tts.training.metrics_log` -- tqdm bar, JSONL + TensorBoard metrics, loss-curve plots.
* :mod:`~s2tts.training.distributed` -- torchrun set-up (gloo on CPU, nccl on CUDA), DDP, FSDP2,
  and the safe exit (``barrier; destroy_process_group; os._exit``).
* :mod:`~s2tts.training.interrupt` -- SIGTERM/SIGINT stop at the next step boundary.
* :mod:`~s2tts.training.guards` -- NaN/inf guard that stops all ranks together.
* :mod:`~s2tts.training.precision` -- fp32 / bf16 / fp16 / bf16-true autocast and dtypes.
* :mod:`~s2tts.training.lora` -- LoRA / rsLoRA for any model's ``nn.Linear`` layers, with merge.
* :mod:`~s2tts.training.vocab` -- vocabulary extension of a Dual-AR model with N(mu, Sigma) rows.

A trainer's loop, in outline::

    cfg = load_config(MyRunConfig, args.config, args.overrides)
    dist = init_distributed(cfg.device)
    model = wrap_ddp(build_model(cfg).to(dist.device), dist)
    opt = torch.optim.AdamW(...); sched = build_scheduler(opt, cfg.schedule)
    ckpt = Checkpointer(cfg.out_dir / "checkpoints", is_main=dist.is_main, barrier=dist.barrier)
    objects = {"model": ModelState(model), "optim": OptimizerState(model, opt), "sched": sched}
    start = 0
    if (path := ckpt.latest()) is not None:
        start = ckpt.load(path, objects)["step"]
    with StopOnSignal() as stop, MetricsLogger(cfg.out_dir, enabled=dist.is_main) as log:
        for step in range(start, cfg.steps):
            loss = ...; check_finite({"loss": loss}, step, dist); loss.backward(); opt.step(); sched.step()
            if (step + 1) % cfg.save_every == 0 or any_rank(stop.requested, dist):
                ckpt.save(step + 1, objects, extra={"step": step + 1, ...})
    finish(dist)

The LM trainer lives in :mod:`s2tts.training.lm` (``python -m s2tts.training.lm`` / torchrun).
"""
