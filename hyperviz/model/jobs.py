"""The work the app does in the background, as core jobs: generators that yield progress and return a result.

Every function here composes jobs of ``core`` (see ``core.progress``) and knows nothing of Qt;
:class:`hyperviz.ui.jobs.JobRunner` runs them in worker threads. This is the one module of the
model that reaches into core, and only inside the jobs, so importing the model never imports
torch: the import happens in the worker, off the GUI thread.

Every job that writes a zoo, a workspace or an export folder holds its writer lock
(:mod:`core.writelock`, the same ``<output>.lock`` the CLI takes) from before it reads what it will
change until its last write. While another process (a CLI command, a second app) holds it, the job
waits in its worker thread, reporting "waiting: ... in use by PID N since ..." as its progress, and
can be cancelled; the window never blocks on it.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from hyperviz.model.columns import coord_columns
from hyperviz.model.selection import SelectionError
from hyperviz.model.workspace import Session

log = logging.getLogger(__name__)


# ---- opening a workspace --------------------------------------------------------------------------
def load_session_job(path: str | Path):
    """Read a workspace and its zoo; returns a :class:`~hyperviz.model.workspace.Session`."""
    from core.progress import Progress

    path = Path(path)
    yield Progress(0, 3, f"reading {path.name}")
    from core.errors import HyperVizError
    from core.hyperrep.workspace import load_workspace

    ws = load_workspace(path)
    yield Progress(1, 3, f"reading zoo {ws.zoo_path.name}")
    zoo = ws.read_zoo()
    yield Progress(2, 3, "building the table")
    if ws.states is None or ws.embeddings is None:
        raise HyperVizError(f"{path}: no embeddings yet; run `hyperviz embed {path}` (or Jobs > Train autoencoder)")
    if not ws.projections:
        raise HyperVizError(f"{path}: no stored map yet; run `hyperviz project {path} --method pca`")
    table = table_from_workspace(ws, zoo)
    from hyperviz.model.workspace import sample_table

    sample_table(ws, list(ws.projections))        # what the window shows of the samples: built once here first
    yield Progress(3, 3, "loaded")
    return Session(path=path, ws=ws, zoo=zoo, table=table)


def table_from_workspace(ws, zoo) -> dict[str, np.ndarray]:
    """One row per embedded model state of a loaded workspace and its zoo.

    Columns: ``row`` (0..n-1), ``model`` (zoo row), ``checkpoint`` (zoo column), every property of
    :func:`core.analysis.report.state_properties` (epoch, losses, accuracies, ggap, hyperparameters),
    ``split`` (train/val/test, by model) and ``<method>_x`` / ``<method>_y`` for every stored map.
    """
    from core.analysis.report import state_properties

    if ws.states is None:
        raise SelectionError(f"{ws.path}: no embedded model states yet (run `hyperviz embed {ws.path}`)")
    states = np.asarray(ws.states)
    n = len(states)
    table: dict[str, np.ndarray] = {"row": np.arange(n), "model": states[:, 0].astype(np.int64),
                                    "checkpoint": states[:, 1].astype(np.int64)}
    table.update(state_properties(zoo, states))
    if ws.split is not None:
        table["split"] = np.asarray(ws.split)[states[:, 0]]
    for method, projection in ws.projections.items():
        coords = np.asarray(projection["coords"], dtype=np.float64)
        if coords.shape == (n, 2):
            x, y = coord_columns(method)
            table[x], table[y] = coords[:, 0], coords[:, 1]
        else:
            log.warning("%s: projection %s has %s coordinates for %d states; skipped", ws.path, method, coords.shape, n)
    return table


# ---- the Jobs menu ------------------------------------------------------------------------------
def build_zoo_job(models: int, epochs: int, arch: str, seed: int, out: str):
    """Train a digits zoo (core.zoo.population) into ``out``.

    Cancelled in the window, the build leaves nothing behind: its ``<out>.partial`` file (which
    the command line keeps, to resume) is removed, unless it was there before this build started.
    """
    from core.writelock import locked_job
    from core.zoo.population import build_zoo_job as core_build
    from core.zoo.spec import ZooSpec

    spec = ZooSpec(task="digits", arch=arch, n_models=models, epochs=epochs, seed=seed, chunk_size=64)
    partial = Path(out).with_name(Path(out).name + ".partial")
    existed = partial.exists()
    try:
        return (yield from locked_job(out, core_build(spec, out, device="auto")))
    except GeneratorExit:
        if not existed:
            partial.unlink(missing_ok=True)
        raise


def import_zoo_job(src: str, out: str, arch_spec: str | None = None):
    """Import the zoo under ``src`` into ``out``; ``arch_spec`` names a JSON architecture spec for
    architectures hyperviz does not recognise (None: recognise it from the tensor shapes)."""
    from core.writelock import locked_job
    from core.zoo.importers import import_zoo_job as core_import

    return (yield from locked_job(out, core_import(src, out, arch_spec or None)))


def train_workspace_job(zoo: str, out: str, preset: str, epochs: int):
    """Fit the autoencoder, embed every state and store a PCA map: a workspace ready to open."""
    from core.analysis.maps import project_job
    from core.hyperrep.embed import embed_job
    from core.hyperrep.fit import fit_job
    from core.progress import Progress
    from core.writelock import WriterLock

    lock = WriterLock(out)
    try:
        yield from lock.wait_job()
        yield from fit_job(zoo, out, preset=preset, epochs=epochs, device="auto")
        yield Progress(0, 2, "embedding every model state")
        yield from embed_job(out, device="auto")
        yield Progress(1, 2, "computing a PCA map")
        path = yield from project_job(out, method="pca")
        return path
    finally:
        lock.release()


def suggested_neighbors(states) -> int:
    """The UMAP neighbourhood ``hyperviz project`` uses by default for these model states."""
    from core.analysis.maps import default_neighbors

    return default_neighbors(states)


def project_job(workspace: str, method: str, n_neighbors: int, min_dist: float, seed: int, should_cancel):
    """Compute and store a map (UMAP in a subprocess, so Cancel stops it at once)."""
    from core.analysis.maps import project_job as core_project
    from core.writelock import locked_job

    return (yield from locked_job(workspace, core_project(workspace, method=method, n_neighbors=n_neighbors,
                                                          min_dist=min_dist, seed=seed, should_cancel=should_cancel)))


# ---- the docks ----------------------------------------------------------------------------------
def target_task_choices(zoo) -> list[tuple[str | None, str]]:
    """The Generate dock's "target task" menu: ``(spec, label)`` pairs, the zoo's own task first
    (spec None: no transfer), then every bundled task the zoo's architecture runs on."""
    from core.errors import HyperVizError
    from core.zoo.tasks import check_task_fits, get_task, task_names

    own = str(zoo.task.get("name", "?")) if zoo is not None else "?"
    choices: list[tuple[str | None, str]] = [(None, f"{own} (own task)")]
    if zoo is None:
        return choices
    for name in task_names():
        if name == own:
            continue
        try:
            task = get_task(name)
            for arch in zoo.archs:
                check_task_fits(arch, task)
        except HyperVizError:
            continue
        choices.append((name, name))
    return choices


