"""The Dual-AR LM trainer (pre-training, full fine-tuning, LoRA, vocabulary extension).

Run it as ``s2tts train lm --config FILE [a.b=value ...]`` or, on several processes,
``torchrun --nproc_per_node N -m s2tts.training.lm --config FILE [a.b=value ...]``.

Modules: ``samples`` (conversations -> inference-format samples with target kinds), ``losses``
(S2 §4.2 loss terms), ``objective`` (model + loss as one module for DDP/FSDP), ``data`` (sources,
speaker-grouped conversations, deterministic step sampler), ``config`` (the run config),
``setup`` (model/tokenizer building, optimizer groups, export), ``recipe`` (the loop),
``__main__`` (command line).
"""
