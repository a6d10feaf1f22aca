"""Benchmarks behind ``hyperviz bench ...``: speed figures measured in one run, as plain dicts.

Speed targets are checked here, by commands, not by timed unit tests (the machines are shared).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from core.device import resolve_device
from core.errors import HyperVizError
from core.population import ZooSpec, chunk_plan, model_configs, train_chunk, train_loop_one
from core.progress import Progress, drive
from core.tasks import get_task


def bench_zoo(models: int = 256, epochs: int = 1, arch: str = "cnn", device: str = "auto",
              loop_models: int | None = None, batch_size: int = 32, chunk_size: int | None = None,
              repeats: int = 3, on_progress=None) -> dict:
    """Train the same models batched and one at a time; model-epochs per second for each.

    The loop baseline trains ``loop_models`` of the same models (every k-th, so all
    configurations are represented; default: all of them on a CPU, 64 on a GPU), since on a GPU
    the loop would take hours at thousands of models. Both exclude evaluation.

    The two are timed alternately ``repeats`` times and the medians are reported (``speedup`` is
    the median of the per-repeat ratios), so a burst of load on a shared machine moves one repeat,
    not the verdict; ``speedups`` lists every repeat's ratio.
    """
    if models < 1 or epochs < 1 or repeats < 1:
        raise HyperVizError(f"bench zoo: --models ({models}), --epochs ({epochs}) and --repeats ({repeats}) must be >= 1")
    dev = resolve_device(device)
    chunk = chunk_size or (64 if dev.type == "cpu" else models)
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

    # warm-up: one epoch of a full chunk and of one model alone, so that oneDNN/cuBLAS have set up
    # their kernels for every shape (the short last batch included) before the clock starts
    drive(train_chunk(arch_spec, task, [configs[i] for i in plan[0]], 1, batch_size, dev, evaluate=False))
    train_loop_one(arch_spec, task, loop_configs[0], 1, batch_size, dev)

    batched_s, loop_s = [], []
    for r in range(repeats):
        _sync(dev)
        start = time.perf_counter()
        for k, rows in enumerate(plan):
            drive(train_chunk(arch_spec, task, [configs[i] for i in rows], epochs, batch_size, dev, evaluate=False))
            tick(f"repeat {r + 1}/{repeats}: batched chunk {k + 1}/{len(plan)}")
        _sync(dev)
        batched_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        for k, config in enumerate(loop_configs):
            train_loop_one(arch_spec, task, config, epochs, batch_size, dev)
            tick(f"repeat {r + 1}/{repeats}: one at a time {k + 1}/{len(loop_configs)}")
        _sync(dev)
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
        "torch_threads": torch.get_num_threads(),
        "repeats": repeats,
        "batched_seconds": round(float(np.median(batched_s)), 3),
        "loop_models": len(loop_configs),
        "loop_seconds": round(float(np.median(loop_s)), 3),
        "batched_model_epochs_per_s": round(float(np.median(batched_rates)), 2),
        "loop_model_epochs_per_s": round(float(np.median(loop_rates)), 2),
        "speedup": round(float(np.median(speedups)), 2),
        "speedups": [round(x, 2) for x in speedups],
    }


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def bench_fit(device: str = "auto", preset: str = "default", steps: int = 20, batch_size: int | None = None,
              n_embed: int = 4096, arch: str = "cnn") -> dict:
    """Autoencoder training and embedding throughput on synthetic weights of ``arch``.

    Training samples/s counts model states per second (each state gives two augmented views);
    the figure predicts ``hyperviz fit`` time: ``epochs * train_states / samples_per_s``.
    """
    from core.arch import get_arch, init_vector
    from core.autoencoder import HyperRepAE, make_config
    from core.augment import get_permuter
    from core.fit import TRAINING, train_step
    from core.hyperrep import WeightCodec, encode_weights
    from core.tokens import get_tokenizer

    if preset not in TRAINING:
        raise HyperVizError(f"preset {preset!r}: expected one of {', '.join(TRAINING)}")
    if steps < 2:
        raise HyperVizError(f"bench fit: --steps {steps} must be >= 2")
    dev = resolve_device(device)
    spec = get_arch(arch)
    bsz = batch_size or TRAINING[preset]["batch_size"]
    gen = torch.Generator().manual_seed(0)
    weights = torch.stack([init_vector(spec, "kaiming_uniform", gen) for _ in range(max(bsz, n_embed))])
    tokenizer = get_tokenizer(spec)
    model = HyperRepAE(make_config(tokenizer, preset)).attach_tokenizer(tokenizer)
    mean, std = tokenizer.layer_stats(weights)
    model.set_layer_stats(std.float(), mean.float())
    model.to(dev)
    codec, permuter = WeightCodec(spec, model), get_permuter(spec)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = weights[:bsz].to(dev)
    train_step(model, codec, permuter, opt, batch, gen)           # warm-up
    _sync(dev)
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, codec, permuter, opt, batch, gen)
    _sync(dev)
    train_s = time.perf_counter() - start
    encode_weights(model, spec, weights[:64], dev)                # warm-up
    _sync(dev)
    start = time.perf_counter()
    encode_weights(model, spec, weights[:n_embed], dev)
    _sync(dev)
    embed_s = time.perf_counter() - start
    return {
        "device": str(dev),
        "preset": preset,
        "arch": arch,
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch_size": bsz,
        "torch_threads": torch.get_num_threads(),
        "train_samples_per_s": round(steps * bsz / train_s, 1),
        "embed_samples_per_s": round(n_embed / embed_s, 1),
    }


def bench_eval(models: int = 1000, device: str = "auto", arch: str = "cnn", task: str = "digits",
               loop_models: int = 100, seed: int = 0) -> dict:
    """Evaluate ``models`` random initialisations (all activations and inits, grouped by activation)
    on the task's test split with :func:`core.evaluate.evaluate_weights`; seconds and models/s.

    The one-at-a-time baseline runs ``loop_models`` of them as plain ``build_module`` modules.
    """
    from core.arch import ACTIVATIONS, INITS, build_module, get_arch, init_vector, vector_to_state_dict
    from core.evaluate import evaluate_weights, model_chunk
    from core.tasks import get_task as _get_task

    if models < 1:
        raise HyperVizError(f"bench eval: --models {models} must be >= 1")
    dev = resolve_device(device)
    spec, data = get_arch(arch), _get_task(task)
    gen = torch.Generator().manual_seed(seed)
    weights = torch.stack([init_vector(spec, INITS[i % len(INITS)], gen) for i in range(models)])
    acts = [ACTIVATIONS[i % len(ACTIVATIONS)] for i in range(models)]
    evaluate_weights(spec, data, weights[:8], acts[:8], "test", dev)          # warm-up
    _sync(dev)
    start = time.perf_counter()
    result = evaluate_weights(spec, data, weights, acts, "test", dev)
    _sync(dev)
    batched_s = time.perf_counter() - start

    x, y = (t.to(dev) for t in data.split("test"))
    n_loop = min(models, max(1, loop_models))
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(n_loop):
            module = build_module(spec, acts[i]).to(dev)
            module.load_state_dict(vector_to_state_dict(spec, weights[i]))
            module.eval()
            (module(x).argmax(1) == y).sum().item()
    _sync(dev)
    loop_s = time.perf_counter() - start
    return {
        "device": str(dev),
        "arch": arch,
        "task": task,
        "models": models,
        "test_examples": int(len(y)),
        "activations": len(set(acts)),
        "chunk_size": model_chunk(dev),
        "torch_threads": torch.get_num_threads(),
        "seconds": round(batched_s, 3),
        "models_per_s": round(models / batched_s, 1),
        "loop_models": n_loop,
        "loop_models_per_s": round(n_loop / loop_s, 1),
        "speedup": round((models / batched_s) / (n_loop / loop_s), 2),
        "mean_test_acc": round(float(result.acc.mean()), 4),
    }
