"""CPU thread choice from what other processes leave free."""
import torch

from core.device import free_cpu_threads


def test_threads_are_the_cpus_the_load_leaves_free():
    assert free_cpu_threads(load=0.1, cpus=2)[0] == 2              # quiet
    assert free_cpu_threads(load=1.0, cpus=2)[0] == 1              # another process on one core
    assert free_cpu_threads(load=6.5, cpus=2)[0] == 1              # overloaded: never below 1
    assert free_cpu_threads(load=2.6, cpus=16)[0] == 13
    assert free_cpu_threads(load=0.0, cpus=16) == (16, {"cpus": 16, "load_1min": 0.0})


def test_threads_default_to_this_process_affinity_and_the_load_average():
    threads, source = free_cpu_threads()
    assert 1 <= threads <= source["cpus"] and source["load_1min"] >= 0


def test_bench_reports_and_restores_the_threads():
    from core.zoo.bench import bench_zoo

    before = torch.get_num_threads()
    r = bench_zoo(models=2, loop_models=1, repeats=1, device="cpu", threads=1)
    assert r["torch_threads"] == 1 and r["threads_from"] == "requested"
    assert torch.get_num_threads() == before
    r = bench_zoo(models=2, loop_models=1, repeats=1, device="cpu")
    assert r["torch_threads"] >= 1 and set(r["threads_from"]) == {"cpus", "load_1min"}
