"""The selection model: predicates, combine modes, undo history and summaries.

A selection is an immutable predicate tree (see ``hyperviz.model.predicates``, re-exported here)
evaluated to a boolean mask over the table of model states. Views render masks; brushing tools
call ``combine`` with the mode picked by the modifier keys (Shift adds, Ctrl/Alt subtracts) and
push the result on a ``SelectionHistory`` so it can be undone. The cleared selection is
``Nothing()``, so that adding to it gives exactly the new region.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hyperviz.model.predicates import (
    And,
    Compare,
    Everything,
    Ids,
    InSet,
    Not,
    Nothing,
    Or,
    Polygon,
    Predicate,
    Range,
    SelectionError,
    Table,
    Value,
    Xor,
    format_literal,
    format_name,
    n_rows,
    predicate_from_dict,
)

__all__ = [
    "And", "Compare", "Everything", "Ids", "InSet", "Not", "Nothing", "Or", "Polygon",
    "Predicate", "Range", "SelectionError", "Table", "Value", "Xor", "format_name",
    "format_literal", "n_rows", "predicate_from_dict",
    "MODES", "combine", "SelectionHistory", "summary", "count_label",
]

# --- combine modes ------------------------------------------------------------------------------

MODES = ("replace", "add", "subtract", "intersect", "xor")


def _not(a: Predicate) -> Predicate:
    if isinstance(a, Everything):
        return Nothing()
    if isinstance(a, Nothing):
        return Everything()
    return a.part if isinstance(a, Not) else Not(a)


def _and(a: Predicate, b: Predicate) -> Predicate:
    if isinstance(a, Nothing) or isinstance(b, Nothing) or b == _not(a):
        return Nothing()
    if isinstance(a, Everything):
        return b
    if isinstance(b, Everything) or a == b:
        return a
    return And(a, b)


def _or(a: Predicate, b: Predicate) -> Predicate:
    if isinstance(a, Everything) or isinstance(b, Everything) or b == _not(a):
        return Everything()
    if isinstance(a, Nothing):
        return b
    if isinstance(b, Nothing) or a == b:
        return a
    return Or(a, b)


def _xor(a: Predicate, b: Predicate) -> Predicate:
    if a == b:
        return Nothing()
    if isinstance(a, Nothing):
        return b
    if isinstance(b, Nothing):
        return a
    if isinstance(a, Everything):
        return _not(b)
    if isinstance(b, Everything):
        return _not(a)
    return Xor(a, b)


def combine(mode: str, current: Predicate, new: Predicate) -> Predicate:
    """Apply a brushing mode: the selection that results from ``new`` drawn over ``current``.

    Modes: ``replace`` (new), ``add`` (current or new), ``subtract`` (current and not new),
    ``intersect`` (current and new), ``xor``. Trivial cases simplify (adding to ``Nothing()``
    gives ``new``; subtracting everything gives ``Nothing()``) so trees only grow when needed.
    """
    if mode == "replace":
        return new
    if mode == "add":
        return _or(current, new)
    if mode == "subtract":
        return _and(current, _not(new))
    if mode == "intersect":
        return _and(current, new)
    if mode == "xor":
        return _xor(current, new)
    raise SelectionError(f"unknown selection mode '{mode}' (known: {', '.join(MODES)})")


# --- undo / redo --------------------------------------------------------------------------------

class SelectionHistory:
    """Undo/redo stack of selection values; ``current`` is the selection views should show.

    ``push`` records a new selection (dropping any redo branch); pushing a value equal to the
    current one changes nothing. At most ``max_length`` selections are kept, oldest dropped first.
    """

    def __init__(self, initial: Predicate | None = None, max_length: int = 100) -> None:
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {max_length}")
        self._states: list[Predicate] = [Nothing() if initial is None else initial]
        self._index = 0
        self._max_length = max_length

    @property
    def current(self) -> Predicate:
        """The selection now in effect."""
        return self._states[self._index]

    @property
    def can_undo(self) -> bool:
        """True when ``undo`` would go back to an earlier selection."""
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        """True when ``redo`` would restore an undone selection."""
        return self._index < len(self._states) - 1

    def __len__(self) -> int:
        return len(self._states)

    def push(self, selection: Predicate) -> Predicate:
        """Make ``selection`` current, dropping the redo branch; returns the current selection."""
        if not isinstance(selection, Predicate):
            raise SelectionError(f"history holds predicates, got {selection!r}")
        if selection != self.current:
            del self._states[self._index + 1:]
            self._states.append(selection)
            del self._states[:-self._max_length]
            self._index = len(self._states) - 1
        return self.current

    def undo(self) -> Predicate:
        """Step back one selection (no-op at the oldest); returns the current selection."""
        self._index = max(self._index - 1, 0)
        return self.current

    def redo(self) -> Predicate:
        """Step forward one undone selection (no-op at the newest); returns the current one."""
        self._index = min(self._index + 1, len(self._states) - 1)
        return self.current


# --- summaries ----------------------------------------------------------------------------------

def _stats(values: np.ndarray) -> dict[str, float]:
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return {"mean": math.nan, "min": math.nan, "max": math.nan}
    return {"mean": float(finite.mean()), "min": float(finite.min()), "max": float(finite.max())}


def summary(table: Table, mask: np.ndarray, columns: Sequence[str] = ()) -> dict[str, Any]:
    """Count and per-column statistics of the selected rows.

    ``mask`` is a boolean array ``[n_rows]``; ``columns`` name numeric columns. Returns
    ``{"count": k, "total": n, "stats": {column: {"mean", "min", "max"}}}``; NaN values are
    ignored, and a column with no selected non-NaN value gets NaN statistics.
    """
    n = n_rows(table)
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (n,):
        raise SelectionError(f"mask must be a boolean array of shape ({n},), "
                             f"got {mask.dtype} {mask.shape}")
    stats = {}
    for name in columns:
        if name not in table:
            raise SelectionError(f"unknown column '{name}' (known: {', '.join(sorted(table))})")
        column = np.asarray(table[name])
        if column.dtype.kind not in "biuf":
            raise SelectionError(f"cannot summarise '{name}': it does not hold numbers")
        stats[name] = _stats(column[mask].astype(np.float64))
    return {"count": int(mask.sum()), "total": n, "stats": stats}


def count_label(k: int, n: int) -> str:
    """The selection count as shown in the status bar: ``count_label(47, 412) == "47 / 412"``."""
    return f"{k} / {n}"
