"""Crossfilter: the map selection and the property brushes combine with AND, and read as one sentence.

The selection stays one predicate (one undo history, one bookmark format), shaped as a top-level
AND of *terms*:

* one **map term** - whatever the box and lasso tools drew, combined with their modes (Shift adds,
  Ctrl/Alt subtracts) - and
* one **property term** per brushed property: a ``Range`` (a histogram's range) or an ``InSet``
  (the categories or few values clicked in a bar chart).

A new map gesture changes only the map term and a property brush only its own term, so a lasso
and ``test_acc >= 0.9`` and ``activation in ("relu",)`` mean "all three" (as in Embedding Atlas).
:func:`describe_selection` writes the terms for people: rounded numbers (``format_value``), maps
by name, one clause per term.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from hyperviz.model.formatting import format_value
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
    Predicate,
    Range,
    Xor,
    combine,
)

METHOD_LABELS = {"umap": "UMAP", "pca": "PCA"}


def _is_property_term(part: Predicate, coords: frozenset[str]) -> bool:
    return isinstance(part, (Range, InSet)) and part.column not in coords


def split_terms(selection: Predicate, coords: Iterable[str] = ()) -> tuple[Predicate | None, list[Predicate]]:
    """``(map term or None, [property terms])`` of a selection (see the module docstring).

    ``coords`` names the map coordinate columns: a range over one of them belongs to the map.
    """
    coords = frozenset(coords)
    if isinstance(selection, (Nothing, Everything)):
        return None, []
    parts = selection.parts if isinstance(selection, And) else (selection,)
    terms = [p for p in parts if _is_property_term(p, coords)]
    rest = [p for p in parts if not _is_property_term(p, coords) and not isinstance(p, Everything)]
    map_term = None if not rest else rest[0] if len(rest) == 1 else And(*rest)
    return map_term, terms


def join_terms(map_term: Predicate | None, terms: Sequence[Predicate]) -> Predicate:
    """The selection of a map term (None: no map brush) and property terms, ANDed."""
    if isinstance(map_term, Nothing):
        return Nothing()
    parts = ([map_term] if map_term is not None and not isinstance(map_term, Everything) else []) + list(terms)
    if not parts:
        return Everything() if isinstance(map_term, Everything) else Nothing()
    return parts[0] if len(parts) == 1 else And(*parts)


def with_map_brush(selection: Predicate, mode: str, shape: Predicate, coords: Iterable[str] = ()) -> Predicate:
    """``selection`` after a box or lasso ``shape`` drawn with ``mode``: the map term changes, the
    property terms stay.

    Without a map term yet, the shape becomes it (Ctrl/Alt with property brushes keeps the brushed
    states outside the shape: "these, but not here").
    """
    map_term, terms = split_terms(selection, coords)
    if map_term is None:
        base = Everything() if terms and mode in ("subtract", "intersect") else Nothing()
        map_term = base
    return join_terms(combine(mode, map_term, shape), terms)


def with_category(selection: Predicate, column: str, value, mode: str = "replace",
                  levels: Sequence = ()) -> Predicate:
    """``selection`` with the ``InSet`` term of ``column`` changed by a click on ``value``.

    ``replace`` makes it ``{value}`` (a second click on the only chosen value removes the term),
    ``add`` adds the value, ``subtract`` removes it (from every level in ``levels`` when the column
    had no term), ``intersect`` keeps it only if it was chosen. Other terms stay (AND).
    """
    base = Everything() if isinstance(selection, Nothing) else selection
    parts = base.parts if isinstance(base, And) else (base,)
    current = next((p for p in parts if isinstance(p, InSet) and p.column == column), None)
    keep = [p for p in parts if p is not current and not isinstance(p, Everything)]
    chosen = set(current.values) if current is not None else None
    if mode == "replace":
        new = set() if chosen == {value} else {value}
    elif mode == "add":
        new = (chosen or set()) | {value}
    elif mode == "subtract":
        new = (set(levels) if chosen is None else chosen) - {value}
    elif mode == "intersect":
        new = {value} if chosen is None or value in chosen else set()
    else:                                               # xor
        new = (chosen or set()) ^ {value}
    if new and not (levels and chosen is None and new == set(levels)):
        keep.append(InSet(column, tuple(new)))
    if not keep:
        return Nothing()
    return keep[0] if len(keep) == 1 else And(*keep)


# --- the description ----------------------------------------------------------------------------

def _map_name(column: str) -> str:
    method = column.rsplit("_", 1)[0]
    return METHOD_LABELS.get(method, method.upper())


def _values(values) -> str:
    shown = [format_value(v) for v in values]
    if len(shown) > 4:
        return ", ".join(shown[:4]) + f" (+{len(shown) - 4} more)"
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


_SYMBOLS = {">=": "≥", "<=": "≤", "!=": "≠", "==": "=", "<": "<", ">": ">"}


def describe_term(part: Predicate, top: bool = True) -> str:
    """One predicate in words, numbers rounded: ``test_acc ≥ 0.833``, ``a lasso on the UMAP map``."""
    if isinstance(part, Range):
        if part.lo is not None and part.hi is not None:
            return f"{part.column} {format_value(float(part.lo))} – {format_value(float(part.hi))}"
        if part.lo is not None:
            return f"{part.column} ≥ {format_value(float(part.lo))}"
        if part.hi is not None:
            return f"{part.column} ≤ {format_value(float(part.hi))}"
        return f"any {part.column}"
    if isinstance(part, InSet):
        return f"{part.column} is {_values(part.values)}"
    if isinstance(part, Compare):
        value = format_value(float(part.value)) if not isinstance(part.value, str) else part.value
        return f"{part.column} {_SYMBOLS[part.op]} {value}"
    if isinstance(part, Polygon):
        shape = "a box" if part._is_box() else "a lasso"
        return f"{shape} on the {_map_name(part.x_column)} map"
    if isinstance(part, Ids):
        return f"{len(part.ids)} picked states"
    if isinstance(part, Everything):
        return "everything"
    if isinstance(part, Nothing):
        return "nothing"
    if isinstance(part, Not):
        return f"not {describe_term(part.part, top=False)}"
    if isinstance(part, (And, Or, Xor)):
        word = {And: "and", Or: "or", Xor: "or else"}[type(part)]
        text = f" {word} ".join(describe_term(p, top=False) for p in part.parts)
        return text if top else f"({text})"
    return part.describe()


def describe_selection(selection: Predicate, coords: Iterable[str] = ()) -> str:
    """The whole selection as one readable sentence: the map term, then each property brush, joined by "and"."""
    if isinstance(selection, Nothing):
        return "nothing selected"
    if isinstance(selection, Everything):
        return "everything"
    map_term, terms = split_terms(selection, coords)
    clauses = ([describe_term(map_term, top=not terms)] if map_term is not None else []) + \
        [describe_term(t) for t in terms]
    return " and ".join(clauses)