def target_arch_choices(zoo) -> list[tuple[str | None, str]]:
    """The Generate dock's "architecture" menu: ``(name, label)`` pairs - the selection's most common
    first (name None), then each of the zoo's architectures when it has several, then each known
    architecture the zoo lacks that widens one of them (core.generate.grow). Empty when there is
    nothing to choose."""
    if zoo is None:
        return []
    wider = [(name, f"{name} (widened, {spec.n_params:,} params)") for name, spec in widening_targets(zoo).items()]
    own = [(a.name, f"{a.name} ({a.n_params:,} params)") for a in zoo.archs] if zoo.is_mixed else []
    if not own and not wider:
        return []
    return [(None, "most common in selection")] + own + wider


def widening_targets(zoo) -> dict:
    """The known architectures the zoo lacks that one of its architectures widens to, by name."""
    from core.generate.grow import widening_problem
    from core.zoo.arch import KNOWN_ARCHS

    return {name: spec for name, spec in KNOWN_ARCHS.items() if name not in zoo.arch_names
            and any(widening_problem(a, spec) is None for a in zoo.archs)}


def sample_job(ws, zoo, rows: np.ndarray, method: str, n: int, seed: int, bandwidth, finetune: int,
               description: str, bookmarks: list[dict], target_task: str | None = None, arch: str | None = None):
    """Sample on a copy of ``ws``; returns ``(run id, the copy's samples)``.

    :func:`core.generate.sampling.sample_job` stores the run and saves the file only when it
    completes; working on a copy keeps the open workspace as it was until the result comes back.
    Under the workspace's writer lock the copy is made of the file as it is *now* (runs and maps
    that other processes added since it was opened are kept, and come back in the samples), so
    nothing another writer stored is lost; a workspace whose embeddings changed on disk since it
    was opened is refused with one line (reopen it). ``target_task``: transfer to that task
    (zero-shot on it, fine-tuning on it; see core.generate.sampling). ``arch``: the architecture to
    sample - one of the zoo's (None: the selection's most common) or a wider one it lacks
    (the samples are widened; core.generate.grow).
    """
    from core.generate.sampling import sample_job as core_sample
    from core.writelock import WriterLock

    lock = WriterLock(ws.path)
    try:
        yield from lock.wait_job()
        base = _as_on_disk(ws)
        copy = dataclasses.replace(base, samples=dict(base.samples), bookmarks=list(bookmarks))
        run = yield from core_sample(copy, rows, method, n, seed=seed, bandwidth=bandwidth, finetune=finetune,
                                     device="auto", zoo=zoo, description=description, target_task=target_task,
                                     arch=arch)
        return run, copy.samples
    finally:
        lock.release()


