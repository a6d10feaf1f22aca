"""The viewer state: one object every view renders, and nothing that knows about Qt.

:class:`AppState` holds the loaded table of model states (one row per embedded state: its
properties, its hyperparameters and its coordinates in every stored map), the chosen map and
colour, the filters, the ONE selection (with undo/redo), the model in focus and the bookmarks.
Views take the state in their constructor and subscribe to its :class:`StateSignals`; the state
never knows the views. Every change goes through a method here, so brushing, undo, bookmarks and
tests all take the same path.

* **Signals** - one per aspect (``selection``, ``filters``, ...) for widgets bound to one value,
  and ``changed`` with the names of the aspects that changed, for views that draw several:
  ``signals.watch(aspects, redraw)``. :meth:`AppState.batch` holds the signals back while several
  aspects change (napari's ``EventedModel.update``, glue's ``delay_callback``), so a view watching
  several redraws once for a bookmark, which changes map, colour, filters and selection at once.
* **Selection** - an immutable predicate (``hyperviz.model.selection``) on a
  :class:`~hyperviz.model.selection.SelectionHistory`. Map brushes are polygons over the
  coordinate columns of a map (``umap_x``, ``umap_y``), so a lasso drawn on UMAP still means the
  same models after switching to PCA.
* **Range brushes** (the property panel) refine the selection: dragging the range of ``test_acc``
  replaces the ``test_acc`` term of the selection's top-level AND and keeps every other term
  (:func:`with_range`, :func:`range_terms`).
* **Filters** hide rows (e.g. the epoch slider). The selection shown and counted is
  ``selection & filters``; the count reads ``k / n`` with ``n`` the visible rows.
* **Bookmarks** are plain dicts (name, selection ``to_dict``, filters, colour, map, view range)
  saved as JSON.
"""
from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hyperviz.model.colours import ColourCoding, colour_coding
from hyperviz.model.columns import ID_COLUMNS, column_kind, coord_columns
from hyperviz.model.crossfilter import describe_selection, with_category, with_map_brush
from hyperviz.model.selection import (
    And,
    Everything,
    Not,
    Nothing,
    Or,
    Predicate,
    Range,
    SelectionError,
    SelectionHistory,
    Xor,
    combine,
    count_label,
    predicate_from_dict,
    summary,
)

BOOKMARKS_FORMAT = "hyperviz-bookmarks"
BOOKMARKS_VERSION = 1
#: Text columns with more distinct values than this are not offered for colour (no legend fits).
MAX_CATEGORIES = 24
#: Masks of recently evaluated predicates kept (by value), so undo/redo and combined selections
#: (``old | new``) only evaluate what is new. 100k rows: 100 KB per mask.
MASK_MEMO_SIZE = 32
#: Statistics shown for the selection, when the table has them.
SUMMARY_COLUMNS = ("test_acc", "train_acc", "ggap", "epoch")
PREFERRED_COLOUR = ("test_acc", "epoch")


