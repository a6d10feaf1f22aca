"""Training a population of models at once (a "zoo").

A :class:`core.zoo.spec.ZooSpec` says what to train: task, architecture, how many models, epochs, and the
hyperparameter grid. :func:`model_configs` turns it into one config per model; models are grouped
by architecture and cut into chunks (:func:`chunk_plan`); :func:`train_chunk` trains one chunk batched (all its models in
the same kernels, see :mod:`core.zoo.batched`) and is a pure function of (spec, configs) -> arrays,
so chunks can be spread over machines: :func:`train_spec_chunk` is the whole of it (a spec and a
chunk number in, arrays out). :func:`build_zoo_job` trains every chunk, here or as Ray tasks
(:mod:`core.zoo.distributed`), and writes the zoo file, resuming an interrupted build.

**Several architectures.** ``arch`` may name several known architectures (``"cnn,cnn_wide,mlp"``):
model ``i`` then has architecture ``i mod A`` and the grid configuration ``i div A``, so each
architecture's first models span the grid just as a zoo of one does; chunks hold one
architecture (and any mix of activations); every model's architecture is the model column ``arch``.

Each model has its own seed, which fixes its initialisation, the order it sees the training data
in, and its dropout masks, so the same spec gives the same zoo.

**Chunks in parallel, one thread each (CPU).** A chunk's operations are small (a few MiB), so
splitting each of them across torch threads costs a hand-off and a wait per operation, and
stalls whenever another process holds one of the cores. On a CPU :func:`train_chunks` therefore
trains several chunks at once, each in its own Python thread on one torch thread (torch releases
the GIL inside its kernels): on this 2-core machine two chunks at once train 1.35x faster than
one chunk on two threads (``bench zoo``'s four 64-model chunks, medians of three alternating
runs), while one model at a time gains nothing from two Python threads (its time is Python
dispatch, under the GIL). A GPU trains one chunk after another.

**What the bits depend on.** The same spec gives the same zoo on the same kind of device: on a
CPU every chunk trains on one torch thread (:data:`CPU_CHUNK_THREADS`) whatever the number of
cores, workers or Ray tasks, so a build on 2 cores, on 16, or on a Ray cluster of the same CPUs
gives the same content hash (oneDNN sums a convolution's weight gradient in an order that
depends on the thread count, so a fixed count is what fixes the last bits).

**A finished build is finished.** The zoo file records the spec it was built from
(``meta/source`` = ``{"zoo_spec": ...}``). Building a spec onto a path that already holds the
complete zoo of that same spec does nothing (:func:`core.zoo.spec.finished_build`); a path that holds anything
else (a zoo of another spec, an imported zoo, a workspace, any other file) is refused unless
``overwrite`` is given, and even then it is replaced only when the new zoo is complete.

**Limits** (checked before anything is trained; the numbers are in :mod:`core.zoo.spec`): at most
``MAX_MODELS`` models, ``MAX_EPOCHS`` epochs, seeds in ``0 .. MAX_SEED``, and the weights (models x
checkpoints x parameters x 4 bytes) at most ``MAX_ZOO_BYTES`` and no more than the free disk space where the
zoo is written.
"""
from __future__ import annotations

import itertools
import math
import queue
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from core.device import free_cpu_threads, resolve_device
from core.errors import HyperVizError, shown
from core.progress import Job, Progress, drive
from core.zoo.arch import ACTIVATIONS, ArchSpec, get_arch
from core.zoo.batched import batched_forward, batched_loss_and_correct, loss_and_grad, retain_freed_cpu_memory
from core.zoo.modules import init_vector, split_params
from core.zoo.spec import DEFAULT_GRID, MAX_ZOO_BYTES, ZooSpec, finished_build
from core.zoo.store import STATE_COLUMNS, ZooWriter
from core.zoo.tasks import Task, get_task

SGD_MOMENTUM = 0.9
#: Torch threads a chunk trains with on a CPU (see the module docstring: the cores train
#: different chunks instead, and a fixed count fixes the bits).
CPU_CHUNK_THREADS = 1
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


