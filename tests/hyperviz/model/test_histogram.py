"""Histogram bins of a property: one bin per whole number for epochs, even bins otherwise, NaN in none."""
import numpy as np

from hyperviz.model.histogram import N_BINS, histogram_bins


def test_whole_numbers_get_a_bin_each_centred_on_them():
    edges, index, integer = histogram_bins(np.array([0.0, 1.0, 1.0, 5.0, np.nan]))
    assert integer and edges.tolist() == [-0.5, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5]
    assert index.tolist() == [0, 1, 1, 5, -1]


def test_other_values_get_even_bins_and_the_maximum_the_last():
    edges, index, integer = histogram_bins(np.linspace(0.0, 1.0, 7))
    assert not integer and len(edges) == N_BINS + 1 and index[0] == 0 and index[-1] == N_BINS - 1
    assert histogram_bins(np.full(3, np.nan))[1].tolist() == [-1, -1, -1]
