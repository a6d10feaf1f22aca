"""Training a zoo's chunks as Ray tasks (``hyperviz zoo build ... --ray ADDRESS``).

Chunk training is a pure function (:func:`core.zoo.population.train_spec_chunk`: a spec and a
chunk number in, arrays out), so a Ray task runs it unchanged on any node that has hyperviz
installed. The driver (the process running :func:`core.zoo.population.build_zoo_job`) submits
the chunks its zoo file still lacks, takes each result as it arrives and writes it: the driver is
the one writer of the file, an interrupted build resumes with the missing chunks (with or without
Ray), and the zoo is the same as one built without Ray (the same content hash), because each task
trains on the driver's device type and, on a CPU, on one torch thread, as a chunk does without Ray
(the bits depend on the thread count; see :mod:`core.zoo.population`).

Where the cluster comes from (:class:`RayOptions`):

* ``local``: start a Ray cluster inside this process (``num_cpus`` CPUs, default all), shut down
  when the build ends. A process already connected to Ray (``ray.init`` called before) uses that.
* ``auto``: the cluster that ``ray start --head`` started on this machine.
* ``HOST:PORT`` (or ``ray://HOST:PORT`` for Ray Client): an existing cluster's head node. Its
  workers must have the same hyperviz installed (``pip install -e ".[ray]"`` on every node).

``ray`` is an optional dependency, imported only here and only when a build asks for it, so core
imports without it.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from core.errors import HyperVizError, shown

#: What to install when ray is missing.
INSTALL_HINT = 'pip install -e ".[ray]"'
#: Seconds to wait for a cluster's head node to accept a connection before saying it is unreachable.
CONNECT_TIMEOUT_S = 5.0
#: At most this many chunks per task slot of the cluster (the tasks it can run at once) are
#: submitted at a time: results wait in Ray's object store until the driver has written them, and
#: more in flight would only fill it.
IN_FLIGHT_PER_SLOT = 2


@dataclass(frozen=True)
class RayOptions:
    """Where to run: ``address`` ("local", "auto", "HOST:PORT" or "ray://HOST:PORT"), and for a
    local cluster how many CPUs it offers (None: all of this machine's)."""

    address: str = "local"
    num_cpus: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.address, str) or not self.address.strip():
            raise HyperVizError("--ray: expected local, auto or a cluster address HOST:PORT")
        if self.num_cpus is not None and (isinstance(self.num_cpus, bool) or not isinstance(self.num_cpus, int)
                                          or self.num_cpus < 1):
            raise HyperVizError(f"--ray-cpus {shown(self.num_cpus, 40)}: must be a whole number >= 1")


def check_ray():
    """The ``ray`` module, or a one-line error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise HyperVizError(f"--ray: the ray package is not installed (install it with {INSTALL_HINT})") from None
    return ray


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``HOST:PORT`` / ``ray://HOST:PORT`` / ``[v6]:PORT``; None for other forms."""
    m = re.fullmatch(r"(?:ray://)?(\[[^\]]+\]|[^:/\s]+):(\d{1,5})", address.strip())
    if not m:
        return None
    return m.group(1).strip("[]"), int(m.group(2))


def _check_reachable(address: str) -> None:
    """Fail in one line, within :data:`CONNECT_TIMEOUT_S`, when nothing accepts connections at
    ``address`` (Ray itself would retry for a minute and print pages of log)."""
    hp = _host_port(address)
    if hp is None:
        raise HyperVizError(f"--ray {shown(address, 80)}: expected local, auto, HOST:PORT or ray://HOST:PORT")
    host, port = hp
    if not 0 < port < 65536:
        raise HyperVizError(f"--ray {shown(address, 80)}: port {port} is not in 1..65535")
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
        raise HyperVizError(f"--ray {shown(address, 80)}: no Ray cluster answers there ({why}); start one with "
                            "`ray start --head` and pass the address it prints") from None


def _task_function():
    """What each task runs: :func:`core.zoo.population.train_spec_chunk` (a test swaps in another)."""
    from core.zoo.population import train_spec_chunk

    return train_spec_chunk


