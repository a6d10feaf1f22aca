"""``hyperviz probe``: how well the hyper-representation predicts each property, beside s(W).

Properties: test accuracy, epoch and generalisation gap of every model state, each numeric
hyperparameter (ridge -> test R^2) and each categorical hyperparameter (linear classifier ->
test accuracy). Features: the workspace's embeddings, and the s(W) weight statistics of the
same states; optionally also gradient-boosted trees on s(W) (the "ceiling" column). Splits are
the workspace's split by model.
"""
from __future__ import annotations

from dataclasses import replace

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


def probe_workspace(ws: Workspace, zoo: Zoo | None = None, rows: np.ndarray | None = None,
                    ceiling: bool = False) -> dict[str, dict[str, ProbeResult]]:
    """``{property: {"hyperrep": ProbeResult, "sw": ProbeResult}}`` on the held-out test models.

    With ``ceiling``, each row also has ``"sw_trees"``: gradient-boosted trees on the same s(W)
    statistics, an estimate of how much of the property the weight statistics hold at all (a
    linear probe of any representation that scores far below it is limited by the representation;
    one close to it, by the zoo).

    ``rows`` (indices into the workspace's states, default all) restricts every probe to a subset
    of model states, e.g. the trained ones; the split stays the workspace's split by model. A
    property that is constant within the subset is reported as not applicable. Every result's
    ``test_rows`` index the workspace's states."""
    ws.require("embeddings")
    zoo = zoo or read_zoo(ws.zoo_path)
    rows = np.arange(len(ws.states)) if rows is None else np.asarray(rows)
    states = ws.states[rows]
    weights = zoo.weights[states[:, 0], states[:, 1]]
    features = {"hyperrep": ws.embeddings[rows].astype(np.float64), "sw": weight_statistics(zoo.arch, weights)}
    if ceiling:
        features["sw_trees"] = features["sw"]
    table = probe_table(features, probe_targets(zoo, states), ws.split[states[:, 0]],
                        boosted=("sw_trees",) if ceiling else ())
    return {prop: {name: replace(r, test_rows=rows[r.test_rows]) if r.applicable else r for name, r in row.items()}
            for prop, row in table.items()}


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


def reconstruction_fidelity(ws: Workspace, zoo: Zoo | None = None, device: str = "auto", min_acc: float = 0.5,
                            max_states: int = 2000) -> dict:
    """Encode -> decode the held-out test models' states with test accuracy > ``min_acc`` and
    evaluate the reconstructed weights on the task: how much accuracy survives?

    Returns ``{"states", "mean_original_acc", "mean_reconstructed_acc", "mean_ratio"}`` where
    ``mean_ratio`` is the mean over states of reconstructed / original accuracy.
    """
    import torch

    from core.device import resolve_device
    from core.fit import usable_states
    from core.hyperrep import decode_latents, encode_weights
    from core.population import evaluate_population
    from core.tasks import get_task

    zoo = zoo or read_zoo(ws.zoo_path)
    ws.require("autoencoder")
    dev = resolve_device(device)
    task = get_task(zoo.task.get("name", ""))
    states = ws.states if ws.states is not None else usable_states(zoo)
    acc = zoo.states["test_acc"][states[:, 0], states[:, 1]]
    keep = (ws.split[states[:, 0]] == "test") & (acc > min_acc)
    rows = states[keep]
    if len(rows) > max_states:
        rows = rows[np.random.default_rng(0).choice(len(rows), max_states, replace=False)]
    if len(rows) == 0:
        return {"states": 0, "mean_original_acc": None, "mean_reconstructed_acc": None, "mean_ratio": None}
    model = ws.autoencoder(dev)
    weights = zoo.weights[rows[:, 0], rows[:, 1]]
    recon = decode_latents(model, zoo.arch, encode_weights(model, zoo.arch, weights, dev, pooled=False), dev)
    activation = zoo.models["activation"][rows[:, 0]]
    original = zoo.states["test_acc"][rows[:, 0], rows[:, 1]].astype(np.float64)
    rebuilt = np.empty(len(rows))
    x, y = (t.to(dev) for t in task.split("test"))
    for act in np.unique(activation):
        idx = np.flatnonzero(activation == act)
        _, a = evaluate_population(zoo.arch, torch.from_numpy(recon[idx]).to(dev), str(act), x, y)
        rebuilt[idx] = a.cpu().numpy()
    return {"states": int(len(rows)), "mean_original_acc": round(float(original.mean()), 4),
            "mean_reconstructed_acc": round(float(rebuilt.mean()), 4),
            "mean_ratio": round(float((rebuilt / original).mean()), 4)}
