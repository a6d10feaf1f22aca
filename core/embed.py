"""Embedding every model state and laying the embeddings out in 2-D (``hyperviz embed`` / ``project``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.device import resolve_device
from core.errors import HyperVizError
from core.fit import usable_states
from core.hyperrep import encode_weights
from core.progress import Job, Progress
from core.projection import Projection, pca_fit, umap_fit_in_subprocess
from core.workspace import load_workspace
from core.zoo_store import read_zoo


def embed_job(ws_path: str | Path, device: str = "auto", batch: int = 512) -> Job[Path]:
    """Encode all usable states of the workspace's zoo; store ``states`` and ``embeddings``."""
    ws = load_workspace(ws_path)
    ws.require("autoencoder")
    zoo = read_zoo(ws.zoo_path)
    if ws.training.get("arch") != zoo.arch.to_dict():
        raise HyperVizError(f"{ws_path}: its autoencoder was trained for another architecture than {zoo.arch.name!r}")
    dev = resolve_device(device)
    model = ws.autoencoder(dev)
    states = usable_states(zoo)
    out = []
    for s in range(0, len(states), batch):
        rows = states[s : s + batch]
        out.append(encode_weights(model, zoo.arch, zoo.weights[rows[:, 0], rows[:, 1]], dev, batch))
        yield Progress(min(s + batch, len(states)), len(states), "embedding")
    ws.states = states
    ws.embeddings = np.concatenate(out) if out else np.zeros((0, model.embedding_width), np.float32)
    ws.projections = {}
    return ws.save()


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
