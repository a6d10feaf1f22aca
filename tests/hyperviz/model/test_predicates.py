"""Masks of every predicate on a small hand-made table with known answers."""
import json
import math
import pickle

import numpy as np
import pytest

from hyperviz.model.selection import (
    And,
    Compare,
    Everything,
    Ids,
    InSet,
    Not,
    Nothing,
    Or,
    Polygon,
    Range,
    SelectionError,
    Xor,
    n_rows,
    predicate_from_dict,
)


@pytest.fixture
def table():
    return {
        "test_acc": np.array([0.90, 0.50, np.nan, 0.85, 1.00, 0.10]),
        "epoch": np.array([0, 5, 10, 20, 25, 50]),
        "activation": np.array(["relu", "tanh", "relu", "gelu", "sigmoid", "tanh"]),
        "model_id": np.array([0, 0, 1, 1, 2, 3]),
        "tag": np.array(["a", None, "b", "a", 3, "c"], dtype=object),
        "map_x": np.array([0.0, 1.0, 2.0, 3.0, np.nan, 0.5]),
        "map_y": np.array([0.0, 1.0, 2.0, 3.0, 1.0, 0.5]),
    }


def mask(*indices, n=6):
    out = np.zeros(n, dtype=bool)
    out[list(indices)] = True
    return out


def test_n_rows_counts_rows_and_rejects_ragged_tables(table):
    assert n_rows(table) == 6
    assert n_rows({}) == 0
    with pytest.raises(SelectionError, match="differ in length"):
        n_rows({"a": np.zeros(3), "b": np.zeros(4)})


def test_everything_and_nothing(table):
    np.testing.assert_array_equal(Everything().evaluate(table), np.ones(6, bool))
    np.testing.assert_array_equal(Nothing().evaluate(table), np.zeros(6, bool))


@pytest.mark.parametrize("lo, hi, expected", [
    (0.85, 1.0, mask(0, 3, 4)),          # inclusive at both ends, NaN row 2 excluded
    (0.85, None, mask(0, 3, 4)),
    (None, 0.5, mask(1, 5)),
    (None, None, mask(0, 1, 3, 4, 5)),   # open range: every number, still never NaN
    (-math.inf, math.inf, mask(0, 1, 3, 4, 5)),
    (0.95, 0.6, mask()),                 # empty when lo > hi
])
def test_range_is_inclusive_and_skips_nan(table, lo, hi, expected):
    np.testing.assert_array_equal(Range("test_acc", lo, hi).evaluate(table), expected)


def test_range_normalises_infinite_bounds_to_open():
    assert Range("x", -math.inf, math.inf) == Range("x")
    assert Range("x", np.float32(0.5), None).lo == 0.5
    assert type(Range("x", np.int64(3)).lo) is int


@pytest.mark.parametrize("op, value, expected", [
    ("<", 0.85, mask(1, 5)),
    ("<=", 0.85, mask(1, 3, 5)),
    (">", 0.85, mask(0, 4)),
    (">=", 0.85, mask(0, 3, 4)),
    ("==", 0.5, mask(1)),
    ("!=", 0.5, mask(0, 3, 4, 5)),       # NaN is not "!= 0.5" either
])
def test_compare_numeric_never_matches_nan(table, op, value, expected):
    np.testing.assert_array_equal(Compare("test_acc", op, value).evaluate(table), expected)


def test_compare_on_int_and_string_columns(table):
    np.testing.assert_array_equal(Compare("epoch", ">=", 20).evaluate(table), mask(3, 4, 5))
    np.testing.assert_array_equal(Compare("activation", "==", "tanh").evaluate(table), mask(1, 5))
    np.testing.assert_array_equal(Compare("activation", "!=", "relu").evaluate(table),
                                  mask(1, 3, 4, 5))
    np.testing.assert_array_equal(Compare("tag", "==", "a").evaluate(table), mask(0, 3))


def test_compare_on_bytes_column():
    table = {"act": np.array([b"relu", b"tanh"])}
    np.testing.assert_array_equal(Compare("act", "==", "tanh").evaluate(table), [False, True])


def test_compare_rejects_bad_ops_and_type_mismatches(table):
    with pytest.raises(SelectionError, match="unknown comparison '=~'"):
        Compare("epoch", "=~", 3)
    with pytest.raises(SelectionError, match="cannot compare text"):
        Compare("activation", "<", "relu")
    with pytest.raises(SelectionError, match="NaN"):
        Compare("test_acc", "==", float("nan"))
    with pytest.raises(SelectionError, match="'epoch' holds numbers"):
        Compare("epoch", "==", "5").evaluate(table)
    with pytest.raises(SelectionError, match="'activation' holds text"):
        Compare("activation", "==", 1).evaluate(table)
    with pytest.raises(SelectionError, match="'activation' holds text"):
        Range("activation", 0, 1).evaluate(table)


