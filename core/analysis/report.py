"""``hyperviz probe``: how well the hyper-representation predicts each property, beside s(W).

Properties: test accuracy, epoch and generalisation gap of every model state, each numeric
hyperparameter (ridge -> test R^2) and each categorical hyperparameter (linear classifier ->
test accuracy). Features: the workspace's embeddings, and the s(W) weight statistics of the
same states; optionally also gradient-boosted trees on s(W) (the "ceiling" column). Splits are
the workspace's split by model. Each property's hyper-rep minus s(W) difference comes with a
paired bootstrap interval over the held-out test models, so a table read as "matches" or "beats"
says how sure that reading is.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from core.analysis.probes import ProbeResult, ScoreDifference, paired_bootstrap, probe_table
from core.errors import HyperVizError
from core.hyperrep.workspace import Workspace
from core.zoo.store import Zoo
from core.zoo.weight_stats import zoo_weight_statistics

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
    zoo = zoo or ws.read_zoo()
    rows = np.arange(len(ws.states)) if rows is None else np.asarray(rows)
    states = ws.states[rows]
    features = {"hyperrep": ws.embeddings[rows].astype(np.float64), "sw": zoo_weight_statistics(zoo, states)}
    if ceiling:
        features["sw_trees"] = features["sw"]
    table = probe_table(features, probe_targets(zoo, states), ws.split[states[:, 0]],
                        boosted=("sw_trees",) if ceiling else ())
    return {prop: {name: replace(r, test_rows=rows[r.test_rows]) if r.applicable else r for name, r in row.items()}
            for prop, row in table.items()}


def probe_by_group(ws: Workspace, zoo: Zoo, keys: list[str], rows: np.ndarray | None = None,
                   ceiling: bool = False) -> dict[str, dict[str, dict[str, ProbeResult]]]:
    """:func:`probe_workspace` within each group of models sharing the hyperparameters ``keys``
    (e.g. ``["optimizer", "lr", "activation"]``): ``{group label: results}``, labels like
    ``"optimizer=adam lr=0.01"``. ``rows`` restricts the states first. Within a group the keys
    themselves are constant, so their probes are not applicable; a group too small to have test
    models gives not-applicable results rather than an error."""
    unknown = [k for k in keys if k not in zoo.models or k in NOT_PROPERTIES]
    if unknown or not keys:
        known = ", ".join(sorted(k for k in zoo.models if k not in NOT_PROPERTIES))
        problem = "no keys given" if not keys else "unknown " + ", ".join(unknown)
        raise HyperVizError(f"grouping by {','.join(keys) or '(nothing)'}: {problem}; the zoo's model properties are {known}")
    rows = np.arange(len(ws.states)) if rows is None else np.asarray(rows)
    models = ws.states[rows, 0]
    labels = np.array([" ".join(f"{k}={zoo.models[k][m]}" for k in keys) for m in models])
    return {label: probe_workspace(ws, zoo, rows[labels == label], ceiling=ceiling) for label in sorted(set(labels))}


def group_summary(by_group: dict[str, dict[str, dict[str, ProbeResult]]]) -> dict:
    """Per property, over the groups where both probes apply: the median, min and max score of each
    feature set and the number of groups where the hyper-rep scores at least as well as s(W)."""
    out: dict[str, dict] = {}
    for results in by_group.values():
        for prop, row in results.items():
            if not all(r.applicable and np.isfinite(r.score) for r in row.values()):
                continue
            entry = out.setdefault(prop, {"metric": row["hyperrep"].metric, "scores": {k: [] for k in row}})
            for feature, r in row.items():
                entry["scores"][feature].append(float(r.score))
    summary = {}
    for prop, entry in out.items():
        scores = {k: np.asarray(v) for k, v in entry["scores"].items()}
        summary[prop] = {"metric": entry["metric"], "groups": int(len(scores["hyperrep"])),
                         "hyperrep_at_least_sw": int(np.sum(scores["hyperrep"] >= scores["sw"]))}
        for feature, v in scores.items():
            summary[prop][feature] = {"median": round(float(np.median(v)), 4), "min": round(float(v.min()), 4),
                                      "max": round(float(v.max()), 4)}
    return summary


def baseline_differences(results: dict[str, dict[str, ProbeResult]], states: np.ndarray,
                         n_boot: int = 2000, seed: int = 0) -> dict[str, ScoreDifference | None]:
    """Per property: hyper-rep score minus s(W) score, with a 95% paired bootstrap interval over the
    held-out test models (``states`` are the workspace's ``[n, 2]`` (model, checkpoint) rows that
    the results' ``test_rows`` index)."""
    out = {}
    for prop, row in results.items():
        a, b = row["hyperrep"], row["sw"]
        out[prop] = paired_bootstrap(a, b, states[a.test_rows, 0], n_boot=n_boot, seed=seed)   # None if n/a
    return out


def comparison_sentence(differences: dict[str, ScoreDifference | None]) -> str:
    """One line for people: on which properties either side is ahead beyond the 95% interval
    (from :func:`baseline_differences`), and how many cannot be told apart."""
    known = {name: d for name, d in differences.items() if d is not None}
    if not known:
        return "no property could be compared (too few test models)"
    n_models = max(d.n_groups for d in known.values())
    hr = [name for name, d in known.items() if d.low > 0]
    sw = [name for name, d in known.items() if d.high < 0]
    tied = len(known) - len(hr) - len(sw)
    parts = []
    if hr:
        parts.append(f"the hyper-rep is ahead on {', '.join(hr)}")
    if sw:
        parts.append(f"s(W) is ahead on {', '.join(sw)}")
    if tied:
        parts.append(f"{tied} of {len(known)} properties cannot be told apart")
    return f"paired bootstrap over {n_models} test models, 95%: " + "; ".join(parts)


def probe_summary(results: dict[str, dict[str, ProbeResult]],
                  differences: dict[str, ScoreDifference | None] | None = None) -> dict:
    """The JSON form printed by ``hyperviz probe --json``; with ``differences`` (from
    :func:`baseline_differences`) each property also gets ``hyperrep_minus_sw``:
    ``{"diff", "ci95": [low, high]}`` or None. ``penalty_at_grid_edge`` (only where it happens)
    names the feature sets whose chosen probe penalty lies at an end of the grid."""
    out = {}
    for prop, by_feature in results.items():
        first = next(iter(by_feature.values()))
        entry = {"metric": first.metric}
        for feature, result in by_feature.items():
            entry[feature] = None if not result.applicable or not np.isfinite(result.score) else round(float(result.score), 4)
        entry["n_test"] = first.n_test
        edges = sorted(f for f, r in by_feature.items() if r.at_grid_edge)
        if edges:
            entry["penalty_at_grid_edge"] = edges
        if differences is not None:
            d = differences.get(prop)
            entry["hyperrep_minus_sw"] = None if d is None else {
                "diff": round(d.diff, 4), "ci95": [round(d.low, 4), round(d.high, 4)], "test_models": d.n_groups}
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
    from core.hyperrep.fit import usable_states
    from core.hyperrep.windows import workspace_codec
    from core.zoo.population import evaluate_population
    from core.zoo.tasks import task_for_zoo

    zoo = zoo or ws.read_zoo()
    ws.require("autoencoder")
    dev = resolve_device(device)
    task = task_for_zoo(zoo.task, str(ws.zoo_path))
    states = ws.states if ws.states is not None else usable_states(zoo)
    acc = zoo.states["test_acc"][states[:, 0], states[:, 1]]
    keep = (ws.split[states[:, 0]] == "test") & (acc > min_acc)
    rows = states[keep]
    if len(rows) > max_states:
        rows = rows[np.random.default_rng(0).choice(len(rows), max_states, replace=False)]
    if len(rows) == 0:
        return {"states": 0, "mean_original_acc": None, "mean_reconstructed_acc": None, "mean_ratio": None}
    model = ws.autoencoder(dev)
    activation = zoo.models["activation"][rows[:, 0]]
    original = zoo.states["test_acc"][rows[:, 0], rows[:, 1]].astype(np.float64)
    rebuilt = np.empty(len(rows))
    x, y = (t.to(dev) for t in task.split("test"))
    names = zoo.model_archs()[rows[:, 0]]
    by_arch = {}
    for spec in zoo.archs:                        # each architecture through its own codec (zoos may mix them)
        pick = np.flatnonzero(names == spec.name)
        if not len(pick):
            continue
        codec = workspace_codec(ws, model, spec)
        weights = zoo.weights[rows[pick, 0], rows[pick, 1], : spec.n_params]
        recon = codec.decode(model, codec.encode(model, weights, dev, pooled=False), dev)
        for act in np.unique(activation[pick]):
            idx = np.flatnonzero(activation[pick] == act)
            _, a = evaluate_population(spec, torch.from_numpy(recon[idx]).to(dev), str(act), x, y)
            rebuilt[pick[idx]] = a.cpu().numpy()
        by_arch[spec.name] = {"states": int(len(pick)), "mean_original_acc": round(float(original[pick].mean()), 4),
                              "mean_reconstructed_acc": round(float(rebuilt[pick].mean()), 4)}
    extra = {"by_arch": by_arch} if zoo.is_mixed else {}
    return {"states": int(len(rows)), "mean_original_acc": round(float(original.mean()), 4),
            "mean_reconstructed_acc": round(float(rebuilt.mean()), 4),
            "mean_ratio": round(float((rebuilt / original).mean()), 4), **extra}
