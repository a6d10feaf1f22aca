"""The workspace: everything hyperviz learns about one zoo, in one HDF5 file (docs/workspace-format.md).

::

    /                      attrs: format="hyperviz-workspace", schema_version=1
    /zoo                   JSON {"path": absolute path, "sha256": content hash of the zoo}
    /split                 str [n_models]: "train" | "val" | "test" (by model, never by checkpoint)
    /autoencoder/config    JSON (core.hyperrep.autoencoder.AEConfig)
    /autoencoder/tensors/* every parameter and buffer (incl. per-layer mean/std of the zoo)
    /autoencoder/training  JSON: epochs done, preset, history of losses and per-layer R^2
    /autoencoder/optimizer/* AdamW state, so an interrupted ``fit`` resumes
    /states                int32 [n_states, 2]: (model row, checkpoint column) of each embedded state
    /embeddings            float32 [n_states, d]: one vector per model state
    /projections/<method>/ coords float32 [n_states, 2], params JSON, extra arrays (e.g. PCA basis)
    /samples/              sampled models (core.generate.sampling), one group per sampling run
    /bookmarks             JSON list of named selections

Nothing is pickled: every entry is an array or a JSON string. Saving writes the whole file to
``<path>.partial`` and renames it, so a crash never leaves a half-written workspace.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch

from core.errors import HyperVizError
from core.zoo.store import check_regular_file, zoo_hash

FORMAT = "hyperviz-workspace"
SCHEMA_VERSION = 1


@dataclass
class Workspace:
    """In-memory workspace. ``path`` is where it was loaded from / will be saved to."""

    path: Path
    zoo_path: Path
    zoo_sha256: str
    split: np.ndarray | None = None                       # str [n_models]
    ae_config: dict | None = None
    ae_tensors: dict[str, np.ndarray] = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    optimizer: dict[str, np.ndarray] = field(default_factory=dict)
    states: np.ndarray | None = None                      # int32 [n, 2]
    embeddings: np.ndarray | None = None                  # float32 [n, d]
    projections: dict[str, dict] = field(default_factory=dict)   # method -> {"coords", "params", "arrays"}
    samples: dict[str, dict] = field(default_factory=dict)       # run id -> {"meta": dict, "arrays": {...}}
    bookmarks: list[dict] = field(default_factory=list)

    # ---- the autoencoder ---------------------------------------------------------------------
    @property
    def has_autoencoder(self) -> bool:
        return self.ae_config is not None and bool(self.ae_tensors)

    def autoencoder(self, device: torch.device | str = "cpu"):
        """Rebuild the trained :class:`core.hyperrep.autoencoder.HyperRepAE` (no pickle involved)."""
        from core.hyperrep.autoencoder import model_from_tensors

        if not self.has_autoencoder:
            raise HyperVizError(f"{self.path}: no trained autoencoder yet (run `hyperviz fit`)")
        return model_from_tensors(self.ae_config, {k: torch.from_numpy(v) for k, v in self.ae_tensors.items()}, device)

    def set_autoencoder(self, model) -> None:
        from core.hyperrep.autoencoder import state_to_tensors

        self.ae_config = model.config.to_dict()
        self.ae_tensors = {k: v.numpy() for k, v in state_to_tensors(model).items()}

    # ---- checks --------------------------------------------------------------------------------
    def check_zoo(self) -> None:
        """Raise when the zoo file is missing or its content changed since the workspace was made."""
        if not self.zoo_path.exists():
            raise HyperVizError(f"{self.path}: its zoo {self.zoo_path} is missing")
        current = zoo_hash(self.zoo_path)
        if current != self.zoo_sha256:
            raise HyperVizError(f"{self.path}: its zoo {self.zoo_path} changed since the workspace was made "
                                f"(content hash {current[:12]} != {self.zoo_sha256[:12]}); fit a new workspace")

    def require(self, what: str) -> None:
        """Raise a one-line error naming the command that produces ``what`` when it is missing."""
        needs = {"embeddings": (self.embeddings is not None, "hyperviz embed"),
                 "autoencoder": (self.has_autoencoder, "hyperviz fit")}
        ok, command = needs[what]
        if not ok:
            raise HyperVizError(f"{self.path}: no {what} yet (run `{command} {self.path}`)")

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path | None = None) -> Path:
        """Write atomically to ``path`` (default: :attr:`path`)."""
        path = Path(path or self.path)
        partial = path.with_name(path.name + ".partial")
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(partial, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["schema_version"] = SCHEMA_VERSION
            _json(f, "zoo", {"path": str(self.zoo_path), "sha256": self.zoo_sha256})
            if self.split is not None:
                f.create_dataset("split", data=self.split.astype(object), dtype=h5py.string_dtype())
            if self.ae_config is not None:
                g = f.create_group("autoencoder")
                _json(g, "config", self.ae_config)
                _json(g, "training", self.training)
                _arrays(g.create_group("tensors"), self.ae_tensors)
                _arrays(g.create_group("optimizer"), self.optimizer)
            if self.states is not None:
                f.create_dataset("states", data=self.states.astype(np.int32))
            if self.embeddings is not None:
                f.create_dataset("embeddings", data=self.embeddings.astype(np.float32))
            proj = f.create_group("projections")
            for method, p in self.projections.items():
                g = proj.create_group(method)
                g.create_dataset("coords", data=np.asarray(p["coords"], dtype=np.float32))
                _json(g, "params", p.get("params", {}))
                _arrays(g.create_group("arrays"), p.get("arrays", {}))
            samples = f.create_group("samples")
            for run, s in self.samples.items():
                g = samples.create_group(run)
                _json(g, "meta", s["meta"])
                _arrays(g.create_group("arrays"), s["arrays"])
            _json(f, "bookmarks", self.bookmarks)
        os.replace(partial, path)
        self.path = path
        return path

    @classmethod
    def create(cls, path: str | Path, zoo_path: str | Path) -> Workspace:
        zoo_path = Path(zoo_path).resolve()
        return cls(path=Path(path), zoo_path=zoo_path, zoo_sha256=zoo_hash(zoo_path))


def load_workspace(path: str | Path, check_zoo: bool = True) -> Workspace:
    """Read a workspace file; with ``check_zoo`` also verify that its zoo is unchanged."""
    path = Path(path)
    if not path.exists():
        raise HyperVizError(f"{path}: no such workspace")
    check_regular_file(path, "workspace")               # a FIFO would block the reader forever
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise HyperVizError(f"{path}: not a readable workspace file (truncated or not HDF5)") from None
    with f:
        if f.attrs.get("format") != FORMAT:
            raise HyperVizError(f"{path}: not a hyperviz workspace")
        if int(f.attrs.get("schema_version", -1)) != SCHEMA_VERSION:
            raise HyperVizError(f"{path}: workspace schema version {f.attrs.get('schema_version')}, expected {SCHEMA_VERSION}")
        try:
            zoo = _read_json(f["zoo"])
            ws = Workspace(path=path, zoo_path=_resolve_zoo(path, zoo["path"]), zoo_sha256=zoo["sha256"])
            if "split" in f:
                ws.split = np.array([_text(s) for s in f["split"][()]])
            if "autoencoder" in f:
                g = f["autoencoder"]
                ws.ae_config = _read_json(g["config"])
                ws.training = _read_json(g["training"])
                ws.ae_tensors = _read_arrays(g["tensors"])
                ws.optimizer = _read_arrays(g["optimizer"])
            if "states" in f:
                ws.states = f["states"][()]
            if "embeddings" in f:
                ws.embeddings = f["embeddings"][()]
            for method, g in f["projections"].items():
                ws.projections[method] = {"coords": g["coords"][()], "params": _read_json(g["params"]), "arrays": _read_arrays(g["arrays"])}
            for run, g in f["samples"].items():
                ws.samples[run] = {"meta": _read_json(g["meta"]), "arrays": _read_arrays(g["arrays"])}
            ws.bookmarks = _read_json(f["bookmarks"]) if "bookmarks" in f else []
        except (KeyError, ValueError, OSError) as exc:
            raise HyperVizError(f"{path}: damaged workspace file ({exc})") from None
    if check_zoo:
        ws.check_zoo()
    return ws


def _resolve_zoo(ws_path: Path, stored: str) -> Path:
    """The zoo path as stored, or, when that is gone, the same file name beside the workspace
    (so a workspace and its zoo can be moved together, e.g. the bundled demo)."""
    stored_path = Path(stored)
    if stored_path.exists():
        return stored_path
    beside = ws_path.parent / stored_path.name
    return beside if beside.exists() else stored_path


def _json(group: h5py.Group, name: str, obj) -> None:
    group.create_dataset(name, data=json.dumps(obj, sort_keys=True), dtype=h5py.string_dtype())


def _read_json(ds: h5py.Dataset):
    return json.loads(_text(ds[()]))


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _arrays(group: h5py.Group, arrays: dict[str, np.ndarray]) -> None:
    for name, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.kind in "OU":
            group.create_dataset(name, data=value.astype(object), dtype=h5py.string_dtype())
        else:
            group.create_dataset(name, data=value)


def _read_arrays(group: h5py.Group) -> dict[str, np.ndarray]:
    out = {}
    for name, ds in group.items():
        value = ds[()]
        out[name] = np.array([_text(v) for v in value.reshape(-1)]).reshape(value.shape) if value.dtype.kind == "O" else value
    return out
