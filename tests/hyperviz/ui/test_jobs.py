"""The one job runner: results, progress, user errors, bugs, and cancel between steps."""
import threading
import time

import pytest

from core.errors import HyperVizError
from core.progress import Progress
from hyperviz.ui.jobs import JobRunner


def counting_job(n: int, delay: float = 0.0, store: dict | None = None):
    for i in range(n):
        time.sleep(delay)
        yield Progress(i + 1, n, f"step {i + 1}")
    if store is not None:
        store["written"] = n          # what a real job saves only at its end
    return n * 10


@pytest.fixture
def runner(qtbot):
    r = JobRunner(min_interval_s=0.0)
    yield r
    assert r.cancel_all(5000)


def test_result_and_progress_arrive_in_the_gui_thread(qtbot, runner):
    seen, threads = [], set()
    handle = runner.start("count", lambda cancel: counting_job(5),
                          on_progress=lambda r: (seen.append(r.done), threads.add(threading.get_ident())))
    with qtbot.waitSignal(handle.finished, timeout=10_000) as blocker:
        pass
    assert blocker.args == [50]
    assert handle.outcome == "finished" and handle.result == 50 and not handle.running
    assert seen == [1, 2, 3, 4, 5]
    assert threads == {threading.get_ident()}
    assert runner.running == []


def test_progress_is_throttled_but_the_last_record_arrives(qtbot):
    runner = JobRunner(min_interval_s=10.0)
    seen = []
    handle = runner.start("fast", lambda cancel: counting_job(200), on_progress=lambda r: seen.append(r.done))
    with qtbot.waitSignal(handle.done, timeout=10_000):
        pass
    assert seen[0] == 1 and seen[-1] == 200 and len(seen) <= 3


def test_user_errors_and_bugs_become_messages(qtbot, runner):
    def bad_input(cancel):
        raise HyperVizError("zoo.h5: no such file")
        yield  # pragma: no cover

    handle = runner.start("bad", bad_input)
    with qtbot.waitSignal(handle.failed, timeout=10_000) as blocker:
        pass
    assert blocker.args == ["zoo.h5: no such file"]

    def buggy(cancel):
        yield Progress(0, 1)
        return 1 / 0

    handle = runner.start("bug", buggy)
    with qtbot.waitSignal(handle.failed, timeout=10_000) as blocker:
        pass
    assert blocker.args[0].startswith("ZeroDivisionError: division by zero")
    assert handle.outcome == "failed"


def test_a_plain_callable_result_is_accepted(qtbot, runner):
    handle = runner.start("plain", lambda cancel: {"answer": 42})
    with qtbot.waitSignal(handle.finished, timeout=10_000) as blocker:
        pass
    assert blocker.args == [{"answer": 42}]


def test_cancel_stops_a_slow_job_between_steps_and_keeps_the_state(qtbot, runner):
    store: dict = {}
    handle = runner.start("slow", lambda cancel: counting_job(1000, delay=0.02, store=store))
    with qtbot.waitSignal(handle.progress, timeout=10_000):
        pass
    started = time.monotonic()
    handle.cancel()
    with qtbot.waitSignal(handle.cancelled, timeout=10_000):
        pass
    assert time.monotonic() - started < 1.0
    assert handle.outcome == "cancelled"
    assert store == {}                                   # the job never reached its end
    assert handle.worker.isFinished()


def test_cancel_before_the_first_step(qtbot, runner):
    started = threading.Event()

    def factory(cancel):
        started.set()
        time.sleep(0.2)                                  # e.g. loading files before the first yield
        return counting_job(3)

    handle = runner.start("early", factory)
    started.wait(5)
    handle.cancel()
    with qtbot.waitSignal(handle.cancelled, timeout=10_000):
        pass


def test_jobs_that_poll_should_cancel_themselves(qtbot, runner):
    from core.errors import Cancelled

    def polling(cancel):
        yield Progress(0, 1, "working")
        while not cancel():                              # like umap_fit_in_subprocess
            time.sleep(0.01)
        raise Cancelled("cancelled")

    handle = runner.start("poll", polling)
    with qtbot.waitSignal(handle.progress, timeout=10_000):
        pass
    handle.cancel()
    with qtbot.waitSignal(handle.cancelled, timeout=10_000):
        pass
