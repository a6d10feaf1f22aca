"""Choosing the torch device (CUDA when present, CPU otherwise) and how many CPU threads to use."""
from __future__ import annotations

import os
import time

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


#: Seconds :func:`busy_cpus` watches the CPUs for.
BUSY_SAMPLE_S = 0.25


def _allowed_cpus() -> set[int] | None:
    """The CPUs this process may run on (what a container or ``taskset`` allows, not the
    machine's count); None where the platform cannot say (no ``sched_getaffinity``)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def busy_cpus(cpus: set[int] | None = None, seconds: float = BUSY_SAMPLE_S) -> float | None:
    """How many of the CPUs ``cpus`` (default: those this process may run on) are busy now: the
    time they spent running anything (user, nice, system, interrupts, steal) over ``seconds``,
    from ``/proc/stat``. None where there is no ``/proc/stat`` (not Linux) or it cannot be read."""
    if cpus is None:
        cpus = _allowed_cpus()
    if cpus is None:
        return None

    def sample() -> tuple[int, int]:
        busy = total = 0
        with open("/proc/stat") as f:
            for line in f:
                name, *values = line.split()
                if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
                    continue
                ticks = [int(v) for v in values[:8]]      # user nice system idle iowait irq softirq steal
                total += sum(ticks)
                busy += sum(ticks) - ticks[3] - ticks[4]
        return busy, total

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return len(cpus) * (busy1 - busy0) / (total1 - total0)


def free_cpu_threads(busy: float | None = None, cpus: int | None = None) -> tuple[int, dict]:
    """How many CPU threads to use now: the CPUs this process may run on that the others leave
    free, at least 1. Returns ``(threads, {"cpus": ..., "busy_cpus": ...})``.

    ``cpus`` defaults to ``len(os.sched_getaffinity(0))`` (what a container or ``taskset`` allows,
    not the machine's count); ``busy`` to the CPUs busy now (:func:`busy_cpus`, a quarter of a
    second of ``/proc/stat``; call this before the work starts). The free CPUs are
    ``round(cpus - busy)``, between 1 and ``cpus``. Without ``/proc/stat`` the 1-minute load
    average stands in for ``busy`` (reported as ``load_1min``; without it nothing counts as busy),
    and without ``sched_getaffinity`` ``cpus`` is torch's thread count.

    Why: torch splits each operation across its threads and waits for the last one. With 2
    threads on 2 cores and another process busy on one of them, every operation waits for the
    thread the scheduler parked (measured here: a training step of 0.59 ms took 2.15 ms; one
    model at a time fell from 28 to 0.9 model-epochs/s under a load of 6, while 1 thread kept
    ~9). Why not the load average alone: it trails by a minute, so a job that ended seconds ago
    still counts (a load of 0.5 right after the test suite made a quiet 2-core machine look
    half busy, and the build took one core of two).
    """
    source = "busy_cpus"
    if busy is None:
        busy = busy_cpus()
    if busy is None:
        source = "load_1min"
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):
            busy = 0.0
    if cpus is None:
        allowed = _allowed_cpus()
        cpus = len(allowed) if allowed is not None else torch.get_num_threads()
    threads = max(1, min(int(cpus), int(round(cpus - busy))))
    return threads, {"cpus": int(cpus), source: round(float(busy), 2)}
