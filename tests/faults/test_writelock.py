"""The writer lock shared by the CLI and the app's jobs (core.writelock)."""
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.errors import Cancelled
from core.progress import drive
from core.writelock import WriterLock, lock_path, writer_lock

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock")

HOLDER = """
import sys, time
from core.writelock import WriterLock
lock = WriterLock(sys.argv[1]); lock.acquire()
print("held", flush=True)
sys.stdin.readline()
lock.release()
"""


@pytest.fixture
def holder():
    """Start another process holding a path's writer lock; returns (start(path) -> Popen)."""
    procs = []

    def start(path):
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.stdout.readline().strip() == "held"
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.stdin.close()
        proc.stdout.close()


def release(proc):
    proc.stdin.write("\n")
    proc.stdin.flush()
    proc.wait(10)


def test_another_process_holds_it_and_is_named(tmp_path, holder):
    target = tmp_path / "ws.h5"
    proc = holder(target)
    lock = WriterLock(target)
    assert lock.acquire(blocking=False) is False
    assert lock.holder().startswith(f"PID {proc.pid} since ")
    assert f"in use by PID {proc.pid}" in lock.waiting_message()
    release(proc)
    assert lock.acquire(blocking=False) is True
    lock.release()
    assert not lock_path(target).exists()                      # gone with the lock


def test_a_killed_holder_blocks_nobody(tmp_path, holder):
    target = tmp_path / "ws.h5"
    proc = holder(target)
    proc.kill()
    proc.wait(10)
    assert lock_path(target).exists()                          # left behind, but not locked
    with writer_lock(target) as lock:
        assert lock.held


def test_reentrant_in_a_thread_exclusive_between_threads(tmp_path):
    target = tmp_path / "ws.h5"
    order = []
    with writer_lock(target), writer_lock(target):             # a job that locks, calling one that locks again
        thread = threading.Thread(target=lambda: (writer_lock(target).__enter__(), order.append("other")))
        thread.start()
        time.sleep(0.3)
        order.append("first done")
    thread.join(5)
    assert order == ["first done", "other"]


def test_waiting_can_be_cancelled(tmp_path, holder):
    target = tmp_path / "ws.h5"
    holder(target)
    with pytest.raises(Cancelled):
        WriterLock(target).wait(should_cancel=lambda: True)


def test_a_gui_job_waits_with_a_message_and_can_be_cancelled(fws, holder):
    from hyperviz.model import jobs

    before = fws.read_bytes()
    proc = holder(fws)
    messages = []
    with pytest.raises(Cancelled):
        drive(jobs.project_job(str(fws), "pca", 15, 0.1, 0, lambda: False), lambda r: messages.append(r.message),
              should_cancel=lambda: len(messages) >= 3)
    assert messages and all(f"in use by PID {proc.pid}" in m for m in messages), messages
    assert fws.read_bytes() == before                          # nothing written while it waited
    # once the other writer is done, the same job goes on and stores its map
    threading.Timer(0.5, release, (proc,)).start()
    messages.clear()
    drive(jobs.project_job(str(fws), "pca", 15, 0.1, 0, lambda: False), lambda r: messages.append(r.message))
    assert any("in use by" in m for m in messages) and messages[-1] == "pca done"
    assert not lock_path(fws).exists()


def test_gui_sampling_keeps_runs_another_process_added(fws):
    """The app opened the workspace, then a CLI `sample` stored a run: the app's run keeps it."""
    from core.hyperrep.workspace import load_workspace
    from core.zoo.store import read_zoo
    from hyperviz.cli import main
    from hyperviz.model import jobs

    opened = load_workspace(fws)
    zoo = read_zoo(opened.zoo_path)
    assert main(["sample", str(fws), "-n", "2", "--method", "random", "--device", "cpu", "-q", "--json"]) == 0
    cli_runs = set(load_workspace(fws).samples) - set(opened.samples)
    assert len(cli_runs) == 1
    run, samples = drive(jobs.sample_job(opened, zoo, np.arange(len(opened.states)), "noise", 2, 0, None, 0,
                                         "everything", []))
    stored = set(load_workspace(fws).samples)
    assert cli_runs <= stored and run in stored and set(samples) == stored
    assert run not in cli_runs
