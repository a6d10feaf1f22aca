"""The zoo file: one HDF5 file holding a population of trained models (format: docs/zoo-format.md).

Layout (schema version 1)::

    /                 attrs: format="hyperviz-zoo", schema_version=1, complete=True, content_sha256
    /weights          float32 [n_models, n_checkpoints, n_params], uncompressed, chunked by whole models
    /epochs           int32   [n_checkpoints]            epoch of each checkpoint column (0 = init)
    /present          bool    [n_models, n_checkpoints]  False where a model lacks that checkpoint
    /states/<name>    float32 [n_models, n_checkpoints]  per model state: train/val/test loss and acc, ggap
    /models/<name>    [n_models]                         per model: model_id, seed, hyperparameters
    /meta/arch        JSON string: the architecture spec (core.zoo.arch.ArchSpec)
    /meta/task        JSON string: the task description (or {"name": ...} for imported zoos)
    /meta/source      JSON string: the zoo spec it was built from, or where it was imported from

Writes are crash-safe: a zoo is written to ``<path>.partial`` and renamed into place only when
complete, so a file at ``<path>`` is always whole. :class:`ZooWriter` writes chunks of models
into the partial file and remembers which chunks are done, so an interrupted build resumes.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from core.errors import HyperVizError, shown
from core.zoo.arch import ArchSpec

FORMAT = "hyperviz-zoo"
SCHEMA_VERSION = 1
STATE_COLUMNS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "ggap")
_CHUNK_BYTES = 512 * 1024


@dataclass
class Zoo:
    """A population of models in memory. ``M`` models, ``C`` checkpoints, ``P`` parameters."""

    arch: ArchSpec
    weights: np.ndarray                      # float32 [M, C, P]
    epochs: np.ndarray                       # int32 [C]
    states: dict[str, np.ndarray]            # name -> float32 [M, C] (NaN = not measured)
    models: dict[str, np.ndarray]            # name -> [M] (numbers, or str for categories)
    task: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    present: np.ndarray | None = None        # bool [M, C]; None = all present

    def __post_init__(self) -> None:
        m, c, p = self.weights.shape
        if self.present is None:
            self.present = np.ones((m, c), dtype=bool)
        if p != self.arch.n_params:
            raise HyperVizError(f"zoo weights have {p} parameters but architecture {self.arch.name!r} has {self.arch.n_params}")
        for name, col in self.states.items():
            if col.shape != (m, c):
                raise HyperVizError(f"zoo state column {name!r} has shape {col.shape}, expected {(m, c)}")
        for name, col in self.models.items():
            if col.shape != (m,):
                raise HyperVizError(f"zoo model column {name!r} has shape {col.shape}, expected {(m,)}")

    @property
    def n_models(self) -> int:
        return self.weights.shape[0]

    @property
    def n_checkpoints(self) -> int:
        return self.weights.shape[1]

    def state_table(self) -> dict[str, np.ndarray]:
        """One row per present model state: ``model`` (row index), ``epoch``, state and model columns."""
        mi, ci = np.nonzero(self.present)
        table: dict[str, np.ndarray] = {"model": mi.astype(np.int64), "epoch": self.epochs[ci].astype(np.int64)}
        for name, col in self.states.items():
            table[name] = col[mi, ci]
        for name, col in self.models.items():
            table[name] = col[mi]
        return table

    def state_weights(self) -> np.ndarray:
        """Weights ``[n_states, P]`` in the row order of :meth:`state_table`."""
        mi, ci = np.nonzero(self.present)
        return self.weights[mi, ci]


# ---- writing -----------------------------------------------------------------------------
def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def _model_chunk(n_checkpoints: int, n_params: int, n_models: int) -> int:
    per_model = max(1, n_checkpoints * n_params * 4)
    return int(max(1, min(n_models, _CHUNK_BYTES // per_model)))


def _write_column(group: h5py.Group, name: str, values: np.ndarray) -> None:
    values = np.asarray(values)
    if values.dtype.kind in "OUS":
        group.create_dataset(name, data=np.array([str(v) for v in values], dtype=object), dtype=h5py.string_dtype())
    else:
        group.create_dataset(name, data=values)


def _write_json(group: h5py.Group, name: str, obj: dict) -> None:
    group.create_dataset(name, data=json.dumps(obj, sort_keys=True), dtype=h5py.string_dtype())


class ZooWriter:
    """Writes a zoo chunk by chunk into ``<path>.partial``; :meth:`finish` renames it into place.

    Opening a writer on a path whose partial file was made for the same ``source`` resumes it:
    :attr:`done` tells which chunks are already written.
    """

    def __init__(self, path: str | Path, arch: ArchSpec, epochs: np.ndarray, models: dict[str, np.ndarray],
                 task: dict, source: dict, n_chunks: int):
        self.path = Path(path)
        self.partial = _partial(self.path)
        n_models = len(next(iter(models.values())))
        shape = (n_models, len(epochs), arch.n_params)
        self.resumed = self._try_resume(source, shape, n_chunks)
        if not self.resumed:
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            with h5py.File(self.partial, "w") as f:
                f.attrs["format"] = FORMAT
                f.attrs["schema_version"] = SCHEMA_VERSION
                f.create_dataset("weights", shape=shape, dtype="f4", chunks=(_model_chunk(*shape[1:], n_models), *shape[1:]))
                f.create_dataset("epochs", data=np.asarray(epochs, dtype=np.int32))
                f.create_dataset("present", data=np.ones(shape[:2], dtype=bool))
                states = f.create_group("states")
                for name in STATE_COLUMNS:
                    states.create_dataset(name, data=np.full(shape[:2], np.nan, dtype=np.float32))
                group = f.create_group("models")
                for name, col in models.items():
                    _write_column(group, name, col)
                meta = f.create_group("meta")
                _write_json(meta, "arch", arch.to_dict())
                _write_json(meta, "task", task)
                _write_json(meta, "source", source)
                f.create_dataset("build/done", data=np.zeros(n_chunks, dtype=bool))
        with h5py.File(self.partial, "r") as f:
            self.done = f["build/done"][()].copy()

    def _try_resume(self, source: dict, shape: tuple, n_chunks: int) -> bool:
        if not self.partial.exists():
            return False
        try:
            with h5py.File(self.partial, "r") as f:
                same = (json.loads(f["meta/source"][()]) == json.loads(json.dumps(source))
                        and f["weights"].shape == shape and f["build/done"].shape == (n_chunks,))
        except (OSError, KeyError, ValueError):
            same = False  # a partial file damaged by the interruption: start over
        return same

    def write_chunk(self, chunk: int, rows: np.ndarray, weights: np.ndarray, states: dict[str, np.ndarray]) -> None:
        """Store models ``rows`` (sorted indices): weights ``[len(rows), C, P]`` and their state columns."""
        with h5py.File(self.partial, "r+") as f:
            for j, row in enumerate(rows):
                f["weights"][row] = weights[j]
            for name, col in states.items():
                ds = f["states"][name]
                for j, row in enumerate(rows):
                    ds[row] = col[j]
            f.flush()
            f["build/done"][chunk] = True
        self.done[chunk] = True

    def finish(self) -> Path:
        """Seal the file (hash, complete flag) and move it to its final path."""
        if not self.done.all():
            raise HyperVizError(f"{self.partial}: cannot finish, {int((~self.done).sum())} chunks missing")
        with h5py.File(self.partial, "r+") as f:
            del f["build"]
            f.attrs["content_sha256"] = _content_hash(f)
            f.attrs["complete"] = True
        os.replace(self.partial, self.path)
        return self.path


def write_zoo(path: str | Path, zoo: Zoo) -> Path:
    """Write a whole in-memory zoo atomically (via ``<path>.partial``)."""
    path = Path(path)
    partial = _partial(path)
    partial.unlink(missing_ok=True)
    writer = ZooWriter(path, zoo.arch, zoo.epochs, zoo.models, zoo.task, zoo.source, n_chunks=1)
    with h5py.File(partial, "r+") as f:
        f["weights"][...] = zoo.weights
        f["present"][...] = zoo.present
        for name in list(f["states"]):
            if name not in zoo.states:
                del f["states"][name]
        for name, col in zoo.states.items():
            if name in f["states"]:
                f["states"][name][...] = col
            else:
                f["states"].create_dataset(name, data=col.astype(np.float32))
        f["build/done"][0] = True
    writer.done[0] = True
    return writer.finish()


def _content_hash(f: h5py.File) -> str:
    """sha256 over weights, layout and every table (not over HDF5 bookkeeping such as timestamps)."""
    h = hashlib.sha256()
    ds = f["weights"]
    step = max(1, ds.chunks[0] if ds.chunks else 64)
    for start in range(0, ds.shape[0], step):
        h.update(np.ascontiguousarray(ds[start : start + step]).tobytes())
    for name in ("epochs", "present"):
        h.update(f[name][()].tobytes())
    for group in ("states", "models"):
        for name in sorted(f[group]):
            values = f[group][name][()]
            h.update(name.encode())
            h.update(values.tobytes() if values.dtype.kind != "O" else "\0".join(map(_text, values)).encode())
    for name in sorted(f["meta"]):
        h.update(_text(f["meta"][name][()]).encode())
    return h.hexdigest()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# ---- reading -----------------------------------------------------------------------------
def check_regular_file(path: str | Path, what: str = "file") -> Path:
    """``path`` when it is a regular file (or a link to one); else a one-line error. Checked before
    anything opens it: a FIFO would block the reader forever, a device never ends."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise HyperVizError(f"{shown(path)}: no such file") from None
    except OSError as exc:                        # name too long, not a directory, permission denied
        raise HyperVizError(f"{shown(path)}: cannot be opened ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise HyperVizError(f"{shown(path)}: a folder, not a {what}")
    if not stat.S_ISREG(mode):
        raise HyperVizError(f"{shown(path)}: not a regular file (a FIFO, device or socket), so not a {what}")
    return path


def describe_file(path: str | Path) -> str | None:
    """What is at ``path``, for a message that refuses to replace it: None when nothing is there,
    else "a hyperviz zoo", "a hyperviz workspace" (any hyperviz format), "an HDF5 file that is
    not from hyperviz", "a file that is not HDF5", "a folder" or "not a regular file (...)".
    Reads only the file's attributes, and never opens anything but a regular file."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise HyperVizError(f"{shown(path)}: cannot be checked ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        return "a folder"
    if not stat.S_ISREG(mode):
        return "not a regular file (a FIFO, device or socket)"
    try:
        with h5py.File(path, "r") as f:
            kind = f.attrs.get("format")
    except OSError:
        return "a file that is not HDF5"
    if isinstance(kind, bytes):
        kind = kind.decode(errors="replace")
    if isinstance(kind, str) and kind.startswith("hyperviz-"):
        return f"a hyperviz {shown(kind[len('hyperviz-'):], 40)}"
    return "an HDF5 file that is not from hyperviz"


def open_zoo_file(path: str | Path) -> h5py.File:
    """Open a zoo file for reading, with one-line errors for missing, damaged or foreign files."""
    path = Path(path)
    if not os.path.lexists(path) and os.path.lexists(_partial(path)):   # (False for a name too long)
        raise HyperVizError(f"{shown(path)}: not found, but {shown(_partial(path).name)} is: the build was interrupted; re-run it to resume")
    check_regular_file(path, "zoo file")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise HyperVizError(f"{shown(path)}: not a readable HDF5 file (truncated or not a zoo)") from None
    try:
        if f.attrs.get("format") != FORMAT:
            raise HyperVizError(f"{shown(path)}: an HDF5 file, but not a hyperviz zoo (no format={FORMAT!r} attribute)")
        try:
            version = int(f.attrs.get("schema_version", -1))
        except (TypeError, ValueError):
            version = -1
        if version != SCHEMA_VERSION:
            raise HyperVizError(f"{shown(path)}: zoo schema version {shown(f.attrs.get('schema_version'), 40)}, "
                                f"this hyperviz reads version {SCHEMA_VERSION}")
        if not f.attrs.get("complete", False):
            raise HyperVizError(f"{shown(path)}: incomplete zoo file (written by an interrupted build)")
        for name in ("weights", "epochs", "present", "states", "models", "meta/arch"):
            if name not in f:
                raise HyperVizError(f"{shown(path)}: damaged zoo file, {name!r} is missing")
    except HyperVizError:
        f.close()
        raise
    return f


def read_zoo(path: str | Path) -> Zoo:
    """Load a whole zoo file into memory."""
    return _read_zoo(path, weights=True)


def _read_zoo(path: str | Path, weights: bool) -> Zoo:
    """The zoo in ``path``; with ``weights=False`` the weights are a zero-copy placeholder of the
    right shape (for summaries that need every table but not the bulk of the file)."""
    with open_zoo_file(path) as f:
        try:
            arch = ArchSpec.from_json(_text(f["meta/arch"][()]), source=f"{shown(path)}: meta/arch")
            models = {}
            for name in f["models"]:
                values = f["models"][name][()]
                models[name] = np.array([_text(v) for v in values]) if values.dtype.kind == "O" else values
            ds = f["weights"]
            return Zoo(
                arch=arch,
                weights=ds[()] if weights else np.broadcast_to(np.zeros((), np.float32), ds.shape),
                epochs=f["epochs"][()],
                states={name: f["states"][name][()] for name in f["states"]},
                models=models,
                task=json.loads(_text(f["meta/task"][()])) if "meta/task" in f else {},
                source=json.loads(_text(f["meta/source"][()])) if "meta/source" in f else {},
                present=f["present"][()].astype(bool),
            )
        except (OSError, KeyError, ValueError) as exc:
            raise HyperVizError(f"{shown(path)}: damaged zoo file ({shown(exc)})") from None


def zoo_hash(path: str | Path) -> str:
    """The content hash recorded when the zoo was written."""
    with open_zoo_file(path) as f:
        return str(f.attrs["content_sha256"])


def zoo_info(path: str | Path) -> dict:
    """A JSON-able summary: sizes, architecture, task, hyperparameters and property ranges (read
    without loading the weights, so it is quick on a large zoo)."""
    zoo = _read_zoo(path, weights=False)
    info = {
        "path": str(path),
        "models": zoo.n_models,
        "checkpoints": zoo.n_checkpoints,
        "model_states": int(zoo.present.sum()),
        "parameters": zoo.arch.n_params,
        "architecture": zoo.arch.name,
        "task": zoo.task.get("name"),
        "epochs": [int(zoo.epochs.min()), int(zoo.epochs.max())],
        "content_sha256": zoo_hash(path),
        "properties": {},
        "hyperparameters": {},
    }
    for name, col in zoo.states.items():
        vals = col[zoo.present]
        vals = vals[np.isfinite(vals)]
        if vals.size:
            info["properties"][name] = {"min": float(vals.min()), "mean": float(vals.mean()), "max": float(vals.max())}
    for name, col in zoo.models.items():
        if name == "model_id":
            continue
        uniq = np.unique(col)
        info["hyperparameters"][name] = [v.item() if hasattr(v, "item") else str(v) for v in uniq[:20]]
    final = zoo.states.get("test_acc")
    if final is not None:
        last = final[:, -1][np.isfinite(final[:, -1])]
        if last.size:
            info["final_test_acc"] = {"min": float(last.min()), "median": float(np.median(last)), "max": float(last.max())}
    return info
