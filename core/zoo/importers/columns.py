"""Shared by both importers: property rows to zoo columns, model states to the zoo's
``[models, checkpoints]`` grid, column names made safe, the epoch limit."""
from __future__ import annotations

import math
import re

import numpy as np

MAX_EPOCH = 2**31 - 1


def sanitise(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]+", "_", str(name)).strip("_")


def model_columns(rows: list[dict]) -> dict[str, np.ndarray]:
    """Per-model columns from row dicts: bool, int64, float64 (NaN = missing) or str ('' = missing)."""
    names: list[str] = []
    for row in rows:
        names += [n for n in row if n not in names]
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        given = [v for v in values if v is not None]
        if given and len(given) == len(values) and all(isinstance(v, bool) for v in values):
            columns[name] = np.array(values, dtype=bool)
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in given):
            if given and len(given) == len(values) and all(isinstance(v, int) for v in values):
                columns[name] = np.array(values, dtype=np.int64)
            else:
                columns[name] = np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)
        else:
            columns[name] = np.array(["" if v is None else str(v) for v in values])
    return columns


class StateGrid:
    """The arrays of an imported zoo, filled one model state at a time: weights ``[M, C, P]``
    (``P`` the longest vector read; shorter ones, of smaller architectures, are zero-padded), the
    ``present`` mask and the state columns."""

    def __init__(self, n_models: int, epochs: np.ndarray, state_names) -> None:
        self.epochs = epochs
        self.column = {int(e): j for j, e in enumerate(epochs)}
        shape = (n_models, len(epochs))
        self.present = np.zeros(shape, dtype=bool)
        self.states = {name: np.full(shape, np.nan, dtype=np.float32) for name in dict.fromkeys(state_names)}
        self._vectors: dict[tuple[int, int], np.ndarray] = {}

    def put(self, model: int, epoch: int, vector: np.ndarray, values: dict) -> None:
        j = self.column[epoch]
        self._vectors[model, j] = np.asarray(vector, dtype=np.float32)
        self.present[model, j] = True
        for name, value in values.items():
            self.states[name][model, j] = value

    @property
    def weights(self) -> np.ndarray:
        width = max((v.size for v in self._vectors.values()), default=0)
        out = np.zeros((*self.present.shape, width), dtype=np.float32)
        for (model, j), vector in self._vectors.items():
            out[model, j, : vector.size] = vector
        return out
