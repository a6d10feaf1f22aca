"""The zoo file: one HDF5 file holding a population of trained models (format: docs/zoo-format.md).

Layout (schema version 2)::

    /                 attrs: format="hyperviz-zoo", schema_version=2, complete=True, content_sha256
    /weights          float32 [n_models, n_checkpoints, n_params], uncompressed, chunked by whole models;
                      n_params is the largest architecture's, a smaller model's vector is zero-padded
    /epochs           int32   [n_checkpoints]            epoch of each checkpoint column (0 = init)
    /present          bool    [n_models, n_checkpoints]  False where a model lacks that checkpoint
    /states/<name>    float32 [n_models, n_checkpoints]  per model state: train/val/test loss and acc, ggap
    /models/<name>    [n_models]                         per model: model_id, arch, seed, hyperparameters
    /meta/archs       JSON list: the architecture specs (core.zoo.arch.ArchSpec), each named once;
                      /models/arch names each model's
    /meta/task        JSON string: the task description (core.zoo.tasks.Task.describe; a task from
                      files adds its "source": kind, path, files, sha256, split), or {"name": ...}
                      for a zoo imported without --task
    /meta/source      JSON string: the zoo spec it was built from, or where it was imported from

Schema version 1 (one architecture: ``/meta/arch``, one spec, no ``/models/arch``) still opens:
its zoo has one architecture and every model's ``arch`` is that one's name.

Writes are crash-safe: a zoo is written to ``<path>.partial`` and renamed into place only when
complete, so a file at ``<path>`` is always whole. :class:`ZooWriter` writes chunks of models
into the partial file and remembers which chunks are done, so an interrupted build resumes.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from core.errors import HyperVizError, shown
from core.validate import READ_ERRORS, H5Reader, load_json
from core.zoo.arch import ArchSpec

FORMAT = "hyperviz-zoo"
SCHEMA_VERSION = 2
#: The versions this hyperviz reads: 1 (one architecture, ``/meta/arch``) and 2 (``/meta/archs``).
READABLE_VERSIONS = (1, 2)
STATE_COLUMNS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "ggap")
_CHUNK_BYTES = 512 * 1024
#: The per-chunk checksums stored in ``/checksums`` (absent in zoos written before them).
CHECKSUM_FORMAT = "sha256-chunks-v1"
#: How many bytes of weights the check on open (``zoo info``, a workspace noticing its zoo) reads
#: and hashes: every chunk of a zoo up to this size (the default 512-model zoo is 64 MB, ~0.1 s),
#: a sample of chunks of a larger one. Reading the whole zoo (fit, embed, sample) checks all.
OPEN_CHECK_BYTES = 128 * 2**20


@dataclass
class Zoo:
    """A population of models in memory. ``M`` models, ``C`` checkpoints, ``P`` parameters.

    ``archs`` holds every architecture of the zoo (one ArchSpec may be given for a zoo of one);
    ``models["arch"]`` names each model's. ``P`` is the largest architecture's parameter count: a
    model of a smaller one uses the first ``n_params`` entries of its vector, the rest are zero.
    """

    archs: tuple[ArchSpec, ...]
    weights: np.ndarray                      # float32 [M, C, P]
    epochs: np.ndarray                       # int32 [C]
    states: dict[str, np.ndarray]            # name -> float32 [M, C] (NaN = not measured)
    models: dict[str, np.ndarray]            # name -> [M] (numbers, or str for categories)
    task: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    present: np.ndarray | None = None        # bool [M, C]; None = all present
    content_sha256: str = ""                 # as read from a file (set by read_zoo)
    schema_version: int = SCHEMA_VERSION     # the file's, as read (1: a zoo written before /meta/archs)

    def __post_init__(self) -> None:
        if isinstance(self.archs, ArchSpec):
            self.archs = (self.archs,)
        self.archs = tuple(self.archs)
        m, c, p = self.weights.shape
        if self.present is None:
            self.present = np.ones((m, c), dtype=bool)
        if not self.archs:
            raise HyperVizError("a zoo needs at least one architecture")
        by_name: dict[str, ArchSpec] = {}
        for spec in self.archs:
            if spec.name in by_name and by_name[spec.name] != spec:
                raise HyperVizError(f"architecture {shown(repr(spec.name), 40)}: two different specs carry this name")
            by_name[spec.name] = spec
        self.archs = tuple(by_name.values())
        if "arch" not in self.models:
            if len(self.archs) > 1:
                raise HyperVizError(f"a zoo of {len(self.archs)} architectures needs a model column 'arch'")
            self.models = {**self.models, "arch": np.array([self.archs[0].name] * m)}
        for name, col in self.models.items():
            if col.shape != (m,):
                raise HyperVizError(f"zoo model column {name!r} has shape {col.shape}, expected {(m,)}")
        names = np.asarray(self.models["arch"]).astype(str)
        unknown = sorted(set(names.tolist()) - set(by_name))
        if unknown:
            raise HyperVizError(f"zoo model column 'arch' names {shown(repr(unknown[0]), 40)}, not one of the zoo's "
                                f"architectures ({', '.join(by_name)})")
        width = max(spec.n_params for spec in self.archs)
        if p != width:
            if len(self.archs) == 1:
                raise HyperVizError(f"zoo weights have {p} parameters but architecture {self.archs[0].name!r} "
                                    f"has {self.archs[0].n_params}")
            raise HyperVizError(f"zoo weights have {p} parameters per model, but its largest architecture has {width}")
        for name, col in self.states.items():
            if col.shape != (m, c):
                raise HyperVizError(f"zoo state column {name!r} has shape {col.shape}, expected {(m, c)}")

    @property
    def n_models(self) -> int:
        return self.weights.shape[0]

    @property
    def n_checkpoints(self) -> int:
        return self.weights.shape[1]

    # ---- architectures -------------------------------------------------------------------
    @property
    def arch_names(self) -> list[str]:
        return [spec.name for spec in self.archs]

    @property
    def is_mixed(self) -> bool:
        return len(self.archs) > 1

    @property
    def arch(self) -> ArchSpec:
        """The zoo's architecture; a one-line error for a zoo of several (see :meth:`single_arch`)."""
        return self.single_arch()

    def single_arch(self, what: str = "this step") -> ArchSpec:
        """The one architecture of the zoo, or a one-line error saying that ``what`` needs one."""
        if self.is_mixed:
            raise HyperVizError(f"the zoo holds models of {len(self.archs)} architectures "
                                f"({', '.join(self.arch_names)}); {what} works on a zoo of one architecture")
        return self.archs[0]

    def spec(self, name: str) -> ArchSpec:
        """The architecture called ``name``; a one-line error naming the zoo's for another name."""
        for spec in self.archs:
            if spec.name == name:
                return spec
        raise HyperVizError(f"architecture {shown(repr(name), 40)}: not in this zoo (it has {', '.join(self.arch_names)})")

    def model_archs(self) -> np.ndarray:
        """str ``[M]``: each model's architecture name."""
        return np.asarray(self.models["arch"]).astype(str)

    def arch_rows(self, name: str) -> np.ndarray:
        """Model rows (int64, ascending) of architecture ``name``."""
        self.spec(name)
        return np.flatnonzero(self.model_archs() == name)

    def subset(self, name: str) -> Zoo:
        """The models of architecture ``name`` as a zoo of that one architecture (weights ``[M', C, P']``
        cut to its parameter count); the other columns keep their values."""
        spec, rows = self.spec(name), self.arch_rows(name)
        sub = Zoo(archs=(spec,), weights=np.ascontiguousarray(self.weights[rows, :, : spec.n_params]),
                  epochs=self.epochs, states={k: v[rows] for k, v in self.states.items()},
                  models={k: v[rows] for k, v in self.models.items()}, task=self.task, source=self.source,
                  present=self.present[rows])
        sub.content_sha256 = self.content_sha256
        return sub

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
        """Weights ``[n_states, P]`` in the row order of :meth:`state_table` (zero-padded to ``P``)."""
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

    ``chunks``: the model rows of each chunk (the order they are written in does not matter).
    Opening a writer on a path whose partial file was made for the same ``source``, shape and
    chunks resumes it: :attr:`done` tells which chunks are already written. Anything else there
    (another spec, or the same spec cut into other chunks by another version) is started over,
    so a resumed zoo never mixes two plans.
    """

    def __init__(self, path: str | Path, archs: ArchSpec | tuple[ArchSpec, ...], epochs: np.ndarray,
                 models: dict[str, np.ndarray], task: dict, source: dict, chunks: Sequence[Sequence[int]]):
        self.path = Path(path)
        self.partial = _partial(self.path)
        archs = (archs,) if isinstance(archs, ArchSpec) else tuple(archs)
        n_models = len(next(iter(models.values())))
        if "arch" not in models:
            if len(archs) != 1:
                raise HyperVizError(f"a zoo of {len(archs)} architectures needs a model column 'arch'")
            models = {**models, "arch": np.array([archs[0].name] * n_models)}
        shape = (n_models, len(epochs), max(spec.n_params for spec in archs))
        chunk_of = np.full(n_models, -1, dtype=np.int32)        # each model's chunk
        for k, rows in enumerate(chunks):
            chunk_of[np.asarray(rows, dtype=np.int64)] = k
        if (chunk_of < 0).any():
            raise ValueError(f"ZooWriter: {int((chunk_of < 0).sum())} models are in no chunk")
        n_chunks = len(chunks)
        self.resumed = self._try_resume(source, shape, chunk_of)
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
                _write_json(meta, "archs", [spec.to_dict() for spec in archs])
                _write_json(meta, "task", task)
                _write_json(meta, "source", source)
                f.create_dataset("build/done", data=np.zeros(n_chunks, dtype=bool))
                f.create_dataset("build/chunk_of", data=chunk_of)
        with h5py.File(self.partial, "r") as f:
            self.done = f["build/done"][()].copy()

    def _try_resume(self, source: dict, shape: tuple, chunk_of: np.ndarray) -> bool:
        if not self.partial.exists():
            return False
        try:
            with h5py.File(self.partial, "r") as f:
                same = (json.loads(f["meta/source"][()]) == json.loads(json.dumps(source))
                        and f["weights"].shape == shape
                        and f["build/done"].shape == (int(chunk_of.max()) + 1,)
                        and np.array_equal(f["build/chunk_of"][()], chunk_of))
        except (OSError, KeyError, ValueError):
            same = False  # damaged by the interruption, or from a version without chunk_of: start over
        return same

    def write_chunk(self, chunk: int, rows: np.ndarray, weights: np.ndarray, states: dict[str, np.ndarray]) -> None:
        """Store models ``rows`` (sorted indices): weights ``[len(rows), C, P']`` and their state columns
        (``P'`` at most the zoo's width: a smaller architecture's vectors are zero-padded)."""
        with h5py.File(self.partial, "r+") as f:
            width = f["weights"].shape[2]
            for j, row in enumerate(rows):
                block = np.zeros((weights.shape[1], width), dtype=np.float32)
                block[:, : weights.shape[2]] = weights[j]
                f["weights"][row] = block
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
            f.attrs["content_sha256"] = _write_checksums(f, self.partial)
            f.attrs["complete"] = True
        os.replace(self.partial, self.path)
        return self.path


def write_zoo(path: str | Path, zoo: Zoo) -> Path:
    """Write a whole in-memory zoo atomically (via ``<path>.partial``)."""
    path = Path(path)
    partial = _partial(path)
    partial.unlink(missing_ok=True)
    writer = ZooWriter(path, zoo.archs, zoo.epochs, zoo.models, zoo.task, zoo.source, chunks=[range(zoo.n_models)])
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


def _content_hash(f: h5py.File, weights: np.ndarray | None = None) -> str:
    """The content hash of a zoo written before per-chunk checksums (schema 1, no ``/checksums``):
    sha256 over the weights (``weights`` when already in memory), layout and every table."""
    h = hashlib.sha256()
    if weights is not None:
        h.update(np.ascontiguousarray(weights, dtype=np.float32))
    else:
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


def not_replaced(out: Path, what: str) -> HyperVizError:
    """The one-line refusal to replace ``what`` (a :func:`describe_file` text) at ``out``."""
    return HyperVizError(f"{shown(out)}: already exists, {what}; not replaced (pass --overwrite to replace it, "
                         "or choose another --out)")


def check_zoo_destination(out: str | Path, overwrite: bool = False) -> str | None:
    """Check ``out`` before a zoo is written there (build, import, merge): a folder is refused
    always, anything else already there unless ``overwrite``. Returns :func:`describe_file` of
    ``out`` (None when nothing is there)."""
    out = Path(out)
    what = describe_file(out)
    if what == "a folder":
        raise HyperVizError(f"{shown(out)}: a folder; the zoo must be written to a file (e.g. {shown(out / 'zoo.h5')})")
    if what is not None and not overwrite:
        raise not_replaced(out, what)
    return what


def open_zoo_file(path: str | Path) -> h5py.File:
    """Open a zoo file for reading, with one-line errors for missing, damaged or foreign files.
    Checks the root attributes and that the main parts exist; :func:`read_zoo` checks the rest."""
    path = Path(path)
    if not os.path.lexists(path) and os.path.lexists(_partial(path)):   # (False for a name too long)
        raise HyperVizError(f"{shown(path)}: not found, but {shown(_partial(path).name)} is: the build was interrupted; re-run it to resume")
    check_regular_file(path, "zoo file")
    try:
        f = h5py.File(path, "r")
    except READ_ERRORS:
        raise HyperVizError(f"{shown(path)}: not a readable HDF5 file (truncated or not a zoo)") from None
    try:
        r = H5Reader(f, path)
        if not r.is_format(FORMAT):
            raise HyperVizError(f"{shown(path)}: an HDF5 file, but not a hyperviz zoo (no format={FORMAT!r} attribute)")
        version = r.schema_version(SCHEMA_VERSION)
        if version not in READABLE_VERSIONS:
            raise HyperVizError(f"{shown(path)}: zoo schema version {shown(version, 40)}, "
                                f"this hyperviz reads versions {', '.join(map(str, READABLE_VERSIONS))}")
        if not r.attr_bool("complete"):
            raise HyperVizError(f"{shown(path)}: incomplete zoo file (written by an interrupted build)")
        digest = r.attr_str("content_sha256", required=False)
        if digest is None:
            raise r.fail("/@content_sha256", "missing (the zoo's content hash)")
        if not _is_sha256(digest):
            raise r.fail("/@content_sha256", f"{shown(repr(digest), 80)}, expected 64 hexadecimal digits")
        for name in ("weights", "epochs", "present", "states", "models", "meta/arch" if version == 1 else "meta/archs"):
            if r.get(name) is None:
                raise HyperVizError(f"{shown(path)}: damaged zoo file, {name!r} is missing")
    except HyperVizError:
        f.close()
        raise
    except READ_ERRORS as exc:
        f.close()
        raise HyperVizError(f"{shown(path)}: damaged zoo file ({shown(exc, 120)})") from None
    return f


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


# ---- checked reading -------------------------------------------------------------------------
@dataclass
class _Tables:
    """Everything in a zoo file but the weights, read and checked."""

    archs: tuple[ArchSpec, ...]
    shape: tuple[int, int, int]              # (M, C, P) of /weights
    epochs: np.ndarray
    present: np.ndarray
    states: dict[str, np.ndarray]
    models: dict[str, np.ndarray]
    meta: dict[str, str]                      # raw JSON texts (hashed as stored)
    task: dict
    source: dict
    content_sha256: str


def _read_tables(r: H5Reader) -> _Tables:
    """Read and check every table against the format (docs/zoo-format.md)."""
    meta = {}
    for name in r.members("meta", required=True, limit=64):
        ds = r.dataset(f"meta/{name}", "OS", (), what="a JSON string")
        text = ds[()]
        meta[name] = text.decode("utf-8", errors="surrogateescape") if isinstance(text, bytes) else str(text)
    version = r.schema_version(SCHEMA_VERSION)
    if version == 1:
        archs = (_arch_spec(r, load_json(meta["arch"], f"{r.label}: /meta/arch", dict), "/meta/arch"),)
    else:
        if "arch" in meta:
            raise r.fail("/meta/arch", f"present in a schema-{version} zoo (its architectures are /meta/archs)")
        if "archs" not in meta:
            raise r.fail("/meta/archs", "missing (the zoo's architecture specs)")
        listed = load_json(meta["archs"], f"{r.label}: /meta/archs", list)
        if not listed:
            raise r.fail("/meta/archs", "an empty list (a zoo has at least one architecture)")
        archs = tuple(_arch_spec(r, obj, f"/meta/archs[{i}]") for i, obj in enumerate(listed))
        names = [spec.name for spec in archs]
        if len(set(names)) != len(names):
            raise r.fail("/meta/archs", f"names architecture {shown(next(n for n in names if names.count(n) > 1), 40)} twice")
    task = load_json(meta["task"], f"{r.label}: /meta/task", dict) if "task" in meta else {}
    source = load_json(meta["source"], f"{r.label}: /meta/source", dict) if "source" in meta else {}

    ds = r.dataset("weights", "f", (None, None, None))
    m, c, p = ds.shape
    if ds.dtype != np.float32:
        raise r.fail("/weights", f"holds {ds.dtype}, expected float32")
    if m < 1 or c < 1:
        raise r.fail("/weights", f"shape {tuple(ds.shape)}: no models or no checkpoints")
    width = max(spec.n_params for spec in archs)
    if p != width:
        where = "the architecture in /meta/arch" if version == 1 else "the largest architecture in /meta/archs"
        raise r.fail("/weights", f"{p} parameters per model, but {where} ({shown(max(archs, key=lambda a: a.n_params).name, 40)}) "
                                 f"has {width}")
    epochs = r.read("epochs", "iu", (c,))
    if epochs.size and (epochs.min() < 0 or epochs.max() > 2**31 - 1):
        raise r.fail("/epochs", f"values {int(epochs.min())}..{int(epochs.max())}, expected 0..{2**31 - 1}")
    if np.any(np.diff(epochs.astype(np.int64)) <= 0):
        raise r.fail("/epochs", "not strictly increasing (each checkpoint column is one epoch)")
    present = r.read("present", "b", (m, c))
    states = {}
    for name in r.members("states", required=True):
        states[name] = r.read(f"states/{name}", "f", (m, c))
    models = {}
    for name in r.members("models", required=True):
        models[name] = r.read(f"models/{name}", "iufbOS", (m,))
    if "model_id" in models and len(set(models["model_id"].tolist())) != m:
        raise r.fail("/models/model_id", "holds the same model id twice")
    if version >= 2:
        if "arch" not in models:
            raise r.fail("/models/arch", "missing (each model's architecture)")
        if models["arch"].dtype.kind != "U":
            raise r.fail("/models/arch", f"holds {models['arch'].dtype}, expected strings (architecture names)")
        unknown = sorted(set(models["arch"].tolist()) - {spec.name for spec in archs})
        if unknown:
            raise r.fail("/models/arch", f"names {shown(unknown[0], 40)}, which /meta/archs does not define")
    elif "arch" in models:
        raise r.fail("/models/arch", "present in a schema-1 zoo (one architecture, /meta/arch)")
    return _Tables(archs=archs, shape=(m, c, p), epochs=epochs.astype(np.int32), present=present.astype(bool),
                   states=states, models=models, meta=meta, task=task, source=source,
                   content_sha256=str(r.attr_str("content_sha256", required=False) or ""))


def _arch_spec(r: H5Reader, obj, place: str) -> ArchSpec:
    if not isinstance(obj, dict):
        raise r.fail(place, "not a JSON object (an architecture spec)")
    try:
        return ArchSpec.from_dict(obj, source=f"{r.label}: {place}")
    except HyperVizError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
        raise r.fail(place, f"not a usable architecture spec ({shown(exc, 120)})") from None


def _digest_array(name: str, values) -> str:
    h = hashlib.sha256(name.encode())
    if isinstance(values, str):
        h.update(b"json\0" + values.encode("utf-8", errors="surrogateescape"))
        return h.hexdigest()
    values = np.asarray(values)
    if values.dtype.kind in "OSU":
        h.update(b"str\0" + "\0".join(map(_text, values.reshape(-1))).encode("utf-8", errors="surrogateescape"))
    else:
        h.update(f"{values.dtype.str}{values.shape}".encode())
        h.update(np.ascontiguousarray(values))
    return h.hexdigest()


def _table_digests(t: _Tables) -> dict[str, str]:
    out = {"epochs": _digest_array("epochs", t.epochs), "present": _digest_array("present", t.present)}
    out.update({f"states/{n}": _digest_array(f"states/{n}", v) for n, v in t.states.items()})
    out.update({f"models/{n}": _digest_array(f"models/{n}", v) for n, v in t.models.items()})
    out.update({f"meta/{n}": _digest_array(f"meta/{n}", v) for n, v in t.meta.items()})
    return out


def _chunk_digest(weights: np.ndarray) -> bytes:
    return hashlib.sha256(np.ascontiguousarray(weights, dtype=np.float32)).digest()


def _combined_hash(tables: dict[str, str], chunks: np.ndarray) -> str:
    """The content hash of a zoo with per-chunk checksums: sha256 over the table digests and the
    weight chunk digests, so that it can be checked against them without reading the weights."""
    h = hashlib.sha256(CHECKSUM_FORMAT.encode() + b"\0")
    h.update(json.dumps(tables, sort_keys=True).encode())
    h.update(np.ascontiguousarray(chunks, dtype=np.uint8))
    return h.hexdigest()


def _write_checksums(f: h5py.File, label) -> str:
    """Store the per-table and per-chunk checksums of a zoo being sealed; returns its content hash."""
    if "checksums" in f:
        del f["checksums"]
    t = _read_tables(H5Reader(f, label))
    ds = f["weights"]
    m = ds.shape[0]
    k = _checksum_chunk(ds)
    chunks = np.zeros((-(-m // k), 32), dtype=np.uint8)
    for i, start in enumerate(range(0, m, k)):
        chunks[i] = np.frombuffer(_chunk_digest(ds[start : start + k]), dtype=np.uint8)
    tables = _table_digests(t)
    g = f.create_group("checksums")
    g.attrs["format"] = CHECKSUM_FORMAT
    g.attrs["chunk_models"] = k
    g.create_dataset("weights", data=chunks)
    _write_json(g, "tables", tables)
    return _combined_hash(tables, chunks)


def _checksum_chunk(ds: h5py.Dataset) -> int:
    """Models per checksummed chunk: the HDF5 chunk of /weights (whole models, <= 0.5 MiB)."""
    return int(ds.chunks[0]) if ds.chunks else _model_chunk(ds.shape[1], ds.shape[2], ds.shape[0])


@dataclass
class _Sums:
    chunk_models: int
    chunks: np.ndarray                       # uint8 [n_chunks, 32]


def _read_sums(r: H5Reader, t: _Tables) -> _Sums | None:
    """Check the stored checksums against the tables and the content hash (cheap: no weights
    read); None for a zoo written before checksums existed."""
    if r.get("checksums") is None:
        return None
    r.group("checksums")
    fmt = r.attr_str("format", place="checksums")
    if fmt != CHECKSUM_FORMAT:
        raise r.fail("/checksums/@format", f"{shown(repr(fmt), 60)}, expected {CHECKSUM_FORMAT!r}")
    m = t.shape[0]
    k = r.attr_int("chunk_models", 1, m, place="checksums")
    n_chunks = -(-m // k)
    chunks = r.read("checksums/weights", "u", (n_chunks, 32))
    if chunks.dtype != np.uint8:
        raise r.fail("/checksums/weights", f"holds {chunks.dtype}, expected uint8")
    stored = r.json("checksums/tables", dict)
    mine = _table_digests(t)
    for name in sorted(set(stored) | set(mine)):
        if name not in mine:
            raise r.fail(f"/{name}", "missing, but the zoo's checksums list it (removed after the zoo was written)")
        if name not in stored:
            raise r.fail(f"/{name}", "not covered by the zoo's checksums (added after the zoo was written)")
        if stored[name] != mine[name]:
            raise r.fail(f"/{name}", "changed since the zoo was written (its checksum does not match)")
    if _combined_hash(stored, chunks) != t.content_sha256:
        raise r.fail("/@content_sha256", "does not match the zoo's checksums (the hash or the checksums were edited)")
    return _Sums(chunk_models=k, chunks=chunks)


def _bad_chunk(r: H5Reader, t: _Tables, sums: _Sums, i: int) -> HyperVizError:
    k = sums.chunk_models
    a, b = i * k, min((i + 1) * k, t.shape[0])
    ids = t.models.get("model_id")
    names = f" ({shown(ids[a], 40)}..{shown(ids[b - 1], 40)})" if ids is not None and b - a > 1 else \
        (f" ({shown(ids[a], 40)})" if ids is not None else "")
    models = f"model rows {a}..{b - 1}" if b - a > 1 else f"model row {a}"
    return r.fail("/weights", f"{models}{names}, chunk {i + 1} of {len(sums.chunks)}, changed since the zoo was "
                              "written (checksum mismatch)")


def _check_chunks(r: H5Reader, t: _Tables, sums: _Sums, chunk_ids, weights: np.ndarray | None = None) -> None:
    ds = r.f["weights"]
    k = sums.chunk_models
    for i in chunk_ids:
        a, b = i * k, min((i + 1) * k, t.shape[0])
        try:
            block = weights[a:b] if weights is not None else ds[a:b]
        except READ_ERRORS as exc:
            raise r.fail("/weights", f"model rows {a}..{b - 1} cannot be read ({shown(exc, 80)})") from None
        if _chunk_digest(block) != sums.chunks[i].tobytes():
            raise _bad_chunk(r, t, sums, i)


def _sample_chunks(n_chunks: int, chunk_bytes: int, budget: int = OPEN_CHECK_BYTES) -> list[int]:
    """Which weight chunks the check on open reads: all when they fit in ``budget`` bytes, else the
    first, the last and random others up to the budget (a different sample each time)."""
    n = max(1, budget // max(1, chunk_bytes))
    if n >= n_chunks:
        return list(range(n_chunks))
    rng = np.random.default_rng()
    others = rng.choice(np.arange(1, n_chunks - 1), size=max(0, n - 2), replace=False) if n_chunks > 2 else []
    return sorted({0, n_chunks - 1, *map(int, others)})


@dataclass
class Verification:
    """What a check of a zoo's content covered."""

    status: str                              # "verified", "sampled", "not verifiable"
    chunks: int = 0                          # weight chunks in the zoo
    checked: int = 0                         # chunks whose data was compared with its checksum

    def words(self) -> str:
        if self.status == "not verifiable":
            return ("not verifiable on open (no per-chunk checksums: written by an earlier hyperviz); "
                    "`hyperviz zoo verify` recomputes the whole hash")
        if self.status == "verified":
            return f"verified: the tables and all {self.chunks} weight chunks match their checksums"
        return (f"checked: the tables and {self.checked} of {self.chunks} weight chunks match their checksums "
                "(`hyperviz zoo verify` checks all)")


def _read_zoo(path: str | Path, weights: bool) -> Zoo:
    zoo, _ = _read_checked(path, weights)
    return zoo


def _read_checked(path: str | Path, weights: bool) -> tuple[Zoo, Verification]:
    """The zoo in ``path``, every part checked against the format and the stored checksums.

    With ``weights=True`` every weight chunk is compared with its checksum as it is read (the
    cost of one sha256 pass, ~1 s per GB); with ``weights=False`` the weights are a zero-copy
    placeholder of the right shape and a sample of chunks up to :data:`OPEN_CHECK_BYTES` is
    checked. A zoo written before checksums existed is checked by recomputing its whole content
    hash when the weights are read, and not at all otherwise."""
    with open_zoo_file(path) as f:
        r = H5Reader(f, path)
        try:
            t = _read_tables(r)
            sums = _read_sums(r, t)
            m, c, p = t.shape
            if weights:
                try:
                    data = f["weights"][()]
                except READ_ERRORS as exc:
                    raise r.fail("/weights", f"cannot be read ({shown(exc, 80)})") from None
                if sums is not None:
                    _check_chunks(r, t, sums, range(len(sums.chunks)), data)
                    check = Verification("verified", len(sums.chunks), len(sums.chunks))
                else:
                    if _content_hash(f, data) != t.content_sha256:
                        raise r.fail("/weights", "the zoo's content changed since it was written (its recomputed "
                                                 "content hash differs from /@content_sha256)")
                    check = Verification("verified")
            else:
                data = np.broadcast_to(np.zeros((), np.float32), (m, c, p))
                if sums is not None:
                    ids = _sample_chunks(len(sums.chunks), sums.chunk_models * c * p * 4)
                    _check_chunks(r, t, sums, ids)
                    check = Verification("verified" if len(ids) == len(sums.chunks) else "sampled",
                                         len(sums.chunks), len(ids))
                else:
                    check = Verification("not verifiable")
        except HyperVizError:
            raise
        except READ_ERRORS as exc:
            raise HyperVizError(f"{shown(path)}: damaged zoo file ({shown(exc, 120)})") from None
        zoo = Zoo(archs=t.archs, weights=data, epochs=t.epochs, states=t.states, models=t.models, task=t.task,
                  source=t.source, present=t.present)
        zoo.content_sha256 = t.content_sha256
        zoo.schema_version = r.schema_version(SCHEMA_VERSION)
        return zoo, check


def read_zoo(path: str | Path) -> Zoo:
    """Load a whole zoo file into memory, checked (format, checksums of every chunk)."""
    return _read_zoo(path, weights=True)


def read_zoo_tables(path: str | Path) -> Zoo:
    """The zoo without its weights (a zero-copy placeholder of the right shape), after the check on
    open: quick on a large zoo, for what needs only its tables, architectures and task."""
    return _read_zoo(path, weights=False)


def zoo_hash(path: str | Path) -> str:
    """The content hash of the zoo, after the check on open (tables, checksums, a sample of chunks):
    a zoo whose weights or tables were edited in place raises instead of showing a stale hash."""
    return _read_zoo(path, weights=False).content_sha256


def verify_zoo(path: str | Path):
    """``hyperviz zoo verify``: compare every weight chunk with its checksum (a job: yields progress,
    returns a :class:`Verification`); the first mismatch is a one-line error naming its models."""
    from core.progress import Progress

    with open_zoo_file(path) as f:
        r = H5Reader(f, path)
        try:
            t = _read_tables(r)
            sums = _read_sums(r, t)
            if sums is None:
                yield Progress(0, 1, "recomputing the content hash (no per-chunk checksums)")
                if _content_hash(f) != t.content_sha256:
                    raise r.fail("/weights", "the zoo's content changed since it was written (its recomputed "
                                             "content hash differs from /@content_sha256)")
                yield Progress(1, 1, "verified")
                return Verification("verified")
            n = len(sums.chunks)
            for i in range(n):
                _check_chunks(r, t, sums, [i])
                if i % 16 == 15 or i == n - 1:
                    yield Progress(i + 1, n, "verifying weight chunks")
            return Verification("verified", n, n)
        except HyperVizError:
            raise
        except READ_ERRORS as exc:
            raise HyperVizError(f"{shown(path)}: damaged zoo file ({shown(exc, 120)})") from None


def zoo_info(path: str | Path) -> dict:
    """A JSON-able summary: sizes, architecture, task, hyperparameters and property ranges (read
    without loading the weights, so it is quick on a large zoo)."""
    zoo, check = _read_checked(path, weights=False)
    info = {
        "path": str(path),
        "models": zoo.n_models,
        "checkpoints": zoo.n_checkpoints,
        "model_states": int(zoo.present.sum()),
        "parameters": zoo.weights.shape[2],
        "architecture": ", ".join(zoo.arch_names),
        "architectures": {spec.name: {"parameters": spec.n_params, "models": int(len(zoo.arch_rows(spec.name)))}
                          for spec in zoo.archs},
        "schema_version": zoo.schema_version,
        "task": zoo.task.get("name"),
        "epochs": [int(zoo.epochs.min()), int(zoo.epochs.max())],
        "content_sha256": zoo.content_sha256,
        "content_check": check.words(),
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
