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

Exports are deterministic: the same sample gives the same checkpoint bytes in any process
(:func:`safetensors_bytes` sorts the metadata that safetensors itself writes in hash-map order), so
the sha256 in a JSON always matches its files, however many exports ran into one folder.

Nothing is overwritten unless asked: a target file that holds anything else than what this export
writes is named in the error, and no file is written. Each file is written to a temporary name in
the target folder and renamed into place (``os.replace``), checkpoint files first and the JSON -
which names them and their sha256 - last, so a crash never leaves a half-written checkpoint under a
final name, and a checkpoint without its JSON is an unfinished export. Running the same export
again finishes it: models whose files are complete and match are kept, the rest are written, and
temporary files that a killed export left behind are removed.

Weights with NaN or infinite values are refused (one line naming the samples and how many values).
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
from core.zoo.arch import ArchSpec
from core.zoo.modules import build_module, vector_to_state_dict
from core.zoo.tasks import task_for_zoo

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


def _module_test_metrics(model: nn.Module, task: dict) -> dict:
    """Accuracy and mean loss of one plain module on the test split of the task ``task`` describes
    (a zoo's ``/meta/task``; CPU, float32)."""
    x, y = task_for_zoo(task, "the exported model").split("test")
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


def _export_many(items, arch: ArchSpec, activation: str, task: dict, out_dir: Path, formats, overwrite: bool,
                 stats: dict | None = None) -> list[Path]:
    """Plan every item (its exact bytes), then :func:`_write_plans`."""
    check_finite_weights([(str(provenance.get("sample_id", name)), weights) for weights, name, _m, provenance in items])
    plans = [_plan(weights, name, metrics, provenance, arch, activation, task, formats)
             for weights, name, metrics, provenance in items]
    return _write_plans(plans, out_dir, overwrite, stats)


