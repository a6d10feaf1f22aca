"""Choosing the torch device: CUDA when present, CPU otherwise."""
from __future__ import annotations

import torch

from core.errors import HyperVizError


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:N"`` (or None = auto) into a usable ``torch.device``."""
    if isinstance(name, torch.device):
        return name
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise HyperVizError(f"device {name!r}: CUDA is not available on this machine (use --device cpu or auto)")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise HyperVizError(f"device {name!r}: expected auto, cpu, cuda or cuda:N")


def synchronize(dev: torch.device) -> None:
    """Wait for queued CUDA work on ``dev`` (a no-op on the CPU), so that timings measure the work."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
