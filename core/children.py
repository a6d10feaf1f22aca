"""Worker processes that never outlive the process that started them.

A worker started with ``multiprocessing`` (the UMAP fit, core.analysis.projection) is terminated
when its parent ends normally or cancels it, but a parent killed with SIGKILL (or by the OOM
killer) runs no cleanup, so the worker would go on computing at full CPU for nobody. The worker
calls :func:`die_with_parent` first thing:

* on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` makes the kernel kill it the moment its parent
  (strictly: the parent *thread* that started it, which in hyperviz waits for the worker until it
  ends) is gone;
* everywhere, as a fallback and in case the parent already died before the call, a daemon thread
  polls the parent pid every ``poll_s`` seconds and ends the process (``os._exit``) once the
  parent is gone (the worker was re-parented: ``os.getppid()`` changed).
"""
from __future__ import annotations

import os
import signal
import sys
import threading

#: How often the fallback watchdog looks at the parent pid (seconds).
POLL_S = 0.5
#: The exit status of a worker that ended because its parent was gone.
ORPHAN_EXIT = 3
_PR_SET_PDEATHSIG = 1


def _prctl_pdeathsig() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; whether that worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(parent_pid: int | None, use_prctl: bool = True, poll_s: float = POLL_S) -> bool:
    """Make this (worker) process end when the process ``parent_pid`` ends. Returns whether the
    kernel does it (prctl); the polling watchdog runs in either case. ``parent_pid`` is the pid
    the parent passed down (None: the current parent)."""
    parent = os.getppid() if parent_pid is None else int(parent_pid)
    kernel = use_prctl and _prctl_pdeathsig()
    if os.getppid() != parent:                   # the parent died before the prctl took effect
        os._exit(ORPHAN_EXIT)

    def watch() -> None:
        event = threading.Event()
        while not event.wait(poll_s):
            if os.getppid() != parent:
                os._exit(ORPHAN_EXIT)

    threading.Thread(target=watch, name="hyperviz-parent-watch", daemon=True).start()
    return kernel
