"""Import a population of trained models from public on-disk formats into a zoo file.

Two source layouts are read (:func:`detect_format` tells which one a directory is):

``modelzoos``
    The Model Zoos / Ray Tune layout: a directory of model directories (or one model directory),
    each with ``params.json`` (the config), ``result.json`` (JSON lines, one per evaluated epoch)
    and ``checkpoint_<N>`` or ``checkpoint_<NNNNNN>`` folders holding a file ``checkpoints``
    (a ``torch.save``-d state_dict). The checkpoint epochs of the zoo are the union of all
    models' checkpoint numbers; ``present`` is False where a model lacks one. ``-999`` in
    ``result.json`` means "not measured" and becomes NaN; ``ggap = train_acc - test_acc``.

    **Epoch alignment of result.json.** Each line is matched to a checkpoint epoch through its
    ``training_iteration`` ``t`` (1-based, counted by Ray): when the zoo has ``checkpoint_0``
    (the initialisation, whose metrics the trainable's first, evaluation-only step reports), line
    ``t`` belongs to epoch ``t - 1``; otherwise to epoch ``t``. A line without a usable
    ``training_iteration`` falls back to its position ``j`` (0-based, blank lines not counted):
    epoch ``j`` with ``checkpoint_0``, ``j + 1`` without. This is the rule of the Model Zoos
    loaders (``idx_offset = 0 if checkpoint_0 was written, else 1``). Whether ``checkpoint_0``
    exists is decided once for the whole zoo (any model has it), because it is a property of the
    training script, not of one model: a model that merely lost its ``checkpoint_0`` keeps the
    zoo's alignment. Result lines for epochs without a checkpoint are not kept.

``folder``
    A folder of ``.safetensors`` / ``.pt`` (``.pth``) state_dicts plus one properties table
    (``properties.csv`` / ``properties.json``, else the folder's single ``.csv`` / ``.json``) with
    a ``file`` column. Each row is one model with a single checkpoint (epoch from an ``epoch``
    column, else 0), unless the table has both ``model_id`` and ``epoch`` columns: then rows with
    the same ``model_id`` are the checkpoints of one model. Hyperparameters (``activation``,
    ``init``, ``optimizer``, ``lr``, ``weight_decay``, ``dropout``, ``seed``) and text columns
    become model columns; every other numeric column is a state property. Checkpoint files the
    table does not name are ignored with a warning.

Parameters are matched by **order and shape**, never by key name (the Model Zoos CNN keeps its
layers in a ``module_list`` whose indices shift with dropout): the floating-point tensors of a
state_dict, minus normalisation buffers, are taken in order and their shapes must equal a known
architecture's (:func:`core.zoo.arch.recognise`) or the ``--arch-spec`` file's. torch files keep
their saved order; safetensors files do not store one, so their keys are put in natural order
(``2.weight`` before ``10.weight``, weight before bias).

``.pt`` files and Model Zoos checkpoints are loaded with ``torch.load(weights_only=True)``; a file
that needs arbitrary unpickling is refused, never loaded another way. Everything is read and
checked in memory before :func:`core.zoo.store.write_zoo` writes ``out`` atomically, so a failed
import leaves no file and an existing ``out`` untouched. A file already at ``out`` (a zoo, a
workspace, anything) is refused before anything is read, unless ``overwrite`` is given.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import pickle
import re
from pathlib import Path

import numpy as np
import torch

from core.errors import HyperVizError, shown
from core.jsonfile import read_json_object
from core.progress import Job, Progress
from core.zoo.arch import ArchSpec, recognise, state_dict_to_vector
from core.zoo.store import STATE_COLUMNS, Zoo, describe_file, write_zoo

log = logging.getLogger(__name__)

NOT_MEASURED = -999
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth")
TABLE_NAMES = ("properties.csv", "properties.json")
#: Table columns that describe a model (its hyperparameters), not one of its states.
HYPERPARAMETERS = ("activation", "init", "optimizer", "lr", "weight_decay", "dropout", "seed")
#: params.json keys with a hyperviz name; other scalar keys keep a sanitised name.
PARAMS_COLUMNS = {
    "model::nlin": "activation",
    "model::init_type": "init",
    "model::dropout": "dropout",
    "optim::optimizer": "optimizer",
    "optim::lr": "lr",
    "optim::wd": "weight_decay",
    "seed": "seed",
}
RESULT_COLUMNS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
_CHECKPOINT_DIR = re.compile(r"checkpoint_(\d+)")
#: Epochs are stored as int32 (docs/zoo-format.md): an imported epoch must be in 0 .. MAX_EPOCH.
MAX_EPOCH = 2**31 - 1
_TABLE_KEYS = ("file", "model_id", "epoch")
# what torch's weights-only unpickler says when a file asks to import or call something
_NEEDS_CODE = re.compile(r"GLOBAL|add_safe_globals|allowlisted|reduce for|unrecognized function")


def import_zoo_job(src: str | Path, out: str | Path, arch_spec_path: str | Path | None = None,
                   overwrite: bool = False) -> Job[Path]:
    """Read the models under ``src`` (either layout), write them as a zoo file at ``out``.

    Yields one :class:`Progress` per model and one for the write; returns the written path.
    ``arch_spec_path`` names a JSON :class:`ArchSpec` for architectures hyperviz does not know.
    Anything already at ``out`` is refused unless ``overwrite`` (a folder always is).
    """
    src, out = Path(src), Path(out)
    existing = describe_file(out)
    if existing == "a folder":
        raise HyperVizError(f"{shown(out)}: a folder; the zoo must be written to a file (e.g. {shown(out / 'zoo.h5')})")
    if existing is not None and not overwrite:
        raise HyperVizError(f"{shown(out)}: already exists, {existing}; not replaced (pass --overwrite to replace it, "
                            "or choose another --out)")
    spec = _read_spec(Path(arch_spec_path)) if arch_spec_path is not None else None
    kind = detect_format(src)
    if kind == "modelzoos":
        zoo = yield from _import_modelzoos(src, spec)
    else:
        zoo = yield from _import_folder(src, spec)
    total = zoo.n_models + 1
    yield Progress(zoo.n_models, total, f"writing {out.name}")
    path = write_zoo(out, zoo)
    yield Progress(total, total, f"wrote {zoo.n_models} models to {path.name}")
    return path


def detect_format(src: Path) -> str:
    """``"modelzoos"`` or ``"folder"``; a one-line error for anything else."""
    if not src.exists():
        raise HyperVizError(f"{src}: no such file or directory")
    if not src.is_dir():
        raise HyperVizError(f"{src}: not a directory (expected a Model Zoos directory or a folder of checkpoints)")
    entries = list(src.iterdir())
    if not entries:
        raise HyperVizError(f"{src}: empty directory, nothing to import")
    if _checkpoint_dirs(src) or any(p.is_dir() and _checkpoint_dirs(p) for p in entries):
        return "modelzoos"
    if any(p.is_file() and (p.suffix in CHECKPOINT_SUFFIXES or p.name in TABLE_NAMES) for p in entries):
        return "folder"
    raise HyperVizError(
        f"{src}: neither a Model Zoos directory (model folders with params.json, result.json, "
        f"checkpoint_<N>/checkpoints) nor a folder of .safetensors/.pt checkpoints with a properties table"
    )


# ---- weights -----------------------------------------------------------------------------
def _read_spec(path: Path) -> ArchSpec:
    if not path.is_file():
        raise HyperVizError(f"{path}: no such architecture spec file")
    return ArchSpec.from_json(path.read_text(encoding="utf-8"), source=str(path))


def _one_line(text: str, limit: int = 160) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _natural_key(key: str) -> tuple:
    """Sort key: numbers as numbers (``2`` < ``10``), a module's weight before its bias."""
    parts = key.split(".")
    out = []
    for i, part in enumerate(parts):
        if i == len(parts) - 1 and part in ("weight", "bias"):
            out.append(((-2, "1" if part == "bias" else "0"),))
        else:
            out.append(tuple((int(c), "") if c.isdigit() else (-1, c) for c in re.split(r"(\d+)", part) if c))
    return tuple(out)