def test_unknown_column_names_it_and_lists_known_columns(table):
    with pytest.raises(SelectionError) as info:
        Range("tst_acc", 0, 1).evaluate(table)
    message = str(info.value)
    assert "'tst_acc'" in message and "test_acc" in message and "map_x" in message
    assert "\n" not in message
    assert isinstance(info.value, ValueError)


def test_inset_on_numbers_strings_and_objects(table):
    np.testing.assert_array_equal(InSet("activation", ["relu", "gelu"]).evaluate(table),
                                  mask(0, 2, 3))
    np.testing.assert_array_equal(InSet("epoch", (5, 50, 7)).evaluate(table), mask(1, 5))
    np.testing.assert_array_equal(InSet("test_acc", [0.5]).evaluate(table), mask(1))
    np.testing.assert_array_equal(InSet("tag", ["a", 3]).evaluate(table), mask(0, 3, 4))
    np.testing.assert_array_equal(InSet("epoch", []).evaluate(table), mask())
    with pytest.raises(SelectionError, match="holds text"):
        InSet("activation", [1]).evaluate(table)
    with pytest.raises(SelectionError, match="holds numbers"):
        InSet("epoch", ["5"]).evaluate(table)
    with pytest.raises(SelectionError, match="collection"):
        InSet("activation", "relu")


def test_inset_equality_ignores_order_and_duplicates():
    assert InSet("a", ["x", "y", "x"]) == InSet("a", ("y", "x"))
    assert hash(InSet("a", [2, 1])) == hash(InSet("a", [1, 2]))
    assert InSet("a", [3, "b", 1]).values == (1, 3, "b")


def test_ids_pick_rows_by_column_value(table):
    np.testing.assert_array_equal(Ids("model_id", [1, 3]).evaluate(table), mask(2, 3, 5))
    assert Ids("model_id", [3, 1]) == Ids("model_id", [1, 3])
    assert Ids("model_id", [3, 1]).describe() == "model_id in (1, 3)"
    assert Ids("model_id", range(20)).describe() == "model_id in 20 picked ids"


def test_combinators_and_operators(table):
    good = Range("test_acc", 0.85, None)       # rows 0, 3, 4
    late = Compare("epoch", ">=", 20)          # rows 3, 4, 5
    np.testing.assert_array_equal((good & late).evaluate(table), mask(3, 4))
    np.testing.assert_array_equal((good | late).evaluate(table), mask(0, 3, 4, 5))
    np.testing.assert_array_equal((good ^ late).evaluate(table), mask(0, 5))
    np.testing.assert_array_equal((~good).evaluate(table), mask(1, 2, 5))   # NaN row is "not good"
    assert good & late == And(good, late)
    assert good | late == Or(good, late)
    assert good ^ late == Xor(good, late)
    assert ~good == Not(good)


def test_combinators_flatten_and_hash(table):
    a, b, c = Range("epoch", 0, 5), Range("epoch", 5, 10), Compare("activation", "==", "tanh")
    assert (a & b & c).parts == (a, b, c)
    assert (a | (b | c)).parts == (a, b, c)
    assert ((a & b) | c).parts == (And(a, b), c)
    assert len({a & b, And(a, b), a | b}) == 2
    # Rows matched by an odd number of parts: 0 (a), 1 (a, b, c), 2 (b), 5 (c).
    np.testing.assert_array_equal(Xor(a, b, c).evaluate(table), mask(0, 1, 2, 5))
    with pytest.raises(SelectionError, match="at least two"):
        And(a)
    with pytest.raises(SelectionError, match="takes predicates"):
        Or(a, "epoch > 3")


def test_columns_lists_every_column_read():
    p = (Range("a", 0, 1) | Compare("b", "==", "x")) & ~Polygon.box("x", "y", 0, 0, 1, 1)
    assert p.columns() == {"a", "b", "x", "y"}
    assert Everything().columns() == frozenset()


# --- polygons -----------------------------------------------------------------------------------

def points_table(points):
    xs, ys = zip(*points)
    return {"x": np.array(xs, dtype=float), "y": np.array(ys, dtype=float)}


U_SHAPE = [(0, 0), (3, 0), (3, 3), (2, 3), (2, 1), (1, 1), (1, 3), (0, 3)]   # concave, notch on top


