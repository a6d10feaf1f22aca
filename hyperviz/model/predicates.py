"""Selection predicates: immutable values that evaluate to a boolean mask over a table.

A *table* maps column names to 1-D numpy arrays of one length (one row per model state).
Numeric columns hold float/int/bool; categorical columns hold str (dtype ``U``/``S``) or object.
A predicate never changes: combining two builds a new one, so a selection can be compared,
hashed, undone and saved as JSON (``to_dict`` / ``predicate_from_dict``). Import these names from
``hyperviz.model.selection``, which adds combine modes, undo history and summaries.

Rules every predicate follows:
- NaN in a numeric column never matches a comparison, range or set (``Not`` is the plain
  complement, so ``~Range(...)`` does include NaN rows).
- An unknown column raises ``SelectionError`` naming the column and the known ones.
- Polygon boundaries are inclusive: a point on an edge or a vertex is inside.
"""
from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from hyperviz.model.geometry import points_in_polygon

Table = Mapping[str, np.ndarray]
Value = int | float | str


class SelectionError(ValueError):
    """A predicate does not fit the table (unknown column, wrong type) or is malformed."""


def n_rows(table: Table) -> int:
    """Number of rows of ``table`` (0 for no columns); raises SelectionError on ragged columns."""
    lengths = {name: len(column) for name, column in table.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise SelectionError(f"table columns differ in length: {detail}")
    return next(iter(lengths.values()), 0)


# --- text forms shared with the --where parser (hyperviz.model.where) ------------------------

RESERVED_WORDS = frozenset({"and", "or", "xor", "not", "in", "everything", "nothing", "inf"})
PLAIN_NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:(?:\.|::)[A-Za-z0-9_]+)*"
_PLAIN_NAME_RE = re.compile(PLAIN_NAME + r"\Z")


def format_name(name: str) -> str:
    """A column name as written in an expression: bare when plain, else in backticks."""
    if _PLAIN_NAME_RE.match(name) and name.lower() not in RESERVED_WORDS:
        return name
    return f"`{name}`"


def format_literal(value: Value) -> str:
    """A literal as written in an expression: "quoted" text, 3, 0.001, 1e-05, inf."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _plain(value: Any, what: str) -> Value:
    """A numpy scalar or Python literal as a hashable Python int/float/str; NaN is refused."""
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, (int, float, str)):
        raise SelectionError(f"{what} must be a number or text, got {value!r}")
    if isinstance(value, float) and math.isnan(value):
        raise SelectionError(f"{what} is NaN, which never matches anything")
    return value


# --- column access ----------------------------------------------------------------------------

def _column(table: Table, name: str) -> np.ndarray:
    if name not in table:
        known = ", ".join(sorted(table)) or "none"
        raise SelectionError(f"unknown column '{name}' (known: {known})")
    column = np.asarray(table[name])
    return column.astype(str) if column.dtype.kind == "S" else column


def _is_categorical(column: np.ndarray) -> bool:
    return column.dtype.kind in "USO"


def _numeric(table: Table, name: str, what: str) -> np.ndarray:
    column = _column(table, name)
    if _is_categorical(column):
        raise SelectionError(f"{what} needs a numeric column, but '{name}' holds text")
    return column.astype(np.float64, copy=False)


# --- predicates ---------------------------------------------------------------------------------

# Binding strength in text form, weakest first; a child weaker than its parent gets parentheses.
_OR, _XOR, _AND, _NOT, _ATOM = 1, 2, 3, 4, 5
_KINDS: dict[str, type[Predicate]] = {}


def _as_lists(value: Any) -> Any:
    return [_as_lists(v) for v in value] if isinstance(value, tuple) else value


def _register(kind: str):
    def decorate(cls):
        cls.kind = kind
        _KINDS[kind] = cls
        return cls
    return decorate


class Predicate:
    """Base of all predicates: a frozen, hashable value that evaluates to a row mask."""

    kind: ClassVar[str] = ""

    def evaluate(self, table: Table) -> np.ndarray:
        """Boolean mask ``[n_rows]``: True where the row matches."""
        raise NotImplementedError

    def describe(self) -> str:
        """Human readable text, in ``--where`` syntax where possible (``test_acc in [0.85, 1]``)."""
        raise NotImplementedError

    def columns(self) -> frozenset[str]:
        """Names of the columns this predicate reads."""
        return frozenset(getattr(self, f.name) for f in dataclasses.fields(self)
                         if f.name.endswith("column"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with a ``type`` key; ``predicate_from_dict`` reverses it."""
        return {"type": self.kind, **{f.name: _as_lists(getattr(self, f.name))
                                      for f in dataclasses.fields(self)}}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Predicate:
        """Rebuild a predicate from ``to_dict`` output (same as ``predicate_from_dict``)."""
        return predicate_from_dict(data)

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> Predicate:
        return cls(**fields)

    def _precedence(self) -> int:
        return _ATOM

    def __and__(self, other: Predicate) -> Predicate:
        return And(self, other) if isinstance(other, Predicate) else NotImplemented

    def __or__(self, other: Predicate) -> Predicate:
        return Or(self, other) if isinstance(other, Predicate) else NotImplemented

    def __xor__(self, other: Predicate) -> Predicate:
        return Xor(self, other) if isinstance(other, Predicate) else NotImplemented

    def __invert__(self) -> Predicate:
        return Not(self)


