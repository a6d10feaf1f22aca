"""``hyperviz bench zoo``: batched population training against one model at a time, as a plain dict.

Speed targets are checked by benchmark commands, not by timed unit tests (the machines are shared).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from core.device import free_cpu_threads, resolve_device, synchronize
from core.errors import HyperVizError
from core.progress import Progress
from core.zoo.population import chunk_plan, model_configs, train_chunks, train_loop_one
from core.zoo.spec import DEFAULT_CHUNK_SIZES, ZooSpec
from core.zoo.tasks import get_task


def bench_zoo(models: int = 256, epochs: int = 1, arch: str = "cnn", device: str = "auto",
              loop_models: int | None = None, batch_size: int = 32, chunk_size: int | None = None,
              repeats: int = 3, threads: int | None = None, on_progress=None) -> dict:
    """Train the same models batched and one at a time; model-epochs per second for each.

    The loop baseline trains ``loop_models`` of the same models (every k-th, so all
    configurations are represented; default: all of them on a CPU, 64 on a GPU), since on a GPU
    the loop would take hours at thousands of models. Both exclude evaluation.

    The two are timed alternately ``repeats`` times and the medians are reported (``speedup`` is
    the median of the per-repeat ratios), so a burst of load on a shared machine moves one repeat,
    not the verdict; ``speedups`` lists every repeat's ratio.

    Each side uses the CPUs as it trains best, on ``threads`` of them (restored afterwards; None
    picks the CPUs other processes leave free, :func:`core.device.free_cpu_threads`, reported as
    ``threads_from``; with more threads than free cores both sides collapse): the batched side
    as ``zoo build`` does, ``threads`` chunks at once on one torch thread each
    (:func:`core.zoo.population.train_chunks`; ``batched_workers``), the loop with ``threads``
    torch threads (``torch_threads``; one model gains nothing from more Python threads, its time
    is Python dispatch under the GIL). On a GPU the chunks train one after another.
    """
    if models < 1 or epochs < 1 or repeats < 1:
        raise HyperVizError(f"bench zoo: --models ({models}), --epochs ({epochs}) and --repeats ({repeats}) must be >= 1")
    dev = resolve_device(device)
    before = torch.get_num_threads()
    if threads is None:
        threads, threads_from = free_cpu_threads()
    else:
        threads_from = "requested"
    torch.set_num_threads(int(threads))
    try:
        result = _bench(models, epochs, arch, dev, loop_models, batch_size, chunk_size, repeats, int(threads), on_progress)
    finally:
        torch.set_num_threads(before)
    return {**result, "torch_threads": int(threads), "threads_from": threads_from}


def _bench(models: int, epochs: int, arch: str, dev: torch.device, loop_models: int | None, batch_size: int,
           chunk_size: int | None, repeats: int, threads: int, on_progress) -> dict:
    chunk = chunk_size or (DEFAULT_CHUNK_SIZES["cpu"] if dev.type == "cpu" else models)
    spec = ZooSpec(arch=arch, n_models=models, epochs=epochs, batch_size=batch_size, chunk_size=chunk)
    arch_spec, task = spec.arch_spec(), get_task(spec.task)
    configs = model_configs(spec)
    plan = chunk_plan(configs, chunk)
    n_loop = min(models, loop_models if loop_models else (models if dev.type == "cpu" else 64))
    loop_configs = configs[:: max(1, models // n_loop)][:n_loop]
    total = repeats * (len(plan) + len(loop_configs))
    done = 0

    def tick(what: str) -> None:
        nonlocal done
        done += 1
        if on_progress:
            on_progress(Progress(done, total, what))

    chunks = [(arch_spec, [configs[i] for i in rows]) for rows in plan]
    workers = min(threads, len(chunks)) if dev.type == "cpu" else 1

    def batched(some: list, n_epochs: int):
        for item in train_chunks(some, task, n_epochs, batch_size, dev, workers, evaluate=False):
            if not isinstance(item, Progress):
                yield item[0]

    # warm-up: one epoch of full chunks (as many at once as timed) and of one model alone, so that
    # oneDNN/cuBLAS have set up their kernels for every shape (the short last batch included)
    # before the clock starts
    list(batched(chunks[:workers], 1))
    train_loop_one(arch_spec, task, loop_configs[0], 1, batch_size, dev)

    batched_s, loop_s = [], []
    for r in range(repeats):
        synchronize(dev)
        start = time.perf_counter()
        for k, _ in enumerate(batched(chunks, epochs)):
            tick(f"repeat {r + 1}/{repeats}: batched, {k + 1}/{len(plan)} chunks done")
        synchronize(dev)
        batched_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        for k, config in enumerate(loop_configs):
            train_loop_one(arch_spec, task, config, epochs, batch_size, dev)
            tick(f"repeat {r + 1}/{repeats}: one at a time {k + 1}/{len(loop_configs)}")
        synchronize(dev)
        loop_s.append(time.perf_counter() - start)

    batched_rates = [models * epochs / t for t in batched_s]
    loop_rates = [len(loop_configs) * epochs / t for t in loop_s]
    speedups = [b / l for b, l in zip(batched_rates, loop_rates)]
    return {
        "device": str(dev),
        "arch": arch,
        "models": models,
        "epochs": epochs,
        "batch_size": batch_size,
        "chunk_size": chunk,
        "batched_workers": workers,
        "repeats": repeats,
        "batched_seconds": round(float(np.median(batched_s)), 3),
        "loop_models": len(loop_configs),
        "loop_seconds": round(float(np.median(loop_s)), 3),
        "batched_model_epochs_per_s": round(float(np.median(batched_rates)), 2),
        "loop_model_epochs_per_s": round(float(np.median(loop_rates)), 2),
        "speedup": round(float(np.median(speedups)), 2),
        "speedups": [round(x, 2) for x in speedups],
    }
