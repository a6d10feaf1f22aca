"""Tasks: the data a zoo's networks are trained and evaluated on.

A task is a small, fully in-memory classification data set with a fixed train/val/test split.
Every bundled task is offline and deterministic, so a zoo (and every evaluation of sampled models)
can be reproduced on any machine. :func:`get_task` takes a task *spec*:

``digits``
    scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), split 70/15/15 by class.
``digits-rotated``, ``digits-inverted``, ``digits-shifted``
    the same images (and the same split) under one fixed transformation: turned 90 degrees
    anticlockwise; ``1 - x`` (light strokes on a dark ground become dark on light); moved one
    pixel right and one down (the edge that leaves is dropped, the new one is 0).
``shapes``
    a procedurally generated task in the spirit of the 2021 hyper-representation paper's Tetris
    zoo: 8x8 images of 10 shape classes (bars, diagonals, squares, crosses, L and T pieces) at
    random sizes, positions and intensities with pixel noise; 180 images per class drawn from the
    fixed seed :data:`SHAPES_SEED`, split 70/15/15 by class. :func:`make_shapes` draws other sizes
    and seeds.
``idx:PATH``, ``npz:PATH``, ``images:PATH``
    a user's own files (:mod:`core.zoo.taskfiles`): a folder of the IDX files MNIST and
    Fashion-MNIST ship as, a ``.npz`` of arrays, or a folder of images per class. The task's
    ``source`` records the files, their combined sha256 and how the split was made, and is
    stored in the zoo (``/meta/task``), so a workspace knows which data its models need
    (:func:`task_for_zoo`).

All bundled tasks have the digits' input shape (1, 8, 8) and 10 classes, so the default CNN runs
on every one of them and models of one can be fine-tuned on another (``hyperviz sample --task``).
Add a bundled task by writing a loader that returns a :class:`Task` and registering it in
``_LOADERS``.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import torch

from core.errors import HyperVizError, shown

log = logging.getLogger(__name__)

SPLIT_SEED = 0  # the digits split is part of the task's identity: never change it
SHAPES_SEED = 2021  # the shapes images are part of that task's identity: never change it
SHAPES_PER_CLASS = 180
SHAPE_CLASSES = ("hbar", "vbar", "diagonal", "antidiagonal", "square", "block", "plus", "cross", "L", "T")
#: The prefixes of task specs that name a user's files.
FILE_KINDS = ("idx", "npz", "images")


@dataclass(frozen=True)
class Task:
    """A classification task. Inputs are float32 ``[n, *input_shape]``, labels int64 ``[n]``.

    ``source`` is None for a bundled task; for one read from files it says which (kind, path,
    file names, their combined sha256, how the split was made)."""

    name: str
    input_shape: tuple[int, ...]
    n_classes: int
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    source: dict | None = field(default=None, compare=False)

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` of the split ``"train" | "val" | "test"``."""
        if name not in ("train", "val", "test"):
            raise HyperVizError(f"split {name!r}: expected train, val or test")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def describe(self) -> dict:
        """JSON-serialisable identity of the task (stored in zoo files as ``/meta/task``)."""
        out = {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
            "n_train": len(self.y_train),
            "n_val": len(self.y_val),
            "n_test": len(self.y_test),
        }
        if self.source is not None:
            out["source"] = dict(self.source)
        return out


