"""``zoo merge``: several zoo files of one task into one zoo, whatever their architectures.

The merged zoo holds every model of every input, in input order, with its architecture in the
model column ``arch`` (zoos of schema version 1 contribute their one architecture's name).

- **One task.** The inputs must have been trained on the same data: their ``/meta/task`` must
  agree on ``name``, ``input_shape`` and ``n_classes`` (and on the files' ``sha256`` for a task
  read from files); a zoo of another task is a one-line error naming both.
- **Architectures** of the same name must be the same spec (two different "cnn"s are refused).
- **Checkpoints**: the epochs are the union of the inputs'; ``present`` is False where a model
  lacks one (its weights there are zero, its states NaN).
- **Columns**: a state or model column missing from an input is NaN there (numbers) or ``""``
  (text); a column that is text in one input and numeric in another becomes text. Whole-number
  columns stay whole numbers when every input has them.
- **Model ids** stay as they are when they are unique across the inputs; otherwise every id is
  prefixed with its file's name (``a.h5`` -> ``a/m00000``).
- ``/meta/source`` records ``merged_from``: each input's path, content hash, model count and
  own source.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import HyperVizError, shown
from core.progress import Job, Progress
from core.zoo.arch import ArchSpec
from core.zoo.store import Zoo, check_zoo_destination, read_zoo, read_zoo_tables, write_zoo

#: The task fields that must agree for zoos to be merged.
TASK_KEYS = ("name", "input_shape", "n_classes")


def merge_zoos_job(paths: list[str | Path], out: str | Path, overwrite: bool = False) -> Job[Path]:
    """Read the zoos at ``paths`` (two or more), write their merge to ``out``; returns the path.
    Anything already at ``out`` is refused unless ``overwrite`` (a folder always is)."""
    paths, out = [Path(p) for p in paths], Path(out)
    if len(paths) < 2:
        raise HyperVizError("zoo merge: needs at least two zoo files")
    resolved = [p.resolve() for p in paths]
    for i, p in enumerate(resolved):
        if p in resolved[:i]:
            raise HyperVizError(f"zoo merge: {shown(paths[i])} is given twice")
    if out.resolve() in resolved:
        raise HyperVizError(f"--out {shown(out)}: is one of the zoos being merged; choose another file")
    check_zoo_destination(out, overwrite)
    heads = [read_zoo_tables(p) for p in paths]     # tasks and architectures checked before any weights are read
    _common_task(heads, [str(p) for p in paths])
    _common_archs(heads, [str(p) for p in paths])
    zoos = []
    for i, path in enumerate(paths):
        zoos.append(read_zoo(path))
        yield Progress(i + 1, len(paths) + 1, f"read {path.name}")
    merged = merge_zoos(zoos, [str(p) for p in paths])
    path = write_zoo(out, merged)
    yield Progress(len(paths) + 1, len(paths) + 1, f"wrote {merged.n_models} models to {path.name}")
    return path


def merge_zoos(zoos: list[Zoo], labels: list[str]) -> Zoo:
    """One zoo of every model of ``zoos`` (``labels`` name them in messages, usually their paths)."""
    task = _common_task(zoos, labels)
    archs = _common_archs(zoos, labels)
    epochs = np.array(sorted(set().union(*(z.epochs.tolist() for z in zoos))), dtype=np.int32)
    column = {int(e): j for j, e in enumerate(epochs)}
    width = max(spec.n_params for spec in archs)
    m = sum(z.n_models for z in zoos)
    weights = np.zeros((m, len(epochs), width), dtype=np.float32)
    present = np.zeros((m, len(epochs)), dtype=bool)
    state_names = list(dict.fromkeys(name for z in zoos for name in z.states))
    states = {name: np.full((m, len(epochs)), np.nan, dtype=np.float32) for name in state_names}
    start = 0
    for z in zoos:
        rows = slice(start, start + z.n_models)
        cols = [column[int(e)] for e in z.epochs]
        weights[rows, :, : z.weights.shape[2]][:, cols] = z.weights
        present[rows][:, cols] = z.present
        for name, values in z.states.items():
            block = states[name][rows]
            block[:, cols] = values
        start += z.n_models
    models = _merge_model_columns(zoos, labels)
    source = {"merged_from": [{"path": label, "content_sha256": z.content_sha256, "models": z.n_models,
                               "source": z.source} for z, label in zip(zoos, labels)]}
    return Zoo(archs=archs, weights=weights, epochs=epochs, states=states, models=models, task=task,
               source=source, present=present)


def _task_key(task: dict) -> tuple:
    source = task.get("source") if isinstance(task.get("source"), dict) else {}
    return (*(str(task.get(k)) for k in TASK_KEYS), str(source.get("sha256")))


def _common_task(zoos: list[Zoo], labels: list[str]) -> dict:
    first = zoos[0].task
    for z, label in zip(zoos[1:], labels[1:]):
        if _task_key(z.task) != _task_key(first):
            a, b = first.get("name"), z.task.get("name")
            what = (f"task {shown(repr(a), 80)}, {shown(label)} task {shown(repr(b), 80)}" if a != b
                    else f"task {shown(repr(a), 80)}, {shown(label)} the same name with other data or shapes")
            raise HyperVizError(f"zoo merge: {shown(labels[0])} has {what}; only zoos of one task can be merged")
    return dict(first)


def _common_archs(zoos: list[Zoo], labels: list[str]) -> tuple[ArchSpec, ...]:
    seen: dict[str, tuple[ArchSpec, str]] = {}
    for z, label in zip(zoos, labels):
        for spec in z.archs:
            if spec.name in seen and seen[spec.name][0] != spec:
                raise HyperVizError(f"zoo merge: architecture {shown(repr(spec.name), 40)} in {shown(label)} is not the one of "
                                    f"that name in {shown(seen[spec.name][1])} (another spec under the same name)")
            seen.setdefault(spec.name, (spec, label))
    return tuple(spec for spec, _ in seen.values())


def _merge_model_columns(zoos: list[Zoo], labels: list[str]) -> dict[str, np.ndarray]:
    names = list(dict.fromkeys(name for z in zoos for name in z.models))
    out: dict[str, np.ndarray] = {}
    for name in names:
        parts = [z.models.get(name) for z in zoos]
        kinds = {p.dtype.kind for p in parts if p is not None}
        if kinds & {"U", "S", "O"}:
            out[name] = np.concatenate([p.astype(str) if p is not None else np.full(z.n_models, "")
                                        for p, z in zip(parts, zoos)])
        elif kinds <= {"i", "u"} and all(p is not None for p in parts):
            out[name] = np.concatenate(parts).astype(np.int64)
        elif kinds == {"b"} and all(p is not None for p in parts):
            out[name] = np.concatenate(parts).astype(bool)
        else:
            out[name] = np.concatenate([p.astype(np.float64) if p is not None else np.full(z.n_models, np.nan)
                                        for p, z in zip(parts, zoos)])
    ids = out.get("model_id")
    if ids is not None and len(set(ids.tolist())) != len(ids):
        stems = [Path(label).stem for label in labels]
        stems = [s if stems.count(s) == 1 else f"{s}{i}" for i, s in enumerate(stems)]
        out["model_id"] = np.concatenate([np.array([f"{stem}/{mid}" for mid in
                                                    (z.models["model_id"].astype(str) if "model_id" in z.models
                                                     else [f"row{j}" for j in range(z.n_models)])])
                                          for stem, z in zip(stems, zoos)])
    return out