def model_configs(spec: ZooSpec) -> list[dict]:
    """One config per model: model_id, seed, arch and every hyperparameter (model ``i`` has
    architecture ``i mod A`` and grid configuration ``i div A`` of the A architectures)."""
    grid = {**DEFAULT_GRID, **spec.grid}
    keys = list(DEFAULT_GRID)
    archs = spec.arch_names()
    rng = np.random.default_rng(spec.seed)
    product = list(itertools.product(*(grid[k] for k in keys)))
    product = [product[j] for j in rng.permutation(len(product))]  # any first n models span the grid
    configs = []
    for i in range(spec.n_models):
        if spec.mode == "grid":
            values = product[(i // len(archs)) % len(product)]
        else:
            values = tuple(grid[k][rng.integers(len(grid[k]))] for k in keys)
        config = {"model_id": f"m{i:05d}", "seed": spec.seed * 1_000_003 + i, "arch": archs[i % len(archs)]}
        config.update(zip(keys, values))
        configs.append(config)
    return configs


def chunk_plan(configs: list[dict], chunk_size: int) -> list[list[int]]:
    """Model indices per chunk: grouped by architecture (one set of kernels per chunk), at most
    chunk_size each, the fewest chunks that allows, of sizes that differ by one at most (chunks
    trained side by side then take about as long as each other).

    An architecture's models are sorted, those without dropout first (so that they share chunks
    that need no dropout masks; masks are drawn only for the models that have dropout,
    :func:`core.zoo.batched._dropout`), then those with it, each part by activation (a chunk's
    models of one activation are next to each other, :func:`core.zoo.batched.batched_forward`),
    then by rate; the chunks cut that order into consecutive pieces. Dealing the sorted models
    to the chunks in turn instead (every chunk a sample of the whole) was 4% slower: every chunk
    then draws masks and runs twice the activation runs."""
    chunks = []
    for arch in dict.fromkeys(c.get("arch") for c in configs):
        rows = sorted((i for i, c in enumerate(configs) if c.get("arch") == arch),
                      key=lambda i: (float(configs[i]["dropout"]) > 0, ACTIVATIONS.index(configs[i]["activation"]),
                                     float(configs[i]["dropout"]), i))
        count = -(-len(rows) // chunk_size)
        chunks += [rows[len(rows) * j // count : len(rows) * (j + 1) // count] for j in range(count)]
    return chunks


# ---- the batched trainer -----------------------------------------------------------------
@torch.no_grad()
def evaluate_population(arch: ArchSpec, weights: torch.Tensor, activation: str | list[str], x: torch.Tensor,
                        y: torch.Tensor, batch: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss ``[N]`` and accuracy ``[N]`` of N models ``weights [N, P]`` on ``(x, y)``
    (``activation``: one for all, or each model's)."""
    params = split_params(arch, weights)
    loss = torch.zeros(weights.shape[0], device=weights.device)
    correct = torch.zeros(weights.shape[0], device=weights.device)
    for s in range(0, len(y), batch):
        xb, yb = x[s : s + batch], y[s : s + batch]
        l, c = batched_loss_and_correct(batched_forward(arch, params, xb, activation), yb)
        loss += l * len(yb)
        correct += c
    return loss / len(y), correct / len(y)


class PopulationOptimizer:
    """Adam or SGD (momentum 0.9) per model over stacked weights ``[N, P]``, L2 weight decay.

    The update is the one ``torch.optim.Adam`` / ``SGD`` make (decay added to the gradient, Adam's
    bias corrections, ``denom = sqrt(v) / sqrt(1 - b2^t) + eps``), for all N models in ten
    whole-tensor operations: the per-model choices are columns ``[N, 1]`` (first-moment decay and
    gradient factor, learning rate, decay), and SGD rows take a denominator of 1. Writing it as
    two branches joined by ``torch.where`` took twice the operations.
    """

    def __init__(self, configs: list[dict], device: torch.device, n_params: int):
        col = lambda values: torch.tensor([float(v) for v in values], device=device).unsqueeze(1)  # noqa: E731
        adam = [c["optimizer"] == "adam" for c in configs]
        b1 = ADAM_BETAS[0]
        self.lr, self.wd = col(c["lr"] for c in configs), col(c["weight_decay"] for c in configs)
        self.adam = torch.tensor(adam, device=device).unsqueeze(1)                     # [N, 1] bool
        self.decay = col(b1 if a else SGD_MOMENTUM for a in adam)                      # m = decay * m + gain * g
        self.gain = col(1 - b1 if a else 1.0 for a in adam)
        shape = (len(configs), n_params)
        self.m = torch.zeros(shape, device=device)
        self.v = torch.zeros(shape, device=device)
        self.t = 0

    @torch.no_grad()
    def step(self, w: torch.Tensor, grad: torch.Tensor) -> None:
        """Update ``w [N, P]`` in place from ``grad [N, P]``."""
        self.t += 1
        b1, b2 = ADAM_BETAS
        g = torch.addcmul(grad, self.wd, w)
        self.m.mul_(self.decay).addcmul_(self.gain, g)      # Adam's first moment; SGD's momentum buffer
        self.v.mul_(b2).addcmul_(g, g, value=1 - b2)        # used by the Adam rows only
        denom = self.v.sqrt().div_(math.sqrt(1 - b2 ** self.t)).add_(ADAM_EPS).masked_fill_(~self.adam, 1.0)
        step_size = torch.where(self.adam, self.lr / (1 - b1 ** self.t), self.lr)      # [N, 1]
        w.addcdiv_(self.m * step_size, denom, value=-1.0)


def initial_weights(arch: ArchSpec, configs: list[dict]) -> torch.Tensor:
    """``[N, P]`` initial weights, each from its model's seed and init scheme."""
    return torch.stack([init_vector(arch, c["init"], torch.Generator().manual_seed(c["seed"])) for c in configs])


def train_chunk(arch: ArchSpec, task: Task, configs: list[dict], epochs: int, batch_size: int,
                device: torch.device, evaluate: bool = True) -> Job[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Train models of one architecture, batched. Yields a Progress per epoch.

    Returns ``(weights [N, epochs+1, P], states {name: [N, epochs+1]})``; checkpoint 0 is the
    initialisation, checkpoint e the weights after epoch e. ``evaluate=False`` skips measuring
    losses and accuracies (states stay NaN); the benchmark uses it to time training alone.
    """
    names = [c["activation"] for c in configs]
    activation = names[0] if len(set(names)) == 1 else names
    label = activation if isinstance(activation, str) else "/".join(dict.fromkeys(names))
    n, p = len(configs), arch.n_params
    splits = {s: tuple(t.to(device) for t in task.split(s)) for s in ("train", "val", "test")}
    x_train, y_train = splits["train"]
    n_train = len(y_train)
    device = torch.device(device)
    if device.type == "cpu":
        retain_freed_cpu_memory()
    w = initial_weights(arch, configs).to(device)
    dropout = torch.tensor([float(c["dropout"]) for c in configs], device=device)
    opt = PopulationOptimizer(configs, device, p)
    data_gens = [torch.Generator().manual_seed(c["seed"] + 1) for c in configs]
    drop_gen = torch.Generator(device=device).manual_seed(configs[0]["seed"] + 2)

    weights = np.empty((n, epochs + 1, p), dtype=np.float32)
    states = {name: np.full((n, epochs + 1), np.nan, dtype=np.float32) for name in STATE_COLUMNS}

    def record(e: int) -> None:
        weights[:, e] = w.cpu().numpy()
        if not evaluate:
            return
        for split, (x, y) in splits.items():
            loss, acc = evaluate_population(arch, w, activation, x, y)
            states[f"{split}_loss"][:, e] = loss.cpu().numpy()
            states[f"{split}_acc"][:, e] = acc.cpu().numpy()
        states["ggap"][:, e] = states["train_acc"][:, e] - states["test_acc"][:, e]

    record(0)
    yield Progress(0, epochs, f"{label}: initial evaluation", {"models": n})
    for epoch in range(1, epochs + 1):
        order = torch.stack([torch.randperm(n_train, generator=g) for g in data_gens]).to(device)  # [N, n_train]
        for s in range(0, n_train, batch_size):
            idx = order[:, s : s + batch_size]                                   # [N, B]
            _, grad = loss_and_grad(arch, w, x_train[idx], y_train[idx], activation, dropout, drop_gen)
            opt.step(w, grad)
        record(epoch)
        metrics = {"mean_test_acc": float(np.mean(states["test_acc"][:, epoch]))} if evaluate else {}
        yield Progress(epoch, epochs, f"{label}: epoch {epoch}/{epochs}", metrics)
    return weights, states


def train_chunks(chunks: list[tuple[ArchSpec, list[dict]]], task: Task, epochs: int, batch_size: int,
                 device: torch.device, workers: int | None = None, evaluate: bool = True,
                 label: Callable[[int], str] = lambda i: f"chunk {i + 1}"):
    """Train several chunks (each ``(arch, configs)``, see :func:`train_chunk`).

    Yields a Progress at every chunk's epoch (``done``: the model-epochs trained so far in all of
    them, ``label(i)`` names the chunk in the message) and ``(i, weights, states)`` as chunk ``i``
    finishes, in the order they finish (the caller writes them).

    On a CPU, ``workers`` chunks train at once (default: the CPUs other processes leave free,
    :func:`core.device.free_cpu_threads`; never more than there are chunks), each in its own
    thread on :data:`CPU_CHUNK_THREADS` torch thread; torch's thread count is restored at the end.
    On a GPU they train one after another. Closing the generator stops the chunks in flight at
    their next epoch; an error in one chunk stops the others and is raised here.
    """
    device = torch.device(device)
    if device.type != "cpu":
        yield from _train_in_turn(chunks, task, epochs, batch_size, device, evaluate, label)
        return
    if workers is None:
        workers = free_cpu_threads()[0] if len(chunks) > 1 else 1
    workers = max(1, min(int(workers), len(chunks)))
    before = torch.get_num_threads()
    torch.set_num_threads(CPU_CHUNK_THREADS)
    try:
        if workers == 1:
            yield from _train_in_turn(chunks, task, epochs, batch_size, device, evaluate, label)
        else:
            yield from _train_at_once(chunks, task, epochs, batch_size, device, evaluate, label, workers)
    finally:
        torch.set_num_threads(before)


def _train_in_turn(chunks, task, epochs, batch_size, device, evaluate, label):
    """:func:`train_chunks` one chunk after another, in this thread."""
    total = sum(len(configs) for _, configs in chunks) * epochs
    finished = 0
    for i, (arch, configs) in enumerate(chunks):
        job = train_chunk(arch, task, configs, epochs, batch_size, device, evaluate)
        try:
            while True:
                record = next(job)
                yield Progress(finished + record.done * len(configs), total, f"{label(i)} {record.message}", record.metrics)
        except StopIteration as stop:
            weights, states = stop.value
        finished += epochs * len(configs)
        yield i, weights, states


def _train_at_once(chunks, task, epochs, batch_size, device, evaluate, label, workers):
    """:func:`train_chunks` with ``workers`` chunks at a time, each in a thread of a pool."""
    events: queue.Queue = queue.Queue()
    stop = threading.Event()

    def work(i: int, arch: ArchSpec, configs: list[dict]) -> None:
        try:
            torch.set_num_threads(CPU_CHUNK_THREADS)      # OpenMP keeps a thread count per thread
            job = train_chunk(arch, task, configs, epochs, batch_size, device, evaluate)
            while True:
                record = next(job)
                if stop.is_set():
                    job.close()
                    return
                events.put((i, record))
        except StopIteration as done:
            events.put((i, done.value))
        except BaseException as exc:              # handed to the consumer, which raises it
            events.put((i, exc))

    total = sum(len(configs) for _, configs in chunks) * epochs
    trained = [0] * len(chunks)                   # model-epochs of each chunk so far
    pool = ThreadPoolExecutor(workers, thread_name_prefix="hyperviz-chunk")
    try:
        for i, (arch, configs) in enumerate(chunks):
            pool.submit(work, i, arch, configs)
        remaining = len(chunks)
        while remaining:
            i, item = events.get()
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, Progress):
                trained[i] = item.done * len(chunks[i][1])
                yield Progress(sum(trained), total, f"{label(i)} {item.message}", item.metrics)
                continue
            remaining -= 1
            trained[i] = epochs * len(chunks[i][1])
            yield (i, *item)
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def train_spec_chunk(spec: dict, chunk: int, device: str = "cpu",
                     threads: int | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Chunk ``chunk`` of the zoo ``spec`` (a :meth:`ZooSpec.to_dict`), trained: spec in, arrays out.

    What a Ray task runs (:mod:`core.zoo.distributed`): everything it needs is in its arguments,
    and the arrays are those :func:`train_chunk` returns for the chunk's models. ``threads``:
    torch's CPU thread count while it trains (default :data:`CPU_CHUNK_THREADS`; the bits depend
    on it, see the module docstring).
    """
    zoo_spec = ZooSpec(**spec)
    configs = model_configs(zoo_spec)
    rows = chunk_plan(configs, zoo_spec.chunk_size)[chunk]
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads or CPU_CHUNK_THREADS))
    try:
        return drive(train_chunk(get_arch(configs[rows[0]]["arch"]), get_task(zoo_spec.task), [configs[i] for i in rows],
                                 zoo_spec.epochs, zoo_spec.batch_size, resolve_device(device)))
    finally:
        torch.set_num_threads(before)


def train_loop_one(arch: ArchSpec, task: Task, config: dict, epochs: int, batch_size: int,
                   device: torch.device) -> torch.Tensor:
    """The plain way: one ``nn.Module`` and ``torch.optim`` optimiser (the benchmark's baseline).
    Returns the trained weights ``[P]``; without dropout they are :func:`train_chunk`'s to float
    rounding (the same initialisation, data order and update)."""
    from core.zoo.modules import build_module, state_dict_to_vector, vector_to_state_dict

    model = build_module(arch, config["activation"], config["dropout"]).to(device)
    model.load_state_dict(vector_to_state_dict(arch, init_vector(arch, config["init"], torch.Generator().manual_seed(config["seed"]))))
    if config["optimizer"] == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    else:
        opt = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=SGD_MOMENTUM, weight_decay=config["weight_decay"])
    x, y = (t.to(device) for t in task.split("train"))
    gen = torch.Generator().manual_seed(config["seed"] + 1)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=gen).to(device)
        for s in range(0, len(y), batch_size):
            idx = order[s : s + batch_size]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return state_dict_to_vector(arch, model.state_dict())


# ---- building a zoo file -----------------------------------------------------------------
def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # unreachable


def check_zoo_size(spec: ZooSpec, out: str | Path) -> int:
    """The bytes of weights ``spec`` stores (models x checkpoints x parameters x 4); a one-line
    error when that is above :data:`MAX_ZOO_BYTES` or above the free disk space at ``out``
    (counting what an interrupted build of it already wrote there)."""
    out = Path(out)
    n_params = max(arch.n_params for arch in spec.arch_specs())
    need = spec.n_models * (spec.epochs + 1) * n_params * 4
    what = (f"{spec.n_models} models x {spec.epochs + 1} checkpoints x {n_params} parameters x 4 bytes "
            f"= {_size(need)} of weights")
    if need > MAX_ZOO_BYTES:
        raise HyperVizError(f"--models {spec.n_models} --epochs {spec.epochs}: {what}, more than the "
                            f"{_size(MAX_ZOO_BYTES)} one zoo may hold")
    folder = out.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
        partial = out.with_name(out.name + ".partial")
        free += partial.stat().st_size if partial.is_file() else 0
    except OSError:
        return need                               # cannot tell; the writability check speaks for the folder
    if need > free:
        raise HyperVizError(f"--models {spec.n_models} --epochs {spec.epochs}: {what}, but only {_size(free)} "
                            f"are free in {shown(folder)}")
    return need


def build_zoo_job(spec: ZooSpec, out: str | Path, device: str | torch.device = "auto",
                  overwrite: bool = False, ray=None, workers: int | None = None) -> Job[Path]:
    """Train every model of ``spec`` and write the zoo to ``out`` (resuming a partial build).

    Returns at once when ``out`` is already the complete zoo of ``spec``; refuses to replace
    anything else there unless ``overwrite`` (see :func:`finished_build`).

    ``ray``: None trains here (:func:`train_chunks`: ``workers`` chunks at once on a CPU, default
    the free CPUs); an address (``"local"``, ``"auto"``, ``"host:port"``) or a
    :class:`core.zoo.distributed.RayOptions` trains the chunks not yet written as Ray tasks
    (:func:`train_spec_chunk`). Either way this process is the one writer:
    each chunk goes into the zoo file as it arrives, so an interrupted build resumes with the
    chunks still missing, and the finished zoo is the same (the same content hash).
    """
    archs, task, dev = spec.arch_specs(), get_task(spec.task), resolve_device(device)
    for arch in archs:
        if tuple(arch.input_shape) != tuple(task.input_shape) or arch.n_classes != task.n_classes:
            raise HyperVizError(f"architecture {arch.name!r} (input {arch.input_shape}, {arch.n_classes} classes) "
                                f"does not fit task {task.name!r} (input {task.input_shape}, {task.n_classes} classes)")
    if finished_build(spec, out, overwrite):
        yield Progress(1, 1, "already complete")
        return Path(out)
    check_zoo_size(spec, out)
    if ray is not None:
        from core.zoo.distributed import RayOptions, check_ray

        ray = ray if isinstance(ray, RayOptions) else RayOptions(str(ray))
        check_ray()                               # ray installed: a one-line error before any file is written
    configs = model_configs(spec)
    chunks = chunk_plan(configs, spec.chunk_size)
    models = {key: np.array([c[key] for c in configs]) for key in configs[0]}
    writer = ZooWriter(out, archs, np.arange(spec.epochs + 1), models, task.describe(), {"zoo_spec": spec.to_dict()}, chunks)
    total = spec.n_models * spec.epochs
    done = sum(len(chunks[i]) for i in np.flatnonzero(writer.done)) * spec.epochs
    yield Progress(done, total, "resuming" if writer.resumed else "starting",
                   {"device": str(dev)} if ray is None else {"device": str(dev), "ray": ray.address})
    pending = [k for k in range(len(chunks)) if not writer.done[k]]
    if ray is None:
        arrivals = train_chunks([(get_arch(configs[chunks[k][0]]["arch"]), [configs[i] for i in chunks[k]]) for k in pending],
                                task, spec.epochs, spec.batch_size, dev, workers,
                                label=lambda i: f"chunk {pending[i] + 1}/{len(chunks)}")
    else:
        from core.zoo.distributed import train_on_ray

        arrivals = train_on_ray(ray, spec.to_dict(), pending, [len(chunks[k]) for k in pending], dev,
                                CPU_CHUNK_THREADS)
    start = time.perf_counter()
    written = 0                                   # model-epochs of the chunks written by this run

    def rate(model_epochs: int) -> dict:
        return {"model_epochs_per_s": model_epochs / max(time.perf_counter() - start, 1e-9)}

    try:
        for item in arrivals:
            if isinstance(item, Progress):            # chunks training here: their epochs
                yield Progress(done + item.done, total, item.message, {**item.metrics, **rate(item.done)})
                continue
            i, weights, states = item
            k = pending[i] if ray is None else i      # train_chunks numbers its chunks 0.., Ray by chunk
            writer.write_chunk(k, np.array(chunks[k]), weights, states)
            written += len(chunks[k]) * spec.epochs
            if ray is not None:
                yield Progress(done + written, total, f"chunk {k + 1}/{len(chunks)} written ({int(writer.done.sum())} of "
                                                      f"{len(chunks)} done)", rate(written))
    finally:
        arrivals.close()                          # stops the chunks still training (an interrupted build)
    return writer.finish()