class Signal:
    """A list of callbacks; ``emit(*args)`` calls each in the order they connected."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)


class StateSignals:
    """What can change: one signal per aspect (its arguments in the comment), and ``changed``.

    ``changed(aspects)`` fires once after each change with the names of the aspects that changed
    (a frozenset), or once after a :meth:`batch` of changes; the aspect signals fire just before
    it. ``view`` is a request, not a change of the state: a bookmark asks the map to show a range.
    """

    ASPECTS = ("table", "projection", "colour", "filters", "selection", "current", "bookmarks", "samples", "chosen")

    def __init__(self) -> None:
        self.table = Signal()        # () a new table: everything changed
        self.projection = Signal()   # (method)
        self.colour = Signal()       # (column)
        self.filters = Signal()      # ()
        self.selection = Signal()    # ()
        self.current = Signal()      # (row or None)
        self.bookmarks = Signal()    # ()
        self.samples = Signal()      # ()
        self.chosen = Signal()       # (indices into samples) the sampled models chosen in the samples table
        self.changed = Signal()      # (frozenset of aspect names) after a change or a batch of changes
        self.view = Signal()         # ([[x0, x1], [y0, y1]]) a bookmark asks the map to show this range
        self._depth = 0
        self._held: dict[str, tuple] = {}

    def emit(self, aspect: str, *args: Any) -> None:
        """Announce that ``aspect`` changed: now, or when the batch under way ends."""
        if self._depth:
            self._held[aspect] = args            # a second change keeps the first one's place, with the new args
            return
        getattr(self, aspect).emit(*args)
        self.changed.emit(frozenset((aspect,)))

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Hold every signal until the block ends, then fire each aspect's signal once and ``changed`` once.

        Batches nest (the outermost one fires); the signals fire even when the block raises, since
        what changed before the error has changed.
        """
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self._held:
                held, self._held = self._held, {}
                for aspect, args in held.items():
                    getattr(self, aspect).emit(*args)
                self.changed.emit(frozenset(held))

    def watch(self, aspects: Iterable[str], redraw: Callable[[frozenset], Any]) -> None:
        """Call ``redraw(changed)`` once after each change, or batch of changes, that touches one of ``aspects``."""
        aspects = frozenset(aspects)
        unknown = aspects - set(self.ASPECTS)
        if unknown:
            raise ValueError(f"unknown aspects {sorted(unknown)} (known: {', '.join(self.ASPECTS)})")

        def on_changed(changed: frozenset) -> None:
            if changed & aspects:
                redraw(changed)

        self.changed.connect(on_changed)


# --- pure helpers -----------------------------------------------------------------------------

def range_terms(selection: Predicate) -> dict[str, tuple[float | None, float | None]]:
    """The ``Range`` terms of the selection's top-level AND: ``{column: (lo, hi)}``."""
    parts = selection.parts if isinstance(selection, And) else (selection,)
    return {p.column: (p.lo, p.hi) for p in parts if isinstance(p, Range)}


def with_range(selection: Predicate, column: str, lo: float | None, hi: float | None) -> Predicate:
    """``selection`` with its top-level ``Range`` on ``column`` replaced by ``lo <= column <= hi``.

    The empty selection counts as "everything" here, so the first range brush selects its rows.
    Both bounds None removes the term; removing the last term gives the empty selection.
    """
    base = Everything() if isinstance(selection, Nothing) else selection
    parts = base.parts if isinstance(base, And) else (base,)
    keep = [p for p in parts if not (isinstance(p, Range) and p.column == column) and not isinstance(p, Everything)]
    if lo is not None or hi is not None:
        keep.append(Range(column, lo, hi))
    if not keep:
        return Nothing()
    return keep[0] if len(keep) == 1 else And(*keep)


