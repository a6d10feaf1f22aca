"""Embedding every model state of a workspace's zoo with its autoencoder (``hyperviz embed``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.device import resolve_device
from core.errors import HyperVizError
from core.hyperrep.codec import encode_weights
from core.hyperrep.fit import usable_states
from core.hyperrep.workspace import load_workspace
from core.progress import Job, Progress


def embed_job(ws_path: str | Path, device: str = "auto", batch: int = 512) -> Job[Path]:
    """Encode all usable states of the workspace's zoo; store ``states`` and ``embeddings``."""
    ws = load_workspace(ws_path)
    ws.require("autoencoder")
    zoo = ws.read_zoo()
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
