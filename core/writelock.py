"""One writer at a time: an exclusive lock on ``<output>.lock`` beside a zoo, workspace or export folder.

Every hyperviz process that writes a zoo, a workspace or an export folder - a CLI command
(hyperviz.commands.common.check_writable) or a job of the app (hyperviz.model.jobs) - holds
:class:`WriterLock` on it from before it reads what it will change until its last write. A second
writer waits until the first is done and then reads what the first wrote, so concurrent
``sample``/``project``/``fit`` runs each keep their results instead of the last save winning.

* The lock is an advisory ``flock`` on :func:`lock_path` of the output (``ws.h5`` ->
  ``ws.h5.lock``, folder ``out/`` -> ``out.lock``). It ends with the process however the process
  ends (the kernel drops it), so a killed writer never blocks the next one.
* The holder writes ``pid N since TIME`` into the lock file; a waiter names it
  (:meth:`WriterLock.holder`). The lock file is removed by its holder while still holding it; a
  waiter that wakes on a removed file retries on the new one.
* Re-entrant within one thread (a job that locks a workspace and calls another that locks it
  again); another thread of the same process waits like another process.
* Where ``fcntl`` is missing (not POSIX) there is no lock.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from core.errors import Cancelled, shown

try:
    import fcntl
except ImportError:                                # pragma: no cover - Windows
    fcntl = None

#: How often a non-blocking waiter tries again (seconds).
POLL_S = 0.2

_registry_guard = threading.Lock()
#: absolute output path -> (thread ident, depth) for the locks this process holds
_held: dict[str, tuple[int, int]] = {}


def lock_path(path) -> Path:
    """The lock file beside an output: ``ws.h5`` -> ``ws.h5.lock``, folder ``out/`` -> ``out.lock``."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


class WriterLock:
    """The writer lock of one output ``path``. :meth:`acquire` (blocking or not), :meth:`release`;
    or use :func:`writer_lock` / :meth:`wait_job`."""

    def __init__(self, path) -> None:
        self.path = Path(path)
        self.target = lock_path(self.path)
        self.key = os.path.abspath(self.path)
        self._fd: int | None = None
        self._reentered = False

    # ---- acquiring --------------------------------------------------------------------------
    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; False when ``blocking`` is False and another writer holds it."""
        if self._fd is not None or self._reentered:
            return True
        me = threading.get_ident()
        with _registry_guard:
            owner = _held.get(self.key)
            if owner is not None and owner[0] == me:
                _held[self.key] = (me, owner[1] + 1)
                self._reentered = True
                return True
        if fcntl is None or not self.target.parent.is_dir():   # no flock, or folders the writer creates
            self._register(me)
            self._reentered = True
            return True
        while True:
            fd = os.open(self.target, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return False
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.fstat(fd).st_ino == os.stat(self.target).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)                           # the holder removed that file meanwhile: lock the new one
        self._fd = fd
        with contextlib.suppress(OSError):
            stamp = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} since {stamp}\n".encode(), 0)
        self._register(me)
        return True

    def _register(self, me: int) -> None:
        with _registry_guard:
            _held[self.key] = (me, 1)

    def release(self) -> None:
        """Give the lock back (the lock file goes with it); nothing when it is not held."""
        if not self.held:
            return
        with _registry_guard:
            owner = _held.get(self.key)
            if owner is not None and owner[1] > 1:
                _held[self.key] = (owner[0], owner[1] - 1)
            else:
                _held.pop(self.key, None)
        self._reentered = False
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.target)             # while still holding it, so no one locks a stale file
            os.close(self._fd)                     # closing the descriptor releases the lock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None or self._reentered

    # ---- telling who holds it ---------------------------------------------------------------------
    def holder(self) -> str:
        """Who holds the lock, in words: ``"PID 123 since 2024-05-01T10:00:00+02:00"`` (or
        "another hyperviz process" when the lock file does not say)."""
        try:
            text = self.target.read_text(encoding="utf-8", errors="replace")[:200].strip()
        except OSError:
            text = ""
        if text.startswith("pid "):
            return "PID " + shown(text[4:], 80)
        return "another hyperviz process"

    def waiting_message(self) -> str:
        return f"waiting: {shown(self.path)} is in use by {self.holder()} (another hyperviz writer); it goes on when that one is done"

    # ---- waiting ------------------------------------------------------------------------------------
    def wait(self, on_wait: Callable[[str], None] | None = None,
             should_cancel: Callable[[], bool] | None = None, poll_s: float = POLL_S) -> None:
        """Take the lock, waiting as long as it takes; ``on_wait(message)`` is called once when it
        has to wait. With ``should_cancel`` it polls (every ``poll_s``) and raises
        :class:`~core.errors.Cancelled` when asked to stop; without, it blocks in the kernel."""
        if self.acquire(blocking=False):
            return
        if on_wait is not None:
            on_wait(self.waiting_message())
        if should_cancel is None:
            self.acquire(blocking=True)
            return
        while not self.acquire(blocking=False):
            if should_cancel():
                raise Cancelled("cancelled while waiting for a writer lock")
            time.sleep(poll_s)

    def wait_job(self, poll_s: float = POLL_S):
        """The wait as a core job (yields :class:`~core.progress.Progress` while another writer
        holds the lock, so a GUI job shows "waiting: ... in use by PID N" and can be cancelled
        between polls; returns once the lock is held)."""
        from core.progress import Progress

        while not self.acquire(blocking=False):
            yield Progress(0, 1, self.waiting_message())
            time.sleep(poll_s)


@contextlib.contextmanager
def writer_lock(path, on_wait: Callable[[str], None] | None = None,
                should_cancel: Callable[[], bool] | None = None) -> Iterator[WriterLock]:
    """Hold the writer lock of ``path`` for the block (see :meth:`WriterLock.wait`)."""
    lock = WriterLock(path)
    lock.wait(on_wait, should_cancel)
    try:
        yield lock
    finally:
        lock.release()


def locked_job(path, job):
    """Run the core job ``job`` (a generator, not yet started) while holding ``path``'s writer
    lock; waits for another writer first (yielding progress), returns the job's result."""
    lock = WriterLock(path)
    try:
        yield from lock.wait_job()
        return (yield from job)
    finally:
        lock.release()
        job.close()
