"""Checks on what hyperviz reads from its own files, before the data is used.

Every reader of a zoo or workspace goes through :class:`H5Reader`: it hands out datasets only
after their kind, dtype, number of dimensions, shape and size were checked against what the
format expects (docs/zoo-format.md, docs/workspace-format.md), and JSON only through
:func:`load_json`, which bounds its size and nesting. A failed check raises
:class:`~core.errors.HyperVizError` with one line ``<file>: <place>: <problem>``, e.g.
``ws.h5: /split: 11 entries, expected one per zoo model (12)``.

Size checks happen *before* anything is read: a dataset's declared size must be backed by what
the file stores (an uncompressed dataset declared (10**6, 10**6) in a 20 KB file is refused
without allocating 4 TB), external and virtual storage (which could point at any file, a FIFO
included) is refused, and a JSON text over :data:`MAX_JSON_BYTES` is never parsed.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import h5py
import numpy as np

from core.errors import HyperVizError, shown

#: The largest JSON text read from a file (a workspace's bookmarks or a run's metadata are KBs).
MAX_JSON_BYTES = 32 * 2**20
#: The deepest nesting of lists/objects accepted in JSON from a file. Selection trees in bookmarks
#: nest one level per combined brush; Python's parser and the readers recurse, so this stays far
#: below the interpreter's recursion limit (1000).
MAX_JSON_DEPTH = 200
#: How much larger than its stored bytes a compressed (filtered) dataset may claim to be.
MAX_COMPRESSION = 1024
#: Errors h5py/HDF5 and numpy raise on a damaged file (bit flips reach all of them).
READ_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, IndexError, AttributeError,
               OverflowError, SystemError, RecursionError, MemoryError, UnicodeError)

INT_KINDS = "iu"
FLOAT_KINDS = "f"
NUMBER_KINDS = "iuf"
BOOL_KINDS = "b"
STRING_KINDS = "OSU"


class FormatError(HyperVizError):
    """One place of a file does not hold what its format says."""


def json_depth_ok(obj, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``obj`` (parsed JSON) nests lists/objects at most ``limit`` deep (no recursion)."""
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Iterable = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return True


def _nesting_ok(text: str, limit: int) -> bool:
    """Whether the brackets in ``text`` nest at most ``limit`` deep, ignoring those in strings;
    a cheap scan so that a deeply nested text never reaches the recursive parser."""
    if text.count("[") + text.count("{") <= limit:
        return True
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def load_json(text, where: str, expect: type | tuple[type, ...] | None = None,
              max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH):
    """Parse JSON read from a file, with limits: at most ``max_bytes`` long, nested at most
    ``max_depth`` deep, of type ``expect`` (e.g. ``dict``) when given. ``where`` names the file and
    place for the one-line error ("ws.h5: /bookmarks")."""
    if isinstance(text, (bytes, np.bytes_)):
        if len(text) > max_bytes:
            raise FormatError(f"{where}: {len(text):,} bytes of JSON, more than the {max_bytes:,} accepted")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"{where}: not UTF-8 text") from None
    if not isinstance(text, str):
        raise FormatError(f"{where}: expected a JSON text, found {type(text).__name__}")
    if len(text) > max_bytes:
        raise FormatError(f"{where}: {len(text):,} characters of JSON, more than the {max_bytes:,} accepted")
    if not _nesting_ok(text, max_depth):
        raise FormatError(f"{where}: JSON nested more than {max_depth} levels deep")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"{where}: invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except (RecursionError, ValueError, MemoryError) as exc:     # ValueError: e.g. a 5000-digit integer
        raise FormatError(f"{where}: JSON that cannot be read ({shown(exc, 80)})") from None
    if not json_depth_ok(obj, max_depth):
        raise FormatError(f"{where}: JSON nested more than {max_depth} levels deep")
    if expect is not None and not isinstance(obj, expect):
        raise FormatError(f"{where}: expected {type_name(expect)}, found {json_type(obj)}")
    return obj


