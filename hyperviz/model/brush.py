"""Mouse gestures on the map -> (combine mode, selection predicate). Plain code, no Qt.

The map view turns a finished drag into a list of points in data coordinates and the modifier
keys held, and asks :func:`gesture_selection` what to do with the selection:

* tools: ``"pan"`` (a drag pans, no selection), ``"box"`` (the rectangle spanned by the first and
  last point), ``"lasso"`` (the polygon through all points);
* modifiers: none replaces, Shift adds, Ctrl or Alt subtracts, Shift+Ctrl intersects.

A gesture too small to mean anything (a click, a lasso with fewer than three distinct points, a
box of no area) gives None, so a stray click never wipes a selection.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hyperviz.model.selection import Polygon, Predicate

TOOLS = ("pan", "box", "lasso")
#: Lassos are thinned to at most this many vertices (the polygon test is O(vertices)).
MAX_LASSO_VERTICES = 400


@dataclass(frozen=True)
class Modifiers:
    """Modifier keys held when a gesture ended."""

    shift: bool = False
    ctrl: bool = False
    alt: bool = False


def combine_mode(modifiers: Modifiers) -> str:
    """The selection mode for the modifiers: replace, add (Shift), subtract (Ctrl/Alt), intersect (Shift+Ctrl)."""
    subtract = modifiers.ctrl or modifiers.alt
    if modifiers.shift and subtract:
        return "intersect"
    if modifiers.shift:
        return "add"
    if subtract:
        return "subtract"
    return "replace"


def box_predicate(x_column: str, y_column: str, start: Sequence[float], end: Sequence[float]) -> Predicate | None:
    """The rectangle with corners ``start`` and ``end`` (data coordinates), or None if it has no area."""
    (x0, y0), (x1, y1) = start, end
    if not np.isfinite([x0, y0, x1, y1]).all() or x0 == x1 or y0 == y1:
        return None
    return Polygon.box(x_column, y_column, x0, y0, x1, y1)


def simplify_path(points: np.ndarray, max_vertices: int = MAX_LASSO_VERTICES) -> np.ndarray:
    """Drop non-finite and repeated consecutive points and thin the path to ``max_vertices``. ``[k, 2]``."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) > 1:
        keep = np.ones(len(points), dtype=bool)
        keep[1:] = np.any(np.diff(points, axis=0) != 0, axis=1)
        points = points[keep]
    if len(points) > max_vertices:
        points = points[np.linspace(0, len(points) - 1, max_vertices).round().astype(int)]
    return points


def lasso_predicate(x_column: str, y_column: str, points: Sequence[Sequence[float]]) -> Predicate | None:
    """The polygon through the lasso path ``[k, 2]`` (closed automatically), or None if degenerate."""
    path = simplify_path(np.asarray(points, dtype=np.float64))
    if len(np.unique(path, axis=0)) < 3:
        return None
    # a polygon with all vertices on one line has no inside
    centred = path - path.mean(axis=0)
    if np.linalg.matrix_rank(centred, tol=1e-12 * max(1.0, float(np.abs(path).max()))) < 2:
        return None
    return Polygon(x_column, y_column, tuple(map(tuple, path)))


def gesture_selection(tool: str, x_column: str, y_column: str, points: Sequence[Sequence[float]],
                      modifiers: Modifiers = Modifiers()) -> tuple[str, Predicate] | None:
    """``(mode, predicate)`` for a finished drag with ``tool`` over ``points`` (data coordinates), or None."""
    if tool not in TOOLS:
        raise ValueError(f"unknown tool {tool!r} (known: {', '.join(TOOLS)})")
    if tool == "pan" or len(points) < 2:
        return None
    if tool == "box":
        predicate = box_predicate(x_column, y_column, points[0], points[-1])
    else:
        predicate = lasso_predicate(x_column, y_column, points)
    return None if predicate is None else (combine_mode(modifiers), predicate)
