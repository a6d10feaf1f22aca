"""Tasks: the data a zoo's networks are trained and evaluated on.

A task is a small, fully in-memory classification data set with a fixed train/val/test split.
Every task is offline and deterministic, so a zoo (and every evaluation of sampled models) can be
reproduced on any machine. Add a task by writing a loader that returns a :class:`Task` and
registering it in ``_LOADERS``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from core.errors import HyperVizError

SPLIT_SEED = 0  # the digits split is part of the task's identity: never change it


@dataclass(frozen=True)
class Task:
    """A classification task. Inputs are float32 ``[n, *input_shape]``, labels int64 ``[n]``."""

    name: str
    input_shape: tuple[int, ...]
    n_classes: int
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` of the split ``"train" | "val" | "test"``."""
        if name not in ("train", "val", "test"):
            raise HyperVizError(f"split {name!r}: expected train, val or test")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def describe(self) -> dict:
        """JSON-serialisable identity of the task (stored in zoo files)."""
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
            "n_train": len(self.y_train),
            "n_val": len(self.y_val),
            "n_test": len(self.y_test),
        }


def _stratified_split(y: np.ndarray, fractions: tuple[float, float, float], seed: int) -> list[np.ndarray]:
    """Index arrays for train/val/test, each class split in the given proportions."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_train = int(round(fractions[0] * len(idx)))
        n_val = int(round(fractions[1] * len(idx)))
        for part, chunk in zip(parts, (idx[:n_train], idx[n_train : n_train + n_val], idx[n_train + n_val :])):
            part.append(chunk)
    return [np.sort(np.concatenate(p)) for p in parts]


def _load_digits() -> Task:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images.astype(np.float32) / 16.0)[:, None, :, :]  # [1797, 1, 8, 8] in [0, 1]
    y = data.target.astype(np.int64)
    train, val, test = _stratified_split(y, (0.70, 0.15, 0.15), SPLIT_SEED)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    return Task(
        name="digits",
        input_shape=(1, 8, 8),
        n_classes=10,
        x_train=t(x[train]), y_train=t(y[train]),
        x_val=t(x[val]), y_val=t(y[val]),
        x_test=t(x[test]), y_test=t(y[test]),
    )


_LOADERS = {"digits": _load_digits}


def task_names() -> list[str]:
    return sorted(_LOADERS)


@cache
def get_task(name: str) -> Task:
    """The task called ``name``; raises :class:`HyperVizError` for an unknown name."""
    try:
        loader = _LOADERS[name]
    except KeyError:
        raise HyperVizError(f"task {name!r}: unknown (known tasks: {', '.join(task_names())})") from None
    return loader()
