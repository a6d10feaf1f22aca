from dataclasses import replace

import numpy as np
import pytest

from core.analysis.probes import (
    DEFAULT_ALPHAS,
    ProbeResult,
    boosted_probe,
    classifier_probe,
    paired_bootstrap,
    probe_table,
    ridge_probe,
)
from core.errors import HyperVizError
from core.zoo.splits import split_by_model


def _splits(x, y, n_train=200, n_val=60):
    return (x[:n_train], y[:n_train], x[n_train : n_train + n_val], y[n_train : n_train + n_val],
            x[n_train + n_val :], y[n_train + n_val :])


def test_ridge_recovers_planted_linear_property():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((320, 16)) * rng.uniform(0.1, 10, 16) + 5.0
    w = rng.standard_normal(16)
    y = x @ w + 3.0 + 0.05 * rng.standard_normal(320)
    res = ridge_probe(*_splits(x, y))
    assert isinstance(res, ProbeResult) and res.applicable and res.metric == "r2"
    assert res.score > 0.95 and res.val_score > 0.95
    assert (res.n_train, res.n_val, res.n_test) == (200, 60, 60)
    assert res.y_pred.shape == res.y_true.shape == (60,)
    assert len(res.val_curve) == len(DEFAULT_ALPHAS)


def test_ridge_on_noise_is_near_zero_and_picks_large_alpha():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((260, 40))
    y = rng.standard_normal(260)
    res = ridge_probe(*_splits(x, y, n_train=100, n_val=80))
    assert res.score < 0.1
    assert res.penalty >= 1e2


def test_ridge_drops_nan_targets_and_flags_constant():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((100, 4))
    y = x[:, 0] * 2.0
    y[[0, 5, 70, 95]] = np.nan
    res = ridge_probe(*_splits(x, y, n_train=60, n_val=20))
    assert (res.n_train, res.n_val, res.n_test) == (58, 19, 19)
    assert res.score > 0.99
    assert list(res.test_rows) == [i for i in range(20) if i != 15]
    const = ridge_probe(*_splits(x, np.ones(100), n_train=60, n_val=20))
    assert not const.applicable and "constant" in const.reason


def _planted_classes(n, seed):
    rng = np.random.default_rng(seed)
    labels = np.array(["relu", "tanh", "gelu"])
    y = labels[rng.integers(0, 3, n)]
    centers = rng.standard_normal((3, 8)) * 3
    x = centers[np.searchsorted(np.sort(labels), y)] + 0.5 * rng.standard_normal((n, 8))
    return x, y


def test_classifier_recovers_planted_categorical():
    x, y = _planted_classes(300, 3)
    res = classifier_probe(*_splits(x, y, n_train=180, n_val=60))
    assert res.applicable and res.metric == "accuracy" and res.penalty_name == "C"
    assert res.score > 0.9
    assert res.y_pred.dtype.kind == "U" and set(res.y_pred) <= {"relu", "tanh", "gelu"}


def test_classifier_single_class_and_unseen_class():
    x, y = _planted_classes(120, 4)
    single = classifier_probe(x[:60], np.array(["adam"] * 60), x[60:90], y[60:90], x[90:], y[90:])
    assert not single.applicable and "one class" in single.reason
    y_test = y[90:].copy()
    y_test[:3] = "sgd"  # only in test
    res = classifier_probe(x[:60], y[:60], x[60:90], y[60:90], x[90:], y_test)
    assert res.applicable and "sgd" in res.note and res.score <= 27 / 30


def test_boosted_probe_reads_a_property_that_linear_probes_miss():
    rng = np.random.default_rng(11)
    x = rng.uniform(-1, 1, (600, 5))
    y = np.abs(x[:, 0]) + 0.02 * rng.standard_normal(600)          # symmetric: no linear signal
    parts = _splits(x, y, n_train=400, n_val=100)
    assert ridge_probe(*parts).score < 0.1
    res = boosted_probe(*parts, max_rounds=60)
    assert res.applicable and res.metric == "r2" and res.penalty_name == "rounds"
    assert res.score > 0.9 and res.val_score > 0.9
    assert 1 <= res.penalty <= 60 and len(res.val_curve) == 60
    assert res.val_score == max(v for _, v in res.val_curve)
    assert res.y_pred.shape == res.y_true.shape == (100,)
    # labels: an XOR of two features, which no linear classifier separates
    labels = np.where((x[:, 0] > 0) == (x[:, 1] > 0), "relu", "tanh")
    parts = _splits(x, labels, n_train=400, n_val=100)
    assert classifier_probe(*parts).score < 0.7
    res = boosted_probe(*parts, categorical=True, max_rounds=60)
    assert res.metric == "accuracy" and res.score > 0.9 and set(res.y_pred) <= {"relu", "tanh"}