class RayCluster:
    """A connection to Ray for one build; :meth:`close` shuts down what it started."""

    def __init__(self, options: RayOptions):
        ray = check_ray()
        self.ray, self.owned = ray, False
        if ray.is_initialized():                  # this process is already connected (a test, a notebook)
            return
        address = options.address.strip()
        # no usage reports to Ray's servers (unless the user chose otherwise): builds send nothing out
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address == "local":
            kwargs["num_cpus"] = options.num_cpus
        elif address != "auto":
            _check_reachable(address)
            kwargs["address"] = address
        else:
            kwargs["address"] = "auto"
        try:
            ray.init(**kwargs)
        except Exception as exc:                  # ConnectionError, RuntimeError, ValueError: Ray's own words, one line
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise HyperVizError(f"--ray {shown(address, 80)}: cannot start or join a Ray cluster ({shown(text, 160)})") from None
        self.owned = True

    def cpus(self) -> tuple[int, int]:
        """CPUs of the whole cluster and of its largest node (at least 1 each)."""
        total = int(self.ray.cluster_resources().get("CPU", 1))
        largest = max((int(n.get("Resources", {}).get("CPU", 0)) for n in self.ray.nodes() if n.get("Alive")), default=1)
        return max(1, total), max(1, largest)

    def close(self) -> None:
        if self.owned:
            self.ray.shutdown()
            self.owned = False


def run_tasks(options: RayOptions, function, arguments: list[tuple], device: torch.device, threads: int,
              label, shared: tuple = (), failure: str = "") -> Iterator[tuple[int, object]]:
    """Run ``function(*shared, *arguments[i], where, threads)`` as one Ray task per ``i``; yields
    ``(i, result)`` as each finishes, in the order they finish (the caller is the one writer).

    ``shared`` arguments are put into Ray's object store once for all tasks (a task's data set).
    Each task reserves ``threads`` CPUs (at most a node's), or one GPU on a CUDA device, and at
    most :data:`IN_FLIGHT_PER_SLOT` tasks per slot are submitted at a time. ``label(i)`` names a
    task in the one-line error when it fails ("chunk 3 (64 models)"), followed by ``failure``.
    Closing the generator cancels the tasks still running and shuts down a cluster it started.
    """
    if not arguments:
        return
    cluster = RayCluster(options)
    ray = cluster.ray
    running: dict = {}
    try:
        total_cpus, largest = cluster.cpus()
        if device.type == "cuda":
            resources = {"num_gpus": 1, "num_cpus": 1}
            where = "cuda"
            gpus = int(ray.cluster_resources().get("GPU", 0))
            if gpus < 1:
                raise HyperVizError(f"--ray {shown(options.address, 80)} --device {device}: the Ray cluster has no GPU")
            slots = gpus
        else:
            resources = {"num_cpus": min(max(1, threads), largest)}
            where = "cpu"
            slots = max(1, total_cpus // resources["num_cpus"])
        task = ray.remote(max_retries=2)(function).options(**resources)
        shared_refs = tuple(ray.put(a) for a in shared)
        queue = list(range(len(arguments)))
        limit = max(1, IN_FLIGHT_PER_SLOT * slots)
        while queue or running:
            while queue and len(running) < limit:
                i = queue.pop(0)
                running[task.remote(*shared_refs, *arguments[i], where, threads)] = i
            ready, _ = ray.wait(list(running), num_returns=1)
            ref = ready[0]
            i = running.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as exc:              # the task raised, or its worker died (after its retries)
                cause = getattr(exc, "cause", None) or exc
                text = str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__
                raise HyperVizError(f"--ray: {label(i)} failed on the cluster ({shown(text, 160)}){failure}") from None
            yield i, result
    finally:
        for ref in running:
            try:
                ray.cancel(ref, force=True)
            except Exception:                     # already finished or gone: nothing to stop
                pass
        cluster.close()


def train_on_ray(options: RayOptions, spec: dict, pending: list[int], sizes: list[int], device: torch.device,
                 threads: int) -> Iterator[tuple[int, np.ndarray, dict[str, np.ndarray]]]:
    """Train the chunks ``pending`` of ``spec`` (``sizes``: models in each) as Ray tasks; yields
    ``(k, weights, states)`` for each chunk as it finishes, in the order they finish.

    Each task runs :func:`core.zoo.population.train_spec_chunk` with ``threads`` torch threads
    (see :func:`run_tasks` for resources, cancelling and errors).
    """
    tasks = run_tasks(options, _task_function(), [(spec, k) for k in pending], device, threads,
                      lambda i: f"chunk {pending[i] + 1} ({sizes[i]} models)",
                      failure="; the chunks written so far are kept, re-run to resume")
    try:
        for i, (weights, states) in tasks:
            yield pending[i], weights, states
    finally:
        tasks.close()


@contextlib.contextmanager
def ray_session(options: RayOptions | None):
    """Connect to (or start) the cluster of ``options`` for a whole command, so that its calls of
    :func:`run_tasks` share it (a ``local`` cluster takes ~20 s to start); nothing for None."""
    if options is None:
        yield
        return
    cluster = RayCluster(options)
    try:
        yield
    finally:
        cluster.close()
