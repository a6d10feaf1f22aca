"""The Qt-free viewer state: table, map, colour, filters, ONE selection with undo, range brushes, bookmarks."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hyperviz.model.selection import And, Compare, Everything, Nothing, Polygon, Range, SelectionError
from hyperviz.model.state import AppState, Signal, column_kind, coord_columns, range_terms, with_range

REPO_ROOT = Path(__file__).resolve().parents[3]


def make_table(n: int = 40) -> dict:
    rng = np.random.default_rng(0)
    epoch = np.tile(np.arange(4), n // 4)
    return {
        "row": np.arange(n), "model": np.repeat(np.arange(n // 4), 4), "checkpoint": epoch,
        "model_id": np.repeat([f"m{i}" for i in range(n // 4)], 4),
        "epoch": epoch.astype(float), "test_acc": np.linspace(0.0, 1.0, n),
        "activation": np.array(["relu", "tanh"] * (n // 2)), "lr": np.array([1e-3, 1e-2] * (n // 2)),
        "umap_x": rng.normal(size=n), "umap_y": rng.normal(size=n),
        "pca_x": np.linspace(-1, 1, n), "pca_y": np.zeros(n),
    }


@pytest.fixture
def state():
    s = AppState()
    s.set_table(make_table(), source="t.h5")
    return s


class Recorder:
    def __init__(self, state: AppState):
        self.events = []
        for name in ("table", "projection", "colour", "filters", "selection", "current", "bookmarks", "samples", "view"):
            getattr(state.signals, name).connect(lambda *args, name=name: self.events.append((name, args)))

    def names(self):
        return [name for name, _ in self.events]


def test_signal_connects_once_and_disconnects():
    signal, calls = Signal(), []
    signal.connect(calls.append)
    signal.connect(calls.append)
    signal.emit(1)
    signal.disconnect(calls.append)
    signal.emit(2)
    assert calls == [1]


def test_table_defaults(state):
    assert state.n == 40
    assert state.projections == ["umap", "pca"]          # UMAP first when present
    assert state.projection == "umap"
    assert state.colour_by == "test_acc"
    assert state.properties() == ["epoch", "test_acc", "activation", "lr"]   # no ids, no coordinates
    assert state.kind("test_acc") == "continuous"
    assert state.kind("activation") == "categorical"
    assert state.kind("lr") == "discrete"
    assert state.numeric_properties() == ["epoch", "test_acc", "lr"]
    assert not state.has_selection and state.count_label() == "0 / 40"
    np.testing.assert_array_equal(state.coords("pca")[0], make_table()["pca_x"])


def test_column_kind_and_coord_columns():
    assert column_kind(np.array([0.1, 0.2, np.nan] + list(np.linspace(0, 1, 20)))) == "continuous"
    assert column_kind(np.array([1, 2, 3])) == "discrete"
    assert column_kind(np.array(["a", "b"])) == "categorical"
    assert coord_columns("umap") == ("umap_x", "umap_y")


def test_ragged_table_is_refused():
    with pytest.raises(SelectionError, match="differ in length"):
        AppState().set_table({"a": np.zeros(3), "b": np.zeros(4)})


def test_projection_and_colour_emit_only_on_change(state):
    rec = Recorder(state)
    state.set_projection("pca")
    state.set_projection("pca")
    state.set_colour_by("activation")
    state.set_colour_by("activation")
    assert rec.names() == ["projection", "colour"]
    with pytest.raises(SelectionError, match="no 'tsne' map"):
        state.set_projection("tsne")
    with pytest.raises(SelectionError, match="unknown column"):
        state.set_colour_by("nope")


def test_select_combines_and_undo_redo(state):
    rec = Recorder(state)
    x_col, y_col = coord_columns("pca")
    left = Polygon.box(x_col, y_col, -1.1, -1, -0.5, 1)       # pca_x <= -0.5: rows 0..9
    state.select(left)
    assert state.count_label() == "10 / 40"
    state.select(Range("test_acc", 0.95, None), "add")       # rows 38, 39
    assert int(state.selected_mask.sum()) == 12
    state.select(Compare("epoch", "==", 0), "subtract")
    assert int(state.selected_mask.sum()) == 12 - 3 - 0     # rows 0, 4, 8 have epoch 0 (36 too, not selected)
    state.undo()
    assert int(state.selected_mask.sum()) == 12
    state.undo()
    state.undo()
    assert not state.has_selection
    state.undo()                                             # at the oldest: no event
    state.redo()
    assert state.count_label() == "10 / 40"
    assert rec.names().count("selection") == 7           # 3 selects, 3 undos, 1 redo


def test_select_refuses_a_predicate_that_does_not_fit_and_keeps_the_history(state):
    with pytest.raises(SelectionError, match="unknown column"):
        state.select(Range("missing", 0, 1))
    assert len(state.history) == 1 and not state.has_selection


def test_clear_selection_is_undoable(state):
    state.select(Range("test_acc", 0.5, None))
    state.clear_selection()
    assert not state.has_selection
    state.undo()
    assert state.has_selection


def test_range_brush_replaces_only_its_own_term():
    poly = Polygon.box("x", "y", 0, 0, 1, 1)
    sel = with_range(Nothing(), "acc", 0.5, None)
    assert sel == Range("acc", 0.5, None)
    sel = with_range(poly, "acc", 0.5, None)
    assert sel == And(poly, Range("acc", 0.5, None))
    sel = with_range(sel, "acc", 0.7, 0.9)                  # same column: replaced, not stacked
    assert sel == And(poly, Range("acc", 0.7, 0.9))
    sel = with_range(sel, "epoch", None, 5)
    assert range_terms(sel) == {"acc": (0.7, 0.9), "epoch": (None, 5)}
    assert with_range(sel, "acc", None, None) == And(poly, Range("epoch", None, 5))
    assert with_range(Range("acc", 0, 1), "acc", None, None) == Nothing()
    assert with_range(Everything(), "acc", 0, 1) == Range("acc", 0, 1)


def test_state_range_brush(state):
    state.brush_range("test_acc", 0.5, None)
    assert int(state.selected_mask.sum()) == 20
    state.brush_range("epoch", 3, 3)
    assert state.range_terms() == {"test_acc": (0.5, None), "epoch": (3, 3)}
    assert int(state.selected_mask.sum()) == 5
    state.brush_range("test_acc", -np.inf, np.inf)          # infinite bounds are open bounds
    assert state.range_terms() == {"epoch": (3, 3)}
    state.undo()
    assert state.range_terms() == {"test_acc": (0.5, None), "epoch": (3, 3)}


def test_filters_hide_rows_and_restrict_the_shown_selection(state):
    rec = Recorder(state)
    state.select(Range("test_acc", 0.5, None))
    state.set_filter("epoch", 1, 2)
    assert int(state.visible_mask.sum()) == 20
    assert state.count_label() == "10 / 20"
    assert int(state.selection_mask.sum()) == 20             # the predicate itself is unchanged
    state.set_filter("epoch", 1, 2)                          # no change, no event
    state.set_filter("epoch", None, None)
    assert state.filters == {} and state.count_label() == "20 / 40"
    with pytest.raises(SelectionError, match="holds text"):
        state.set_filter("activation", 0, 1)
    assert rec.names() == ["selection", "filters", "filters"]


def test_summary_follows_the_selection(state):
    state.brush_range("test_acc", 0.5, None)
    state.set_filter("epoch", 0, 0)
    s = state.summary()
    assert s["count"] == 5 and s["total"] == 40
    assert s["stats"]["epoch"] == {"mean": 0.0, "min": 0.0, "max": 0.0}
    assert s["stats"]["test_acc"]["min"] >= 0.5


def test_current_and_model_rows(state):
    rec = Recorder(state)
    state.set_current(5)
    state.set_current(5)
    assert rec.events == [("current", (5,))]
    np.testing.assert_array_equal(state.rows_of_model(1), [4, 5, 6, 7])
    with pytest.raises(SelectionError, match="out of range"):
        state.set_current(40)
    state.set_current(None)
    assert state.current is None


def test_bookmark_round_trip(state, tmp_path):
    state.set_projection("pca")
    state.set_colour_by("activation")
    state.set_filter("epoch", 1, None)
    state.select(Polygon("pca_x", "pca_y", ((-1, -1), (0, -1), (0, 1))))
    state.brush_range("test_acc", 0.1, None)
    expected = state.selected_mask.copy()
    state.add_bookmark("left half", view_range=[[-1, 0], [-1, 1]])
    path = state.save_bookmarks(tmp_path / "b.json")
    saved = json.loads(path.read_text())
    assert saved["format"] == "hyperviz-bookmarks" and saved["bookmarks"][0]["name"] == "left half"

    other = AppState()
    other.set_table(make_table())
    rec = Recorder(other)
    assert [b["name"] for b in other.load_bookmarks(path)] == ["left half"]
    other.apply_bookmark(other.bookmarks[0])
    np.testing.assert_array_equal(other.selected_mask, expected)
    assert (other.projection, other.colour_by, other.filters) == ("pca", "activation", {"epoch": (1.0, None)})
    assert ("view", ([[-1.0, 0.0], [-1.0, 1.0]],)) in rec.events
    other.undo()                                             # applying a bookmark is one undoable step
    assert not other.has_selection


def test_bookmark_with_the_same_name_is_replaced_and_removed(state):
    state.add_bookmark("a")
    state.select(Range("test_acc", 0.2, None))
    state.add_bookmark("a")
    assert len(state.bookmarks) == 1 and state.bookmarks[0]["selection"]["type"] == "range"
    state.remove_bookmark("a")
    assert state.bookmarks == []


def test_bad_bookmarks_are_clear_errors(state, tmp_path):
    with pytest.raises(SelectionError, match="lacks: nope"):
        state.apply_bookmark({"name": "x", "selection": Range("nope", 0, 1).to_dict()})
    with pytest.raises(SelectionError, match="malformed"):
        state.apply_bookmark({"name": "x"})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SelectionError, match="not a bookmarks file"):
        state.load_bookmarks(bad)
    bad.write_text(json.dumps({"bookmarks": [{"name": "x", "selection": {"type": "banana"}}]}))
    with pytest.raises(SelectionError, match="not a selection predicate"):
        state.load_bookmarks(bad)
    assert state.bookmarks == []


def test_new_table_resets_or_keeps_the_selection(state):
    state.select(Range("test_acc", 0.5, None))
    state.set_filter("epoch", 1, None)
    table = make_table()
    state.set_table(table, keep_selection=True)               # e.g. after a new map was added
    assert state.has_selection and state.filters == {"epoch": (1.0, None)}
    state.set_table({k: v for k, v in table.items() if k != "test_acc"}, keep_selection=True)
    assert not state.has_selection                            # the old selection no longer fits
    state.select(Range("epoch", 1, None))
    state.set_table(table)
    assert not state.has_selection and state.filters == {}


def test_state_module_never_imports_qt():
    code = ("import sys, hyperviz.model.state\n"
            "print(','.join(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'torch')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


# --- batches of changes ---------------------------------------------------------------------------

def test_a_batch_fires_each_aspect_once_and_changed_once(state):
    rec, changes = Recorder(state), []
    state.signals.changed.connect(changes.append)
    with state.batch():
        state.set_projection("pca")
        state.select(Range("test_acc", 0.5, None))
        state.select(Range("test_acc", 0.7, None))
        with state.batch():                                  # nested: only the outermost one fires
            state.set_filter("epoch", 1, None)
        assert rec.events == [] and changes == []
    assert rec.names() == ["projection", "selection", "filters"]
    assert changes == [frozenset({"projection", "selection", "filters"})]
    state.set_colour_by("activation")                        # outside a batch: one change each
    assert changes[-1] == frozenset({"colour"}) and len(changes) == 2


def test_watch_calls_back_only_for_its_aspects(state):
    calls = []
    state.signals.watch(("selection", "filters"), calls.append)
    state.set_projection("pca")
    state.select(Range("test_acc", 0.5, None))
    with state.batch():
        state.set_filter("epoch", 1, None)
        state.set_colour_by("activation")
    assert calls == [frozenset({"selection"}), frozenset({"filters", "colour"})]
    with pytest.raises(ValueError, match="unknown aspects"):
        state.signals.watch(("nope",), calls.append)


def test_a_bookmark_is_one_batch_of_changes_made_through_the_setters(state):
    state.set_filter("lr", None, 0.005)
    bookmark = {"name": "b", "projection": "pca", "colour_by": "activation", "filters": {"epoch": [1, None]},
                "selection": Range("test_acc", 0.5, None).to_dict(), "view_range": [[0, 1], [0, 1]]}
    rec, changes = Recorder(state), []
    state.signals.changed.connect(changes.append)
    state.apply_bookmark(bookmark)
    assert changes == [frozenset({"projection", "colour", "filters", "selection"})]
    assert rec.names() == ["projection", "colour", "filters", "selection", "view"]
    assert state.filters == {"epoch": (1.0, None)} and int(state.visible_mask.sum()) == 30
    with pytest.raises(SelectionError, match="holds text"):          # refused before anything changes
        state.apply_bookmark({**bookmark, "projection": "umap", "filters": {"activation": [0, 1]}})
    assert state.projection == "pca" and len(changes) == 1
