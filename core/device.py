"""Choosing the torch device (CUDA when present, CPU otherwise) and how many CPU threads to use."""
from __future__ import annotations

import os

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


def free_cpu_threads(load: float | None = None, cpus: int | None = None) -> tuple[int, dict]:
    """How many torch CPU threads to use now: the CPUs this process may run on that the others
    leave free, at least 1. Returns ``(threads, {"cpus": ..., "load_1min": ...})``.

    ``cpus`` defaults to ``len(os.sched_getaffinity(0))`` (what a container or ``taskset`` allows,
    not the machine's count); ``load`` to the 1-minute load average (``os.getloadavg``), the
    number of processes that were running or waiting to run. The free CPUs are
    ``round(cpus - load)``, between 1 and ``cpus``; a process that has just started counts for
    almost nothing in a 1-minute average, so call this before the work starts.

    Why: torch splits each operation across its threads and waits for the last one. With 2
    threads on 2 cores and another process busy on one of them, every operation waits for the
    thread the scheduler parked (measured here: a training step of 0.59 ms took 2.15 ms; one
    model at a time fell from 28 to 0.9 model-epochs/s under a load of 6, while 1 thread kept
    ~9). Without ``sched_getaffinity`` or ``getloadavg`` (not Linux) the count is torch's own.
    """
    if cpus is None:
        try:
            cpus = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cpus = torch.get_num_threads()
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    threads = max(1, min(int(cpus), int(round(cpus - load))))
    return threads, {"cpus": int(cpus), "load_1min": round(float(load), 2)}
