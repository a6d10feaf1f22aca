import numpy as np
import pytest

from core.errors import HyperVizError
from core.zoo.splits import split_by_model


def test_split_by_model_keeps_models_together_deterministic_and_proportional():
    rng = np.random.default_rng(6)
    ids = rng.permutation(np.repeat(np.arange(200), 5))
    split = split_by_model(ids, seed=42)
    for m in range(200):
        assert len(set(split[ids == m])) == 1
    per_model = {m: split[ids == m][0] for m in range(200)}
    counts = {s: sum(v == s for v in per_model.values()) for s in ("train", "val", "test")}
    assert counts == {"train": 140, "val": 30, "test": 30}
    np.testing.assert_array_equal(split, split_by_model(ids, seed=42))
    assert not np.array_equal(split, split_by_model(ids, seed=7))
    # row order does not matter: same model -> same split
    order = rng.permutation(len(ids))
    np.testing.assert_array_equal(split_by_model(ids[order])[np.argsort(order)], split)


def test_split_by_model_tiny_zoos():
    with pytest.raises(HyperVizError, match="zoo too small to split: 2 models"):
        split_by_model(np.array(["a", "a", "b"]))
    split = split_by_model(np.array(["a", "b", "c", "c"]))
    assert set(split) == {"train", "val", "test"}
    split5 = split_by_model(np.arange(5))
    assert sorted(split5.tolist()).count("train") >= 1 and set(split5) == {"train", "val", "test"}
    with pytest.raises(HyperVizError):
        split_by_model(np.arange(10), fractions=(0.5, 0.5, 0.5))
