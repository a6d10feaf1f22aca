"""Plane geometry for map selections, numpy only: which points lie in a polygon."""
from __future__ import annotations

import math

import numpy as np


def points_in_polygon(x: np.ndarray, y: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Boolean mask ``[n]``: which points ``(x, y)``, each ``[n]``, lie in the polygon.

    ``vertices: [v, 2]`` is the ring, not closed (the last vertex joins the first). Uses the
    even-odd rule, so self-intersecting lassos work; points on an edge or a vertex (within
    1e-9 of the polygon's scale) count as inside; NaN coordinates never do. Points are sorted
    by y once, so each edge only looks at the points in its own y band.
    """
    tol = 1e-9 * max(float(np.abs(vertices).max()), 1.0)
    order = np.argsort(y, kind="stable")            # NaN sorts last and never matches
    xs, ys = x[order], y[order]
    hit = np.zeros(len(xs), dtype=bool)             # inside by the even-odd rule, sorted order
    on_boundary = np.zeros(len(xs), dtype=bool)
    for (xa, ya), (xb, yb) in zip(vertices, np.roll(vertices, -1, axis=0)):
        y_lo, y_hi = min(ya, yb), max(ya, yb)
        i0 = np.searchsorted(ys, y_lo - tol, side="left")
        i1 = np.searchsorted(ys, y_hi + tol, side="right")
        px, py = xs[i0:i1], ys[i0:i1]
        # Ray towards +x: the edge counts when y_lo <= y < y_hi (half-open) and it lies right of x.
        if y_hi > y_lo:
            straddles = (py >= y_lo) & (py < y_hi)
            x_cross = xa + (py - ya) * (xb - xa) / (yb - ya)
            hit[i0:i1] ^= straddles & (px < x_cross)
        dx, dy = xb - xa, yb - ya
        length = math.hypot(dx, dy)
        if length > 0.0:
            cross = (px - xa) * dy - (py - ya) * dx   # signed distance * length
            along = (px - xa) * dx + (py - ya) * dy   # projection * length
            on_boundary[i0:i1] |= ((np.abs(cross) <= tol * length) & (along >= -tol * length)
                                   & (along <= length * length + tol * length))
    result = np.empty(len(xs), dtype=bool)
    result[order] = hit | on_boundary
    return result
