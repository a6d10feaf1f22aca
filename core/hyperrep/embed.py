"""Embedding every model state of a workspace's zoo with its autoencoder (``hyperviz embed``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.device import resolve_device
from core.errors import HyperVizError
from core.hyperrep.fit import usable_states
from core.hyperrep.windows import encode_states, is_windowed
from core.hyperrep.workspace import load_workspace
from core.progress import Job


def embed_job(ws_path: str | Path, device: str = "auto", batch: int = 512) -> Job[Path]:
    """Encode all usable states of the workspace's zoo; store ``states`` and ``embeddings``
    (never NaN or infinite ones: :func:`check_finite_embeddings`)."""
    ws = load_workspace(ws_path)
    ws.require("autoencoder")
    zoo = ws.read_zoo()                          # checks that the autoencoder was trained for the zoo's architectures
    if not is_windowed(ws.training) and ws.training.get("arch") != zoo.single_arch("an autoencoder of one architecture").to_dict():
        raise HyperVizError(f"{ws_path}: its autoencoder was trained for another architecture than {zoo.arch.name!r}")
    dev = resolve_device(device)
    model = ws.autoencoder(dev)
    states = usable_states(zoo)
    embeddings = yield from encode_states(ws, model, zoo, states, dev, batch)
    check_finite_embeddings(ws_path, embeddings, ws.ae_tensors)
    ws.states = states
    ws.embeddings = embeddings
    ws.projections = {}
    return ws.save()


def check_finite_embeddings(ws_path, embeddings: np.ndarray, ae_tensors: dict) -> None:
    """Refuse, in one line, to store embeddings with NaN or infinite values (the states' weights
    are finite - usable_states keeps only those - so the autoencoder is at fault)."""
    bad_rows = int(np.count_nonzero(~np.isfinite(embeddings).all(axis=1))) if embeddings.size else 0
    if not bad_rows:
        return
    bad_tensor_values = sum(int(np.size(v) - np.count_nonzero(np.isfinite(v))) for v in ae_tensors.values()
                            if np.issubdtype(np.asarray(v).dtype, np.floating))
    cause = (f"its autoencoder holds {bad_tensor_values} non-finite parameter values" if bad_tensor_values
             else "the autoencoder overflows on them")
    raise HyperVizError(f"{ws_path}: {bad_rows} of {len(embeddings)} model states embed to NaN or infinite values "
                        f"({cause}); nothing stored - refit the autoencoder (`hyperviz fit`)")
