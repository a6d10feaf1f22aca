"""Exporting sampled models as loadable checkpoints with provenance (``hyperviz export``).

Each exported model ``<name>`` is written as

* ``<name>.safetensors`` - the ``build_module`` state_dict (keys ``0.weight``, ``0.bias``, ...) with
  string metadata: ``format``, ``arch`` (the architecture's name), ``arch_spec`` (its JSON),
  ``activation``, ``sampler``, ``seed``, ``test_acc``, ``sample_id``;
* ``<name>.json`` - everything needed to rebuild and judge it: the architecture spec, activation,
  dropout, task, metrics, provenance (workspace, zoo hash, run, method, parameters, selection,
  time) and the sha256 of every written checkpoint file;
* optionally ``<name>.pt`` - the same state_dict via ``torch.save`` (loads with
  ``torch.load(path, weights_only=True)``).

Names are ``<run>-<index>`` (the sample id ``<run>:<index>`` with a file-system-safe separator).
The recorded ``test_acc`` is measured at export time with the plain ``nn.Module`` that
:func:`load_exported` rebuilds (CPU, float32), so reloading reproduces it exactly; the run's batched
figure is kept beside it as ``test_acc_run``.

Nothing is overwritten unless asked: the first existing target file is named in the error, and no
file is written. Each file is written to a temporary name in the target folder and renamed into
place (``os.replace``), so a crash never leaves a half-written checkpoint under a final name.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import uuid
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.errors import HyperVizError
from core.hyperrep.workspace import Workspace
from core.jsonfile import read_json_object
from core.zoo.arch import ArchSpec, build_module, vector_to_state_dict
from core.zoo.tasks import get_task

FORMAT = "hyperviz-model"
FORMAT_VERSION = 1
FORMATS = ("safetensors", "pt")
_SAMPLE_ID = re.compile(r"^(?P<run>[A-Za-z0-9_.]+?)(?:[:-](?P<index>\d+))?$")


# ---- which samples -------------------------------------------------------------------------
def resolve_sample_ids(ws: Workspace, spec: str) -> list[tuple[str, int]]:
    """Sample ids from a comma-separated list.

    ``all`` = every sample of every run; ``latest`` = every sample of the latest run;
    ``RUN`` = every sample of that run; ``RUN:IDX`` (or the file name form ``RUN-IDX``) = one
    sample (0-based index).
    Unknown runs or indices raise a one-line :class:`HyperVizError`.
    """
    from core.generate.sampling import latest_run, run_order

    if not ws.samples:
        raise HyperVizError(f"{ws.path}: no sampled models yet (run `hyperviz sample {ws.path}`)")
    out: list[tuple[str, int]] = []
    for part in [p.strip() for p in str(spec).split(",") if p.strip()]:
        if part == "all":
            runs = sorted(ws.samples, key=run_order)
        elif part == "latest":
            runs = [latest_run(ws)]
        else:
            m = _SAMPLE_ID.match(part)
            if m is None or m.group("run") not in ws.samples:
                known = ", ".join(sorted(ws.samples))
                raise HyperVizError(f"sample id {part!r}: unknown (runs: {known}; ids look like RUN:INDEX, e.g. {sorted(ws.samples)[0]}:0)")
            run = m.group("run")
            if m.group("index") is not None:
                index, size = int(m.group("index")), _run_size(ws, run)
                if index >= size:
                    raise HyperVizError(f"sample id {part!r}: run {run} has {size} samples (indices 0..{size - 1})")
                out.append((run, index))
                continue
            runs = [run]
        for run in runs:
            out += [(run, i) for i in range(_run_size(ws, run))]
    if not out:
        raise HyperVizError(f"--samples {spec!r}: names no samples")
    seen, unique = set(), []
    for item in out:
        if item not in seen:
            seen.add(item)
            unique.append(item)
    return unique


def _run_size(ws: Workspace, run: str) -> int:
    return int(len(ws.samples[run]["arrays"]["test_acc"]))


def sample_name(run: str, index: int) -> str:
    return f"{run}-{index}"


# ---- writing -------------------------------------------------------------------------------
def _check_formats(formats) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(str(f).strip().lower() for f in formats if str(f).strip()))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise HyperVizError(f"export format {', '.join(bad) or '(none)'}: expected safetensors and/or pt")
    if "safetensors" not in formats:
        raise HyperVizError("export formats must include safetensors (the .pt file is an optional extra)")
    return formats


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a fresh temporary file beside ``path`` (usual permissions), then rename it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _module_test_metrics(model: nn.Module, task_name: str) -> dict:
    """Accuracy and mean loss of one plain module on the task's test split (CPU, float32)."""
    x, y = get_task(task_name).split("test")
    model.eval()
    with torch.no_grad():
        logits = model(x)
        correct = int((logits.argmax(1) == y).sum())
        loss = float(torch.nn.functional.cross_entropy(logits, y))
    return {"test_acc": correct / len(y), "test_loss": loss}