def predicate_from_dict(data: Mapping[str, Any]) -> Predicate:
    """Rebuild any predicate from its ``to_dict`` form; SelectionError if malformed."""
    if not isinstance(data, Mapping) or data.get("type") not in _KINDS:
        raise SelectionError(f"not a selection predicate: {data!r} (types: {', '.join(_KINDS)})")
    fields = {key: value for key, value in data.items() if key != "type"}
    try:
        return _KINDS[data["type"]]._from_fields(fields)
    except (TypeError, KeyError) as exc:
        message = f"malformed '{data['type']}' predicate {dict(data)!r}: {exc}"
        raise SelectionError(message) from None


@_register("everything")
@dataclass(frozen=True)
class Everything(Predicate):
    """Matches every row."""

    def evaluate(self, table: Table) -> np.ndarray:
        return np.ones(n_rows(table), dtype=bool)

    def describe(self) -> str:
        return "everything"


@_register("nothing")
@dataclass(frozen=True)
class Nothing(Predicate):
    """Matches no row (the empty selection)."""

    def evaluate(self, table: Table) -> np.ndarray:
        return np.zeros(n_rows(table), dtype=bool)

    def describe(self) -> str:
        return "nothing"


@_register("range")
@dataclass(frozen=True)
class Range(Predicate):
    """Rows with ``lo <= column <= hi``; a bound of None (or +-inf) is open."""

    column: str
    lo: float | None = None
    hi: float | None = None

    def __post_init__(self) -> None:
        for name, open_value in (("lo", -math.inf), ("hi", math.inf)):
            bound = getattr(self, name)
            if bound is not None:
                bound = _plain(bound, f"range bound {name} of '{self.column}'")
                if isinstance(bound, str):
                    raise SelectionError(f"range bounds must be numbers, got {bound!r}")
                object.__setattr__(self, name, None if bound == open_value else bound)

    def evaluate(self, table: Table) -> np.ndarray:
        x = _numeric(table, self.column, "a range")
        mask = ~np.isnan(x)
        if self.lo is not None:
            mask &= x >= self.lo
        if self.hi is not None:
            mask &= x <= self.hi
        return mask

    def describe(self) -> str:
        name = format_name(self.column)
        if self.lo is not None and self.hi is None:
            return f"{name} >= {format_literal(self.lo)}"
        if self.hi is not None and self.lo is None:
            return f"{name} <= {format_literal(self.hi)}"
        lo = "-inf" if self.lo is None else format_literal(self.lo)
        hi = "inf" if self.hi is None else format_literal(self.hi)
        return f"{name} in [{lo}, {hi}]"


_OPS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
        "==": np.equal, "!=": np.not_equal}


