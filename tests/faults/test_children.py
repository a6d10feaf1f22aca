"""Child processes die with their parent, even when the parent is killed with SIGKILL."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"                              # a zombie has ended; only its parent's wait() is missing


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _maps(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return ""


def _wait_for(predicate, timeout: float, step: float = 0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def _gone_within(pids, seconds: float) -> list[int]:
    _wait_for(lambda: not any(_alive(p) for p in pids), seconds)
    return [p for p in pids if _alive(p)]


def test_kill_9_during_project_umap_takes_the_worker_with_it(fws):
    workers = []
    proc = subprocess.Popen([sys.executable, "-m", "hyperviz", "project", str(fws), "--method", "umap", "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        workers = _wait_for(lambda: [c for c in _children(proc.pid) if "spawn_main" in _cmdline(c)], 60)
        assert workers, "the UMAP worker never started"
        # kill once the worker is inside the fit (umap imported: numba's llvmlite is mapped), where
        # it sends nothing to its parent for many seconds (the first fit compiles for ~15 s)
        assert _wait_for(lambda: "llvmlite" in _maps(workers[0]), 60), "the worker never loaded umap"
        time.sleep(1.0)
        assert proc.poll() is None, "the command finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert _gone_within(workers, 5.0) == [], "the UMAP worker outlived its killed parent"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
        for pid in workers:                            # a failed test leaves no orphan behind
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert not (fws.parent / (fws.name + ".partial")).exists()


PARENT = textwrap.dedent("""
    import multiprocessing, sys, time
    from core.children import die_with_parent

    def child(parent_pid, use_prctl):
        die_with_parent(parent_pid, use_prctl=use_prctl, poll_s=0.1)
        while True:
            time.sleep(0.05)

    if __name__ == "__main__":
        import os
        ctx = multiprocessing.get_context("spawn")
        p = ctx.Process(target=child, args=(os.getpid(), sys.argv[1] == "prctl"), daemon=True)
        p.start()
        print(p.pid, flush=True)
        time.sleep(600)
""")


@pytest.mark.parametrize("how", ["prctl", "poll"])
def test_a_worker_ends_when_its_parent_is_killed(tmp_path, how):
    """Both ways: the kernel's parent-death signal and the portable watchdog that polls the parent pid."""
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, str(script), how], stdout=subprocess.PIPE, text=True, cwd=root,
                            env={**os.environ, "PYTHONPATH": str(root)})
    try:
        child = int(proc.stdout.readline())
        time.sleep(1.0)                                  # the child is past die_with_parent
        assert _alive(child)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert _gone_within([child], 5.0) == [], f"the worker survived its parent ({how})"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
