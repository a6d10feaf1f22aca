"""Finding model states: by model id (the search box), by nearness in the embedding (the details'
neighbour list), and the view range that frames a set of them (search, zoom to selection).

Pure numpy over the table of model states; the views only call these and show the answer.
"""
from __future__ import annotations

import numpy as np

from hyperviz.model.predicates import SelectionError


def model_ids(table: dict[str, np.ndarray]) -> np.ndarray:
    """The id of each row's model as text ``[n]``: ``model_id`` when the table has it, else the zoo row."""
    if "model_id" in table:
        return np.asarray(table["model_id"]).astype(str)
    return np.char.mod("%d", np.asarray(table["model"], dtype=np.int64))


def find_model(table: dict[str, np.ndarray], query: str) -> np.ndarray:
    """Rows of the model whose id is ``query`` ``[k]``, ordered by epoch.

    Matching is case-insensitive; a query that is no id but names exactly one model by a part of
    its id (``109`` for ``m00109``) finds that model. No match, or several, is a ``SelectionError``
    whose one line says so (naming up to three candidates).
    """
    text = query.strip()
    if not text:
        raise SelectionError("type a model id")
    ids = model_ids(table)
    lower = np.char.lower(ids)
    rows = np.flatnonzero(lower == text.lower())
    if not len(rows):
        partial = np.unique(ids[np.char.find(lower, text.lower()) >= 0])
        if len(partial) == 1:
            rows = np.flatnonzero(ids == partial[0])
        elif len(partial) > 1:
            shown = ", ".join(partial[:3]) + (", …" if len(partial) > 3 else "")
            raise SelectionError(f"'{text}' matches {len(partial)} models ({shown})")
        else:
            raise SelectionError(f"no model with id '{text}'")
    if "epoch" in table:
        rows = rows[np.argsort(np.asarray(table["epoch"])[rows], kind="stable")]
    return rows


def completions(table: dict[str, np.ndarray]) -> list[str]:
    """The distinct model ids, sorted: what the search box completes from."""
    return sorted(np.unique(model_ids(table)).tolist())


def framing_range(x: np.ndarray, y: np.ndarray, padding: float = 0.15,
                  min_span: tuple[float, float] = (0.0, 0.0)) -> list[list[float]]:
    """The view range ``[[x0, x1], [y0, y1]]`` that shows the points ``(x [k], y [k])`` with
    ``padding`` (a fraction of the span) around them; each span is at least ``min_span`` (so one
    point, or one model's few states, is shown with its surroundings rather than infinitely zoomed)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        raise SelectionError("nothing to frame: no finite map coordinates")
    ranges = []
    for values, least in ((x[ok], min_span[0]), (y[ok], min_span[1])):
        lo, hi = float(values.min()), float(values.max())
        span = max((hi - lo) * (1 + 2 * padding), least, 1e-9)
        centre = (lo + hi) / 2
        ranges.append([centre - span / 2, centre + span / 2])
    return ranges


def nearest_models(embeddings: np.ndarray, row: int, models: np.ndarray, k: int = 8,
                   candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The states nearest to state ``row`` in the embedding, one per other model: ``(rows [m], distances [m])``.

    ``embeddings`` is ``[n, d]``, ``models`` the model of each row ``[n]``; ``candidates`` (bool
    ``[n]``, e.g. the rows shown) limits where to look. Each other model contributes its nearest
    state; the ``k`` nearest of those come back, nearest first (Euclidean distance). The focused
    model's own epochs are left out: they are its path, which the map already draws.
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or not 0 <= row < len(embeddings):
        raise SelectionError(f"row {row} has no embedding (embeddings {embeddings.shape})")
    models = np.asarray(models)
    d = np.sqrt(np.maximum(((embeddings - embeddings[row]) ** 2).sum(1), 0.0))     # [n]
    keep = models != models[row]
    if candidates is not None:
        keep &= np.asarray(candidates, dtype=bool)
    rows = np.flatnonzero(keep & np.isfinite(d))
    if not len(rows):
        return np.zeros(0, np.intp), np.zeros(0, np.float32)
    rows = rows[np.argsort(d[rows], kind="stable")]
    _, first = np.unique(models[rows], return_index=True)          # the nearest state of each model
    best = rows[np.sort(first)][:k]
    return best, d[best]
