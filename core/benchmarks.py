"""Benchmarks behind ``hyperviz bench ...``: speed figures measured in one run, as plain dicts.

Speed targets are checked here, by commands, not by timed unit tests (the machines are shared).
"""
from __future__ import annotations

import time

import torch

from core.device import resolve_device
from core.errors import HyperVizError
from core.population import ZooSpec, chunk_plan, model_configs, train_chunk, train_loop_one
from core.progress import Progress, drive
from core.tasks import get_task


def bench_zoo(models: int = 256, epochs: int = 1, arch: str = "cnn", device: str = "auto",
              loop_models: int | None = None, batch_size: int = 32, chunk_size: int | None = None,
              on_progress=None) -> dict:
    """Train the same models batched and one at a time; model-epochs per second for each.

    The loop baseline trains ``loop_models`` of the same models (every k-th, so all
    configurations are represented; default: all of them on a CPU, 64 on a GPU), since on a GPU
    the loop would take hours at thousands of models. Both exclude evaluation.
    """
    if models < 1 or epochs < 1:
        raise HyperVizError(f"bench zoo: --models ({models}) and --epochs ({epochs}) must be >= 1")
    dev = resolve_device(device)
    chunk = chunk_size or (64 if dev.type == "cpu" else models)
    spec = ZooSpec(arch=arch, n_models=models, epochs=epochs, batch_size=batch_size, chunk_size=chunk)
    arch_spec, task = spec.arch_spec(), get_task(spec.task)
    configs = model_configs(spec)
    plan = chunk_plan(configs, chunk)
    # warm-up: one step of one chunk (oneDNN/cuBLAS initialisation is not what we measure)
    drive(train_chunk(arch_spec, task, [configs[i] for i in plan[0]][:2], 1, batch_size, dev, evaluate=False))

    _sync(dev)
    start = time.perf_counter()
    for k, rows in enumerate(plan):
        drive(train_chunk(arch_spec, task, [configs[i] for i in rows], epochs, batch_size, dev, evaluate=False))
        if on_progress:
            on_progress(Progress(k + 1, len(plan), f"batched chunk {k + 1}/{len(plan)}"))
    _sync(dev)
    batched_s = time.perf_counter() - start

    n_loop = min(models, loop_models if loop_models else (models if dev.type == "cpu" else 64))
    step = max(1, models // n_loop)
    loop_configs = configs[::step][:n_loop]
    start = time.perf_counter()
    for k, config in enumerate(loop_configs):
        train_loop_one(arch_spec, task, config, epochs, batch_size, dev)
        if on_progress:
            on_progress(Progress(k + 1, len(loop_configs), f"one at a time {k + 1}/{len(loop_configs)}"))
    _sync(dev)
    loop_s = time.perf_counter() - start

    batched_rate = models * epochs / batched_s
    loop_rate = len(loop_configs) * epochs / loop_s
    return {
        "device": str(dev),
        "arch": arch,
        "models": models,
        "epochs": epochs,
        "batch_size": batch_size,
        "chunk_size": chunk,
        "torch_threads": torch.get_num_threads(),
        "batched_seconds": round(batched_s, 3),
        "loop_models": len(loop_configs),
        "loop_seconds": round(loop_s, 3),
        "batched_model_epochs_per_s": round(batched_rate, 2),
        "loop_model_epochs_per_s": round(loop_rate, 2),
        "speedup": round(batched_rate / loop_rate, 2),
    }


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