@pytest.mark.parametrize("point, inside", [
    ((0.5, 2.0), True),     # left arm
    ((2.5, 2.0), True),     # right arm
    ((1.5, 0.5), True),     # bottom bar
    ((1.5, 2.0), False),    # inside the notch
    ((1.5, 3.0), False),    # the notch's open top
    ((3.5, 1.0), False),
    ((-0.1, 1.0), False),
    ((0.5, 1.0), True),     # ray passes along the notch's bottom edge through two vertices
    ((2.5, 1.0), True),
    ((1.5, 1.0), True),     # on the notch's bottom edge
    ((1.0, 2.0), True),     # on the notch's left edge
    ((3.0, 1.5), True),     # on the outer right edge
    ((0.0, 0.0), True),     # a vertex
    ((2.0, 3.0), True),     # a notch vertex
    ((math.nan, 1.0), False),
])
def test_concave_lasso_polygon(point, inside):
    polygon = Polygon("x", "y", U_SHAPE)
    assert polygon.evaluate(points_table([point])).tolist() == [inside]


def test_polygon_uses_even_odd_rule_for_self_intersections():
    # A pentagram: the central pentagon is covered twice, so even-odd leaves it out.
    angles = np.pi / 2 + 2 * np.pi * np.arange(5) / 5
    outer = [(math.cos(a), math.sin(a)) for a in angles]
    star = Polygon("x", "y", [outer[i] for i in (0, 2, 4, 1, 3)])
    result = star.evaluate(points_table([(0.0, 0.0), (0.0, 0.8), (0.0, -0.9)]))
    assert result.tolist() == [False, True, False]


def test_box_matches_inclusive_ranges_on_a_grid_with_boundary_points():
    grid = np.linspace(-1, 3, 17)           # step 0.25: hits the box edges exactly
    xs, ys = np.meshgrid(grid, grid)
    table = {"x": xs.ravel(), "y": ys.ravel()}
    box = Polygon.box("x", "y", 2.0, 1.5, 0.0, 0.0)    # corners in any order
    ranges = Range("x", 0, 2) & Range("y", 0, 1.5)
    np.testing.assert_array_equal(box.evaluate(table), ranges.evaluate(table))
    assert box.evaluate(table).sum() == 9 * 7
    assert box == Polygon.box("x", "y", 0, 0, 2, 1.5)


def test_adjacent_boxes_both_contain_their_shared_edge():
    table = points_table([(1.0, 0.0), (1.0, 0.5), (1.0, 1.0), (0.5, 0.5), (1.5, 0.5)])
    left = Polygon.box("x", "y", 0, 0, 1, 1).evaluate(table)
    right = Polygon.box("x", "y", 1, 0, 2, 1).evaluate(table)
    assert left.tolist() == [True, True, True, True, False]
    assert right.tolist() == [True, True, True, False, True]


def test_polygon_boundary_on_a_diagonal_edge():
    triangle = Polygon("x", "y", [(0, 0), (4, 0), (0, 4)])
    table = points_table([(2, 2), (1, 3), (2.0, 2.0 + 1e-6), (1, 1)])
    assert triangle.evaluate(table).tolist() == [True, True, False, True]


def test_polygon_validation_and_closed_rings():
    assert Polygon("x", "y", [(0, 0), (1, 0), (1, 1), (0, 0)]).vertices == ((0, 0), (1, 0), (1, 1))
    with pytest.raises(SelectionError, match="at least 3"):
        Polygon("x", "y", [(0, 0), (1, 1)])
    with pytest.raises(SelectionError, match="at least 3"):
        Polygon("x", "y", [(0, 0), (1, math.inf), (1, 1)])
    with pytest.raises(SelectionError, match="pairs"):
        Polygon("x", "y", [(0, 0, 0), (1, 1, 1), (2, 2, 2)])


def test_polygon_on_the_main_table(table):
    box = Polygon.box("map_x", "map_y", 0, 0, 2, 2)   # row 4 has a NaN coordinate
    np.testing.assert_array_equal(box.evaluate(table), mask(0, 1, 2, 5))


# --- descriptions and JSON ----------------------------------------------------------------------

