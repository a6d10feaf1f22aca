"""One optimisation step of the autoencoder, shared by whole-model (core.hyperrep.fit) and
windowed (core.hyperrep.windows) training: bf16 autocast on CUDA, a non-finite loss skips the
step, gradients clipped to norm 1."""
from __future__ import annotations

from collections.abc import Callable

import torch


def optimise(model: torch.nn.Module, opt: torch.optim.Optimizer, device: torch.device,
             compute: Callable[[], tuple[torch.Tensor, dict[str, torch.Tensor]]]) -> dict[str, float]:
    """Run ``compute() -> (loss, parts)`` under autocast and step ``opt`` on it; returns the parts as
    floats (all NaN, and no step taken, when the loss is not finite)."""
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    with autocast:
        loss, parts = compute()
    if not torch.isfinite(loss):
        return {k: float("nan") for k in parts}
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return {k: float(v) for k, v in parts.items()}