def load_parameters(path: Path) -> list[tuple[str, torch.Tensor]]:
    """The parameter tensors of one checkpoint file, in order (buffers and integer tensors dropped)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types for damaged headers
            raise HyperVizError(f"{path}: not a readable safetensors file ({_one_line(exc)})") from None
        items = sorted(state.items(), key=lambda kv: _natural_key(kv[0]))
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            text = str(exc)
            found = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\n\n|$)", text, re.S)
            reason = _one_line(found.group(1) if found else text, 100)
            if _NEEDS_CODE.search(text):
                raise HyperVizError(f"{path}: needs arbitrary unpickling; refusing to run code from a file ({reason})") from None
            raise HyperVizError(f"{path}: not a readable torch checkpoint ({reason})") from None
        except Exception as exc:  # torch raises many types (KeyError, EOFError, RuntimeError) for junk
            raise HyperVizError(f"{path}: not a readable torch checkpoint ({type(exc).__name__}: {_one_line(exc, 80)})") from None
        items = list(_state_dict_of(obj, path).items())
    params = [(k, t) for k, t in items
              if isinstance(t, torch.Tensor) and t.is_floating_point() and k.rsplit(".", 1)[-1] not in _BUFFERS]
    if not params:
        raise HyperVizError(f"{path}: holds no floating-point parameter tensors")
    return params


def _state_dict_of(obj, path: Path) -> dict:
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, dict) and any(isinstance(v, torch.Tensor) for v in inner.values()):
                return inner
        if any(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
    raise HyperVizError(f"{path}: holds a {type(obj).__name__}, not a state_dict of tensors")


def _fmt_shapes(shapes: list[tuple[int, ...]]) -> str:
    return "[" + ", ".join("x".join(map(str, s)) or "scalar" for s in shapes) + "]"


class _WeightReader:
    """Loads checkpoints into flat vectors; the first one fixes the architecture and the shapes."""

    def __init__(self, spec: ArchSpec | None):
        self.spec = spec
        self.arch: ArchSpec | None = None
        self.shapes: list[tuple[int, ...]] | None = None
        self.first: Path | None = None

    def vector(self, path: Path, owner: Path) -> np.ndarray:
        """float32 ``[n_params]`` of the checkpoint at ``path``; ``owner`` is named if unrecognised."""
        params = load_parameters(path)
        shapes = [tuple(t.shape) for _, t in params]
        if self.arch is None:
            self.arch = self._resolve(shapes, path, owner)
            self.shapes, self.first = shapes, path
        elif shapes != self.shapes:
            raise HyperVizError(f"{path}: parameter shapes {_fmt_shapes(shapes)} differ from "
                                f"{_fmt_shapes(self.shapes)} in {self.first}")
        state = {slot.key: t for slot, (_, t) in zip(self.arch.layout, params)}
        vec = state_dict_to_vector(self.arch, state).numpy()
        if not np.isfinite(vec).all():
            bad = int((~np.isfinite(vec)).sum())
            raise HyperVizError(f"{path}: {bad} weights are NaN or infinite")
        return vec

    def _resolve(self, shapes: list[tuple[int, ...]], path: Path, owner: Path) -> ArchSpec:
        if self.spec is not None:
            if self.spec.param_shapes() != shapes:
                raise HyperVizError(f"{path}: parameter shapes {_fmt_shapes(shapes)} do not match architecture "
                                    f"{self.spec.name!r} {_fmt_shapes(self.spec.param_shapes())}")
            return self.spec
        arch = recognise(shapes)
        if arch is None:
            raise HyperVizError(f"{owner}: parameter shapes {_fmt_shapes(shapes)} match no known architecture; "
                                f"pass --arch-spec FILE")
        return arch


# ---- Model Zoos layout -------------------------------------------------------------------
def _checkpoint_dirs(model_dir: Path) -> dict[int, Path]:
    """epoch -> ``checkpoint_<N>`` folder (with or without its ``checkpoints`` file)."""
    found: dict[int, Path] = {}
    for p in model_dir.iterdir():
        m = _CHECKPOINT_DIR.fullmatch(p.name)
        if m and p.is_dir():
            digits = m.group(1).lstrip("0") or "0"
            if len(digits) > len(str(MAX_EPOCH)) or int(digits) > MAX_EPOCH:
                raise HyperVizError(f"{shown(p)}: epoch {shown(digits, 40)} is out of range (0..{MAX_EPOCH})")
            epoch = int(digits)
            if epoch in found:
                raise HyperVizError(f"{model_dir}: both {found[epoch].name} and {p.name} hold epoch {epoch}")
            found[epoch] = p
    return found


def _model_checkpoints(model_dir: Path) -> dict[int, Path]:
    """epoch -> ``checkpoints`` file; folders without one are skipped with a warning."""
    files = {}
    for epoch, folder in sorted(_checkpoint_dirs(model_dir).items()):
        file = folder / "checkpoints"
        if file.is_file():
            files[epoch] = file
        else:
            log.warning("%s: no 'checkpoints' file, skipped", folder)
    return files


def _read_json_object(path: Path) -> dict:
    if not path.is_file():
        raise HyperVizError(f"{path.parent}: no {path.name} (not a Model Zoos model directory?)")
    return read_json_object(path)


def _metric(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value == NOT_MEASURED:
        return math.nan
    return float(value)


def read_results(path: Path, has_checkpoint_0: bool) -> dict[int, dict[str, float]]:
    """epoch -> {train_loss, train_acc, ...} from a ``result.json`` (module docstring: alignment)."""
    if not path.is_file():
        raise HyperVizError(f"{path.parent}: no {path.name} (not a Model Zoos model directory?)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise HyperVizError(f"{path}: cannot be read ({_one_line(exc)})") from None
    results: dict[int, dict[str, float]] = {}
    j = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise HyperVizError(f"{path}: line {number} is not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise HyperVizError(f"{path}: line {number} is not a JSON object")
        t = row.get("training_iteration")
        if isinstance(t, (int, float)) and not isinstance(t, bool) and t == int(t) and t >= 1:
            epoch = int(t) - 1 if has_checkpoint_0 else int(t)
        else:
            epoch = j if has_checkpoint_0 else j + 1
        results[epoch] = {name: _metric(row.get(name)) for name in RESULT_COLUMNS}
        j += 1
    return results


def _sanitise(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]+", "_", str(name)).strip("_")


def _params_row(params: dict) -> dict:
    """Model columns from one params.json: mapped names first, then other scalar keys."""
    row: dict = {}
    keys = [k for k in PARAMS_COLUMNS if k in params] + [k for k in params if k not in PARAMS_COLUMNS]
    for key in keys:
        value = params[key]
        if value is None or not isinstance(value, (bool, int, float, str)):
            continue
        name = PARAMS_COLUMNS.get(key) or _sanitise(key)
        if name and name != "model_id" and name not in row:
            row[name] = value
    return row


def _columns(rows: list[dict]) -> dict[str, np.ndarray]:
    """Per-model columns from row dicts: bool, int64, float64 (NaN = missing) or str ('' = missing)."""
    names: list[str] = []
    for row in rows:
        names += [n for n in row if n not in names]
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        given = [v for v in values if v is not None]
        if given and len(given) == len(values) and all(isinstance(v, bool) for v in values):
            columns[name] = np.array(values, dtype=bool)
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in given):
            if given and len(given) == len(values) and all(isinstance(v, int) for v in values):
                columns[name] = np.array(values, dtype=np.int64)
            else:
                columns[name] = np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)
        else:
            columns[name] = np.array(["" if v is None else str(v) for v in values])
    return columns


def _model_dirs(src: Path) -> list[Path]:
    if _checkpoint_dirs(src):
        return [src]
    dirs = []
    for p in sorted(src.iterdir()):
        if not p.is_dir():
            continue
        if _checkpoint_dirs(p):
            dirs.append(p)
        elif (p / "params.json").is_file():
            log.warning("%s: a model directory without checkpoints, skipped", p)
    return dirs


def _task_name(params_rows: list[dict]) -> str:
    for params in params_rows:
        dump = params.get("dataset::dump")
        if isinstance(dump, str) and dump.strip():
            path = Path(dump.strip())
            # ".../MNIST/dataset.pt" names the task by its folder, ".../mnist.pt" by its file
            if path.stem.lower() in ("dataset", "data") and path.parent.name:
                return path.parent.name
            return path.stem or path.name
    return "unknown"


def _import_modelzoos(src: Path, spec: ArchSpec | None) -> Job[Zoo]:
    dirs = _model_dirs(src)
    checkpoints = [_model_checkpoints(d) for d in dirs]
    keep = [i for i, c in enumerate(checkpoints) if c]
    for i in set(range(len(dirs))) - set(keep):
        log.warning("%s: no checkpoint holds a 'checkpoints' file, skipped", dirs[i])
    dirs, checkpoints = [dirs[i] for i in keep], [checkpoints[i] for i in keep]
    if not dirs:
        raise HyperVizError(f"{src}: no model directory with a checkpoint_<N>/checkpoints file")
    epochs = np.array(sorted(set().union(*checkpoints)), dtype=np.int32)
    has_checkpoint_0 = 0 in epochs
    m = len(dirs)
    grid = _StateGrid(m, epochs, STATE_COLUMNS)
    reader = _WeightReader(spec)
    raw_params, rows = [], []
    for i, (model_dir, files) in enumerate(zip(dirs, checkpoints)):
        params = _read_json_object(model_dir / "params.json")
        raw_params.append(params)
        rows.append({"model_id": model_dir.name, **_params_row(params)})
        results = read_results(model_dir / "result.json", has_checkpoint_0)
        for epoch, file in files.items():
            grid.put(i, epoch, reader.vector(file, model_dir), results.get(epoch, {}))
        yield Progress(i + 1, m + 1, f"read {model_dir.name}")
    grid.states["ggap"] = grid.states["train_acc"] - grid.states["test_acc"]
    return Zoo(
        arch=reader.arch, weights=grid.weights, epochs=epochs, states=grid.states, models=_columns(rows),
        task={"name": _task_name(raw_params)},
        source={"imported_from": str(src), "format": "modelzoos"},
        present=grid.present,
    )


class _StateGrid:
    """The arrays of an imported zoo, filled one model state at a time: weights ``[M, C, P]``
    (sized by the first checkpoint read), the ``present`` mask and the state columns."""

    def __init__(self, n_models: int, epochs: np.ndarray, state_names) -> None:
        self.epochs = epochs
        self.column = {int(e): j for j, e in enumerate(epochs)}
        shape = (n_models, len(epochs))
        self.present = np.zeros(shape, dtype=bool)
        self.states = {name: np.full(shape, np.nan, dtype=np.float32) for name in dict.fromkeys(state_names)}
        self.weights: np.ndarray | None = None

    def put(self, model: int, epoch: int, vector: np.ndarray, values: dict) -> None:
        if self.weights is None:
            self.weights = np.zeros((*self.present.shape, vector.size), dtype=np.float32)
        j = self.column[epoch]
        self.weights[model, j] = vector
        self.present[model, j] = True
        for name, value in values.items():
            self.states[name][model, j] = value


# ---- folder of checkpoints ---------------------------------------------------------------
def _find_table(src: Path) -> Path | None:
    for name in TABLE_NAMES:
        if (src / name).is_file():
            return src / name
    tables = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in (".csv", ".json"))
    if len(tables) > 1:
        raise HyperVizError(f"{src}: several tables ({', '.join(p.name for p in tables[:5])}); "
                            f"name the properties table properties.csv or properties.json")
    return tables[0] if tables else None


def _parse_cell(text: str):
    text = text.strip()
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _read_table(path: Path) -> list[dict]:
    """Rows of a properties table (CSV, or JSON: a list of rows, columns, or {file: row})."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise HyperVizError(f"{path}: cannot be read ({_one_line(exc)})") from None
    if path.suffix.lower() == ".csv":
        try:
            raw = list(csv.DictReader(text.splitlines()))
        except csv.Error as exc:
            raise HyperVizError(f"{path}: not a readable CSV table ({_one_line(exc)})") from None
        rows = []
        for n, row in enumerate(raw, 2):
            if None in row or any(v is None for v in row.values()):
                raise HyperVizError(f"{path}: line {n} has a different number of cells than the header")
            rows.append({_sanitise(k): _parse_cell(v) for k, v in row.items() if _sanitise(k)})
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
        rows = [{_sanitise(k): v for k, v in row.items() if _sanitise(k)} for row in rows]
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


