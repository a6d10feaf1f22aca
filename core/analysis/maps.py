"""Laying the embeddings out in 2-D and reading stored maps back (``hyperviz project``).

Projections are computed once and stored in the workspace; opening a workspace never recomputes
them. PCA is instant; UMAP runs in a worker process so that it can be cancelled.
"""
from __future__ import annotations

from pathlib import Path

from core.analysis.projection import Projection, pca_fit, umap_fit_in_subprocess
from core.errors import HyperVizError
from core.hyperrep.workspace import load_workspace
from core.progress import Job, Progress


def project_job(ws_path: str | Path, method: str = "umap", n_neighbors: int = 15, min_dist: float = 0.1,
                seed: int = 0, should_cancel=None) -> Job[Path]:
    """Compute and store a 2-D projection of the embeddings (PCA instantly; UMAP in a subprocess)."""
    ws = load_workspace(ws_path)
    ws.require("embeddings")
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