def _as_on_disk(ws):
    """The workspace file of the open ``ws`` as it is on disk now (the caller holds its lock);
    ``ws`` itself when the file is gone. One-line error when its model states or embeddings are
    no longer the ones the app shows."""
    from core.errors import HyperVizError
    from core.hyperrep.workspace import load_workspace

    if not Path(ws.path).exists():
        return ws
    disk = load_workspace(ws.path, check_zoo=False)
    same = (disk.states is not None and ws.states is not None and np.array_equal(disk.states, ws.states)
            and disk.embeddings is not None and ws.embeddings is not None
            and np.array_equal(disk.embeddings, ws.embeddings))
    if not same:
        raise HyperVizError(f"{ws.path}: its embeddings changed on disk since it was opened (another hyperviz "
                            "process re-embedded it); reopen the workspace to sample from it")
    return disk


def export_job(ws, ids: list[tuple[str, int]], folder: str, formats, overwrite: bool = False):
    """Write the sampled models ``ids`` (run, index) with :func:`core.generate.export.export_samples`."""
    from core.generate.export import export_samples
    from core.progress import Progress
    from core.writelock import WriterLock

    lock = WriterLock(folder)
    try:
        yield from lock.wait_job()
        yield Progress(0, 1, f"exporting {len(ids)} model(s)")
        written = export_samples(ws, ids, folder, formats=list(formats), overwrite=overwrite)
        yield Progress(1, 1, "exported")
        return written
    finally:
        lock.release()


def probe_job(ws, zoo, rows=None, ceiling: bool = False):
    """Fit every probe of a loaded workspace, on the states ``rows`` (default all); ``ceiling`` adds
    the tree probes on s(W). Returns ``(results, differences, comparison)`` (see
    :class:`~hyperviz.model.workspace.ProbeResults`)."""
    from core.analysis.report import baseline_differences, comparison_sentence, probe_workspace
    from core.progress import Progress

    extra = " and gradient-boosted trees on s(W)" if ceiling else ""
    yield Progress(0, 1, f"fitting linear probes (hyper-representation and s(W)){extra}")
    results = probe_workspace(ws, zoo, rows, ceiling=ceiling)
    differences = baseline_differences(results, ws.states)
    yield Progress(1, 1, "probes done")
    return results, differences, comparison_sentence(differences)
