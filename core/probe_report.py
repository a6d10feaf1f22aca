"""``hyperviz probe``: how well the hyper-representation predicts each property, beside s(W).

Properties: test accuracy, epoch and generalisation gap of every model state, each numeric
hyperparameter (ridge -> test R^2) and each categorical hyperparameter (linear classifier ->
test accuracy). Features: the workspace's embeddings, and the s(W) weight statistics of the
same states. Splits are the workspace's split by model.
"""
from __future__ import annotations

import numpy as np

from core.probes import ProbeResult, probe_table
from core.weight_stats import weight_statistics
from core.workspace import Workspace
from core.zoo_store import Zoo, read_zoo

STATE_PROPERTIES = ("test_acc", "epoch", "ggap")
NOT_PROPERTIES = {"model_id", "seed", "model"}


def state_properties(zoo: Zoo, states: np.ndarray) -> dict[str, np.ndarray]:
    """Every property of the model states ``states [n, 2]``: state columns, epoch, model columns."""
    mi, ci = states[:, 0], states[:, 1]
    table: dict[str, np.ndarray] = {"epoch": zoo.epochs[ci].astype(np.float64)}
    for name, col in zoo.states.items():
        table[name] = col[mi, ci].astype(np.float64)
    for name, col in zoo.models.items():
        table[name] = col[mi]
    return table


def probe_targets(zoo: Zoo, states: np.ndarray) -> dict[str, np.ndarray]:
    """The properties a probe report covers, in report order."""
    props = state_properties(zoo, states)
    targets = {name: props[name] for name in STATE_PROPERTIES if name in props}
    for name, col in zoo.models.items():
        if name not in NOT_PROPERTIES and len(np.unique(col)) > 1:
            targets[name] = col[states[:, 0]]
    return targets


def probe_workspace(ws: Workspace, zoo: Zoo | None = None) -> dict[str, dict[str, ProbeResult]]:
    """``{property: {"hyperrep": ProbeResult, "sw": ProbeResult}}`` on the held-out test models."""
    ws.require("embeddings")
    zoo = zoo or read_zoo(ws.zoo_path)
    weights = zoo.weights[ws.states[:, 0], ws.states[:, 1]]
    features = {"hyperrep": ws.embeddings.astype(np.float64), "sw": weight_statistics(zoo.arch, weights)}
    split = ws.split[ws.states[:, 0]]
    return probe_table(features, probe_targets(zoo, ws.states), split)


def probe_summary(results: dict[str, dict[str, ProbeResult]]) -> dict:
    """The JSON form printed by ``hyperviz probe --json``."""
    out = {}
    for prop, by_feature in results.items():
        first = next(iter(by_feature.values()))
        entry = {"metric": first.metric}
        for feature, result in by_feature.items():
            entry[feature] = None if not result.applicable or not np.isfinite(result.score) else round(float(result.score), 4)
        entry["n_test"] = first.n_test
        out[prop] = entry
    return {"properties": out}
