"""What a column of the table of model states holds: ids, map coordinates, or a property of a kind.

The state, the colour coding and the views all ask the same two questions of a column - is it a
map coordinate, and is it continuous, discrete or categorical - so the answers live here once.
"""
from __future__ import annotations

import numpy as np

#: Columns that identify rows rather than describe them: never offered for colour or brushing.
ID_COLUMNS = frozenset({"row", "model", "checkpoint", "model_id", "seed"})
#: Numeric columns with at most this many distinct values are coloured like categories.
MAX_DISCRETE_VALUES = 8


def coord_columns(method: str) -> tuple[str, str]:
    """Table columns holding the map coordinates of ``method``: ``("umap_x", "umap_y")``."""
    return f"{method}_x", f"{method}_y"


def column_kind(values: np.ndarray) -> str:
    """``"continuous"``, ``"discrete"`` (numbers with few distinct values) or ``"categorical"`` (text)."""
    values = np.asarray(values)
    if values.dtype.kind in "USO":
        return "categorical"
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    return "discrete" if len(np.unique(finite)) <= MAX_DISCRETE_VALUES else "continuous"
