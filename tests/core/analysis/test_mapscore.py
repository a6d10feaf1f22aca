import numpy as np
import pytest

from core.analysis.mapscore import neighbour_scores
from core.errors import HyperVizError


def _split(n, rng):
    return rng.choice(["train", "val", "test"], size=n, p=[0.7, 0.15, 0.15])


def test_a_map_laid_out_by_the_property_scores_near_one_and_a_shuffled_map_near_chance():
    rng = np.random.default_rng(0)
    n = 1200
    split = _split(n, rng)
    value = rng.uniform(0, 1, n)
    kind = np.where(value > 0.5, "relu", "tanh")
    by_property = np.stack([value, rng.normal(0, 0.01, n)], 1)          # x is the property itself
    shuffled = rng.permutation(by_property)
    good = neighbour_scores(by_property, {"acc": value, "activation": kind}, split, k=10)
    bad = neighbour_scores(shuffled, {"acc": value, "activation": kind}, split, k=10)
    assert good["acc"] == {"metric": "R^2", "score": pytest.approx(1.0, abs=0.01)}
    assert good["activation"]["metric"] == "accuracy" and good["activation"]["score"] > 0.97
    assert abs(bad["acc"]["score"]) < 0.2 and 0.35 < bad["activation"]["score"] < 0.65


def test_a_property_the_map_cannot_be_asked_about_scores_none():
    rng = np.random.default_rng(1)
    coords, split = rng.normal(size=(100, 2)), _split(100, rng)
    constant = neighbour_scores(coords, {"c": np.full(100, 3.0), "k": np.full(100, "x")}, split)
    assert constant == {"c": {"metric": "R^2", "score": None}, "k": {"metric": "accuracy", "score": None}}
    no_test = neighbour_scores(coords, {"y": coords[:, 0]}, np.full(100, "train"))
    assert no_test["y"]["score"] is None


def test_bad_coordinates_are_one_clear_error():
    with pytest.raises(HyperVizError, match="do not fit the 3 rows"):
        neighbour_scores(np.zeros((4, 2)), {}, np.array(["train"] * 3))
    with pytest.raises(HyperVizError, match="NaN"):
        neighbour_scores(np.full((3, 2), np.nan), {}, np.array(["train"] * 3))
