"""The density view of a large map: how many visible model states fall in each cell of a grid.

Above ~200k points a scatter repaints slowly and hides its own structure (design notes); a 2-D
histogram over the part of the map in view shows where the states are at any zoom. Counts are
shown on a log scale, so a few dense clusters do not wash out the rest.
"""
from __future__ import annotations

import numpy as np

#: Grid cells along the longer side of the view.
DENSITY_BINS = 220
#: Maps with more states than this open in the density view.
DENSITY_AUTO_POINTS = 200_000


def density_grid(x: np.ndarray, y: np.ndarray, view_range, bins: int = DENSITY_BINS,
                 aspect: float = 1.0) -> tuple[np.ndarray, list[list[float]]]:
    """Counts of the points ``(x [n], y [n])`` in a grid over ``view_range`` ``[[x0, x1], [y0, y1]]``.

    ``aspect`` is the view's width / height in pixels, so cells come out square on screen; the
    longer side gets ``bins`` cells. Returns ``(counts [nx, ny], edges)`` with ``edges`` the range
    the grid covers (as given). Points outside the range are not counted.
    """
    (x0, x1), (y0, y1) = view_range
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"empty view range {view_range}")
    aspect = float(aspect) if np.isfinite(aspect) and aspect > 0 else 1.0
    nx, ny = (bins, max(1, round(bins / aspect))) if aspect >= 1 else (max(1, round(bins * aspect)), bins)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    counts, _, _ = np.histogram2d(x, y, bins=(nx, ny), range=((x0, x1), (y0, y1)))
    return counts, [[float(x0), float(x1)], [float(y0), float(y1)]]


def density_levels(counts: np.ndarray) -> np.ndarray:
    """``log(1 + counts)`` scaled to 0..1 ``[nx, ny]`` (all zeros for an empty grid): what the image shows."""
    level = np.log1p(np.asarray(counts, dtype=np.float64))
    top = level.max() if level.size else 0.0
    return (level / top) if top > 0 else level
