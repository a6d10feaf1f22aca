"""Laying the embeddings out in 2-D and reading stored maps back (``hyperviz project``).

Projections are computed once and stored in the workspace; opening a workspace never recomputes
them. PCA is instant; UMAP runs in a worker process so that it can be cancelled.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.analysis.projection import Projection, pca_fit, umap_fit_in_subprocess
from core.errors import HyperVizError
from core.hyperrep.workspace import load_workspace
from core.progress import Job, Progress

#: UMAP neighbourhoods: this many models' worth of checkpoints, within these bounds (default_neighbors).
NEIGHBOUR_MODELS = 6
NEIGHBOURS_MIN, NEIGHBOURS_MAX = 15, 200


def default_neighbors(states: np.ndarray) -> int:
    """UMAP ``n_neighbors`` for the map of model states ``states [n, 2]`` (model, checkpoint):
    :data:`NEIGHBOUR_MODELS` models' worth of checkpoints (the median per model), clamped to
    :data:`NEIGHBOURS_MIN`..:data:`NEIGHBOURS_MAX`.

    A model's checkpoints lie close together, so with fewer neighbours than checkpoints per
    model a state's neighbourhood is its own trajectory and UMAP draws one island per model: on
    the default zoo (26 checkpoints per model) the 10 nearest map neighbours predicted test
    accuracy with R^2 0.00 at 15 neighbours and 0.86 at 150 (``hyperviz probe --map umap``)."""
    states = np.asarray(states)
    if len(states) == 0:
        return NEIGHBOURS_MIN
    per_model = float(np.median(np.unique(states[:, 0], return_counts=True)[1]))
    return int(np.clip(round(NEIGHBOUR_MODELS * per_model), NEIGHBOURS_MIN, NEIGHBOURS_MAX))


def project_job(ws_path: str | Path, method: str = "umap", n_neighbors: int | None = None, min_dist: float = 0.1,
                seed: int = 0, should_cancel=None) -> Job[Path]:
    """Compute and store a 2-D projection of the embeddings (PCA instantly; UMAP in a subprocess).
    ``n_neighbors`` None: :func:`default_neighbors` of the workspace's states."""
    ws = load_workspace(ws_path)
    ws.require("embeddings")
    if n_neighbors is None:
        n_neighbors = default_neighbors(ws.states)
    if method == "pca":
        pca = pca_fit(ws.embeddings)
        proj = pca.to_projection()
    elif method == "umap":
        yield Progress(0, 2, "UMAP: starting a worker process (first fit compiles numba, ~20 s)")
        coords = umap_fit_in_subprocess(ws.embeddings, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed,
                                        should_cancel=should_cancel)
        proj = Projection("umap", coords, {"n_neighbors": n_neighbors, "min_dist": min_dist, "seed": seed})
    else:
        raise HyperVizError(f"projection method {method!r}: expected umap or pca")
    arrays, meta = proj.to_arrays()
    ws.projections[method] = {"coords": proj.coords, "params": {"meta": meta}, "arrays": {k: v for k, v in arrays.items() if k != "coords"}}
    yield Progress(2, 2, f"{method} done")
    return ws.save()


def stored_projection(ws, method: str) -> Projection:
    """The stored projection ``method`` of a loaded workspace (never recomputed)."""
    if method not in ws.projections:
        raise HyperVizError(f"{ws.path}: no {method} projection yet (run `hyperviz project {ws.path} --method {method}`)")
    p = ws.projections[method]
    return Projection.from_arrays({"coords": p["coords"], **p["arrays"]}, p["params"]["meta"], source=str(ws.path))