def type_name(expect) -> str:
    names = {dict: "a JSON object", list: "a JSON list", str: "a string", int: "an integer", float: "a number",
             bool: "true or false"}
    kinds = expect if isinstance(expect, tuple) else (expect,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def json_type(value) -> str:
    """The JSON kind of ``value`` in words, for messages ("a list", "null", "the number 3")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, str):
        return f"the string {shown(json.dumps(value), 40)}"
    if isinstance(value, (int, float)):
        return f"the number {shown(value, 40)}"
    return type(value).__name__


# ---- values inside parsed JSON --------------------------------------------------------------------
def field(obj: dict, key: str, where: str, expect, required: bool = True, default=None):
    """``obj[key]`` checked to be of type ``expect`` (bool is never an int here); ``default`` when
    absent and not ``required``."""
    if key not in obj:
        if required:
            raise FormatError(f"{where}: no {key!r} entry")
        return default
    value = obj[key]
    kinds = expect if isinstance(expect, tuple) else (expect,)
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    elif float in kinds and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    else:
        ok = isinstance(value, kinds)
    if not ok:
        raise FormatError(f"{where}: {key!r} is {json_type(value)}, expected {type_name(expect)}")
    return value


def int_field(obj: dict, key: str, where: str, lo: int, hi: int, required: bool = True, default=None):
    value = field(obj, key, where, int, required, default)
    if value is not None and not lo <= value <= hi:
        raise FormatError(f"{where}: {key!r} is {shown(value, 40)}, expected {lo}..{hi}")
    return value


def number_field(obj: dict, key: str, where: str, finite: bool = True, required: bool = True, default=None):
    value = field(obj, key, where, float, required, default)
    if value is not None and finite and not math.isfinite(value):
        raise FormatError(f"{where}: {key!r} is {value}, expected a finite number")
    return value


# ---- HDF5 -----------------------------------------------------------------------------------------
class H5Reader:
    """An open HDF5 file read through checks; ``label`` names it in messages (its path)."""

    def __init__(self, f: h5py.File, label: str | Path):
        self.f = f
        self.label = shown(label)

    def fail(self, place: str, problem: str) -> FormatError:
        place = place if place.startswith("/") else "/" + place
        return FormatError(f"{self.label}: {shown(place, 80)}: {problem}")

    # ---- attributes ----
    def attr(self, name: str, place: str = "/"):
        try:
            return self.f[place].attrs.get(name) if place != "/" else self.f.attrs.get(name)
        except READ_ERRORS as exc:
            raise self.fail(place, f"attribute {name!r} cannot be read ({shown(exc, 80)})") from None

    def is_format(self, expected: str) -> bool:
        """Whether the root ``format`` attribute is the text ``expected`` (any other type: False)."""
        value = self.attr("format")
        if isinstance(value, (bytes, np.bytes_)):
            value = bytes(value).decode("utf-8", errors="replace")
        return isinstance(value, str) and value == expected

    def schema_version(self, expected: int) -> int:
        """The root ``schema_version`` attribute, which must be an integer (``expected`` names the
        version this hyperviz reads, for the message); the caller decides what a different
        version means."""
        value = self.attr("schema_version")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise self.fail("/@schema_version", f"{_value_words(value)}, expected the integer {expected}")
        return int(value)

    def attr_int(self, name: str, lo: int, hi: int, place: str = "/", required: bool = True) -> int | None:
        value = self.attr(name, place)
        where = f"{place.rstrip('/')}/@{name}" if place != "/" else f"/@{name}"
        if value is None:
            if required:
                raise self.fail(where, "missing")
            return None
        if isinstance(value, np.ndarray) and value.shape == ():
            value = value[()]
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise self.fail(where, f"{_value_words(value)}, expected an integer {lo}..{hi}")
        if not lo <= int(value) <= hi:
            raise self.fail(where, f"{shown(int(value), 40)}, expected {lo}..{hi}")
        return int(value)

    def attr_str(self, name: str, place: str = "/", required: bool = True, max_len: int = 1000) -> str | None:
        value = self.attr(name, place)
        where = f"{place.rstrip('/')}/@{name}" if place != "/" else f"/@{name}"
        if value is None:
            if required:
                raise self.fail(where, "missing")
            return None
        if isinstance(value, (bytes, np.bytes_)):
            try:
                value = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise self.fail(where, "not UTF-8 text") from None
        if not isinstance(value, str):
            raise self.fail(where, f"{_value_words(value)}, expected a string")
        if len(value) > max_len:
            raise self.fail(where, f"{len(value):,} characters, more than {max_len:,}")
        return value

    def attr_bool(self, name: str, place: str = "/") -> bool | None:
        value = self.attr(name, place)
        if value is None:
            return None
        if isinstance(value, np.ndarray) and value.shape == ():
            value = value[()]
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, (int, np.integer)) and int(value) in (0, 1):
            return bool(value)
        raise self.fail(f"/@{name}", f"{_value_words(value)}, expected true or false")

    # ---- nodes ----
    def get(self, name: str):
        """The object at ``name``, or None when absent (a broken link or damaged header is an error)."""
        try:
            if name not in self.f:
                return None
            return self.f[name]
        except READ_ERRORS as exc:
            raise self.fail(name, f"cannot be read ({shown(exc, 80)})") from None

    def group(self, name: str, required: bool = True) -> h5py.Group | None:
        node = self.get(name)
        if node is None:
            if required:
                raise self.fail(name, "missing")
            return None
        if not isinstance(node, h5py.Group):
            raise self.fail(name, f"{_node_words(node)}, expected a group")
        return node

    def members(self, name: str, required: bool = False, limit: int = 100_000) -> list[str]:
        """The names in group ``name`` (sorted); [] when absent and not required."""
        group = self.group(name, required)
        if group is None:
            return []
        try:
            names = list(group.keys())
        except READ_ERRORS as exc:
            raise self.fail(name, f"cannot be listed ({shown(exc, 80)})") from None
        if len(names) > limit:
            raise self.fail(name, f"{len(names):,} entries, more than {limit:,}")
        return sorted(names)

    def dataset(self, name: str, kinds: str, shape: tuple | None = None, required: bool = True,
                what: str = "") -> h5py.Dataset | None:
        """The dataset at ``name`` after checking it: a dataset (not a group), dtype kind in ``kinds``
        (numpy kind letters; ``"O"`` means an HDF5 string), ``shape`` (a tuple of ints or None for
        "any"; its length is the number of dimensions), storage neither external nor virtual, and a
        declared size backed by the bytes the file stores."""
        node = self.get(name)
        if node is None:
            if required:
                raise self.fail(name, "missing")
            return None
        if not isinstance(node, h5py.Dataset):
            raise self.fail(name, f"{_node_words(node)}, expected a dataset{what and ' of ' + what}")
        try:
            dtype, dshape = node.dtype, node.shape
        except READ_ERRORS as exc:
            raise self.fail(name, f"cannot be read ({shown(exc, 80)})") from None
        kind = dtype.kind
        if kind == "O" and h5py.check_string_dtype(dtype) is None:
            kind = "?"                                   # a vlen of numbers, a reference, ...
        if kind not in kinds:
            raise self.fail(name, f"holds {_dtype_words(dtype)}, expected {_kinds_words(kinds)}")
        if dshape is None:
            raise self.fail(name, "an empty (null) dataspace, expected data")
        if shape is not None:
            if len(dshape) != len(shape):
                raise self.fail(name, f"shape {_shape(dshape)}, expected {_expected_shape(shape)}")
            for got, want in zip(dshape, shape):
                if want is not None and got != want:
                    raise self.fail(name, f"shape {_shape(dshape)}, expected {_expected_shape(shape)}")
        self._check_storage(name, node)
        return node

    def _check_storage(self, name: str, ds: h5py.Dataset) -> None:
        try:
            dcpl = ds.id.get_create_plist()
            if dcpl.get_layout() == h5py.h5d.VIRTUAL:
                raise self.fail(name, "a virtual dataset (its data would come from other files); not accepted")
            if dcpl.get_external_count() > 0:
                raise self.fail(name, "stored in external raw files; not accepted")
            filtered = dcpl.get_nfilters() > 0
            n = math.prod(ds.shape)
            declared = n * ds.id.get_type().get_size()
            stored = ds.id.get_storage_size()
        except FormatError:
            raise
        except READ_ERRORS as exc:
            raise self.fail(name, f"cannot be read ({shown(exc, 80)})") from None
        allowed = stored * MAX_COMPRESSION + 2**20 if filtered else stored
        if declared > allowed:
            raise self.fail(name, f"declares shape {_shape(ds.shape)} ({_bytes(declared)}) but the file stores "
                                  f"{_bytes(stored)} of it (damaged, truncated or never written)")

    def read(self, name: str, kinds: str, shape: tuple | None = None, required: bool = True, what: str = ""):
        """The checked dataset's values (numpy array; str array for strings); None when absent."""
        ds = self.dataset(name, kinds, shape, required, what)
        if ds is None:
            return None
        try:
            value = ds[()]
        except READ_ERRORS as exc:
            raise self.fail(name, f"cannot be read ({shown(exc, 80)})") from None
        if ds.dtype.kind in "OS":
            try:
                value = np.array([_text(v) for v in np.asarray(value).reshape(-1)], dtype=str).reshape(np.shape(value))
            except UnicodeDecodeError:
                raise self.fail(name, "holds text that is not UTF-8") from None
        return value

    def strings(self, name: str, shape: tuple | None = None, required: bool = True) -> np.ndarray | None:
        return self.read(name, STRING_KINDS, shape, required)

    def json(self, name: str, expect=None, required: bool = True, default=None):
        """The JSON value in the scalar string dataset ``name`` (``default`` when absent)."""
        ds = self.dataset(name, "OS", (), required, "a JSON string")
        if ds is None:
            return default
        try:
            size = ds.id.get_storage_size()
            raw = ds[()]
        except READ_ERRORS as exc:
            raise self.fail(name, f"cannot be read ({shown(exc, 80)})") from None
        del size
        return load_json(raw, f"{self.label}: {name if name.startswith('/') else '/' + name}", expect)


def _text(value) -> str:
    return bytes(value).decode("utf-8") if isinstance(value, (bytes, np.bytes_)) else str(value)


def _value_words(value) -> str:
    if value is None:
        return "missing"
    if isinstance(value, (bytes, np.bytes_)):
        value = bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        return f"the string {shown(repr(value), 40)}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {_shape(value.shape)}"
    if isinstance(value, (bool, np.bool_)):
        return f"the boolean {bool(value)}"
    if isinstance(value, (float, np.floating)):
        return f"the number {shown(value, 40)}"
    return f"a {type(value).__name__} ({shown(value, 40)})"


def _node_words(node) -> str:
    if isinstance(node, h5py.Group):
        return "a group"
    if isinstance(node, h5py.Dataset):
        return "a dataset"
    return type(node).__name__


def _dtype_words(dtype: np.dtype) -> str:
    if dtype.kind == "O":
        return "strings" if h5py.check_string_dtype(dtype) is not None else "variable-length or reference data"
    return {"f": "floats", "i": "integers", "u": "unsigned integers", "b": "booleans", "S": "byte strings",
            "U": "strings", "V": "compound or opaque data", "c": "complex numbers"}.get(dtype.kind, str(dtype)) \
        + f" ({dtype})"


def _kinds_words(kinds: str) -> str:
    words = []
    for k, w in (("f", "floats"), ("i", "integers"), ("b", "booleans"), ("O", "strings")):
        if k in kinds:
            words.append(w)
    return " or ".join(words) or kinds


def _shape(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _expected_shape(shape: tuple) -> str:
    return "(" + ", ".join("any" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _bytes(n: int) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"
