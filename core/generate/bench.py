"""``hyperviz bench eval``: batched evaluation of many decoded models, as a plain dict.

Speed targets are checked by benchmark commands, not by timed unit tests (the machines are shared).
"""
from __future__ import annotations

import time

import torch

from core.device import resolve_device, synchronize
from core.errors import HyperVizError


def bench_eval(models: int = 1000, device: str = "auto", arch: str = "cnn", task: str = "digits",
               loop_models: int = 100, seed: int = 0) -> dict:
    """Evaluate ``models`` random initialisations (all activations and inits, grouped by activation)
    on the task's test split with :func:`core.generate.evaluate.evaluate_weights`; seconds and models/s.

    The one-at-a-time baseline runs ``loop_models`` of them as plain ``build_module`` modules.
    """
    from core.generate.evaluate import evaluate_weights, model_chunk
    from core.zoo.arch import ACTIVATIONS, INITS, get_arch
    from core.zoo.modules import build_module, init_vector, vector_to_state_dict
    from core.zoo.tasks import check_task_fits
    from core.zoo.tasks import get_task as _get_task

    if models < 1:
        raise HyperVizError(f"bench eval: --models {models} must be >= 1")
    dev = resolve_device(device)
    spec, data = get_arch(arch), _get_task(task)
    check_task_fits(spec, data, "bench eval: ")
    gen = torch.Generator().manual_seed(seed)
    weights = torch.stack([init_vector(spec, INITS[i % len(INITS)], gen) for i in range(models)])
    acts = [ACTIVATIONS[i % len(ACTIVATIONS)] for i in range(models)]
    evaluate_weights(spec, data, weights[:8], acts[:8], "test", dev)          # warm-up
    synchronize(dev)
    start = time.perf_counter()
    result = evaluate_weights(spec, data, weights, acts, "test", dev)
    synchronize(dev)
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
    synchronize(dev)
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