def _write_plans(plans, out_dir: Path, overwrite: bool, stats: dict | None) -> list[Path]:
    """Check every target against what is already there, then write: nothing is written when any
    target is refused. Stale temporary files of the targets are removed first."""
    targets = [out_dir / f for plan in plans for f in (*plan.files, plan.json_name)]
    if len(set(targets)) != len(targets):
        raise HyperVizError("export: two samples would be written to the same file name")
    if out_dir.exists() and not out_dir.is_dir():
        raise HyperVizError(f"{out_dir}: exists and is not a folder")
    for plan in plans:
        plan.judge(out_dir, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    removed = _remove_stale_temp_files(out_dir, targets)
    written = []
    for plan in plans:
        plan.write(out_dir)
        written.append(out_dir / plan.json_name)
    if stats is not None:
        stats["reused"] = stats.get("reused", 0) + sum(plan.complete for plan in plans)
        stats["written"] = stats.get("written", 0) + sum(not plan.complete for plan in plans)
        stats["stale_temp_files_removed"] = stats.get("stale_temp_files_removed", 0) + removed
    return written


def check_finite_weights(named_weights) -> None:
    """Refuse, in one line, to export models whose weights hold NaN or infinities (a diverged
    fine-tuning or decoder): ``named_weights`` is ``[(sample id, weights)]``."""
    bad = []
    for name, weights in named_weights:
        w = np.asarray(weights)
        count = int(w.size - np.count_nonzero(np.isfinite(w)))
        if count:
            bad.append((name, count, int(w.size)))
    if bad:
        first = ", ".join(f"{name} ({count} of {size})" for name, count, size in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise HyperVizError(f"export: {len(bad)} of {len(list(named_weights))} model(s) hold NaN or infinite weights: "
                            f"{first}{more}; nothing exported (leave them out with --samples)")


def safetensors_bytes(state: dict, metadata: dict[str, str]) -> bytes:
    """The safetensors file of ``state`` with ``metadata``, the same bytes in every process.

    ``safetensors.torch.save`` writes the metadata in the order of a Rust hash map, which differs
    from process to process (so two exports of one model got different sha256s); here its header
    is rewritten with sorted keys, compact, padded with spaces to 8 bytes as the format asks.
    The tensors and their offsets are those of safetensors itself (sorted by dtype and name)."""
    from safetensors.torch import save as st_save

    data = st_save(state)
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    header.pop("__metadata__", None)
    header["__metadata__"] = {str(k): str(v) for k, v in sorted(metadata.items())}
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + data[8 + size :]


class _Plan:
    """One model to export: the exact bytes of its checkpoint files and its JSON record, and
    what is already in the folder (``complete``: a finished export of the same sample, kept)."""

    def __init__(self, name: str, files: dict[str, bytes], record: dict):
        self.name, self.files, self.record = name, files, record       # files: file name -> bytes
        self.json_name = f"{name}.json"
        self.complete = False

    def judge(self, out_dir: Path, overwrite: bool) -> None:
        """Decide what to do with the files already there. A file is kept or replaced only when it
        holds exactly what this export writes (an earlier run of the same export, perhaps killed
        half-way), or with ``overwrite``; anything else is refused with one line."""
        existing = out_dir / self.json_name
        ours = self._same_export(existing)
        for file_name, data in self.files.items():
            path = out_dir / file_name
            if path.exists() and not overwrite and _read_or_none(path) != data:
                raise HyperVizError(f"{path}: already exists with other content (use --overwrite to replace it)")
        if existing.exists() and not ours and not overwrite:
            raise HyperVizError(f"{existing}: already exists (use --overwrite to replace it)")
        self.complete = ours and existing.is_file() and all(
            (out_dir / f).is_file() and _read_or_none(out_dir / f) == data for f, data in self.files.items()) \
            and set(_read_record(existing).get("files", {}).values()) == set(self.files)

    def _same_export(self, path: Path) -> bool:
        """Whether the JSON at ``path`` records this very export (the same sample of the same
        workspace and zoo, the same checkpoint bytes)."""
        old = _read_record(path)
        if not old:
            return False
        mine, theirs = self.record["provenance"], old.get("provenance", {})
        if not isinstance(theirs, dict):
            return False
        same_source = all(theirs.get(k) == mine.get(k) for k in ("sample_id", "workspace", "zoo_sha256"))
        hashes = old.get("sha256", {})
        return (old.get("format") == FORMAT and old.get("name") == self.name and same_source
                and isinstance(hashes, dict) and hashes.get("safetensors") == self.record["sha256"]["safetensors"])

    def write(self, out_dir: Path) -> None:
        """The checkpoint files first, the JSON (which names them and their sha256) last: a model
        without its JSON is an unfinished export, and a rerun finishes it."""
        if self.complete:
            return
        for file_name, data in self.files.items():
            path = out_dir / file_name
            if _read_or_none(path) != data:
                _write_atomic(path, data)
        _write_atomic(out_dir / self.json_name, (json.dumps(self.record, indent=2, sort_keys=True) + "\n").encode())


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:
        return None


def _read_record(path: Path) -> dict:
    """An exported model's JSON record, or {} when it is missing or unreadable."""
    data = _read_or_none(path)
    if data is None:
        return {}
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    return obj if isinstance(obj, dict) else {}


def _plan(weights, name: str, metrics: dict, provenance: dict, arch: ArchSpec, activation: str, task: dict,
          formats) -> _Plan:
    state = vector_to_state_dict(arch, torch.from_numpy(np.ascontiguousarray(weights, np.float32)))
    model = build_module(arch, activation)
    model.load_state_dict(state)
    measured = _module_test_metrics(model, task)
    st_meta = {"format": FORMAT, "arch": arch.name, "arch_spec": arch.to_json(), "activation": activation,
               "sampler": str(provenance.get("method", "")), "seed": str(provenance.get("seed", "")),
               "test_acc": repr(measured["test_acc"]), "sample_id": str(provenance.get("sample_id", name))}
    files, names, hashes = {}, {}, {}
    data = safetensors_bytes(state, st_meta)
    files[f"{name}.safetensors"], names["safetensors"], hashes["safetensors"] = data, f"{name}.safetensors", _sha256(data)
    if "pt" in formats:
        import io

        buf = io.BytesIO()
        torch.save(state, buf)
        data = buf.getvalue()
        files[f"{name}.pt"], names["pt"], hashes["pt"] = data, f"{name}.pt", _sha256(data)
    record = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "name": name,
        "architecture": arch.to_dict(), "activation": activation, "dropout": 0.0, "task": dict(task),
        "files": names, "sha256": hashes,
        "metrics": {**_plain(metrics), **measured, "test_acc_measured_by": "load_exported module on CPU"},
        "provenance": {**_plain(provenance), "exported": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")},
    }
    return _Plan(name, files, record)


_TEMP = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")


def _remove_stale_temp_files(out_dir: Path, targets) -> int:
    """Remove the temporary files an interrupted export left for ``targets`` (``.<file>.<pid>.<id>.tmp``
    whose writing process is gone); how many."""
    names = {Path(t).name for t in targets}
    removed = 0
    for entry in out_dir.iterdir():
        m = _TEMP.match(entry.name)
        if m is None or m.group("target") not in names or _pid_alive(int(m.group("pid"))):
            continue
        try:
            entry.unlink()
            removed += 1
        except OSError:
            pass
    return removed


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False                               # this process writes nothing yet: a leftover of a reused pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


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


def export_samples(ws: Workspace, ids, out_dir: str | Path, formats=("safetensors",), overwrite: bool = False,
                   stats: dict | None = None) -> list[Path]:
    """Export the samples ``ids`` (``[(run, index)]`` or a spec string for :func:`resolve_sample_ids`).

    Returns the JSON paths. Refuses (before writing anything) when a target file exists with other
    content than this export writes, unless ``overwrite``; what an earlier run of the same export
    finished is kept, what it left unfinished is completed. ``stats`` (a dict) receives
    ``written``, ``reused`` and ``stale_temp_files_removed``.
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
    groups = []
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
        groups.append((items, arch, meta["activation"], meta.get("task", {})))
    check_finite_weights([(provenance["sample_id"], weights) for items, *_ in groups for weights, _n, _m, provenance in items])
    plans = [_plan(w, n, m, p, arch, act, task, formats) for items, arch, act, task in groups for w, n, m, p in items]
    return _write_plans(plans, out_dir, overwrite, stats)


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
