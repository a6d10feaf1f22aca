"""The Model Zoos / Ray Tune layout (see :mod:`core.zoo.importers` for the format and its epoch
alignment rule)."""
from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path

import numpy as np

from core.errors import HyperVizError, shown
from core.jsonfile import read_json_object
from core.progress import Job, Progress
from core.zoo.arch import ArchSpec
from core.zoo.importers.checkpoints import WeightReader, one_line
from core.zoo.importers.columns import MAX_EPOCH, StateGrid, model_columns, sanitise
from core.zoo.store import STATE_COLUMNS, Zoo

log = logging.getLogger(__name__)


NOT_MEASURED = -999


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


_CHECKPOINT_DIR = re.compile(r"checkpoint_(\d+)")
#: Epochs are stored as int32 (docs/zoo-format.md): an imported epoch must be in 0 .. MAX_EPOCH.


def checkpoint_dirs(model_dir: Path) -> dict[int, Path]:
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
    for epoch, folder in sorted(checkpoint_dirs(model_dir).items()):
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
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value == NOT_MEASURED or not math.isfinite(value):
        return math.nan
    return float(value)


def read_results(path: Path, has_checkpoint_0: bool) -> dict[int, dict[str, float]]:
    """epoch -> {train_loss, train_acc, ...} from a ``result.json`` (module docstring: alignment)."""
    if not path.is_file():
        raise HyperVizError(f"{path.parent}: no {path.name} (not a Model Zoos model directory?)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise HyperVizError(f"{path}: cannot be read ({one_line(exc)})") from None
    results: dict[int, dict[str, float]] = {}
    j = 0
    non_finite: list[str] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, parse_constant=lambda name: (non_finite.append(name), math.nan)[1])
        except json.JSONDecodeError as exc:
            raise HyperVizError(f"{path}: line {number} is not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise HyperVizError(f"{path}: line {number} is nested too deeply") from None
        if not isinstance(row, dict):
            raise HyperVizError(f"{path}: line {number} is not a JSON object")
        t = row.get("training_iteration")
        if t is None:
            epoch = j if has_checkpoint_0 else j + 1
        elif isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and t == int(t) \
                and 1 <= t <= MAX_EPOCH + 1:
            epoch = int(t) - 1 if has_checkpoint_0 else int(t)
        else:
            raise HyperVizError(f"{path}: line {number}: training_iteration {shown(repr(t), 40)} is not a whole "
                                f"number in 1..{MAX_EPOCH + 1}")
        results[epoch] = {name: _metric(row.get(name)) for name in RESULT_COLUMNS}
        j += 1
    if non_finite:
        log.warning("%s: %d NaN or Infinity value(s) read as not measured", path, len(non_finite))
    return results


def _params_row(params: dict, path: Path | str = "params.json") -> dict:
    """Model columns from one params.json: mapped names first, then other scalar keys."""
    row: dict = {}
    keys = [k for k in PARAMS_COLUMNS if k in params] + [k for k in params if k not in PARAMS_COLUMNS]
    for key in keys:
        value = params[key]
        if value is None or not isinstance(value, (bool, int, float, str)):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue                                # NaN / Infinity: not a setting (missing)
        if isinstance(value, str) and "\x00" in value:
            raise HyperVizError(f"{shown(path)}: {shown(repr(key), 40)} holds a NUL character")
        name = PARAMS_COLUMNS.get(key) or sanitise(key)
        if name and name != "model_id" and name not in row:
            row[name] = value
    return row


def _model_dirs(src: Path) -> list[Path]:
    if checkpoint_dirs(src):
        return [src]
    dirs = []
    for p in sorted(src.iterdir()):
        if not p.is_dir():
            continue
        if checkpoint_dirs(p):
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


def import_modelzoos(src: Path, spec: list[ArchSpec] | ArchSpec | None) -> Job[Zoo]:
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
    grid = StateGrid(m, epochs, STATE_COLUMNS)
    reader = WeightReader(spec)
    raw_params, rows = [], []
    for i, (model_dir, files) in enumerate(zip(dirs, checkpoints)):
        params = _read_json_object(model_dir / "params.json")
        raw_params.append(params)
        rows.append({"model_id": model_dir.name, **_params_row(params, model_dir / "params.json")})
        results = read_results(model_dir / "result.json", has_checkpoint_0)
        for epoch, file in files.items():
            grid.put(i, epoch, reader.vector(file, model_dir, model=i), results.get(epoch, {}))
        rows[-1]["arch"] = reader.arch_of(i)           # the architecture its shapes matched (sources may mix)
        yield Progress(i + 1, m + 1, f"read {model_dir.name}")
    grid.states["ggap"] = grid.states["train_acc"] - grid.states["test_acc"]
    return Zoo(
        archs=reader.archs, weights=grid.weights, epochs=epochs, states=grid.states, models=model_columns(rows),
        task={"name": _task_name(raw_params)},
        source={"imported_from": str(src), "format": "modelzoos"},
        present=grid.present,
    )
