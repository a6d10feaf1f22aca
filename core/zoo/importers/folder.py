"""A folder of ``.safetensors`` / ``.pt`` state_dicts plus a properties table (see
:mod:`core.zoo.importers`)."""
from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path

import numpy as np

from core.errors import HyperVizError, shown
from core.progress import Job, Progress
from core.zoo.arch import ArchSpec
from core.zoo.importers.checkpoints import CHECKPOINT_SUFFIXES, WeightReader, one_line
from core.zoo.importers.columns import MAX_EPOCH, StateGrid, model_columns, sanitise
from core.zoo.store import STATE_COLUMNS, Zoo

log = logging.getLogger(__name__)


TABLE_NAMES = ("properties.csv", "properties.json")
#: Table columns that describe a model (its hyperparameters), not one of its states.


HYPERPARAMETERS = ("activation", "init", "optimizer", "lr", "weight_decay", "dropout", "seed")
#: params.json keys with a hyperviz name; other scalar keys keep a sanitised name.


_TABLE_KEYS = ("file", "model_id", "epoch", "arch")   # arch: recognised from the shapes
# what torch's weights-only unpickler says when a file asks to import or call something


def _find_table(src: Path) -> Path | None:
    for name in TABLE_NAMES:
        if (src / name).is_file():
            return src / name
    tables = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in (".csv", ".json"))
    if len(tables) > 1:
        raise HyperVizError(f"{src}: several tables ({', '.join(p.name for p in tables[:5])}); "
                            f"name the properties table properties.csv or properties.json")
    return tables[0] if tables else None


def _parse_cell(text: str, non_finite: list):
    """A CSV cell as None (empty), int, float or text; ``nan``/``inf`` cells are None (missing)
    and counted in ``non_finite`` (the import warns about them)."""
    text = text.strip()
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    if not math.isfinite(value):
        non_finite.append(text)
        return None
    return value


def _columns_of(names, path: Path, where: str) -> dict:
    """Original column name -> sanitised name; two columns with one (sanitised) name are a one-line error."""
    seen: dict[str, str] = {}
    out = {}
    for name in names:
        clean = sanitise(name)
        if not clean:
            continue
        if clean in seen:
            same = "twice" if seen[clean] == name else f"as {shown(repr(seen[clean]), 40)} and {shown(repr(name), 40)}"
            raise HyperVizError(f"{shown(path)}: {where} names column {shown(repr(clean), 40)} {same}; "
                                "each column needs its own name")
        seen[clean] = name
        out[name] = clean
    return out


def _no_nul(text: str, path: Path) -> None:
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise HyperVizError(f"{shown(path)}: a NUL byte at line {line}; not a text table")


