import numpy as np
import pytest

from hyperviz.model.density import density_grid, density_levels


def test_density_grid_counts_the_points_in_view_with_square_cells():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 2, 1000), rng.uniform(0, 1, 1000)
    counts, edges = density_grid(x, y, [[0, 1], [0, 1]], bins=50, aspect=2.0)
    assert counts.shape == (50, 25)
    assert counts.sum() == np.sum(x <= 1)                 # only the points inside the range
    assert edges == [[0.0, 1.0], [0.0, 1.0]]
    with pytest.raises(ValueError):
        density_grid(x, y, [[1, 1], [0, 1]])


def test_density_levels_are_log_scaled_to_one():
    levels = density_levels(np.array([[0, 1], [9, 99]]))
    assert levels.max() == 1.0 and levels[0, 0] == 0.0
    assert levels[1, 0] == pytest.approx(np.log(10) / np.log(100))
    assert density_levels(np.zeros((2, 2))).sum() == 0
