"""How much a 2-D map shows (``hyperviz probe --map``).

A map is only as useful as what its neighbourhoods mean: if the states near a held-out model in
the map share its activation, accuracy and training progress, a user who brushes a region of the
map brushes models that are alike. The score here asks exactly that: for every state of a held-out
*test* model (the workspace's split by model), its ``k`` nearest *training*-model states in the
2-D map predict its property (majority vote for a category: accuracy; mean for a number: R^2).

The same score on a UMAP of the standardised s(W) weight statistics, with the same UMAP settings,
is the baseline: a hyper-representation's map should show at least as much as a map of the
statistics a linear probe reads so well.
"""
from __future__ import annotations

import numpy as np

from core.analysis.probes import is_categorical
from core.analysis.report import probe_targets
from core.errors import HyperVizError
from core.zoo.weight_stats import weight_statistics

DEFAULT_K = 10


def neighbour_scores(coords: np.ndarray, targets: dict[str, np.ndarray], split: np.ndarray,
                     k: int = DEFAULT_K) -> dict[str, dict]:
    """``{property: {"metric", "score"}}``: ``k`` nearest training rows in ``coords [n, 2]`` predict
    each test row's value (``split`` holds ``"train"``/``"val"``/``"test"`` per row). A property
    constant on the training rows or without test rows scores ``None``."""
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    coords = np.asarray(coords, dtype=np.float64)
    split = np.asarray(split).astype(str)
    if coords.ndim != 2 or len(coords) != len(split):
        raise HyperVizError(f"map coordinates of shape {coords.shape} do not fit the {len(split)} rows of the split")
    if not np.all(np.isfinite(coords)):
        raise HyperVizError("map coordinates hold NaN or infinite values")
    train, test = split == "train", split == "test"
    out: dict[str, dict] = {}
    for name, y in targets.items():
        y = np.asarray(y)
        categorical = is_categorical(y)
        metric = "accuracy" if categorical else "R^2"
        known = np.ones(len(y), bool) if categorical else np.isfinite(y.astype(np.float64))
        tr, te = train & known, test & known
        if tr.sum() <= k or te.sum() == 0 or len(np.unique(y[tr])) < 2:
            out[name] = {"metric": metric, "score": None}
            continue
        if categorical:
            model = KNeighborsClassifier(n_neighbors=k).fit(coords[tr], y[tr].astype(str))
            score = float(np.mean(model.predict(coords[te]) == y[te].astype(str)))
        else:
            yt, ye = y[tr].astype(np.float64), y[te].astype(np.float64)
            pred = KNeighborsRegressor(n_neighbors=k).fit(coords[tr], yt).predict(coords[te])
            ss = float(np.sum((ye - ye.mean()) ** 2))
            score = float(1.0 - np.sum((ye - pred) ** 2) / ss) if ss > 0 else None
        out[name] = {"metric": metric, "score": score}
    return out


def standardised_statistics(zoo, states: np.ndarray, split: np.ndarray) -> np.ndarray:
    """s(W) of ``states``, every feature standardised on the training rows (the input of the
    baseline map: raw statistics would let the largest variance decide every distance)."""
    sw = weight_statistics(zoo.arch, zoo.weights[states[:, 0], states[:, 1]])
    train = np.asarray(split).astype(str) == "train"
    mean, std = sw[train].mean(0), sw[train].std(0)
    return ((sw - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


def map_report(ws, zoo, method: str = "umap", k: int = DEFAULT_K, baseline: bool = True,
               should_cancel=None) -> dict:
    """Neighbour scores of the workspace's stored ``method`` map and, with ``baseline``, of the
    same projection of standardised s(W) (UMAP in a worker process with the stored map's settings;
    PCA in place): ``{"method", "k", "properties": {name: {"metric", "map", "sw_map"}}}``."""
    from core.analysis.maps import stored_projection
    from core.analysis.projection import pca_fit, umap_fit_in_subprocess

    proj = stored_projection(ws, method)
    split = ws.split[ws.states[:, 0]]
    targets = probe_targets(zoo, ws.states)
    mine = neighbour_scores(proj.coords, targets, split, k)
    theirs = None
    if baseline:
        x = standardised_statistics(zoo, ws.states, split)
        if method == "pca":
            coords = pca_fit(x).coords
        else:
            p = proj.params
            coords = umap_fit_in_subprocess(x, n_neighbors=int(p.get("n_neighbors", 15)),
                                            min_dist=float(p.get("min_dist", 0.1)), seed=p.get("seed", 0),
                                            should_cancel=should_cancel)
        theirs = neighbour_scores(coords, targets, split, k)
    return {"method": method, "k": k,
            "properties": {name: {"metric": row["metric"], "map": row["score"],
                                  "sw_map": None if theirs is None else theirs[name]["score"]}
                           for name, row in mine.items()}}