def test_boosted_probe_bad_and_degenerate_inputs():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((90, 3))
    res = boosted_probe(*_splits(x, np.full(90, 2.0), n_train=60, n_val=15), max_rounds=5)
    assert not res.applicable and "constant" in res.reason
    y = x[:, 0].copy()
    y[60:75] = np.nan                                                # no validation targets
    res = boosted_probe(*_splits(x, y, n_train=60, n_val=15), max_rounds=5)
    assert not res.applicable and "val" in res.reason
    labels = np.where(x[:, 0] > 0, "adam", "sgd").astype(object)
    labels[75:78] = "rmsprop"                                        # a class only the test split has
    res = boosted_probe(*_splits(x, labels, n_train=60, n_val=15), categorical=True, max_rounds=5)
    assert res.applicable and "not seen in train" in res.note and res.score <= 12 / 15
    with pytest.raises(HyperVizError, match="max_rounds"):
        boosted_probe(*_splits(x, x[:, 0], n_train=60, n_val=15), max_rounds=0)


def _tested(y_true, y_pred, metric="r2"):
    rows = np.arange(len(y_true))
    score = float(np.mean(y_pred == y_true)) if metric == "accuracy" else 1 - np.mean((y_true - y_pred) ** 2) / np.var(y_true)
    return ProbeResult(metric=metric, score=score, y_true=y_true, y_pred=y_pred, test_rows=rows)


def test_paired_bootstrap_separates_a_better_probe_and_not_a_tie():
    rng = np.random.default_rng(13)
    groups = np.repeat(np.arange(40), 5)                             # 40 test models x 5 checkpoints
    y = rng.standard_normal(200)
    good, poor = _tested(y, y + 0.2 * rng.standard_normal(200)), _tested(y, y + 0.8 * rng.standard_normal(200))
    d = paired_bootstrap(good, poor, groups, n_boot=500)
    assert d.diff == pytest.approx(good.score - poor.score)
    assert 0 < d.low <= d.diff <= d.high and d.n_groups == 40 and d.level == 0.95
    flipped = paired_bootstrap(poor, good, groups, n_boot=500)
    assert flipped.high < 0
    same = paired_bootstrap(good, good, groups, n_boot=200)
    assert same.diff == same.low == same.high == 0.0
    # accuracy probes, and the same seed gives the same interval
    labels = np.array(["relu", "tanh"])[rng.integers(0, 2, 200)]
    wrong = labels.copy()
    wrong[::4] = np.where(wrong[::4] == "relu", "tanh", "relu")          # 25% wrong
    acc = paired_bootstrap(_tested(labels, labels, "accuracy"), _tested(labels, wrong, "accuracy"), groups, n_boot=300)
    assert acc.diff == pytest.approx(0.25) and 0 < acc.low <= 0.25 <= acc.high
    again = paired_bootstrap(_tested(labels, labels, "accuracy"), _tested(labels, wrong, "accuracy"), groups, n_boot=300)
    assert (again.low, again.high) == (acc.low, acc.high)


def test_paired_bootstrap_resamples_whole_models():
    # each model's rows share one error: resampling rows would treat 10 rows as 10 draws, models as 1
    rng = np.random.default_rng(14)
    groups = np.repeat(np.arange(8), 10)
    y = rng.standard_normal(80)
    noisy = _tested(y, y + np.repeat(rng.standard_normal(8), 10))
    d_models = paired_bootstrap(noisy, _tested(y, y), groups, n_boot=400)
    d_rows = paired_bootstrap(noisy, _tested(y, y), np.arange(80), n_boot=400)
    assert (d_models.high - d_models.low) > 1.5 * (d_rows.high - d_rows.low)


def test_paired_bootstrap_degenerate_and_bad_inputs():
    y = np.arange(10.0)
    a = _tested(y, y)
    assert paired_bootstrap(a, a, np.zeros(10)) is None                                 # one test model
    assert paired_bootstrap(a, ProbeResult(metric="r2", applicable=False, reason="x"), np.arange(10)) is None
    other = replace(a, test_rows=np.arange(1, 11))
    with pytest.raises(HyperVizError, match="different rows"):
        paired_bootstrap(a, other, np.arange(10))
    with pytest.raises(HyperVizError, match="group labels"):
        paired_bootstrap(a, a, np.arange(9))
    with pytest.raises(HyperVizError, match="level 1.5"):
        paired_bootstrap(a, a, np.arange(10), level=1.5)


