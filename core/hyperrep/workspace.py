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

from core.errors import HyperVizError, shown
from core.validate import READ_ERRORS, FormatError, H5Reader, int_field, json_type, number_field
from core.validate import field as json_entry
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
        tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in self.ae_tensors.items()}   # a damaged file may hold scalars
        try:
            return model_from_tensors(self.ae_config, tensors, device)
        except HyperVizError as exc:
            raise HyperVizError(f"{self.path}: /autoencoder: {exc}") from None

    def set_autoencoder(self, model) -> None:
        from core.hyperrep.autoencoder import state_to_tensors

        self.ae_config = model.config.to_dict()
        self.ae_tensors = {k: v.numpy() for k, v in state_to_tensors(model).items()}

    # ---- checks --------------------------------------------------------------------------------
    def check_zoo(self) -> None:
        """Raise when the zoo file is missing or its content changed since the workspace was made."""
        if not _exists(self.zoo_path):
            raise HyperVizError(f"{shown(self.path)}: its zoo {shown(self.zoo_path)} is missing")
        current = zoo_hash(self.zoo_path)
        if current != self.zoo_sha256:
            raise HyperVizError(f"{shown(self.path)}: its zoo {shown(self.zoo_path)} changed since the workspace was made "
                                f"(content hash {current[:12]} != {shown(self.zoo_sha256[:12])}); fit a new workspace")

    def read_zoo(self):
        """The workspace's zoo, read in full (every weight chunk checked against its checksum),
        after checking it is the zoo the workspace was made from and that the two fit together."""
        from core.zoo.store import read_zoo

        if not _exists(self.zoo_path):
            raise HyperVizError(f"{shown(self.path)}: its zoo {shown(self.zoo_path)} is missing")
        zoo = read_zoo(self.zoo_path)
        self.check_fits(zoo)
        return zoo

    def check_fits(self, zoo) -> None:
        """Raise when what the workspace stores does not fit ``zoo`` (its split, its embedded
        states, its sampled weights): one line naming the place."""
        label = shown(self.path)
        if getattr(zoo, "content_sha256", "") and zoo.content_sha256 != self.zoo_sha256:
            raise HyperVizError(f"{label}: its zoo {shown(self.zoo_path)} changed since the workspace was made "
                                f"(content hash {zoo.content_sha256[:12]} != {shown(self.zoo_sha256[:12])}); fit a new workspace")
        if self.has_autoencoder and self.training.get("mode") == "windowed":     # core.hyperrep.windows
            trained = self.training.get("archs") if isinstance(self.training.get("archs"), dict) else {}
            for spec in zoo.archs:
                entry = trained.get(spec.name)
                if not isinstance(entry, dict) or entry.get("spec") != spec.to_dict():
                    raise HyperVizError(f"{label}: its autoencoder was trained on {shown(', '.join(trained), 80) or 'nothing'}, "
                                        f"not on the zoo's architecture {spec.name!r}")
        trained_for = self.training.get("arch") if self.has_autoencoder else None
        if trained_for is not None and (zoo.is_mixed or trained_for != zoo.arch.to_dict()):
            name = trained_for.get("name") if isinstance(trained_for.get("name"), str) else "?"
            raise HyperVizError(f"{label}: its autoencoder was trained for architecture {shown(repr(name), 40)}, "
                                f"the zoo has {', '.join(map(repr, zoo.arch_names))} (another architecture than the zoo's)")
        if self.split is not None and len(self.split) != zoo.n_models:
            raise HyperVizError(f"{label}: /split: {len(self.split)} entries, expected one per zoo model ({zoo.n_models})")
        if self.states is not None and len(self.states):
            rows, cols = self.states[:, 0], self.states[:, 1]
            if rows.max() >= zoo.n_models or cols.max() >= zoo.n_checkpoints:
                raise HyperVizError(f"{label}: /states: refers to model row {int(rows.max())} / checkpoint "
                                    f"{int(cols.max())}, the zoo has {zoo.n_models} x {zoo.n_checkpoints}")
            if not zoo.present[rows, cols].all():
                raise HyperVizError(f"{label}: /states: refers to model states the zoo does not have")
        for run, entry in self.samples.items():
            w = entry["arrays"]["weights"]
            meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
            widened = meta.get("widened")
            if isinstance(widened, dict):        # widened to an architecture the zoo lacks (its spec is the run's own)
                if widened.get("from") not in zoo.arch_names:
                    raise HyperVizError(f"{label}: /samples/{run}: samples widened from architecture "
                                        f"{shown(repr(widened.get('from')), 40)}, which the zoo does not have")
                continue
            arch = meta.get("arch")
            name = arch.get("name") if isinstance(arch, dict) else None
            spec = next((a for a in zoo.archs if a.name == name), None) if zoo.is_mixed else zoo.archs[0]
            if spec is None:
                raise HyperVizError(f"{label}: /samples/{run}: samples of architecture {shown(repr(name), 40)}, "
                                    "which the zoo does not have")
            if w.shape[1] != spec.n_params:
                raise HyperVizError(f"{label}: /samples/{run}/arrays/weights: {w.shape[1]} parameters per sample, "
                                    f"the zoo's architecture has {spec.n_params}")

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
    """Read a workspace file, every part checked against the format (docs/workspace-format.md)
    before it is used; with ``check_zoo`` also verify that its zoo is unchanged. Any problem is
    one :class:`HyperVizError` line naming the file, the place and what is wrong."""
    path = Path(path)
    if not os.path.lexists(path):
        raise HyperVizError(f"{shown(path)}: no such workspace")
    check_regular_file(path, "workspace")               # a FIFO would block the reader forever
    try:
        f = h5py.File(path, "r")
    except READ_ERRORS:
        raise HyperVizError(f"{shown(path)}: not a readable workspace file (truncated or not HDF5)") from None
    with f:
        try:
            ws = _read_workspace(H5Reader(f, path), path)
        except HyperVizError:
            raise
        except READ_ERRORS as exc:
            raise HyperVizError(f"{shown(path)}: damaged workspace file ({shown(exc, 120)})") from None
    if check_zoo:
        ws.check_zoo()
    return ws


