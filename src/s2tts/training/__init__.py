"""Training: components (losses, optimisation, checkpointing, LoRA) and one recipe per stage."""
