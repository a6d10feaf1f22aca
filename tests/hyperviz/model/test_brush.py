"""Mouse gestures -> (mode, predicate), without Qt."""
import numpy as np
import pytest

from hyperviz.model.brush import (
    Modifiers,
    box_predicate,
    combine_mode,
    gesture_selection,
    lasso_predicate,
    simplify_path,
)
from hyperviz.model.selection import Polygon


@pytest.mark.parametrize("mods, mode", [
    (Modifiers(), "replace"), (Modifiers(shift=True), "add"), (Modifiers(ctrl=True), "subtract"),
    (Modifiers(alt=True), "subtract"), (Modifiers(shift=True, ctrl=True), "intersect"),
])
def test_modifiers_pick_the_combine_mode(mods, mode):
    assert combine_mode(mods) == mode


def test_box_from_any_two_corners():
    assert box_predicate("x", "y", (2, 3), (0, 1)) == Polygon.box("x", "y", 0, 1, 2, 3)
    assert box_predicate("x", "y", (0, 0), (0, 5)) is None          # no area
    assert box_predicate("x", "y", (0, np.nan), (1, 1)) is None


def test_lasso_closes_thins_and_refuses_degenerate_paths():
    pred = lasso_predicate("x", "y", [(0, 0), (0, 0), (1, 0), (1, 1), (0, 1)])
    assert pred.vertices == ((0, 0), (1, 0), (1, 1), (0, 1))
    table = {"x": np.array([0.5, 2.0]), "y": np.array([0.5, 0.5])}
    np.testing.assert_array_equal(pred.evaluate(table), [True, False])
    assert lasso_predicate("x", "y", [(0, 0), (1, 1)]) is None
    assert lasso_predicate("x", "y", [(0, 0), (1, 1), (2, 2), (3, 3)]) is None   # collinear
    long_path = np.stack([np.cos(np.linspace(0, 6.2, 5000)), np.sin(np.linspace(0, 6.2, 5000))], 1)
    assert len(simplify_path(long_path)) == 400


def test_gesture_selection_per_tool():
    path = [(0, 0), (2, 0), (2, 2), (0, 2)]
    assert gesture_selection("pan", "x", "y", path) is None
    assert gesture_selection("box", "x", "y", path) is None          # box = first and last point: (0,0)-(0,2)
    mode, pred = gesture_selection("box", "x", "y", [(0, 0), (1, 3), (2, 2)], Modifiers(shift=True))
    assert (mode, pred) == ("add", Polygon.box("x", "y", 0, 0, 2, 2))
    mode, pred = gesture_selection("box", "x", "y", [(0, 0), (2, 2)], Modifiers(ctrl=True))
    assert (mode, pred) == ("subtract", Polygon.box("x", "y", 0, 0, 2, 2))
    mode, pred = gesture_selection("lasso", "x", "y", path)
    assert mode == "replace" and len(pred.vertices) == 4
    assert gesture_selection("box", "x", "y", [(1, 1)]) is None     # a click is not a gesture
    with pytest.raises(ValueError, match="unknown tool"):
        gesture_selection("wand", "x", "y", path)