#: Per-sample arrays of a sampling run with one row per sample (core.generate.sampling).
_PER_SAMPLE = ("test_acc", "test_loss", "val_acc", "val_loss", "novelty_weight", "novelty_embedding", "agreement",
               "nn_state", "nn_state_embedding", "novelty_region", "nn_state_region", "nn_state_function",
               "max_agreement", "mistake_agreement", "anchor_state", "target_acc", "target_loss")


def _read_workspace(r: H5Reader, path: Path) -> Workspace:
    if not r.is_format(FORMAT):
        raise HyperVizError(f"{shown(path)}: not a hyperviz workspace")
    version = r.schema_version(SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise HyperVizError(f"{shown(path)}: workspace schema version {shown(version, 40)}, expected {SCHEMA_VERSION}")
    zoo = r.json("zoo", dict)
    where = f"{r.label}: /zoo"
    zoo_path, sha = json_entry(zoo, "path", where, str), json_entry(zoo, "sha256", where, str)
    if not zoo_path or "\0" in zoo_path or len(zoo_path) > 4096:
        raise r.fail("/zoo", f"'path' is {shown(repr(zoo_path), 80)}, expected the path of a zoo file")
    ws = Workspace(path=path, zoo_path=_resolve_zoo(path, zoo_path), zoo_sha256=sha)

    ws.split = r.strings("split", (None,), required=False)
    if ws.split is not None:
        bad = sorted(set(ws.split.tolist()) - {"train", "val", "test"})
        if bad:
            raise r.fail("/split", f"holds {shown(repr(bad[0]), 40)}, expected train, val or test")

    if r.get("autoencoder") is not None:
        r.group("autoencoder")
        ws.ae_config = _check_ae_config(r, r.json("autoencoder/config", dict))
        ws.training = _check_training(r, r.json("autoencoder/training", dict))
        ws.ae_tensors = _read_arrays(r, "autoencoder/tensors", "iufb")
        ws.optimizer = _read_arrays(r, "autoencoder/optimizer", "iufb", required=False)
        for name in ws.optimizer:
            i, _, key = name.partition(".")
            if not i.isdigit() or len(i) > 6 or not key:
                raise r.fail(f"/autoencoder/optimizer/{name}", "not a name of the form <parameter index>.<state>")

    ws.states = r.read("states", "iu", (None, 2), required=False)
    ws.embeddings = r.read("embeddings", "f", (None, None), required=False)
    if (ws.states is None) != (ws.embeddings is None):
        raise r.fail("/embeddings" if ws.states is not None else "/states",
                     "missing, though " + ("/states" if ws.states is not None else "/embeddings") + " is there")
    if ws.states is not None:
        n = len(ws.states)
        if ws.embeddings.shape[0] != n:
            raise r.fail("/embeddings", f"{ws.embeddings.shape[0]} rows, expected one per embedded state in /states ({n})")
        if n and (ws.states.min() < 0 or ws.states.max() > 2**31 - 1):
            raise r.fail("/states", f"values {int(ws.states.min())}..{int(ws.states.max())}, expected zoo rows "
                                    "and columns (>= 0)")
        if not np.all(np.isfinite(ws.embeddings)):
            raise r.fail("/embeddings", "holds NaN or infinite values")
        ws.states = ws.states.astype(np.int64)

    n_states = None if ws.states is None else len(ws.states)
    for method in r.members("projections"):
        place = f"projections/{method}"
        coords = r.read(f"{place}/coords", "f", (n_states, 2) if n_states is not None else (None, 2))
        if n_states is None:
            raise r.fail(f"/{place}", "a map, but the workspace has no /states it could belong to")
        params = r.json(f"{place}/params", dict)
        meta = json_entry(params, "meta", f"{r.label}: /{place}/params", str)
        from core.validate import load_json

        info = load_json(meta, f"{r.label}: /{place}/params/meta", dict)
        if json_entry(info, "method", f"{r.label}: /{place}/params/meta", str) != method or method not in ("pca", "umap"):
            raise r.fail(f"/{place}", f"a map named {shown(repr(method), 40)} whose metadata says method "
                                      f"{shown(repr(info.get('method')), 40)} (expected pca or umap, the same)")
        json_entry(info, "params", f"{r.label}: /{place}/params/meta", dict, required=False)
        names = json_entry(info, "arrays", f"{r.label}: /{place}/params/meta", list, required=False, default=[])
        arrays = _read_arrays(r, f"{place}/arrays", "iuf", required=False)
        missing = [str(k) for k in names if not isinstance(k, str) or k not in arrays]
        if missing or (method == "pca" and not {"mean", "components"} <= set(arrays)):
            raise r.fail(f"/{place}/arrays", f"lacks {', '.join(missing) or 'mean or components'}")
        if method == "pca":
            d = ws.embeddings.shape[1]
            if arrays["mean"].shape != (d,) or arrays["components"].shape != (2, d):
                raise r.fail(f"/{place}/arrays", f"mean {arrays['mean'].shape} / components {arrays['components'].shape}"
                                                 f" do not fit embeddings of width {d}")
        if not np.all(np.isfinite(coords)):
            raise r.fail(f"/{place}/coords", "holds NaN or infinite values")
        ws.projections[method] = {"coords": coords, "params": params, "arrays": arrays}

    for run in r.members("samples"):
        ws.samples[run] = _read_run(r, run)
    ws.bookmarks = _check_bookmarks(r, r.json("bookmarks", list, required=False, default=[]))
    return ws


#: Integer settings of an autoencoder config and their accepted range (a config that asks for a
#: model of 10**12 parameters must fail here, not while allocating it).
_AE_INTS = {"token_size": (1, 65536), "n_tokens": (1, 1_000_000), "d_model": (1, 16384), "n_heads": (1, 1024),
            "n_layers_enc": (0, 256), "n_layers_dec": (0, 256), "d_latent": (1, 16384), "d_ff": (1, 65536),
            "d_proj": (1, 16384), "value_features": (0, 4096), "unit_features": (0, 4096),
            "latent_components": (0, 1_000_000), "n_stats": (0, 1_000_000)}


def _check_ae_config(r: H5Reader, config: dict) -> dict:
    where = f"{r.label}: /autoencoder/config"
    for key, (lo, hi) in _AE_INTS.items():
        int_field(config, key, where, lo, hi, required=False)
    for key in ("dropout", "gamma", "temperature", "stats_weight"):
        number_field(config, key, where, required=False)
    positions = json_entry(config, "max_positions", where, list, required=False)
    if positions is not None and (len(positions) != 3 or not all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1_000_000 for v in positions)):
        raise r.fail("/autoencoder/config", "'max_positions' is not 3 integers in 1..1000000")
    d_model, n_tokens, d_ff = (config.get(k, 1) for k in ("d_model", "n_tokens", "d_ff"))
    layers = config.get("n_layers_enc", 0) + config.get("n_layers_dec", 0) + 1
    if d_model * (4 * d_model + 2 * d_ff) * layers + d_model * config.get("token_size", 1) * 2 + n_tokens * d_model > 2**31:
        raise r.fail("/autoencoder/config", "describes an autoencoder of more than 2**31 parameters")
    from core.hyperrep.autoencoder import AEConfig

    try:
        AEConfig.from_dict(config, source=where)
    except HyperVizError:
        raise
    except (TypeError, ValueError, KeyError, OverflowError, AttributeError) as exc:
        raise r.fail("/autoencoder/config", f"not a usable autoencoder config ({shown(exc, 120)})") from None
    return config


