"""Linear probes: how well do features (embeddings, s(W), raw weights) predict each property?

* Continuous properties: closed-form ridge regression in float64 with a non-penalised bias, on
  features standardised with the train split's statistics; the penalty is chosen by validation
  R^2 from a grid; reported as test ``R^2 = 1 - MSE / Var(y_test)`` (the protocol of the
  hyper-representation papers).
* Categorical properties (string labels): multinomial logistic regression (scikit-learn) on
  standardised features, ``C`` chosen by validation accuracy; reported as test accuracy.
* How sure is a comparison? :func:`paired_bootstrap` resamples the held-out test *models*
  (a model's checkpoints stay together) and gives an interval for the difference of two probes'
  scores on the same rows, so "the hyper-representation matches s(W)" can be read off.
* Optionally, a non-linear probe (:func:`boosted_probe`: gradient-boosted trees, the number of
  boosting rounds chosen by validation score). It is not part of the papers' protocol; on the
  s(W) statistics it estimates how much of a property the weight statistics hold at all, which
  tells a low linear score caused by the representation from one caused by the zoo.

Splits are by model (:func:`core.zoo.splits.split_by_model`): all checkpoints of a model land in one split, or the
scores leak. Problems with a single probe (a constant target, an empty split after dropping
missing values) give a :class:`ProbeResult` with ``applicable=False`` and a one-line ``reason``
instead of an exception, so a whole table can be computed at once.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from core.errors import HyperVizError

#: Penalty grids, wide enough that neither feature set's choice sits at an edge on the zoos measured
#: here (the chosen value at the edge means the best penalty may lie outside: ``at_grid_edge``).
#: Ridge's penalty is on the sum of squared errors of ~10k standardised rows, so 1e6 is a strong one;
#: the grid ends at 0 (no penalty), beyond which there is nothing to try.
DEFAULT_ALPHAS = np.append(np.logspace(6, -4, 21), 0.0)
DEFAULT_CS = tuple(float(c) for c in np.logspace(-4, 4, 9))
DEFAULT_ROUNDS = 300
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ProbeResult:
    """One probe of one property from one feature set.

    ``score`` is the test metric (``"r2"`` or ``"accuracy"``), ``val_score`` the validation metric
    at the chosen ``penalty`` (ridge ``alpha`` or logistic ``C``, named by ``penalty_name``).
    ``y_true`` / ``y_pred`` are the test rows that had a target, and ``test_rows`` their indices
    (into ``x_test`` for :func:`ridge_probe` / :func:`classifier_probe`, into the full table for
    :func:`probe_table`). ``val_curve`` lists ``(penalty, val_score)`` over the whole grid.
    When ``applicable`` is False, ``reason`` says why and the scores are NaN.
    """

    metric: str
    score: float = float("nan")
    val_score: float = float("nan")
    penalty: float = float("nan")
    penalty_name: str = ""
    n_train: int = 0
    n_val: int = 0
    n_test: int = 0
    y_true: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y_pred: np.ndarray = field(default_factory=lambda: np.zeros(0))
    test_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    val_curve: tuple[tuple[float, float], ...] = ()
    applicable: bool = True
    reason: str = ""
    note: str = ""

    @property
    def at_grid_edge(self) -> bool:
        """True when the chosen penalty is the smallest or largest of a grid of several values: the
        best penalty may lie outside the grid, so the score may understate the features. A ridge
        alpha of 0 (no penalty) is an end with nothing beyond it and is not flagged."""
        grid = [p for p, _ in self.val_curve]
        if not self.applicable or len(grid) < 2 or self.penalty == 0:
            return False
        return self.penalty in (min(grid), max(grid))

    def summary(self) -> str:
        """One line for tables and logs, e.g. ``r2 0.973 (val 0.970, alpha 1e-02, 700/150/150)``."""
        if not self.applicable:
            return f"n/a: {self.reason}"
        edge = ", at the grid edge" if self.at_grid_edge else ""
        return (
            f"{self.metric} {self.score:.3f} (val {self.val_score:.3f}, {self.penalty_name} {self.penalty:.0e}{edge}, "
            f"{self.n_train}/{self.n_val}/{self.n_test})"
        )


def _not_applicable(metric: str, reason: str, n: tuple[int, int, int] = (0, 0, 0)) -> ProbeResult:
    return ProbeResult(metric=metric, n_train=n[0], n_val=n[1], n_test=n[2], applicable=False, reason=reason)


# ---- helpers ---------------------------------------------------------------------------------
def _as_features(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise HyperVizError(f"{name}: features must be a [n, d] array, got shape {tuple(x.shape)}")
    return x


def _check_rows(x: np.ndarray, y: np.ndarray, name: str) -> None:
    if y.ndim != 1 or len(y) != len(x):
        raise HyperVizError(f"{name}: {len(x)} feature rows but target of shape {tuple(y.shape)}")


def _standardiser(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[~(std > 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0
    return mean, std


def _missing_labels(y: np.ndarray) -> np.ndarray:
    """Mask of missing categorical labels: None, NaN, or an empty string."""
    out = np.zeros(len(y), dtype=bool)
    for i, v in enumerate(y):
        if v is None or (isinstance(v, (float, np.floating)) and np.isnan(v)) or (isinstance(v, str) and v == ""):
            out[i] = True
    return out


def _varies(y: np.ndarray) -> bool:
    """True when ``y`` really varies: a variance above rounding noise. Values stored as float32
    (e.g. one learning rate, 0.001) can come back with a variance of 1e-34, and an R^2 over that
    is meaningless."""
    y = np.asarray(y, dtype=np.float64)
    return len(y) >= 2 and float(np.var(y)) > 1e-12 * max(float(np.mean(y * y)), 1e-300)


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    if not _varies(y):
        return float("nan")
    var = float(np.var(y))
    return 1.0 - float(np.mean((y - pred) ** 2)) / var


def _prepare_splits(probe: str, metric: str, splits):
    """Check and clean the (x, y) of train/val/test: rows without a target are dropped.

    ``metric`` "r2" reads targets as numbers (NaN = missing), "accuracy" as labels compared as
    strings (None, NaN or "" = missing). Returns ``([(x, y, kept row indices)] * 3, counts)``,
    or a not-applicable :class:`ProbeResult` when a split has no row with a target, the kept
    features are not all finite, or the train targets cannot be learnt from (one class, fewer than
    2 values, no variance). Mismatched shapes raise :class:`HyperVizError`.
    """
    labels = metric == "accuracy"
    parts = []
    for (x, y), name in zip(splits, SPLITS):
        x = _as_features(x, f"{probe} ({name})")
        y = np.asarray(y, dtype=object if labels else np.float64)
        _check_rows(x, y, f"{probe} ({name})")
        keep = ~_missing_labels(y) if labels else np.isfinite(y)
        parts.append((x[keep], y[keep].astype(str) if labels else y[keep], np.flatnonzero(keep)))
    counts = tuple(len(p[1]) for p in parts)
    if len({p[0].shape[1] for p in parts}) != 1:
        raise HyperVizError(f"{probe}: splits have different feature widths {[p[0].shape[1] for p in parts]}")
    for n, name in zip(counts, SPLITS):
        if n == 0:
            return _not_applicable(metric, f"no rows with {'a label' if labels else 'a value'} in the {name} split", counts)
    if not all(np.isfinite(p[0]).all() for p in parts):
        return _not_applicable(metric, "features contain NaN or infinite values", counts)
    yt = parts[0][1]
    if labels and len(np.unique(yt)) < 2:
        return _not_applicable(metric, f"only one class on the train split ({yt[0]!r})", counts)
    if not labels and len(yt) < 2:
        return _not_applicable(metric, "fewer than 2 train rows with a value", counts)
    if not labels and not _varies(yt):
        return _not_applicable(metric, "target is constant on the train split", counts)
    return parts, counts


def _test_note(ys: np.ndarray, score: float, classes=None) -> str:
    """What a reader of a test score must know: for labels (``classes`` given, those the train
    split had) the test rows of other classes, which count as wrong; for numbers a test target
    without variance (``score`` NaN: R^2 undefined)."""
    if classes is not None:
        unseen = ~np.isin(ys, classes)
        if not unseen.any():
            return ""
        names = ", ".join(sorted(set(ys[unseen].tolist())))
        return f"{int(unseen.sum())} test rows have classes not seen in train ({names}); they count as wrong"
    return "target is constant on the test split; R^2 undefined" if np.isnan(score) else ""


# ---- ridge -----------------------------------------------------------------------------------
def ridge_probe(
    x_train, y_train, x_val, y_val, x_test, y_test, alphas=DEFAULT_ALPHAS
) -> ProbeResult:
    """Closed-form ridge regression; alpha chosen by validation R^2; reports test R^2.

    Rows whose target is NaN are dropped per split. Features are standardised with the train
    mean/std (constant features become zero columns); the bias is fitted, not penalised (targets
    are centred with the train mean). The penalty is on the sum of squared errors:
    ``w = argmin |X w - y|^2 + alpha |w|^2``. Ties in validation score go to the larger alpha.
    """
    prepared = _prepare_splits("ridge probe", "r2", ((x_train, y_train), (x_val, y_val), (x_test, y_test)))
    if isinstance(prepared, ProbeResult):
        return prepared
    parts, counts = prepared
    (xt, yt, _), (xv, yv, _), (xs, ys, test_rows) = parts

    mean, std = _standardiser(xt)
    xt, xv, xs = ((x - mean) / std for x in (xt, xv, xs))
    y_mean = yt.mean()
    # Thin SVD once; every alpha is then a cheap reweighting: w = V diag(s/(s^2+a)) U^T y.
    u, s, vt = np.linalg.svd(xt, full_matrices=False)
    uty = u.T @ (yt - y_mean)
    alphas = np.sort(np.asarray(alphas, dtype=np.float64).ravel())[::-1]
    if len(alphas) == 0 or np.any(alphas < 0):
        raise HyperVizError("ridge probe: alphas must be a non-empty list of non-negative numbers")
    best = None
    curve = []
    for alpha in alphas:
        with np.errstate(divide="ignore", invalid="ignore"):
            shrink = np.where(s > 0, s / (s * s + alpha), 0.0) if alpha > 0 else np.where(s > 1e-12 * s.max(), 1.0 / s, 0.0)
        w = vt.T @ (shrink * uty)
        mse = float(np.mean((xv @ w + y_mean - yv) ** 2))
        curve.append((float(alpha), _r2(yv, xv @ w + y_mean)))
        if best is None or mse < best[0] - 1e-12 * max(1.0, best[0]):
            best = (mse, float(alpha), w)
    _, alpha, w = best
    pred = xs @ w + y_mean
    val_score = _r2(yv, xv @ w + y_mean)
    score = _r2(ys, pred)
    note = _test_note(ys, score)
    return ProbeResult(
        metric="r2", score=score, val_score=val_score, penalty=alpha, penalty_name="alpha",
        n_train=counts[0], n_val=counts[1], n_test=counts[2], y_true=ys, y_pred=pred,
        test_rows=test_rows, val_curve=tuple(curve), note=note,
    )


# ---- classifier ------------------------------------------------------------------------------
def classifier_probe(
    x_train, y_train, x_val, y_val, x_test, y_test, cs=DEFAULT_CS, max_iter: int = 150
) -> ProbeResult:
    """Multinomial logistic regression on standardised features; C chosen by validation accuracy.

    Fitted with full-batch L-BFGS in float64 (torch), the objective of scikit-learn's
    ``LogisticRegression(C)``, warm-started from the strongest penalty to the weakest: a few
    hundred milliseconds for 10k rows, where scikit-learn took tens of seconds here.

    Labels are compared as strings; missing labels (None, NaN, "") are dropped per split. A class
    seen only in val/test cannot be predicted and simply counts as wrong (``note`` says so). A
    single class on the train split gives ``applicable=False``. Ties go to the smaller C.
    """
    prepared = _prepare_splits("classifier probe", "accuracy", ((x_train, y_train), (x_val, y_val), (x_test, y_test)))
    if isinstance(prepared, ProbeResult):
        return prepared
    parts, counts = prepared
    (xt, yt, _), (xv, yv, _), (xs, ys, test_rows) = parts
    classes = np.unique(yt)

    mean, std = _standardiser(xt)
    xt, xv, xs = ((x - mean) / std for x in (xt, xv, xs))
    label = {name: i for i, name in enumerate(classes)}
    yt_idx = np.array([label[v] for v in yt])
    best = None
    curve = []
    weights = None
    for c in sorted((float(c) for c in cs), reverse=False):   # strong -> weak penalty, warm-started
        weights = _fit_softmax(xt, yt_idx, len(classes), 1.0 / (c * len(yt)), max_iter, weights)
        pred_v = classes[_predict_softmax(xv, weights)]
        acc = float(np.mean(pred_v == yv))
        curve.append((c, acc))
        if best is None or acc > best[0]:
            best = (acc, c, weights.clone())
    if best is None:
        raise HyperVizError("classifier probe: cs must be a non-empty list of positive numbers")
    val_score, c, weights = best
    pred = classes[_predict_softmax(xs, weights)]
    score = float(np.mean(pred == ys))
    return ProbeResult(
        metric="accuracy", score=score, val_score=val_score, penalty=c, penalty_name="C",
        n_train=counts[0], n_val=counts[1], n_test=counts[2], y_true=ys, y_pred=pred,
        test_rows=test_rows, val_curve=tuple(curve), note=_test_note(ys, score, classes),
    )


def _fit_softmax(x: np.ndarray, y: np.ndarray, n_classes: int, l2: float, max_iter: int, init=None):
    """Multinomial logistic regression (float64, full-batch L-BFGS): mean cross-entropy +
    ``l2/2 * |W|^2`` (bias not penalised), i.e. scikit-learn's objective with ``l2 = 1/(C n)``.
    Returns the ``[d + 1, K]`` weights (last row: bias)."""
    import torch
    import torch.nn.functional as F

    xb = torch.from_numpy(np.hstack([x, np.ones((len(x), 1))]))
    target = torch.from_numpy(y)
    w = (init.clone() if init is not None else torch.zeros(xb.shape[1], n_classes, dtype=torch.float64)).requires_grad_(True)
    opt = torch.optim.LBFGS([w], lr=1.0, max_iter=max_iter, tolerance_grad=1e-6, tolerance_change=1e-10,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(xb @ w, target) + 0.5 * l2 * (w[:-1] ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach()


def _predict_softmax(x: np.ndarray, w) -> np.ndarray:
    scores = np.hstack([x, np.ones((len(x), 1))]) @ w.numpy()
    return scores.argmax(1)


# ---- gradient-boosted trees -------------------------------------------------------------------
def boosted_probe(
    x_train, y_train, x_val, y_val, x_test, y_test, categorical: bool = False,
    max_rounds: int = DEFAULT_ROUNDS, seed: int = 0,
) -> ProbeResult:
    """Gradient-boosted trees (scikit-learn's histogram GBM): a non-linear probe.

    One model with ``max_rounds`` boosting rounds is fitted on the train split; the number of
    rounds used for the test score is the one with the best validation score (R^2 for numbers,
    accuracy for labels; ties go to fewer rounds), so the validation split plays the role the
    penalty grid plays for the linear probes. ``penalty`` holds that number of rounds
    (``penalty_name`` ``"rounds"``). Rows without a target are dropped per split, as in the
    linear probes; a class seen only in val/test counts as wrong.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if int(max_rounds) < 1:
        raise HyperVizError(f"boosted probe: max_rounds must be >= 1, got {max_rounds}")
    metric = "accuracy" if categorical else "r2"
    prepared = _prepare_splits("boosted probe", metric, ((x_train, y_train), (x_val, y_val), (x_test, y_test)))
    if isinstance(prepared, ProbeResult):
        return prepared
    parts, counts = prepared
    (xt, yt, _), (xv, yv, _), (xs, ys, test_rows) = parts

    cls = HistGradientBoostingClassifier if categorical else HistGradientBoostingRegressor
    model = cls(max_iter=int(max_rounds), learning_rate=0.1, early_stopping=False, random_state=seed).fit(xt, yt)
    score_of = (lambda y, p: float(np.mean(p == y))) if categorical else _r2
    best, curve = None, []
    for rounds, (pred_v, pred_s) in enumerate(zip(model.staged_predict(xv), model.staged_predict(xs)), start=1):
        val = score_of(yv, pred_v)
        curve.append((float(rounds), val))
        if best is None or val > best[0]:
            best = (val, rounds, pred_s)
    val_score, rounds, pred = best
    score = score_of(ys, pred)
    note = _test_note(ys, score, model.classes_ if categorical else None)
    return ProbeResult(
        metric=metric, score=score, val_score=val_score, penalty=float(rounds), penalty_name="rounds",
        n_train=counts[0], n_val=counts[1], n_test=counts[2], y_true=ys, y_pred=pred,
        test_rows=test_rows, val_curve=tuple(curve), note=note,
    )


# ---- comparing two probes ---------------------------------------------------------------------
@dataclass(frozen=True)
class ScoreDifference:
    """``score(a) - score(b)`` on the same test rows, with a paired bootstrap interval over groups:
    ``low > 0`` means ``a`` is ahead at that ``level``, ``high < 0`` that ``b`` is, otherwise the
    test data cannot tell them apart."""

    diff: float
    low: float
    high: float
    level: float
    n_groups: int


def paired_bootstrap(a: ProbeResult, b: ProbeResult, groups, n_boot: int = 2000, level: float = 0.95,
                     seed: int = 0) -> ScoreDifference | None:
    """Percentile interval of ``a.score - b.score``, resampling whole groups (models) with replacement.

    ``a`` and ``b`` are probes of one property from two feature sets, tested on the same rows
    (``test_rows`` equal, as :func:`probe_table` gives for one target); ``groups`` holds the group
    (model id) of each of those rows. Both scores are recomputed on every resample from the stored
    predictions, so the interval reflects which test models happened to be drawn, not the fit.
    Returns None when either probe is not applicable or the test split has fewer than 2 groups.
    """
    if not 0 < level < 1 or int(n_boot) < 1:
        raise HyperVizError(f"paired bootstrap: level {level} must lie in (0, 1) and n_boot {n_boot} be >= 1")
    if not (a.applicable and b.applicable) or a.metric != b.metric:
        return None
    if not np.array_equal(a.test_rows, b.test_rows):
        raise HyperVizError("paired bootstrap: the two probes were tested on different rows")
    groups = np.asarray(groups)
    if groups.shape != a.test_rows.shape:
        raise HyperVizError(f"paired bootstrap: {len(groups)} group labels for {len(a.test_rows)} test rows")
    _, g = np.unique(groups, return_inverse=True)
    g = g.ravel()
    m = int(g.max()) + 1 if len(g) else 0
    if m < 2:
        return None
    per_group = lambda v: np.bincount(g, weights=v, minlength=m)  # noqa: E731
    if a.metric == "accuracy":
        stats = [per_group(np.asarray(r.y_pred).astype(str) == np.asarray(r.y_true).astype(str)) for r in (a, b)]
        n = per_group(np.ones(len(g)))
        score = lambda w, correct: (w @ correct) / (w @ n)  # noqa: E731
    else:
        y = np.asarray(a.y_true, dtype=np.float64)
        n, sy, syy = per_group(np.ones(len(g))), per_group(y), per_group(y * y)
        stats = [per_group((y - np.asarray(r.y_pred, dtype=np.float64)) ** 2) for r in (a, b)]

        def score(w, sse):
            total = w @ n
            var = w @ syy - (w @ sy) ** 2 / total
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(var > 1e-12 * (w @ syy), 1.0 - (w @ sse) / var, np.nan)   # as _varies
    ones = np.ones(m)
    diff = float(score(ones, stats[0]) - score(ones, stats[1]))
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, m, m), minlength=m) for _ in range(int(n_boot))]).astype(np.float64)
    d = np.asarray(score(counts, stats[0]) - score(counts, stats[1]), dtype=np.float64)      # [n_boot]
    d = d[np.isfinite(d)]
    if len(d) == 0 or not np.isfinite(diff):
        return None
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(d, [tail, 100 - tail])
    return ScoreDifference(diff=diff, low=float(low), high=float(high), level=float(level), n_groups=m)