def stratified_split(y: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Sorted index arrays, one per fraction, each class split in the given proportions (the last
    part takes the rest of each class)."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        start = 0
        for k, frac in enumerate(fractions):
            stop = len(idx) if k == len(fractions) - 1 else start + int(round(frac * len(idx)))
            parts[k].append(idx[start:stop])
            start = stop
    return [np.sort(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts]


_stratified_split = stratified_split  # the name earlier code used


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def make_task(name: str, x: np.ndarray, y: np.ndarray, parts: list[np.ndarray], n_classes: int | None = None,
              source: dict | None = None) -> Task:
    """A :class:`Task` from all inputs ``x [n, *shape]`` (float32), labels ``y [n]`` and the
    train/val/test index arrays ``parts``."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    train, val, test = parts
    return Task(name=name, input_shape=tuple(int(s) for s in x.shape[1:]),
                n_classes=int(n_classes if n_classes is not None else y.max() + 1),
                x_train=_tensor(x[train]), y_train=_tensor(y[train]), x_val=_tensor(x[val]), y_val=_tensor(y[val]),
                x_test=_tensor(x[test]), y_test=_tensor(y[test]), source=source)


@cache
def _digits_arrays() -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images.astype(np.float32) / 16.0)[:, None, :, :]  # [1797, 1, 8, 8] in [0, 1]
    y = data.target.astype(np.int64)
    return x, y, stratified_split(y, (0.70, 0.15, 0.15), SPLIT_SEED)


def _digits_variant(name: str, transform: Callable[[np.ndarray], np.ndarray]) -> Callable[[], Task]:
    def load() -> Task:
        x, y, parts = _digits_arrays()
        return make_task(name, np.ascontiguousarray(transform(x)), y, parts, 10)
    return load


def _shift(x: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    out[..., 1:, 1:] = x[..., :-1, :-1]
    return out


def _draw_shape(kind: int, rng: np.random.Generator, size: int = 8) -> np.ndarray:
    """One ``[size, size]`` image of shape class ``kind`` (:data:`SHAPE_CLASSES`), before noise."""
    img = np.zeros((size, size), np.float32)
    name = SHAPE_CLASSES[kind]
    if name in ("hbar", "vbar"):
        length = int(rng.integers(4, size + 1))
        a, b = int(rng.integers(0, size)), int(rng.integers(0, size - length + 1))
        if name == "hbar":
            img[a, b : b + length] = 1
        else:
            img[b : b + length, a] = 1
    elif name in ("diagonal", "antidiagonal"):
        n = int(rng.integers(4, size + 1))
        r, c = int(rng.integers(0, size - n + 1)), int(rng.integers(0, size - n + 1))
        for i in range(n):
            img[r + i, c + i if name == "diagonal" else c + n - 1 - i] = 1
    elif name in ("square", "block"):
        n = int(rng.integers(4, 7)) if name == "square" else int(rng.integers(2, 5))
        r, c = int(rng.integers(0, size - n + 1)), int(rng.integers(0, size - n + 1))
        img[r : r + n, c : c + n] = 1
        if name == "square":
            img[r + 1 : r + n - 1, c + 1 : c + n - 1] = 0
    elif name in ("plus", "cross"):
        n = int(rng.choice([3, 5, 7]))
        r, c = int(rng.integers(0, size - n + 1)), int(rng.integers(0, size - n + 1))
        h = n // 2
        if name == "plus":
            img[r + h, c : c + n] = 1
            img[r : r + n, c + h] = 1
        else:
            for i in range(n):
                img[r + i, c + i] = img[r + i, c + n - 1 - i] = 1
    else:                                                       # L and T pieces (Tetris), any of 4 turns
        n = int(rng.integers(3, 6))
        piece = np.zeros((n, n), np.float32)
        if name == "L":
            piece[:, 0] = 1
            piece[-1, :] = 1
        else:
            piece[0, :] = 1
            piece[:, n // 2] = 1
        piece = np.rot90(piece, int(rng.integers(0, 4)))
        r, c = int(rng.integers(0, size - n + 1)), int(rng.integers(0, size - n + 1))
        img[r : r + n, c : c + n] = piece
    return img


def make_shapes(per_class: int = SHAPES_PER_CLASS, seed: int = SHAPES_SEED, noise: float = 0.15,
                size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """``(x [10 * per_class, 1, size, size] float32 in [0, 1], y [10 * per_class] int64)``: the
    shapes images, a pure function of its arguments (classes interleaved: 0, 1, ..., 9, 0, ...)."""
    rng = np.random.default_rng(seed)
    n = per_class * len(SHAPE_CLASSES)
    y = np.tile(np.arange(len(SHAPE_CLASSES), dtype=np.int64), per_class)
    x = np.empty((n, 1, size, size), np.float32)
    for i, kind in enumerate(y):
        img = _draw_shape(int(kind), rng, size) * rng.uniform(0.6, 1.0)
        img += rng.normal(0.0, noise, img.shape).astype(np.float32)
        x[i, 0] = np.clip(img, 0.0, 1.0)
    return x, y


def _load_shapes() -> Task:
    x, y = make_shapes()
    return make_task("shapes", x, y, stratified_split(y, (0.70, 0.15, 0.15), SPLIT_SEED), len(SHAPE_CLASSES))


def _load_digits() -> Task:
    x, y, parts = _digits_arrays()
    return make_task("digits", x, y, parts, 10)


_LOADERS: dict[str, Callable[[], Task]] = {
    "digits": _load_digits,
    "digits-rotated": _digits_variant("digits-rotated", lambda x: np.rot90(x, 1, axes=(2, 3))),
    "digits-inverted": _digits_variant("digits-inverted", lambda x: 1.0 - x),
    "digits-shifted": _digits_variant("digits-shifted", _shift),
    "shapes": _load_shapes,
}


def task_names() -> list[str]:
    """The bundled tasks (file tasks are specs ``idx:PATH``, ``npz:PATH``, ``images:PATH``)."""
    return sorted(_LOADERS)


def is_file_spec(spec: str) -> bool:
    kind, sep, _ = str(spec).partition(":")
    return bool(sep) and kind in FILE_KINDS


def _unknown(name: str) -> HyperVizError:
    return HyperVizError(f"task {shown(repr(name), 80)}: unknown (bundled tasks: {', '.join(task_names())}; "
                         "or your own files: idx:FOLDER, npz:FILE.npz, images:FOLDER)")


@cache
def _bundled(name: str) -> Task:
    return _LOADERS[name]()


def get_task(name: str) -> Task:
    """The task a spec names (see the module docstring); a one-line :class:`HyperVizError` for an
    unknown name or a missing or malformed data file."""
    name = str(name)
    if name in _LOADERS:
        return _bundled(name)
    if is_file_spec(name):
        from core.zoo.taskfiles import load_file_task

        kind, _, path = name.partition(":")
        return load_file_task(kind, path)
    raise _unknown(name)


def task_for_zoo(meta: dict, where: str = "the zoo") -> Task:
    """The task a zoo's ``/meta/task`` describes: its recorded files for a file task (a warning when
    their content changed since), the bundled task of that name otherwise. A zoo whose task is
    neither (an import that named no data) is a one-line error saying how to give the data."""
    meta = meta if isinstance(meta, dict) else {}
    name = meta.get("name")
    source = meta.get("source")
    if isinstance(source, dict) and source.get("kind") in FILE_KINDS and isinstance(source.get("path"), str):
        task = get_task(f"{source['kind']}:{source['path']}")
        recorded = source.get("sha256")
        if isinstance(recorded, str) and task.source and task.source.get("sha256") != recorded:
            log.warning("%s: the data files of task %s changed since the zoo recorded them (sha256 %s..., now %s...)",
                        where, shown(name, 80), recorded[:12], str(task.source.get("sha256"))[:12])
        return task
    if isinstance(name, str) and (name in _LOADERS or is_file_spec(name)):
        return get_task(name)
    raise HyperVizError(f"{where}: task {shown(repr(name), 80)} is not a bundled task and the zoo records no data "
                        "files for it; import the zoo with --task idx:FOLDER, npz:FILE.npz or images:FOLDER "
                        f"(bundled tasks: {', '.join(task_names())})")


def check_task_fits(arch, task: Task, what: str = "") -> None:
    """A one-line error unless models of ``arch`` can run on ``task``: the same input shape, and
    at least as many outputs as the task has classes."""
    if tuple(arch.input_shape) != tuple(task.input_shape) or arch.n_classes < task.n_classes:
        raise HyperVizError(f"{what}architecture {shown(arch.name, 40)} (input {tuple(arch.input_shape)}, "
                            f"{arch.n_classes} classes) does not fit task {shown(task.name, 80)} "
                            f"(input {tuple(task.input_shape)}, {task.n_classes} classes)")