def _check_training(r: H5Reader, training: dict) -> dict:
    where = f"{r.label}: /autoencoder/training"
    int_field(training, "epochs_done", where, 0, 10**7)
    int_field(training, "epochs_target", where, 0, 10**7, required=False)
    int_field(training, "seed", where, 0, 2**63 - 1, required=False)
    json_entry(training, "arch", where, dict, required=False)
    json_entry(training, "archs", where, dict, required=False)            # a windowed autoencoder's
    int_field(training, "window", where, 1, 10**7, required=False)
    int_field(training, "halo", where, 0, 10**7, required=False)
    json_entry(training, "augmentation", where, dict, required=False)
    json_entry(training, "preset", where, str, required=False)
    history = json_entry(training, "history", where, list)
    for i, item in enumerate(history):
        here = f"{where}: history[{i}]"
        if not isinstance(item, dict):
            raise FormatError(f"{here}: {json_type(item)}, expected an object")
        for key in ("loss", "val_recon_r2", "contrastive", "reconstruction"):
            number_field(item, key, here, finite=False, required=key in ("loss", "val_recon_r2"))
        layer = json_entry(item, "val_layer_r2", here, list)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in layer):
            raise FormatError(f"{here}: 'val_layer_r2' is not a list of numbers")
    if training["epochs_done"] and not history:
        raise FormatError(f"{where}: {training['epochs_done']} epochs done but no history")
    return training


