"""Crossfilter: map brushes and property brushes combine with AND, and read as one rounded sentence."""
import numpy as np

from hyperviz.model.crossfilter import describe_selection, split_terms, with_category, with_map_brush
from hyperviz.model.formatting import round_bound
from hyperviz.model.selection import And, InSet, Not, Nothing, Polygon, Range
from hyperviz.model.state import AppState

COORDS = ("umap_x", "umap_y")
BOX = Polygon.box("umap_x", "umap_y", 0, 0, 1, 1)
LASSO = Polygon("umap_x", "umap_y", ((0, 0), (2, 0), (0, 2)))


def test_a_map_brush_keeps_the_property_brushes():
    sel = And(Range("test_acc", 0.9, None), InSet("activation", ("relu",)))
    new = with_map_brush(sel, "replace", BOX, COORDS)
    assert split_terms(new, COORDS) == (BOX, [Range("test_acc", 0.9, None), InSet("activation", ("relu",))])
    again = with_map_brush(new, "replace", LASSO, COORDS)           # replaces the box, not the brushes
    assert split_terms(again, COORDS)[0] == LASSO and len(split_terms(again, COORDS)[1]) == 2
    added = with_map_brush(new, "add", LASSO, COORDS)
    assert split_terms(added, COORDS)[0].describe() == (BOX | LASSO).describe()
    cut = with_map_brush(Range("test_acc", 0.9, None), "subtract", BOX, COORDS)   # brushed, but not here
    assert split_terms(cut, COORDS) == (Not(BOX), [Range("test_acc", 0.9, None)])
    assert with_map_brush(Nothing(), "subtract", BOX, COORDS) == Nothing()


def test_a_category_click_adds_a_term_and_keeps_the_others():
    sel = Range("test_acc", 0.9, None)                               # e.g. a bookmark
    one = with_category(sel, "activation", "relu", "replace")
    assert one == And(Range("test_acc", 0.9, None), InSet("activation", ("relu",)))
    two = with_category(one, "activation", "gelu", "add")
    assert InSet("activation", ("gelu", "relu")) in two.parts and Range("test_acc", 0.9, None) in two.parts
    assert with_category(one, "activation", "relu", "replace") == sel            # a second click removes it
    assert with_category(Nothing(), "activation", "relu", "subtract", ["gelu", "relu", "tanh"]) == \
        InSet("activation", ("gelu", "tanh"))
    assert with_category(Nothing(), "lr", 0.001) == InSet("lr", (0.001,))


def test_the_description_is_one_rounded_sentence():
    sel = with_map_brush(And(Range("test_acc", 0.8332060086924182, None), InSet("activation", ("gelu", "relu"))),
                         "replace", LASSO, COORDS)
    text = describe_selection(sel, COORDS)
    assert text == "a lasso on the UMAP map and test_acc ≥ 0.833 and activation is gelu or relu"
    assert describe_selection(BOX, COORDS) == "a box on the UMAP map"
    assert describe_selection(Range("lr", 0.001, 0.01)) == "lr 0.001 – 0.01"
    assert describe_selection(Nothing()) == "nothing selected"
    assert "0.8332" not in describe_selection(with_map_brush(Range("x", 0.83320600869, None), "add", BOX, COORDS),
                                              COORDS)


def test_brushed_bounds_are_rounded_to_the_plot():
    assert round_bound(0.8332060086924182, 0.98) == 0.833
    assert round_bound(12.3456, 25) == 12.3


def test_the_state_brushes_with_and():
    state = AppState()
    rng = np.random.default_rng(0)
    state.set_table({"row": np.arange(50), "model": np.arange(50), "epoch": np.arange(50) % 5 * 1.0,
                     "test_acc": rng.uniform(0, 1, 50), "activation": np.array(["relu", "tanh"] * 25),
                     "umap_x": rng.uniform(0, 2, 50), "umap_y": rng.uniform(0, 2, 50)})
    state.brush_range("test_acc", 0.5, None)
    state.brush_category("activation", "relu")
    state.brush_map(BOX)
    expected = (state.table["test_acc"] >= 0.5) & (state.table["activation"] == "relu") & \
        BOX.evaluate(state.table)
    np.testing.assert_array_equal(state.selected_mask, expected)
    assert state.describe_selection() == "a box on the UMAP map and test_acc ≥ 0.5 and activation is relu"