def export_model(weights, arch: ArchSpec, activation: str, task: dict, out_dir: str | Path, name: str,
                 metrics: dict | None = None, provenance: dict | None = None, formats=("safetensors",),
                 overwrite: bool = False) -> Path:
    """Write one model (``weights [P]``) as ``<name>.safetensors`` + ``<name>.json`` (+ ``.pt``); returns the JSON path."""
    return _export_many([(np.asarray(weights, np.float32), name, metrics or {}, provenance or {})], arch, activation,
                        task, Path(out_dir), _check_formats(formats), overwrite)[0]


def _export_many(items, arch: ArchSpec, activation: str, task: dict, out_dir: Path, formats, overwrite: bool) -> list[Path]:
    targets = [out_dir / f"{name}.{ext}" for _, name, _, _ in items for ext in (*formats, "json")]
    if len(set(targets)) != len(targets):
        raise HyperVizError("export: two samples would be written to the same file name")
    if not overwrite:
        for path in targets:
            if path.exists():
                raise HyperVizError(f"{path}: already exists (use --overwrite to replace it)")
    if out_dir.exists() and not out_dir.is_dir():
        raise HyperVizError(f"{out_dir}: exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save as st_save

    written = []
    task_name = task.get("name", "?")
    for weights, name, metrics, provenance in items:
        state = vector_to_state_dict(arch, torch.from_numpy(np.ascontiguousarray(weights, np.float32)))
        model = build_module(arch, activation)
        model.load_state_dict(state)
        measured = _module_test_metrics(model, task_name)
        st_meta = {"format": FORMAT, "arch": arch.name, "arch_spec": arch.to_json(), "activation": activation,
                   "sampler": str(provenance.get("method", "")), "seed": str(provenance.get("seed", "")),
                   "test_acc": repr(measured["test_acc"]), "sample_id": str(provenance.get("sample_id", name))}
        files, hashes = {}, {}
        data = st_save(state, metadata=st_meta)
        _write_atomic(out_dir / f"{name}.safetensors", data)
        files["safetensors"], hashes["safetensors"] = f"{name}.safetensors", _sha256(data)
        if "pt" in formats:
            import io

            buf = io.BytesIO()
            torch.save(state, buf)
            data = buf.getvalue()
            _write_atomic(out_dir / f"{name}.pt", data)
            files["pt"], hashes["pt"] = f"{name}.pt", _sha256(data)
        record = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "name": name,
            "architecture": arch.to_dict(), "activation": activation, "dropout": 0.0, "task": dict(task),
            "files": files, "sha256": hashes,
            "metrics": {**_plain(metrics), **measured, "test_acc_measured_by": "load_exported module on CPU"},
            "provenance": {**_plain(provenance), "exported": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")},
        }
        json_path = out_dir / f"{name}.json"
        _write_atomic(json_path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
        written.append(json_path)
    return written


def _plain(obj):
    """JSON-safe copy: numpy scalars and arrays to Python, NaN to None."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def export_samples(ws: Workspace, ids, out_dir: str | Path, formats=("safetensors",), overwrite: bool = False) -> list[Path]:
    """Export the samples ``ids`` (``[(run, index)]`` or a spec string for :func:`resolve_sample_ids`).

    Returns the JSON paths. Refuses (before writing anything) when a target file exists, unless
    ``overwrite``.
    """
    formats = _check_formats(formats)
    if isinstance(ids, str):
        ids = resolve_sample_ids(ws, ids)
    by_run: dict[str, list] = {}
    for run, index in ids:
        if run not in ws.samples or not 0 <= index < _run_size(ws, run):
            raise HyperVizError(f"sample id {run}:{index}: unknown")
        by_run.setdefault(run, []).append(index)
    out_dir = Path(out_dir)
    # check every target of every run before writing any
    if not overwrite:
        for run, indices in by_run.items():
            for index in indices:
                for ext in (*formats, "json"):
                    path = out_dir / f"{sample_name(run, index)}.{ext}"
                    if path.exists():
                        raise HyperVizError(f"{path}: already exists (use --overwrite to replace it)")
    written = []
    for run, indices in by_run.items():
        meta, arrays = ws.samples[run]["meta"], ws.samples[run]["arrays"]
        arch = ArchSpec.from_dict(meta["arch"], source=f"run {run}: arch")
        items = []
        for index in indices:
            metrics = {"test_acc_run": arrays["test_acc"][index], "test_loss_run": arrays["test_loss"][index]}
            for key in ("val_acc", "val_loss", "novelty_weight", "novelty_embedding", "agreement", "novelty_region",
                        "max_agreement", "mistake_agreement"):
                if key in arrays:
                    metrics[key] = arrays[key][index]
            if "finetune_acc" in arrays:
                metrics["finetune_acc_per_epoch"] = arrays["finetune_acc"][index]
            provenance = {
                "sample_id": f"{run}:{index}", "run": run, "index": index, "workspace": str(Path(ws.path).resolve()),
                "zoo": str(ws.zoo_path), "zoo_sha256": ws.zoo_sha256, "method": meta["method"], "seed": meta["seed"],
                "selection": meta.get("selection"), "selection_size": meta.get("selection_size"),
                "params": meta.get("params", {}), "sampled": meta.get("time"),
                "anchor_state": arrays["anchor_state"][index] if "anchor_state" in arrays else None,
                "nn_state": arrays["nn_state"][index] if "nn_state" in arrays else None,
                "nn_state_function": arrays["nn_state_function"][index] if "nn_state_function" in arrays else None,
                "nn_state_region": arrays["nn_state_region"][index] if "nn_state_region" in arrays else None,
                "autoencoder_epochs": meta.get("autoencoder_epochs"),
            }
            items.append((arrays["weights"][index], sample_name(run, index), metrics, provenance))
        written += _export_many(items, arch, meta["activation"], meta.get("task", {}), out_dir, formats, overwrite)
    return written


# ---- reading back ----------------------------------------------------------------------------
def load_exported(json_path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild an exported model from its JSON and checkpoint file alone: ``(module in eval mode, meta)``.

    Prefers the ``.safetensors`` file (falls back to ``.pt`` via ``weights_only=True``); checks its
    sha256 against the JSON.
    """
    json_path = Path(json_path)
    meta = read_json_object(json_path, "file")
    if meta.get("format") != FORMAT:
        raise HyperVizError(f"{json_path}: not an exported hyperviz model (format != {FORMAT!r})")
    arch = ArchSpec.from_dict(meta["architecture"], source=f"{json_path}: architecture")
    files = meta.get("files", {})
    kind = "safetensors" if "safetensors" in files else "pt" if "pt" in files else None
    if kind is None:
        raise HyperVizError(f"{json_path}: names no checkpoint file")
    path = json_path.parent / files[kind]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HyperVizError(f"{path}: missing (named by {json_path.name})") from None
    expected = meta.get("sha256", {}).get(kind)
    if expected and _sha256(data) != expected:
        raise HyperVizError(f"{path}: sha256 differs from the one recorded in {json_path.name} (file changed or damaged)")
    if kind == "safetensors":
        from safetensors.torch import load as st_load

        state = st_load(data)
    else:
        import io

        state = torch.load(io.BytesIO(data), weights_only=True)
    model = build_module(arch, meta["activation"], float(meta.get("dropout", 0.0)))
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise HyperVizError(f"{path}: does not fit architecture {arch.name!r} ({str(exc).splitlines()[0]})") from None
    model.eval()
    return model, meta