@_register("compare")
@dataclass(frozen=True)
class Compare(Predicate):
    """Rows where ``column op value``; text values allow only ``==`` and ``!=``."""

    column: str
    op: str
    value: Value

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise SelectionError(f"unknown comparison '{self.op}' (known: {' '.join(_OPS)})")
        value = _plain(self.value, f"the value compared with '{self.column}'")
        if isinstance(value, str) and self.op not in ("==", "!="):
            raise SelectionError(f"'{self.op}' cannot compare text; use == or !=")
        object.__setattr__(self, "value", value)

    def evaluate(self, table: Table) -> np.ndarray:
        column = _column(table, self.column)
        if isinstance(self.value, str):
            if not _is_categorical(column):
                raise SelectionError(f"'{self.column}' holds numbers; compare it with a number")
            hits = np.asarray(column == self.value, dtype=bool)
            return hits if self.op == "==" else ~hits
        if _is_categorical(column):
            raise SelectionError(f"'{self.column}' holds text; compare it with a quoted value "
                                 f"like {self.column} == \"relu\"")
        x = column.astype(np.float64, copy=False)
        return _OPS[self.op](x, self.value) & ~np.isnan(x)

    def describe(self) -> str:
        return f"{format_name(self.column)} {self.op} {format_literal(self.value)}"