def _bound(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isinf(value) or math.isnan(value) else value


# --- the state ----------------------------------------------------------------------------------

class AppState:
    """Everything the views show, changed only through these methods (see the module docstring)."""

    def __init__(self) -> None:
        self.signals = StateSignals()
        self.table: dict[str, np.ndarray] = {}
        self.n = 0
        self.source = ""                               # where the table came from (a workspace path)
        self.projections: list[str] = []
        self.projection: str | None = None
        self.colour_by: str | None = None
        self.filters: dict[str, tuple[float | None, float | None]] = {}
        self.history = SelectionHistory()
        self.current: int | None = None
        self.bookmarks: list[dict] = []
        self.samples: dict[str, np.ndarray] = {}       # one row per sampled model (see set_samples)
        self.chosen_samples: tuple[int, ...] = ()      # indices into samples chosen in the table (their stars ringed)
        self._kinds: dict[str, str] = {}
        self._colourable: list[str] | None = None
        self._masks: dict[Predicate, np.ndarray] = {}
        self._filter_cache: np.ndarray | None = None
        self._coding: ColourCoding | None = None

    # ---- loading ---------------------------------------------------------------------------
    def set_table(self, table: Mapping[str, np.ndarray], source: str = "", bookmarks: Sequence[dict] = (),
                  keep_selection: bool = False) -> None:
        """Show a new table. Maps are the ``<method>_x/_y`` column pairs (UMAP preferred).

        The selection, filters and colour are kept when they still fit the new table and
        ``keep_selection`` is set (e.g. after a projection was added); otherwise reset.
        """
        table = {name: np.asarray(col) for name, col in table.items()}
        n = len(next(iter(table.values()))) if table else 0
        if any(len(col) != n for col in table.values()):
            raise SelectionError("table columns differ in length")
        self.table, self.n, self.source = table, n, source
        self._kinds, self._colourable = {}, None
        self.projections = sorted({name[:-2] for name in table if name.endswith("_x") and name[:-2] + "_y" in table},
                                  key=lambda m: (m != "umap", m))
        if self.projection not in self.projections:
            self.projection = self.projections[0] if self.projections else None
        if self.colour_by not in self.colourable():
            self.colour_by = next((c for c in PREFERRED_COLOUR if c in table), None)
        if not keep_selection or not self._fits(self.history.current):
            self.history = SelectionHistory()
        self.filters = {k: v for k, v in self.filters.items() if keep_selection and k in table}
        self.current = None
        if not keep_selection:
            self.bookmarks = [dict(b) for b in bookmarks]
        self._masks = {}
        self._filter_cache = None
        self._coding = None
        self.samples = {}
        self.chosen_samples = ()
        self.signals.emit("table")

    def _fits(self, predicate: Predicate) -> bool:
        try:
            self.evaluate(predicate)
        except SelectionError:
            return False
        return True

    def evaluate(self, predicate: Predicate) -> np.ndarray:
        """The mask ``[n]`` of ``predicate`` over the table, reusing the masks of known sub-predicates."""
        mask = self._masks.get(predicate)
        if mask is None:
            if isinstance(predicate, (And, Or, Xor)):
                reduce = {And: np.logical_and, Or: np.logical_or, Xor: np.logical_xor}[type(predicate)]
                mask = reduce.reduce([self.evaluate(part) for part in predicate.parts])
            elif isinstance(predicate, Not):
                mask = ~self.evaluate(predicate.part)
            else:
                mask = predicate.evaluate(self.table)
            mask.setflags(write=False)
            self._masks[predicate] = mask
            while len(self._masks) > MASK_MEMO_SIZE:
                self._masks.pop(next(iter(self._masks)))
        return mask

    # ---- columns -----------------------------------------------------------------------------
    def kind(self, column: str) -> str:
        """:func:`column_kind` of a table column (cached)."""
        if column not in self._kinds:
            self._kinds[column] = column_kind(self.table[column])
        return self._kinds[column]

    def properties(self) -> list[str]:
        """Columns that describe model states (not ids, not map coordinates), in table order."""
        coords = {c for m in self.projections for c in coord_columns(m)}
        return [c for c in self.table if c not in ID_COLUMNS and c not in coords]

    def colourable(self) -> list[str]:
        """Properties the map can be coloured by (text columns only with a legend-sized set of values)."""
        if self._colourable is None:
            self._colourable = [c for c in self.properties()
                                if self.kind(c) != "categorical" or len(np.unique(self.table[c])) <= MAX_CATEGORIES]
        return list(self._colourable)

    def numeric_properties(self) -> list[str]:
        """Properties with numbers (the ones that get a histogram and a range brush)."""
        return [c for c in self.properties() if self.kind(c) != "categorical"]

    def projection_choices(self) -> list[tuple[str, str]]:
        """The maps to choose from, as ``(label, method)``: what the map chooser offers."""
        return [(method.upper(), method) for method in self.projections]

    def colour_choices(self) -> list[tuple[str, str]]:
        """The properties to colour by, as ``(label, column)``: what the colour chooser offers."""
        return [(column, column) for column in self.colourable()]

    def bounds(self, column: str) -> tuple[float, float] | None:
        """``(min, max)`` of a numeric column's finite values, or None (no such column, no rows, no numbers)."""
        if self.n == 0 or column not in self.table or self.kind(column) == "categorical":
            return None
        values = np.asarray(self.table[column], dtype=np.float64)
        finite = values[np.isfinite(values)]
        return (float(finite.min()), float(finite.max())) if finite.size else None

    def coords(self, method: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(x [n], y [n])`` of every row in map ``method`` (default: the shown map)."""
        method = method or self.projection
        if method is None:
            raise SelectionError("no map: the workspace has no stored projection")
        x, y = coord_columns(method)
        return self.table[x], self.table[y]

    # ---- batching -------------------------------------------------------------------------------
    def batch(self) -> contextlib.AbstractContextManager[None]:
        """``with state.batch():`` - several changes, one redraw per view (:meth:`StateSignals.batch`)."""
        return self.signals.batch()

    # ---- map and colour ----------------------------------------------------------------------
    def set_projection(self, method: str) -> None:
        if method not in self.projections:
            raise SelectionError(f"no '{method}' map (have: {', '.join(self.projections) or 'none'})")
        if method != self.projection:
            self.projection = method
            self.signals.emit("projection", method)

    def set_colour_by(self, column: str) -> None:
        if column not in self.table:
            raise SelectionError(f"unknown column '{column}' (known: {', '.join(self.colourable())})")
        if column != self.colour_by:
            self.colour_by = column
            self._coding = None
            self.signals.emit("colour", column)

    def colour_coding(self) -> ColourCoding | None:
        """How the map colours its points: :func:`hyperviz.model.colours.colour_coding` of the
        colour column, computed once per table and column (None without a table or colour)."""
        if self._coding is None and self.colour_by is not None and self.n:
            self._coding = colour_coding(self.colour_by, self.table[self.colour_by])
        return self._coding

    # ---- filters -------------------------------------------------------------------------------
    def set_filter(self, column: str, lo: float | None, hi: float | None) -> None:
        """Show only rows with ``lo <= column <= hi`` (None = open); both None removes the filter."""
        lo, hi = _bound(lo), _bound(hi)
        self._check_filter(column, lo, hi)
        new = dict(self.filters)
        if lo is None and hi is None:
            new.pop(column, None)
        else:
            new[column] = (lo, hi)
        if new != self.filters:
            self.filters = new
            self._filter_cache = None
            self.signals.emit("filters")

    def _check_filter(self, column: str, lo: float | None, hi: float | None) -> None:
        if column not in self.table:
            raise SelectionError(f"unknown column '{column}'")
        if lo is not None or hi is not None:
            Range(column, lo, hi).evaluate(self.table)      # raises for text columns

    def clear_filters(self) -> None:
        if self.filters:
            self.filters = {}
            self._filter_cache = None
            self.signals.emit("filters")

    @property
    def visible_mask(self) -> np.ndarray:
        """Rows that pass every filter, bool ``[n]``."""
        if self._filter_cache is None:
            mask = np.ones(self.n, dtype=bool)
            for column, (lo, hi) in self.filters.items():
                mask &= Range(column, lo, hi).evaluate(self.table)
            self._filter_cache = mask
        return self._filter_cache

    # ---- the selection ---------------------------------------------------------------------------
    @property
    def selection(self) -> Predicate:
        return self.history.current

    @property
    def selection_mask(self) -> np.ndarray:
        """Rows the selection predicate matches (filters not applied), bool ``[n]``."""
        return self.evaluate(self.history.current)

    @property
    def selected_mask(self) -> np.ndarray:
        """What views show as selected: selection and filters, bool ``[n]``."""
        return self.selection_mask & self.visible_mask

    @property
    def has_selection(self) -> bool:
        return not isinstance(self.history.current, Nothing)

    def _push(self, predicate: Predicate) -> None:
        self.evaluate(predicate)                         # refuse predicates that do not fit, before pushing
        before = self.history.current
        if self.history.push(predicate) is not before:
            self.signals.emit("selection")

    def select(self, predicate: Predicate, mode: str = "replace") -> None:
        """Combine ``predicate`` into the selection (``replace``/``add``/``subtract``/``intersect``/``xor``)."""
        self._push(combine(mode, self.history.current, predicate))

    def brush_range(self, column: str, lo: float | None, hi: float | None) -> None:
        """Set the range term of ``column`` in the selection (see :func:`with_range`)."""
        self._push(with_range(self.history.current, column, _bound(lo), _bound(hi)))

    def brush_map(self, shape: Predicate, mode: str = "replace") -> None:
        """A box or lasso drawn with ``mode``: changes the map term, keeps the property brushes (AND)."""
        self._push(with_map_brush(self.history.current, mode, shape, self.coordinate_columns()))

    def brush_category(self, column: str, value: Any, mode: str = "replace") -> None:
        """A click on category (or value) ``value`` of ``column``: changes that property's term only
        (:func:`hyperviz.model.crossfilter.with_category`)."""
        levels = [v.item() if isinstance(v, np.generic) else v for v in np.unique(self.table[column])]
        self._push(with_category(self.history.current, column, value, mode, levels))

    def coordinate_columns(self) -> list[str]:
        """The map coordinate columns of every stored map."""
        return [c for m in self.projections for c in coord_columns(m)]

    def describe_selection(self) -> str:
        """The selection in words, numbers rounded (:func:`hyperviz.model.crossfilter.describe_selection`)."""
        return describe_selection(self.history.current, self.coordinate_columns())

    def range_terms(self) -> dict[str, tuple[float | None, float | None]]:
        return range_terms(self.history.current)

    def clear_selection(self) -> None:
        self._push(Nothing())

    def undo(self) -> None:
        before = self.history.current
        if self.history.undo() is not before:
            self.signals.emit("selection")

    def redo(self) -> None:
        before = self.history.current
        if self.history.redo() is not before:
            self.signals.emit("selection")

    def count_label(self) -> str:
        """``"k / n"``: selected visible rows / visible rows."""
        return count_label(int(self.selected_mask.sum()), int(self.visible_mask.sum()))

    def summary(self) -> dict[str, Any]:
        """:func:`hyperviz.model.selection.summary` of the shown selection over the visible rows."""
        columns = [c for c in SUMMARY_COLUMNS if c in self.table and self.kind(c) != "categorical"]
        return summary(self.table, self.selected_mask, columns)

    # ---- focus ---------------------------------------------------------------------------------
    def set_current(self, row: int | None) -> None:
        """The model state in focus (clicked), or None."""
        if row is not None and not 0 <= int(row) < self.n:
            raise SelectionError(f"row {row} out of range (0..{self.n - 1})")
        row = None if row is None else int(row)
        if row != self.current:
            self.current = row
            self.signals.emit("current", row)

    def rows_of_model(self, model: int) -> np.ndarray:
        """Rows of one model's states, ordered by epoch ``[k]``."""
        rows = np.flatnonzero(self.table["model"] == model)
        return rows[np.argsort(self.table["epoch"][rows], kind="stable")]

    # ---- samples -------------------------------------------------------------------------------
    def set_samples(self, samples: Mapping[str, np.ndarray]) -> None:
        """Sampled models shown beside the table (columns of equal length: coordinates per map, metrics)."""
        self.samples = {k: np.asarray(v) for k, v in samples.items()}
        self.chosen_samples = ()                       # indices into the samples before: meaningless now
        self.signals.emit("samples")

    def choose_samples(self, indices: Iterable[int]) -> None:
        """The sampled models chosen (in the samples table): indices into ``samples``, drawn ringed in the map."""
        n = len(next(iter(self.samples.values()))) if self.samples else 0
        chosen = tuple(sorted({int(i) for i in indices}))
        if any(not 0 <= i < n for i in chosen):
            raise SelectionError(f"sample index out of range (0..{n - 1}): {chosen}")
        if chosen != self.chosen_samples:
            self.chosen_samples = chosen
            self.signals.emit("chosen", chosen)

    # ---- bookmarks -----------------------------------------------------------------------------
    def make_bookmark(self, name: str, view_range: Sequence[Sequence[float]] | None = None) -> dict:
        """A JSON-ready bookmark of what is shown now."""
        return {"name": str(name), "selection": self.selection.to_dict(),
                "filters": {k: [lo, hi] for k, (lo, hi) in self.filters.items()},
                "colour_by": self.colour_by, "projection": self.projection,
                "view_range": None if view_range is None else [[float(a), float(b)] for a, b in view_range]}

    def add_bookmark(self, name: str, view_range: Sequence[Sequence[float]] | None = None) -> dict:
        """Bookmark what is shown now under ``name`` (replacing a bookmark of the same name)."""
        bookmark = self.make_bookmark(name, view_range)
        self.bookmarks = [b for b in self.bookmarks if b.get("name") != name] + [bookmark]
        self.signals.emit("bookmarks")
        return bookmark

    def remove_bookmark(self, name: str) -> None:
        self.bookmarks = [b for b in self.bookmarks if b.get("name") != name]
        self.signals.emit("bookmarks")

    def apply_bookmark(self, bookmark: Mapping[str, Any]) -> None:
        """Show a bookmark: its map, colour, filters and selection (one undoable step), then its view.

        The four change in one :meth:`batch`, so a view watching them redraws once; nothing changes
        when the bookmark does not fit the table.
        """
        try:
            predicate = predicate_from_dict(bookmark["selection"])
            filters = {str(k): (_bound(v[0]), _bound(v[1])) for k, v in dict(bookmark.get("filters") or {}).items()}
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise SelectionError(f"bookmark {bookmark.get('name', '?')!r} is malformed ({exc})") from None
        missing = sorted((predicate.columns() | set(filters)) - set(self.table))
        if missing:
            raise SelectionError(f"bookmark {bookmark.get('name', '?')!r} needs columns this workspace lacks: "
                                 f"{', '.join(missing)}")
        for column, (lo, hi) in filters.items():
            self._check_filter(column, lo, hi)
        self.evaluate(predicate)
        with self.batch():
            if bookmark.get("projection") in self.projections:
                self.set_projection(bookmark["projection"])
            if bookmark.get("colour_by") in self.table:
                self.set_colour_by(bookmark["colour_by"])
            if filters != self.filters:
                self.clear_filters()
                for column, (lo, hi) in filters.items():
                    self.set_filter(column, lo, hi)
            self._push(predicate)
        if bookmark.get("view_range"):
            self.signals.view.emit(bookmark["view_range"])

    def save_bookmarks(self, path: str | Path) -> Path:
        """Write every bookmark to a JSON file."""
        path = Path(path)
        data = {"format": BOOKMARKS_FORMAT, "version": BOOKMARKS_VERSION, "source": self.source,
                "bookmarks": self.bookmarks}
        path.write_text(json.dumps(data, indent=2))
        return path

    def load_bookmarks(self, path: str | Path) -> list[dict]:
        """Read bookmarks from a JSON file (ours, or a plain list) and add them; returns those read."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SelectionError(f"{path}: not a bookmarks file ({exc})") from None
        items = data.get("bookmarks") if isinstance(data, dict) else data
        if not isinstance(items, list) or not all(isinstance(b, dict) and "name" in b and "selection" in b
                                                  for b in items):
            raise SelectionError(f"{path}: not a bookmarks file (expected a list of {{name, selection, ...}})")
        for bookmark in items:
            predicate_from_dict(bookmark["selection"])   # malformed selections fail here, before adding
        names = {b["name"] for b in items}
        self.bookmarks = [b for b in self.bookmarks if b.get("name") not in names] + [dict(b) for b in items]
        self.signals.emit("bookmarks")
        return items
