"""NaN/inf guard: stop a run the moment its loss or gradient norm is not finite.

The trainer calls :func:`check_finite` on the loss (before ``backward``) and on the gradient norm
(before ``optimizer.step``), so a bad step never reaches the weights and the last checkpoint on
disk stays the last good one. Under a process group every rank takes part, so all ranks stop
together instead of one raising while the others wait in a collective.

API::

    check_finite({"loss": loss, "grad_norm": gnorm}, step, dist)   # raises NonFiniteLossError
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from s2tts.errors import NonFiniteLossError
from s2tts.training.distributed import DistInfo, any_rank

__all__ = ["check_finite"]


def check_finite(values: Mapping[str, torch.Tensor | float], step: int, dist: DistInfo | None = None) -> None:
    """Raise :class:`NonFiniteLossError` naming the first non-finite value (on every rank)."""
    bad = [
        name
        for name, value in values.items()
        if not bool(torch.isfinite(torch.as_tensor(value, dtype=torch.float32)).all())
    ]
    if dist is not None and any_rank(bool(bad), dist) and not bad:
        bad = ["<another rank>"]
    if bad:
        raise NonFiniteLossError(
            f"non-finite {', '.join(bad)} at step {step}; stopping (the last checkpoint is the last good one)"
        )