def _value_tuple(values: Iterable[Any], what: str) -> tuple[Value, ...]:
    """Distinct values, sorted (numbers first) so equal sets give equal predicates."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise SelectionError(f"{what} must be a collection of values, got {values!r}")
    plain = {_plain(v, what) for v in values}
    return tuple(sorted(plain, key=lambda v: (isinstance(v, str), v)))


def _membership(table: Table, name: str, values: tuple[Value, ...]) -> np.ndarray:
    column = _column(table, name)
    texts = [v for v in values if isinstance(v, str)]
    numbers = [v for v in values if not isinstance(v, str)]
    if column.dtype.kind == "O":
        wanted = set(values)
        return np.fromiter((v in wanted for v in column), dtype=bool, count=len(column))
    if _is_categorical(column):
        if numbers:
            raise SelectionError(f"'{name}' holds text, but the set has numbers {numbers}")
        return np.isin(column, np.asarray(texts, dtype=str))
    if texts:
        raise SelectionError(f"'{name}' holds numbers, but the set has text {texts}")
    return np.isin(column.astype(np.float64, copy=False), np.asarray(numbers, dtype=np.float64))


@_register("in")
@dataclass(frozen=True)
class InSet(Predicate):
    """Rows whose value in ``column`` is one of ``values`` (numbers or text)."""

    column: str
    values: tuple[Value, ...]

    def __post_init__(self) -> None:
        values = _value_tuple(self.values, f"the set for '{self.column}'")
        object.__setattr__(self, "values", values)

    def evaluate(self, table: Table) -> np.ndarray:
        return _membership(table, self.column, self.values)

    def describe(self) -> str:
        return f"{format_name(self.column)} in ({', '.join(map(format_literal, self.values))})"


@_register("ids")
@dataclass(frozen=True)
class Ids(Predicate):
    """Explicitly picked rows: those whose ``column`` value (e.g. ``model_id``) is in ``ids``."""

    column: str
    ids: tuple[Value, ...]

    _SHOWN: ClassVar[int] = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", _value_tuple(self.ids, f"the ids for '{self.column}'"))

    def evaluate(self, table: Table) -> np.ndarray:
        return _membership(table, self.column, self.ids)

    def describe(self) -> str:
        if len(self.ids) > self._SHOWN:
            return f"{format_name(self.column)} in {len(self.ids)} picked ids"
        return f"{format_name(self.column)} in ({', '.join(map(format_literal, self.ids))})"


@_register("polygon")
@dataclass(frozen=True)
class Polygon(Predicate):
    """Rows whose point ``(x_column, y_column)`` lies in the polygon (even-odd, edges inclusive)."""

    x_column: str
    y_column: str
    vertices: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        try:
            points = tuple((float(x), float(y)) for x, y in self.vertices)
        except (TypeError, ValueError):
            message = f"polygon vertices must be (x, y) pairs: {self.vertices!r}"
            raise SelectionError(message) from None
        if len(points) > 3 and points[0] == points[-1]:
            points = points[:-1]    # an explicitly closed ring
        if len(points) < 3 or not all(map(math.isfinite, sum(points, ()))):
            raise SelectionError(f"a polygon needs at least 3 finite vertices, got {points}")
        object.__setattr__(self, "vertices", points)

    @classmethod
    def box(cls, x_column: str, y_column: str,
            x0: float, y0: float, x1: float, y1: float) -> Polygon:
        """The axis-aligned rectangle with corners ``(x0, y0)`` and ``(x1, y1)`` in any order."""
        (xa, xb), (ya, yb) = sorted((x0, x1)), sorted((y0, y1))
        return cls(x_column, y_column, ((xa, ya), (xb, ya), (xb, yb), (xa, yb)))

    def evaluate(self, table: Table) -> np.ndarray:
        x = _numeric(table, self.x_column, "a polygon")
        y = _numeric(table, self.y_column, "a polygon")
        return points_in_polygon(x, y, np.asarray(self.vertices, dtype=np.float64))

    def _is_box(self) -> bool:
        xs, ys = zip(*self.vertices)
        box = Polygon.box(self.x_column, self.y_column, min(xs), min(ys), max(xs), max(ys))
        return box.vertices == self.vertices

    def describe(self) -> str:
        if self._is_box():
            (x0, y0), _, (x1, y1), _ = self.vertices
            return (f"{Range(self.x_column, x0, x1).describe()} and "
                    f"{Range(self.y_column, y0, y1).describe()}")
        return (f"({format_name(self.x_column)}, {format_name(self.y_column)}) "
                f"in a polygon of {len(self.vertices)} vertices")

    def _precedence(self) -> int:
        return _AND if self._is_box() else _ATOM


def _wrap(child: Predicate, parent: int) -> str:
    text = child.describe()
    return f"({text})" if child._precedence() < parent else text


class _Combination(Predicate):
    """Shared by And/Or/Xor: two or more parts, nested parts of the same kind flattened."""

    parts: tuple[Predicate, ...]
    _word: ClassVar[str] = ""
    _level: ClassVar[int] = 0
    _reduce: ClassVar[Any] = None

    def __init__(self, *parts: Predicate) -> None:
        flat: list[Predicate] = []
        for part in parts:
            if not isinstance(part, Predicate):
                raise SelectionError(f"{type(self).__name__} takes predicates, got {part!r}")
            flat.extend(part.parts if type(part) is type(self) else [part])
        if len(flat) < 2:
            raise SelectionError(f"{type(self).__name__} needs at least two parts")
        object.__setattr__(self, "parts", tuple(flat))

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> Predicate:
        return cls(*(predicate_from_dict(part) for part in fields["parts"]))

    def evaluate(self, table: Table) -> np.ndarray:
        return type(self)._reduce.reduce([part.evaluate(table) for part in self.parts])

    def describe(self) -> str:
        return f" {self._word} ".join(_wrap(part, self._level) for part in self.parts)

    def columns(self) -> frozenset[str]:
        return frozenset().union(*(part.columns() for part in self.parts))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "parts": [part.to_dict() for part in self.parts]}

    def _precedence(self) -> int:
        return self._level


@_register("and")
@dataclass(frozen=True, init=False)
class And(_Combination):
    """Rows matching every part (``a & b``)."""

    parts: tuple[Predicate, ...]
    _word, _level, _reduce = "and", _AND, np.logical_and


@_register("or")
@dataclass(frozen=True, init=False)
class Or(_Combination):
    """Rows matching any part (``a | b``)."""

    parts: tuple[Predicate, ...]
    _word, _level, _reduce = "or", _OR, np.logical_or


@_register("xor")
@dataclass(frozen=True, init=False)
class Xor(_Combination):
    """Rows matching an odd number of parts (``a ^ b``)."""

    parts: tuple[Predicate, ...]
    _word, _level, _reduce = "xor", _XOR, np.logical_xor


@_register("not")
@dataclass(frozen=True)
class Not(Predicate):
    """Rows not matching ``part`` (``~a``)."""

    part: Predicate

    def __post_init__(self) -> None:
        if not isinstance(self.part, Predicate):
            raise SelectionError(f"Not takes a predicate, got {self.part!r}")

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> Predicate:
        return cls(predicate_from_dict(fields["part"]))

    def evaluate(self, table: Table) -> np.ndarray:
        return ~self.part.evaluate(table)

    def describe(self) -> str:
        return f"not {_wrap(self.part, _NOT)}"

    def columns(self) -> frozenset[str]:
        return self.part.columns()

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "part": self.part.to_dict()}

    def _precedence(self) -> int:
        return _NOT