def _read_table(path: Path) -> list[dict]:
    """Rows of a properties table (CSV, or JSON: a list of rows, columns, or {file: row})."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise HyperVizError(f"{path}: cannot be read ({one_line(exc)})") from None
    _no_nul(text, path)
    non_finite: list = []
    if path.suffix.lower() == ".csv":
        try:
            lines = list(csv.reader(text.splitlines()))
        except csv.Error as exc:
            raise HyperVizError(f"{path}: not a readable CSV table ({one_line(exc)})") from None
        if not lines:
            raise HyperVizError(f"{path}: the table has no rows")
        header, body = lines[0], lines[1:]
        names = _columns_of(header, path, "the header")
        keep = [(i, names[h]) for i, h in enumerate(header) if h in names]
        rows = []
        for n, cells in enumerate(body, 2):
            if not cells:
                continue
            if len(cells) != len(header):
                raise HyperVizError(f"{path}: line {n} has a different number of cells than the header")
            rows.append({name: _parse_cell(cells[i], non_finite) for i, name in keep})
    else:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise HyperVizError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
        if isinstance(obj, list) and all(isinstance(r, dict) for r in obj):
            rows = obj
        elif isinstance(obj, dict) and isinstance(obj.get("file"), list):
            n = len(obj["file"])
            if any(not isinstance(v, list) or len(v) != n for v in obj.values()):
                raise HyperVizError(f"{path}: columns of different lengths")
            rows = [{k: v[i] for k, v in obj.items()} for i in range(n)]
        elif isinstance(obj, dict) and obj and all(isinstance(v, dict) for v in obj.values()):
            rows = [{"file": name, **row} for name, row in obj.items()]
        else:
            raise HyperVizError(f"{path}: expected a list of rows, a dict of columns or a dict keyed by file name")
        rows = [{clean: row[k] for k, clean in _columns_of(list(row), path, f"row {n}").items()}
                for n, row in enumerate(rows, 1)]
        for row in rows:
            for key, value in row.items():
                if isinstance(value, float) and not math.isfinite(value):
                    non_finite.append(repr(value))
                    row[key] = None
    if non_finite:
        log.warning("%s: %d NaN or infinite cell(s) (e.g. %s) read as missing values", path, len(non_finite),
                    shown(non_finite[0], 20))
    if not rows:
        raise HyperVizError(f"{path}: the table has no rows")
    if any(not isinstance(row.get("file"), str) or not row["file"] for row in rows):
        found = sorted({k for row in rows for k in row})
        raise HyperVizError(f"{path}: every row needs a 'file' (found columns: {', '.join(found[:12])})")
    return rows


def _epoch_of(value, table: Path, file: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value != int(value):
        raise HyperVizError(f"{shown(table)}: epoch {shown(repr(value), 40)} of {shown(repr(file))} is not an integer")
    if not 0 <= value <= MAX_EPOCH:
        raise HyperVizError(f"{shown(table)}: epoch {shown(int(value), 40)} of {shown(repr(file))} is out of range (0..{MAX_EPOCH})")
    return int(value)


def _inside(src: Path, table: Path, name: str) -> Path:
    """``src / name`` when that file lies inside ``src`` (links resolved); an absolute or ``../``
    name, or a link that leads out, is a one-line error: an import reads only its source folder."""
    path = src / name
    try:
        inside = path.resolve().is_relative_to(src.resolve())
    except (OSError, RuntimeError, ValueError):           # a link loop, a NUL byte, a name too long
        inside = False
    if not inside:
        raise HyperVizError(f"{shown(table)}: file {shown(repr(name))} is outside {shown(src)} "
                            "(only files inside the source folder are imported)")
    return path


def import_folder(src: Path, spec: list[ArchSpec] | ArchSpec | None) -> Job[Zoo]:
    files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES)
    table = _find_table(src)
    if table is None:
        raise HyperVizError(f"{src}: no properties table (properties.csv or properties.json with a 'file' column)")
    rows = _read_table(table)
    first_row: dict[Path, int] = {}
    for n, row in enumerate(rows, 1):
        key = _inside(src, table, row["file"]).resolve()
        if key in first_row:                       # one file would become two models (or two states)
            raise HyperVizError(f"{shown(table)}: file {shown(repr(row['file']))} is listed in rows {first_row[key]} "
                                f"and {n}; each checkpoint file belongs to one row")
        first_row[key] = n
    missing = [row["file"] for row in rows if not (src / row["file"]).is_file()]
    if missing:
        raise HyperVizError(f"{table}: {len(missing)} listed file(s) do not exist in {src}, first {missing[0]!r}")
    listed = {(src / row["file"]).resolve() for row in rows}
    unlisted = [p.name for p in files if p.resolve() not in listed]
    if unlisted:
        log.warning("%s: %d checkpoint file(s) not in %s ignored, e.g. %s", src, len(unlisted), table.name, unlisted[0])

    # group rows into models: {model_id: {epoch: row}}
    columns = set().union(*rows)
    grouped = "model_id" in columns and "epoch" in columns
    models: dict[str, dict[int, dict]] = {}
    for row in rows:
        epoch = _epoch_of(row.get("epoch"), table, row["file"]) if "epoch" in row else 0
        model_id = str(row["model_id"]) if row.get("model_id") is not None else Path(row["file"]).stem
        if not grouped:
            while model_id in models:          # one model per row: keep ids unique
                model_id += "_"
        if epoch in models.setdefault(model_id, {}):
            raise HyperVizError(f"{table}: model {model_id!r} has two rows for epoch {epoch}")
        models[model_id][epoch] = row

    names = [n for n in dict.fromkeys(k for row in rows for k in row) if n not in _TABLE_KEYS]
    numeric = {n for n in names
               if n in STATE_COLUMNS or all(isinstance(r.get(n), (int, float, type(None))) and not isinstance(r.get(n), bool) for r in rows)}
    state_names = [n for n in names if n in numeric and n not in HYPERPARAMETERS]
    model_names = [n for n in names if n not in state_names]

    epochs = np.array(sorted({e for per in models.values() for e in per}), dtype=np.int32)
    m = len(models)
    grid = StateGrid(m, epochs, [*STATE_COLUMNS, *state_names])
    reader = WeightReader(spec)
    model_rows = []
    for i, (model_id, per_epoch) in enumerate(models.items()):
        first = per_epoch[min(per_epoch)]
        model_rows.append({"model_id": model_id, **{n: first.get(n) for n in model_names}})
        for epoch, row in sorted(per_epoch.items()):
            file = src / row["file"]
            values = {n: row.get(n) if isinstance(row.get(n), (int, float)) and not isinstance(row.get(n), bool) else np.nan
                      for n in state_names}
            grid.put(i, epoch, reader.vector(file, file, model=i), values)
        model_rows[-1]["arch"] = reader.arch_of(i)     # the architecture its shapes matched (folders may mix)
        yield Progress(i + 1, m + 1, f"read {model_id}")
    if "ggap" not in state_names:
        grid.states["ggap"] = grid.states["train_acc"] - grid.states["test_acc"]
    return Zoo(
        archs=reader.archs, weights=grid.weights, epochs=epochs, states=grid.states, models=model_columns(model_rows),
        task={"name": "unknown"},
        source={"imported_from": str(src), "format": "folder", "table": table.name},
        present=grid.present,
    )
