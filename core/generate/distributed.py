"""Evaluating and fine-tuning a sampling run's models as Ray tasks (``hyperviz sample ... --ray ADDRESS``).

The same arrangement as zoo builds (:mod:`core.zoo.distributed`): the driver cuts the samples into
chunks of models, each Ray task is a pure function (architecture, task, a chunk's weights in;
arrays out), and the driver puts the arrays back in order; the workspace is written by the
driver alone (:func:`core.generate.sampling.store_run`), once, at the end. A model's accuracy
does not depend on the other models of its chunk, and fine-tuning's data order comes from the
seed alone (:func:`core.generate.evaluate.finetune_job`), so the results equal those without Ray
(tested with a local cluster; on the CPU each task uses the driver's torch thread count, the
thread count the same run uses without Ray).

Worth it for large runs only: a local cluster takes ~20 s to start on this machine, and the
task (its data set) is shipped to the cluster once per run. ``ray`` stays an optional extra.
"""
from __future__ import annotations

import numpy as np
import torch

from core.generate.evaluate import Evaluation, Finetuned, evaluate_weights, finetune_job
from core.progress import drive
from core.zoo.arch import ArchSpec
from core.zoo.distributed import RayOptions, check_ray, run_tasks
from core.zoo.tasks import Task

#: Models per task: large enough that a task's start (~10 ms of Ray's own) is small beside the
#: batched evaluation of its models, small enough that a 10k-sample run keeps a cluster busy.
RAY_CHUNK = 1024


def evaluate_chunk(arch: ArchSpec, task: Task, weights: np.ndarray, activation: str, splits: tuple[str, ...],
                   predictions: tuple[str, ...], device: str = "cpu",
                   threads: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """What one task runs: ``{split: (acc [n], loss [n], predictions [n, examples] or None)}`` of
    the models ``weights [n, P]`` (:func:`core.generate.evaluate.evaluate_weights`)."""
    if threads:
        torch.set_num_threads(int(threads))
    out = {}
    for split in splits:
        ev = evaluate_weights(arch, task, weights, activation, split, device, predictions=split in predictions)
        out[split] = (ev.acc, ev.loss, ev.predictions)
    return out


def finetune_chunk(arch: ArchSpec, task: Task, weights: np.ndarray, activation: str, epochs: int, seed: int,
                   config: dict, device: str = "cpu", threads: int | None = None) -> Finetuned:
    """What one task runs: :func:`core.generate.evaluate.finetune_job` on the models ``weights [n, P]``."""
    if threads:
        torch.set_num_threads(int(threads))
    return drive(finetune_job(arch, task, weights, activation, epochs, seed=seed, device=device, config=config))


def _chunks(n: int, chunk: int) -> list[slice]:
    return [slice(s, min(n, s + chunk)) for s in range(0, n, chunk)]


def evaluate_on_ray(options: RayOptions | str, arch: ArchSpec, task: Task, weights, activation: str,
                    splits: tuple[str, ...], predictions: tuple[str, ...] = (), device: torch.device | str = "cpu",
                    chunk: int = RAY_CHUNK) -> dict[str, Evaluation]:
    """:func:`core.generate.evaluate.evaluate_weights` of ``weights [N, P]`` on every split of
    ``splits``, in chunks of ``chunk`` models as Ray tasks; ``predictions``: the splits whose
    per-example predictions come back too. ``{split: Evaluation}``, rows in the order given."""
    options = options if isinstance(options, RayOptions) else RayOptions(str(options))
    check_ray()
    weights = np.ascontiguousarray(weights, dtype=np.float32)
    parts = _chunks(len(weights), chunk)
    results = _gather(options, evaluate_chunk, [(weights[p], activation, tuple(splits), tuple(predictions)) for p in parts],
                      device, lambda i: _label(parts[i], "evaluating"), (arch, task))
    joined = {}
    for split in splits:
        pieces = [results[i][split] for i in range(len(parts))]
        preds = np.concatenate([p[2] for p in pieces]) if split in predictions else None
        joined[split] = Evaluation(np.concatenate([p[0] for p in pieces]), np.concatenate([p[1] for p in pieces]), preds)
    return joined


def finetune_on_ray(options: RayOptions | str, arch: ArchSpec, task: Task, weights, activation: str, epochs: int,
                    seed: int, config: dict, device: torch.device | str = "cpu", chunk: int = RAY_CHUNK) -> Finetuned:
    """:func:`core.generate.evaluate.finetune_job` of ``weights [N, P]`` in chunks of ``chunk``
    models as Ray tasks; the :class:`Finetuned` of all of them, rows in the order given."""
    options = options if isinstance(options, RayOptions) else RayOptions(str(options))
    check_ray()
    weights = np.ascontiguousarray(weights, dtype=np.float32)
    parts = _chunks(len(weights), chunk)
    results = _gather(options, finetune_chunk, [(weights[p], activation, int(epochs), int(seed), dict(config)) for p in parts],
                      device, lambda i: _label(parts[i], "fine-tuning"), (arch, task))
    ordered = [results[i] for i in range(len(parts))]
    return Finetuned(np.concatenate([r.acc for r in ordered]), np.concatenate([r.loss for r in ordered]),
                     np.concatenate([r.weights for r in ordered]))


def _label(part: slice, what: str) -> str:
    return f"{what} samples {part.start}..{part.stop - 1}"


def _gather(options: RayOptions, fn, args: list[tuple], device, label, shared) -> dict[int, object]:
    """Every chunk's ``fn(*args[i])`` as a Ray task; ``{chunk index: result}`` once all have come back."""
    results = {}
    tasks = run_tasks(options, fn, args, torch.device(device), torch.get_num_threads(), label, shared=shared)
    try:
        for i, result in tasks:
            results[i] = result
    finally:
        tasks.close()
    return results