def _read_run(r: H5Reader, run: str) -> dict:
    place = f"samples/{run}"
    r.group(place)
    meta = r.json(f"{place}/meta", dict)
    where = f"{r.label}: /{place}/meta"
    json_entry(meta, "method", where, str)
    json_entry(meta, "activation", where, str, required=False)
    json_entry(meta, "arch", where, dict, required=False)
    json_entry(meta, "task", where, dict, required=False)
    arrays = _read_arrays(r, f"{place}/arrays", "iufbOS")
    weights = arrays.get("weights")
    if weights is None or weights.ndim != 2 or weights.dtype.kind != "f":
        raise r.fail(f"/{place}/arrays/weights", "missing" if weights is None else
                     f"shape {weights.shape} of {weights.dtype}, expected floats [samples, parameters]")
    n = len(weights)
    if "arch" in meta:
        from core.zoo.arch import ArchSpec

        try:
            arch = ArchSpec.from_dict(meta["arch"], source=f"{where}: arch")
        except HyperVizError:
            raise
        except (TypeError, ValueError, KeyError, OverflowError, AttributeError, RecursionError) as exc:
            raise FormatError(f"{where}: 'arch' is not a usable architecture spec ({shown(exc, 100)})") from None
        if arch.n_params != weights.shape[1]:
            raise r.fail(f"/{place}/arrays/weights", f"{weights.shape[1]} parameters per sample, but the run's "
                                                     f"architecture has {arch.n_params}")
    for name, value in arrays.items():
        if name in _PER_SAMPLE and value.shape != (n,):
            raise r.fail(f"/{place}/arrays/{name}", f"shape {value.shape}, expected one value per sample ({n},)")
        if (name.startswith("coords_") and value.shape != (n, 2)) or (
                name in ("embeddings", "finetune_acc", "finetune_loss") and (value.ndim != 2 or len(value) != n)):
            raise r.fail(f"/{place}/arrays/{name}", f"shape {value.shape}, expected one row per sample ({n})")
    if "test_acc" not in arrays:
        raise r.fail(f"/{place}/arrays/test_acc", "missing")
    return {"meta": meta, "arrays": arrays}


def _check_bookmarks(r: H5Reader, bookmarks: list) -> list[dict]:
    for i, b in enumerate(bookmarks):
        where = f"{r.label}: /bookmarks[{i}]"
        if not isinstance(b, dict):
            raise FormatError(f"{where}: {json_type(b)}, expected an object")
        json_entry(b, "name", where, str)
        json_entry(b, "selection", where, dict)
        json_entry(b, "filters", where, dict, required=False)
    return bookmarks


def _resolve_zoo(ws_path: Path, stored: str) -> Path:
    """The zoo path as stored, or, when that is gone, the same file name beside the workspace
    (so a workspace and its zoo can be moved together, e.g. the bundled demo)."""
    stored_path = Path(stored)
    if _exists(stored_path):
        return stored_path
    beside = ws_path.parent / stored_path.name
    return beside if stored_path.name and _exists(beside) else stored_path


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):                  # a name too long, a NUL byte
        return False


def _json(group: h5py.Group, name: str, obj) -> None:
    group.create_dataset(name, data=json.dumps(obj, sort_keys=True), dtype=h5py.string_dtype())


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _arrays(group: h5py.Group, arrays: dict[str, np.ndarray]) -> None:
    for name, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.kind in "OU":
            group.create_dataset(name, data=value.astype(object), dtype=h5py.string_dtype())
        else:
            group.create_dataset(name, data=value)


def _read_arrays(r: H5Reader, place: str, kinds: str, required: bool = True) -> dict[str, np.ndarray]:
    """Every dataset in group ``place``, each checked (numbers of ``kinds``, any shape, backed by stored bytes)."""
    out = {}
    for name in r.members(place, required=required):
        out[name] = r.read(f"{place}/{name}", kinds)
    return out
