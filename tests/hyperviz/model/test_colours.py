"""Colour codes of property values, without Qt."""
import numpy as np
import pytest

from hyperviz.model.colours import N_STEPS, accuracy_coding, colour_coding


def test_colour_codes():
    values = np.append(np.linspace(0, 1, 101), np.nan)
    c = colour_coding("acc", values)
    assert c.kind == "continuous" and c.codes[-1] == N_STEPS == c.missing_code
    assert (c.lo, c.hi) == pytest.approx((0.01, 0.99))     # 1st-99th percentile: outliers do not wash out the map
    assert c.codes[0] == 0 and c.codes[100] == N_STEPS - 1 and np.all(np.diff(c.codes[:-1]) >= 0)
    c = colour_coding("act", np.array(["tanh", "relu", "tanh"]))
    assert c.kind == "categorical" and c.labels == ("relu", "tanh") and list(c.codes) == [1, 0, 1]
    c = colour_coding("lr", np.array([1e-3, 1e-2, np.nan]))
    assert c.kind == "categorical" and c.labels == ("0.001", "0.01") and list(c.codes) == [0, 1, 2]


def test_sampled_accuracies_use_the_scale_the_map_shows():
    shown = colour_coding("test_acc", np.linspace(0.5, 0.9, 101))           # the map: 0.504 .. 0.896
    acc = np.append(np.linspace(0.5, 0.9, 9), np.nan)
    stars = accuracy_coding(acc, shown)
    assert stars.kind == "continuous" and (stars.lo, stars.hi) == (shown.lo, shown.hi)
    assert stars.codes[0] == 0 and stars.codes[-2] == N_STEPS - 1 and stars.codes[-1] == N_STEPS
    other = accuracy_coding(acc, colour_coding("epoch", np.arange(20.0)))  # not coloured by accuracy: 0..1
    assert (other.lo, other.hi) == (0.0, 1.0) and other.codes[0] == N_STEPS // 2
    few = accuracy_coding(np.array([0.5, 0.9]), shown)                    # a handful of values: one colour each
    assert few.kind == "categorical" and len(few.codes) == 2
