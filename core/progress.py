"""Progress records and the one way long jobs are driven.

Every long computation in ``core`` is a generator: it ``yield``s :class:`Progress` records between
steps and ``return``s its result. Callers decide how to show progress and when to stop:

* the CLI passes a callback that updates a terminal progress bar,
* the GUI runs :func:`drive` in a worker and cancels through ``should_cancel``,
* tests simply call :func:`drive` with no callback.

Cancellation happens between steps: :func:`drive` closes the generator (so its ``finally`` blocks
run and nothing half-written is kept) and raises :class:`~core.errors.Cancelled`.
"""
from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from core.errors import Cancelled

T = TypeVar("T")
Job = Generator["Progress", None, T]


@dataclass(frozen=True)
class Progress:
    """One step of a long job: ``done`` out of ``total`` units, a short message and any metrics."""

    done: float
    total: float
    message: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.done / self.total)


def drive(
    job: Job[T],
    on_progress: Callable[[Progress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> T:
    """Run ``job`` to completion and return its result.

    ``on_progress`` sees every record; ``should_cancel`` is polled after each one and, when it
    returns True, the job is closed and :class:`Cancelled` raised.
    """
    try:
        while True:
            record = next(job)
            if on_progress is not None:
                on_progress(record)
            if should_cancel is not None and should_cancel():
                job.close()
                raise Cancelled("cancelled")
    except StopIteration as stop:
        return stop.value