def _import_folder(src: Path, spec: ArchSpec | None) -> Job[Zoo]:
    files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES)
    table = _find_table(src)
    if table is None:
        raise HyperVizError(f"{src}: no properties table (properties.csv or properties.json with a 'file' column)")
    rows = _read_table(table)
    for row in rows:
        _inside(src, table, row["file"])
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
    grid = _StateGrid(m, epochs, [*STATE_COLUMNS, *state_names])
    reader = _WeightReader(spec)
    model_rows = []
    for i, (model_id, per_epoch) in enumerate(models.items()):
        first = per_epoch[min(per_epoch)]
        model_rows.append({"model_id": model_id, **{n: first.get(n) for n in model_names}})
        for epoch, row in sorted(per_epoch.items()):
            file = src / row["file"]
            values = {n: row.get(n) if isinstance(row.get(n), (int, float)) and not isinstance(row.get(n), bool) else np.nan
                      for n in state_names}
            grid.put(i, epoch, reader.vector(file, file), values)
        yield Progress(i + 1, m + 1, f"read {model_id}")
    if "ggap" not in state_names:
        grid.states["ggap"] = grid.states["train_acc"] - grid.states["test_acc"]
    return Zoo(
        arch=reader.arch, weights=grid.weights, epochs=epochs, states=grid.states, models=_columns(model_rows),
        task={"name": "unknown"},
        source={"imported_from": str(src), "format": "folder", "table": table.name},
        present=grid.present,
    )
