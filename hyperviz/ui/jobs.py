"""The one place where core jobs become background work in the GUI.

A core job is a generator that yields :class:`core.progress.Progress` records and returns a
result (``core.progress``). :class:`JobRunner` runs one in a ``QThread``: the job is built *in the
worker* (so loading files and heavy imports never block the window), driven with
:func:`core.progress.drive`, and cancelled between steps through ``should_cancel``. Progress
reaches the GUI thread as queued signals, throttled so a fast job cannot flood the event loop.

Outcomes, exactly one per job: ``finished(result)``, ``failed(message)`` (a one-line
``HyperVizError`` text, or the exception and its traceback for bugs) or ``cancelled()``. Cancelling
never kills a thread: the job closes at its next step (its ``finally`` blocks run), so nothing
half-written is kept.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6 import QtCore

log = logging.getLogger(__name__)

#: A job factory gets ``should_cancel`` (for jobs that poll it themselves, e.g. a UMAP subprocess)
#: and returns the job generator.
JobFactory = Callable[[Callable[[], bool]], Any]


class _Worker(QtCore.QThread):
    """Drives one job in its own thread; reports through queued signals only."""

    progress_ready = QtCore.Signal(object)        # Progress, throttled
    outcome_ready = QtCore.Signal(str, object)    # ("finished", result) | ("failed", message) | ("cancelled", None)

    def __init__(self, factory: JobFactory, should_cancel: Callable[[], bool], min_interval_s: float,
                 torch_threads: int | None, name: str):
        super().__init__()
        self._factory = factory
        self._should_cancel = should_cancel
        self._min_interval_s = min_interval_s
        self._torch_threads = torch_threads
        self._name = name
        self._last_emit = 0.0

    def _on_progress(self, record) -> None:
        now = time.monotonic()
        final = record.total > 0 and record.done >= record.total
        if final or now - self._last_emit >= self._min_interval_s:
            self._last_emit = now
            self.progress_ready.emit(record)

    def run(self) -> None:
        from core.errors import Cancelled, HyperVizError
        from core.progress import drive

        try:
            if self._torch_threads is not None:
                import torch

                torch.set_num_threads(self._torch_threads)
            job = self._factory(self._should_cancel)
            if hasattr(job, "__next__"):
                if self._should_cancel():
                    job.close()
                    raise Cancelled("cancelled")
                result = drive(job, self._on_progress, self._should_cancel)
            else:
                result = job
        except Cancelled:
            self.outcome_ready.emit("cancelled", None)
        except HyperVizError as exc:
            self.outcome_ready.emit("failed", str(exc))
        except Exception as exc:
            log.exception("job %s failed", self._name)
            self.outcome_ready.emit("failed", f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=6)}")
        else:
            self.outcome_ready.emit("finished", result)


class JobHandle(QtCore.QObject):
    """One running job: its signals, its cancel switch and its outcome."""

    progress = QtCore.Signal(object)       # core.progress.Progress
    finished = QtCore.Signal(object)       # the job's result
    failed = QtCore.Signal(str)            # a message for the user
    cancelled = QtCore.Signal()
    done = QtCore.Signal()                 # after any of the three above

    def __init__(self, name: str, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._cancel = threading.Event()
        self.outcome: str | None = None    # "finished" | "failed" | "cancelled" once done
        self.result: Any = None
        self.message = ""
        self.started_at = time.monotonic()
        self.last_progress = None
        self.worker: _Worker | None = None

    def cancel(self) -> None:
        """Ask the job to stop at its next step (returns at once)."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def running(self) -> bool:
        return self.outcome is None

    @QtCore.Slot(object)
    def _relay_progress(self, record) -> None:
        if self.outcome is None:
            self.last_progress = record
            self.progress.emit(record)

    @QtCore.Slot(str, object)
    def _relay_outcome(self, outcome: str, value: Any) -> None:
        # runs in the GUI thread (queued from the worker)
        if self.worker is not None:
            self.worker.wait(5000)
        self.outcome = outcome
        if outcome == "finished":
            self.result = value
            self.finished.emit(value)
        elif outcome == "failed":
            self.message = value
            self.failed.emit(value)
        else:
            self.cancelled.emit()
        self.done.emit()

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until the worker thread ended (tests, shutdown). True if it did."""
        return True if self.worker is None else self.worker.wait(timeout_ms)


class JobRunner(QtCore.QObject):
    """Starts jobs in worker threads and keeps track of the running ones."""

    started = QtCore.Signal(object)        # JobHandle
    ended = QtCore.Signal(object)          # JobHandle, after its outcome signal

    def __init__(self, parent: QtCore.QObject | None = None, min_interval_s: float = 0.05,
                 torch_threads: int | None = 1) -> None:
        super().__init__(parent)
        self._min_interval_s = min_interval_s
        self._torch_threads = torch_threads
        self._running: list[JobHandle] = []

    def start(self, name: str, factory: JobFactory, *, on_progress: Callable | None = None,
              on_finished: Callable | None = None, on_failed: Callable | None = None,
              on_cancelled: Callable | None = None, uses_torch: bool = False) -> JobHandle:
        """Run ``factory(should_cancel)`` (a core job, or any callable's plain result) in the background.

        ``uses_torch`` limits torch to ``torch_threads`` threads first (torch on 2 cores collapses
        when the GUI or a UMAP process also wants a core).
        """
        handle = JobHandle(name, self)
        for signal, slot in ((handle.progress, on_progress), (handle.finished, on_finished),
                             (handle.failed, on_failed), (handle.cancelled, on_cancelled)):
            if slot is not None:
                signal.connect(slot)
        handle.done.connect(lambda h=handle: self._ended(h))
        worker = _Worker(factory, handle.is_cancelled, self._min_interval_s,
                         self._torch_threads if uses_torch else None, name)
        worker.progress_ready.connect(handle._relay_progress)
        worker.outcome_ready.connect(handle._relay_outcome)
        handle.worker = worker
        self._running.append(handle)
        worker.start()
        self.started.emit(handle)
        return handle

    def _ended(self, handle: JobHandle) -> None:
        if handle in self._running:
            self._running.remove(handle)
        self.ended.emit(handle)

    @property
    def running(self) -> list[JobHandle]:
        return list(self._running)

    def cancel_all(self, wait_ms: int = 10_000) -> bool:
        """Cancel every running job and wait for their threads (the window is closing). True if all ended."""
        for handle in list(self._running):
            handle.cancel()
        return all(handle.wait(wait_ms) for handle in list(self._running))
