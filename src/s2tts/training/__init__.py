"""Training: shared components (run configs, checkpoints, logging, distributed) and recipes."""