# ---- tables and splits ---------------------------------------------------------------------
def is_categorical(values) -> bool:
    """True for string / object / bool targets (classifier probe), False for numbers (ridge)."""
    return np.asarray(values).dtype.kind in "USOb"


def probe_table(
    features: dict[str, np.ndarray],
    targets: dict[str, np.ndarray],
    split: np.ndarray,
    alphas=DEFAULT_ALPHAS,
    cs=DEFAULT_CS,
    boosted=(),
) -> dict[str, dict[str, ProbeResult]]:
    """``result[property][feature_name]``: a probe of every property from every feature set.

    ``features`` maps a name (e.g. ``"embedding"``, ``"s(W)"``) to ``[n, d]``; ``targets`` maps a
    property to ``[n]``; ``split`` holds ``"train"``/``"val"``/``"test"`` per row. Numeric targets
    get a ridge probe (R^2), string/object/bool targets a classifier probe (accuracy). A target that
    is constant on the train split gives ``applicable=False`` with the probe's reason. Feature sets
    named in ``boosted`` get the non-linear :func:`boosted_probe` instead of the linear probes.
    ``test_rows`` of each result index the full table.
    """
    split = np.asarray(split).astype(str)
    n = len(split)
    bad = set(np.unique(split)) - set(SPLITS)
    if bad:
        raise HyperVizError(f"split: unknown labels {sorted(bad)} (expected train, val, test)")
    masks = {name: split == name for name in SPLITS}
    test_index = np.flatnonzero(masks["test"])
    unknown = set(boosted) - set(features)
    if unknown:
        raise HyperVizError(f"boosted probes asked for unknown feature sets {sorted(unknown)}")
    feats = {}
    for fname, x in features.items():
        x = _as_features(x, f"feature {fname!r}")
        if len(x) != n:
            raise HyperVizError(f"feature {fname!r}: {len(x)} rows but the split has {n}")
        feats[fname] = x
    table: dict[str, dict[str, ProbeResult]] = {}
    for prop, y in targets.items():
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != n:
            raise HyperVizError(f"property {prop!r}: shape {tuple(y.shape)} does not match the {n} rows of the split")
        categorical = is_categorical(y)
        row: dict[str, ProbeResult] = {}
        for fname, x in feats.items():
            if fname in boosted:
                probe, kwargs = boosted_probe, {"categorical": categorical}
            elif categorical:
                probe, kwargs = classifier_probe, {"cs": cs}
            else:
                probe, kwargs = ridge_probe, {"alphas": alphas}
            res = probe(
                x[masks["train"]], y[masks["train"]], x[masks["val"]], y[masks["val"]],
                x[masks["test"]], y[masks["test"]], **kwargs,
            )
            if res.applicable:
                res = replace(res, test_rows=test_index[res.test_rows])
            row[fname] = res
        table[prop] = row
    return table
