"""CPU thread choice from what other processes leave free."""
import os
import subprocess
import sys

import pytest
import torch

import core.device as device
from core.device import busy_cpus, free_cpu_threads


def test_threads_are_the_cpus_the_others_leave_free():
    assert free_cpu_threads(busy=0.1, cpus=2)[0] == 2              # quiet
    assert free_cpu_threads(busy=1.0, cpus=2)[0] == 1              # another process on one core
    assert free_cpu_threads(busy=6.5, cpus=2)[0] == 1              # overloaded: never below 1
    assert free_cpu_threads(busy=2.6, cpus=16)[0] == 13
    assert free_cpu_threads(busy=0.0, cpus=16) == (16, {"cpus": 16, "busy_cpus": 0.0})


def test_threads_default_to_this_process_affinity_and_what_is_busy_now():
    threads, source = free_cpu_threads()
    assert 1 <= threads <= source["cpus"] == len(os.sched_getaffinity(0))
    assert 0 <= source["busy_cpus"] <= source["cpus"] + 0.01


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_a_process_spinning_on_a_cpu_counts_as_busy():
    cpu = min(os.sched_getaffinity(0))
    spin = subprocess.Popen([sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"])
    try:
        busy_cpus({cpu}, seconds=0.3)                             # the child has settled on its CPU
        assert 0.7 <= busy_cpus({cpu}, seconds=0.5) <= 1.0001
    finally:
        spin.kill()
        spin.wait()


def test_without_proc_stat_the_load_average_stands_in(monkeypatch):
    real_open = open

    def no_proc_stat(path, *args, **kwargs):
        if str(path) == "/proc/stat":
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", no_proc_stat)
    assert busy_cpus() is None
    threads, source = device.free_cpu_threads(cpus=2)
    assert set(source) == {"cpus", "load_1min"} and 1 <= threads <= 2


def test_bench_reports_and_restores_the_threads():
    from core.zoo.bench import bench_zoo

    before = torch.get_num_threads()
    r = bench_zoo(models=2, loop_models=1, repeats=1, device="cpu", threads=1)
    assert r["torch_threads"] == 1 and r["threads_from"] == "requested"
    assert torch.get_num_threads() == before
    r = bench_zoo(models=2, loop_models=1, repeats=1, device="cpu")
    assert r["torch_threads"] >= 1 and set(r["threads_from"]) == {"cpus", "busy_cpus"}