@pytest.mark.parametrize("predicate, text", [
    (Everything(), "everything"),
    (Nothing(), "nothing"),
    (Range("test_acc", 0.85, 1.0), "test_acc in [0.85, 1]"),
    (Range("test_acc", 0.85), "test_acc >= 0.85"),
    (Range("test_acc", None, 0.5), "test_acc <= 0.5"),
    (Range("test_acc"), "test_acc in [-inf, inf]"),
    (Compare("lr", "==", 1e-3), "lr == 0.001"),
    (Compare("lr", "<", 1e-5), "lr < 1e-05"),
    (Compare("activation", "!=", 'say "hi"'), 'activation != "say \\"hi\\""'),
    (Compare("optim::lr", ">", 0), "optim::lr > 0"),
    (Compare("test acc", ">", 0), "`test acc` > 0"),
    (Compare("in", ">", 0), "`in` > 0"),
    (InSet("activation", ["relu", "gelu"]), 'activation in ("gelu", "relu")'),
    (Polygon.box("map_x", "map_y", 0, 0, 1, 2), "map_x in [0, 1] and map_y in [0, 2]"),
    (Polygon("map_x", "map_y", U_SHAPE), "(map_x, map_y) in a polygon of 8 vertices"),
    (Range("a", 0, 1) & (Compare("b", "<", 2) | Compare("c", ">", 3)),
     "a in [0, 1] and (b < 2 or c > 3)"),
    (~(Compare("b", "<", 2) & Compare("c", ">", 3)), "not (b < 2 and c > 3)"),
    (~Compare("b", "<", 2), "not b < 2"),
    (Compare("a", "<", 1) ^ Compare("b", "<", 2), "a < 1 xor b < 2"),
    (Or(Polygon.box("x", "y", 0, 0, 1, 1), Compare("c", ">", 3)),
     "x in [0, 1] and y in [0, 1] or c > 3"),
    (Not(Polygon.box("x", "y", 0, 0, 1, 1)), "not (x in [0, 1] and y in [0, 1])"),
])
def test_describe(predicate, text):
    assert predicate.describe() == text


ALL_KINDS = [
    Everything(), Nothing(), Range("test_acc", 0.5, None), Range("epoch", 1, 2.5),
    Compare("activation", "==", "relu"), Compare("lr", "<=", 1e-3), InSet("epoch", [1, 2]),
    InSet("activation", ["relu"]), Ids("model_id", [4, 2]), Polygon("x", "y", U_SHAPE),
    Polygon.box("x", "y", 0, 0, 1, 1),
    And(Range("a", 0, 1), Not(Ids("m", ["k"]))), Or(Compare("a", ">", 1), Nothing()),
    Xor(Range("a", 0, 1), Range("a", 0.5, 2), Range("a", 1, 3)),
]


@pytest.mark.parametrize("predicate", ALL_KINDS, ids=lambda p: p.kind)
def test_to_dict_round_trips_through_json(predicate):
    text = json.dumps(predicate.to_dict())
    rebuilt = predicate_from_dict(json.loads(text))
    assert rebuilt == predicate
    assert hash(rebuilt) == hash(predicate)
    assert type(predicate).from_dict(json.loads(text)) == predicate
    assert json.loads(text)["type"] == predicate.kind


def test_from_dict_rejects_malformed_data():
    with pytest.raises(SelectionError, match="not a selection predicate"):
        predicate_from_dict({"type": "circle"})
    with pytest.raises(SelectionError, match="malformed 'range'"):
        predicate_from_dict({"type": "range", "lo": 1})
    with pytest.raises(SelectionError, match="malformed 'and'"):
        predicate_from_dict({"type": "and"})
    with pytest.raises(SelectionError, match="not a selection predicate"):
        predicate_from_dict(["range"])


def even_odd_reference(px, py, vertices):
    """Plain-loop point-in-polygon (even-odd), for points off the boundary."""
    inside = False
    for (xa, ya), (xb, yb) in zip(vertices, vertices[1:] + vertices[:1]):
        if (ya > py) != (yb > py) and px < xa + (py - ya) * (xb - xa) / (yb - ya):
            inside = not inside
    return inside


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_polygon_matches_a_plain_loop(seed):
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 40))
    radii = rng.uniform(0.3, 1.0, 40)                     # a jagged, concave lasso
    lasso = list(zip(radii * np.cos(angles), radii * np.sin(angles)))
    scribble = [tuple(p) for p in rng.uniform(-1, 1, (12, 2))]   # self-intersecting
    points = rng.uniform(-1.2, 1.2, (2000, 2))
    table = points_table([tuple(p) for p in points])
    for vertices in (lasso, scribble):
        expected = [even_odd_reference(px, py, vertices) for px, py in points]
        assert Polygon("x", "y", vertices).evaluate(table).tolist() == expected


@pytest.mark.parametrize("predicate", ALL_KINDS, ids=lambda p: p.kind)
def test_predicates_pickle_for_worker_processes(predicate):
    assert pickle.loads(pickle.dumps(predicate)) == predicate