def test_probe_table_dispatches_by_dtype():
    rng = np.random.default_rng(5)
    n_models, n_ckpt = 30, 4
    model_ids = np.repeat(np.arange(n_models), n_ckpt)
    split = split_by_model(model_ids)
    act = np.array(["relu", "tanh"])[model_ids % 2]
    emb = rng.standard_normal((len(model_ids), 6))
    emb[:, 0] += 4 * (act == "relu")
    acc = emb[:, 1] * 0.3 + 0.5
    table = probe_table(
        {"embedding": emb, "noise": rng.standard_normal((len(model_ids), 3))},
        {"test_acc": acc, "activation": act, "task": np.array(["digits"] * len(model_ids))},
        split,
    )
    assert set(table) == {"test_acc", "activation", "task"}
    assert table["test_acc"]["embedding"].metric == "r2" and table["test_acc"]["embedding"].score > 0.95
    assert table["activation"]["embedding"].metric == "accuracy" and table["activation"]["embedding"].score > 0.9
    assert not table["task"]["noise"].applicable
    res = table["test_acc"]["embedding"]
    assert np.all(split[res.test_rows] == "test")
    np.testing.assert_allclose(acc[res.test_rows], res.y_true)
    # a feature set named in `boosted` gets the tree probe, the others stay linear
    table = probe_table({"embedding": emb, "trees": emb}, {"test_acc": acc, "activation": act}, split, boosted=("trees",))
    assert table["test_acc"]["trees"].penalty_name == "rounds" and table["test_acc"]["embedding"].penalty_name == "alpha"
    assert table["activation"]["trees"].penalty_name == "rounds" and table["activation"]["embedding"].penalty_name == "C"
    assert np.all(split[table["test_acc"]["trees"].test_rows] == "test")
    with pytest.raises(HyperVizError, match="unknown feature sets"):
        probe_table({"embedding": emb}, {"test_acc": acc}, split, boosted=("s(W)",))


def test_a_constant_stored_as_float32_is_constant():
    # one learning rate, written as float32 and read back: a variance of rounding noise, not a target
    n = 60
    split = split_by_model(np.repeat(np.arange(20), 3))
    lr = np.full(n, np.float32(0.001)).astype(np.float64) * (1 + np.tile([0, 1e-16, -1e-16], 20))
    x = np.random.default_rng(15).standard_normal((n, 3))
    table = probe_table({"x": x}, {"lr": lr}, split, boosted=())
    assert not table["lr"]["x"].applicable and "constant" in table["lr"]["x"].reason
    assert np.isnan(ridge_probe(x[:40], x[:40, 0], x[40:50], x[40:50, 0], x[50:], lr[50:]).score)


def test_non_finite_features_make_every_probe_not_applicable():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((90, 3))
    x[70, 1] = np.inf
    numbers, labels = x[:, 0].copy(), np.where(x[:, 0] > 0, "adam", "sgd")
    for result in (ridge_probe(*_splits(x, numbers, n_train=60, n_val=15)),
                   classifier_probe(*_splits(x, labels, n_train=60, n_val=15)),
                   boosted_probe(*_splits(x, labels, n_train=60, n_val=15), categorical=True, max_rounds=3)):
        assert not result.applicable and result.reason == "features contain NaN or infinite values"
    numbers[70] = np.nan                        # the row without a target is dropped first: fine again
    assert ridge_probe(*_splits(x, numbers, n_train=60, n_val=15)).applicable


def test_a_penalty_at_either_end_of_the_grid_is_flagged():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((320, 8))
    y = x @ rng.standard_normal(8) + 0.1 * rng.standard_normal(320)
    splits = _splits(x, y)
    inner = ridge_probe(*splits, alphas=[1e9, 1e-1, 1e-12])       # a clean signal: the middle value wins
    assert inner.penalty == 1e-1 and not inner.at_grid_edge
    strong = ridge_probe(*splits, alphas=[1e12, 1e11])           # both far too strong: the weaker end wins
    assert strong.penalty == 1e11 and strong.at_grid_edge and "at the grid edge" in strong.summary()
    assert not ridge_probe(*splits, alphas=[1e-2]).at_grid_edge  # one value is no grid
    unpenalised = ridge_probe(*splits, alphas=[1e9, 0.0])        # nothing lies beyond no penalty at all
    assert unpenalised.penalty == 0.0 and not unpenalised.at_grid_edge
