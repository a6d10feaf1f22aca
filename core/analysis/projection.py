"""2-D maps of embeddings: PCA (instant), UMAP (slow, run in a separate process), and placement of
new points into an existing map without refitting.

* :func:`pca_fit` -> :class:`PcaProjection` (mean + 2 components; ``transform`` maps new points
  exactly as the training points).
* :func:`umap_fit_job` is a core job (yields :class:`~core.progress.Progress`, returns coords).
  umap-learn cannot be interrupted inside a fit and its first fit in a process pays ~15-20 s of
  numba compilation, so the GUI uses :func:`umap_fit_in_subprocess`: the fit runs in a spawned
  child process that is terminated on cancel.
* :class:`KnnPlacer` places new embeddings (e.g. sampled models) into any map by an
  inverse-distance-weighted average of the coordinates of their k nearest training embeddings
  (how UMAP's own ``transform`` starts). Plain numpy: no numba, no umap, no fitting.
* :class:`Projection` is the stored record (method, coords, params, extra arrays) as plain arrays
  plus a JSON string: nothing is pickled.

This module imports neither torch nor umap at import time, so the UMAP child process starts fast.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.errors import Cancelled, HyperVizError
from core.progress import Job, Progress

PROJECTION_FORMAT = 1
UMAP_MIN_POINTS = 4


def _as_embeddings(emb, name: str = "embeddings", min_rows: int = 1) -> np.ndarray:
    arr = np.asarray(emb)
    if arr.ndim != 2 or arr.shape[0] < min_rows or arr.shape[1] < 1:
        raise HyperVizError(f"{name}: expected a [n, d] array with n >= {min_rows}, got shape {tuple(arr.shape)}")
    if not np.issubdtype(arr.dtype, np.number):
        raise HyperVizError(f"{name}: expected numbers, got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise HyperVizError(f"{name}: contains NaN or infinite values")
    return arr


# ---- the stored record -------------------------------------------------------------------
@dataclass
class Projection:
    """A 2-D map of ``n`` embeddings: ``coords`` float32 ``[n, 2]``.

    ``params`` is JSON-able (e.g. ``n_neighbors``, ``min_dist``, ``seed``); ``arrays`` holds extra
    arrays a method needs to place new points (PCA: ``mean`` and ``components``).
    """

    method: str                      # "pca" | "umap"
    coords: np.ndarray
    params: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in ("pca", "umap"):
            raise HyperVizError(f"projection method {self.method!r}: expected pca or umap")
        coords = np.asarray(self.coords, dtype=np.float32)
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise HyperVizError(f"projection coords: expected [n, 2], got shape {tuple(coords.shape)}")
        self.coords = coords
        if self.method == "pca" and not {"mean", "components"} <= set(self.arrays):
            raise HyperVizError("pca projection: needs arrays 'mean' and 'components'")

    def to_arrays(self) -> tuple[dict[str, np.ndarray], str]:
        """``(arrays, meta_json)``: ``coords`` plus the extra arrays, and a JSON string."""
        arrays = {"coords": self.coords}
        arrays.update({k: np.asarray(v) for k, v in self.arrays.items()})
        meta = {"format": PROJECTION_FORMAT, "method": self.method, "params": self.params,
                "arrays": sorted(self.arrays)}
        return arrays, json.dumps(meta, sort_keys=True)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta_json: str, source: str = "projection") -> Projection:
        try:
            meta = json.loads(meta_json)
            method, params, names = meta["method"], dict(meta.get("params", {})), list(meta.get("arrays", []))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise HyperVizError(f"{source}: unreadable projection metadata ({exc})") from None
        if int(meta.get("format", 1)) > PROJECTION_FORMAT:
            raise HyperVizError(f"{source}: projection format {meta['format']} is newer than this hyperviz ({PROJECTION_FORMAT})")
        missing = [k for k in ["coords", *names] if k not in arrays]
        if missing:
            raise HyperVizError(f"{source}: projection lacks arrays {missing}")
        return cls(method, np.asarray(arrays["coords"]), params, {k: np.asarray(arrays[k]) for k in names})

    def placer(self, train_emb=None, k: int | None = None):
        """An object with ``place(new_emb) -> [m, 2]``: PCA maps exactly; UMAP uses a :class:`KnnPlacer`
        over ``train_emb`` (the embeddings the map was fitted on, which the workspace stores)."""
        if self.method == "pca":
            return PcaProjection(self.arrays["mean"], self.arrays["components"], self.coords,
                                 np.asarray(self.arrays.get("explained_variance_ratio", np.zeros(2))))
        if train_emb is None:
            raise HyperVizError("placing points into a UMAP map needs the embeddings it was fitted on")
        return KnnPlacer(train_emb, self.coords, k=int(k or self.params.get("k", 10)))


# ---- PCA ------------------------------------------------------------------------------------
@dataclass
class PcaProjection:
    """``coords = (x - mean) @ components.T``; ``coords`` are the fitted points' coordinates."""

    mean: np.ndarray                 # float64 [d]
    components: np.ndarray           # float64 [2, d]
    coords: np.ndarray               # float32 [n, 2]
    explained_variance_ratio: np.ndarray  # float64 [2]

    def transform(self, new) -> np.ndarray:
        x = _as_embeddings(new, "embeddings to project")
        if x.shape[1] != self.mean.shape[0]:
            raise HyperVizError(f"embeddings to project have width {x.shape[1]}; the PCA was fitted on width {self.mean.shape[0]}")
        return ((np.asarray(x, dtype=np.float64) - self.mean) @ self.components.T).astype(np.float32)

    place = transform

    def to_projection(self) -> Projection:
        return Projection(
            "pca", self.coords,
            {"explained_variance_ratio": [float(v) for v in self.explained_variance_ratio]},
            {"mean": self.mean, "components": self.components, "explained_variance_ratio": self.explained_variance_ratio},
        )


def pca_fit(emb) -> PcaProjection:
    """Fit a 2-component PCA (float64, deterministic signs: each component's largest loading is positive)."""
    x = np.asarray(_as_embeddings(emb), dtype=np.float64)
    n, d = x.shape
    mean = x.mean(axis=0)
    xc = x - mean
    if n >= d:
        evals, evecs = np.linalg.eigh(xc.T @ xc)
        order = np.argsort(evals)[::-1]
        evals, comps = np.clip(evals[order], 0, None), evecs[:, order].T
    else:
        _, s, vt = np.linalg.svd(xc, full_matrices=False)
        evals, comps = s * s, vt
    comps = comps[:2]
    top = evals[:2]
    if comps.shape[0] < 2:  # one-dimensional input (or a single point): pad with a zero axis
        comps = np.vstack([comps, np.zeros((2 - comps.shape[0], d))])
        top = np.concatenate([top, np.zeros(2 - len(top))])
    signs = np.sign(comps[np.arange(2), np.argmax(np.abs(comps), axis=1)])
    comps = comps * np.where(signs == 0, 1.0, signs)[:, None]
    total = evals.sum()
    ratio = top / total if total > 0 else np.zeros(2)
    coords = (xc @ comps.T).astype(np.float32)
    return PcaProjection(mean, comps, coords, ratio)


# ---- UMAP ---------------------------------------------------------------------------------
def _check_umap_input(emb, n_neighbors: int, min_dist: float) -> np.ndarray:
    x = _as_embeddings(emb)
    if len(x) < UMAP_MIN_POINTS:
        raise HyperVizError(f"UMAP needs at least {UMAP_MIN_POINTS} points, got {len(x)} (use PCA)")
    if int(n_neighbors) < 2:
        raise HyperVizError(f"UMAP n_neighbors {n_neighbors}: must be at least 2")
    if not 0.0 <= float(min_dist) <= 1.0:
        raise HyperVizError(f"UMAP min_dist {min_dist}: must be between 0 and 1")
    return np.ascontiguousarray(x, dtype=np.float32)


def umap_fit_job(
    emb, n_neighbors: int = 15, min_dist: float = 0.1, seed: int | None = 0, n_epochs: int | None = None
) -> Job[np.ndarray]:
    """Fit umap-learn on ``emb`` ``[n, d]``; yields progress, returns float32 coords ``[n, 2]``.

    ``n_neighbors`` is clamped to ``n - 1``. A ``seed`` makes the fit reproducible but
    single-threaded (umap's rule); ``seed=None`` lets it use every core. The fit itself cannot be
    interrupted: cancel-able callers use :func:`umap_fit_in_subprocess`.
    """
    x = _check_umap_input(emb, n_neighbors, min_dist)
    n = len(x)
    yield Progress(0, 2, "loading UMAP (the first fit in a process compiles for ~15-20 s)")
    import umap

    k = min(int(n_neighbors), n - 1)
    yield Progress(1, 2, f"fitting UMAP on {n} points (n_neighbors {k}, min_dist {min_dist})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state, spectral fallbacks
        reducer = umap.UMAP(
            n_components=2, n_neighbors=k, min_dist=float(min_dist), random_state=seed,
            n_epochs=None if n_epochs is None else int(n_epochs),
        )
        coords = np.asarray(reducer.fit_transform(x), dtype=np.float32)
    yield Progress(2, 2, "UMAP done")
    return coords


def _umap_child(emb: np.ndarray, params: dict, conn, parent_pid: int | None = None) -> None:
    """Entry point of the UMAP child process: runs :func:`umap_fit_job`, streams messages on ``conn``.
    It ends with its parent, however the parent ends (core.children.die_with_parent)."""
    from core.children import die_with_parent

    die_with_parent(parent_pid)
    try:
        job = umap_fit_job(emb, **params)
        while True:
            try:
                record = next(job)
            except StopIteration as stop:
                conn.send(("result", stop.value))
                break
            conn.send(("progress", float(record.done), float(record.total), record.message))
    except HyperVizError as exc:
        conn.send(("user_error", str(exc)))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def umap_fit_in_subprocess(
    emb,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    seed: int | None = 0,
    n_epochs: int | None = None,
    should_cancel: Callable[[], bool] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    poll_s: float = 0.1,
) -> np.ndarray:
    """:func:`umap_fit_job` in a spawned child process; returns float32 coords ``[n, 2]``.

    ``should_cancel`` is polled every ``poll_s`` seconds; when it returns True the child is
    terminated and :class:`~core.errors.Cancelled` raised. The child also ends when this process is
    killed outright (SIGKILL: no cleanup runs here), see :mod:`core.children`. ``on_progress`` receives the child's
    progress records in this process. Input errors raise :class:`HyperVizError` before any process
    starts. (Programs that call this must guard their entry point with ``if __name__ == "__main__"``,
    as spawn re-imports the main module.)
    """
    x = _check_umap_input(emb, n_neighbors, min_dist)
    params = {"n_neighbors": int(n_neighbors), "min_dist": float(min_dist), "seed": seed,
              "n_epochs": None if n_epochs is None else int(n_epochs)}
    if should_cancel is not None and should_cancel():
        raise Cancelled("cancelled")
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_umap_child, args=(x, params, sender, os.getpid()), name="hyperviz-umap", daemon=True)
    proc.start()
    sender.close()  # the child holds its own copy; EOF on ours means the child is gone
    try:
        while True:
            if should_cancel is not None and should_cancel():
                raise Cancelled("cancelled")
            if not receiver.poll(poll_s):
                if not proc.is_alive() and not receiver.poll(0):
                    raise RuntimeError(f"UMAP worker process exited unexpectedly (exit code {proc.exitcode})")
                continue
            try:
                msg = receiver.recv()
            except EOFError:
                proc.join(1.0)
                raise RuntimeError(f"UMAP worker process exited unexpectedly (exit code {proc.exitcode})") from None
            kind = msg[0]
            if kind == "progress":
                if on_progress is not None:
                    on_progress(Progress(msg[1], msg[2], msg[3]))
            elif kind == "result":
                return np.asarray(msg[1], dtype=np.float32)
            elif kind == "user_error":
                raise HyperVizError(msg[1])
            else:
                raise RuntimeError(f"UMAP worker process failed:\n{msg[1]}")
    finally:
        receiver.close()
        if proc.is_alive():
            proc.terminate()
            proc.join(2.0)
            if proc.is_alive():
                proc.kill()
        proc.join(2.0)


# ---- placing new points -----------------------------------------------------------------
class KnnPlacer:
    """Place new embeddings into a fitted map without refitting.

    A new point goes to the inverse-distance-weighted average of the map coordinates of its ``k``
    nearest training embeddings (Euclidean); a point equal to training points lands exactly on
    their coordinates. Defined entirely by ``train_emb`` ``[n, d]``, ``train_coords`` ``[n, 2]``
    and ``k``. Brute force in numpy, chunked: 20k x 64 training points, 100 new points in a few ms.
    """

    _CHUNK_ELEMENTS = 4_000_000   # distance-matrix entries per chunk (~16 MiB float32)
    _EXTRA_CANDIDATES = 16        # re-ranked exactly in float64 after the float32 search

    def __init__(self, train_emb, train_coords, k: int = 10):
        emb = _as_embeddings(train_emb, "training embeddings")
        coords = np.asarray(train_coords, dtype=np.float64)
        if coords.shape != (len(emb), 2):
            raise HyperVizError(f"map coordinates of shape {tuple(coords.shape)} do not match {len(emb)} training embeddings")
        if int(k) < 1:
            raise HyperVizError(f"k = {k}: must be at least 1")
        self.train_emb = np.ascontiguousarray(emb, dtype=np.float32)
        self.train_coords = coords
        self.k = min(int(k), len(emb))
        self._sq_norms = np.einsum("ij,ij->i", self.train_emb, self.train_emb, dtype=np.float64).astype(np.float32)

    def place(self, new_emb) -> np.ndarray:
        """float32 ``[m, 2]`` map coordinates of ``new_emb`` ``[m, d]``."""
        new = _as_embeddings(new_emb, "embeddings to place")
        n, d = self.train_emb.shape
        if new.shape[1] != d:
            raise HyperVizError(f"embeddings to place have width {new.shape[1]}; the map's embeddings have width {d}")
        # Distances are taken in the stored (float32) precision, so a query equal to a training
        # point after that rounding lands exactly on it.
        new32 = np.ascontiguousarray(new, dtype=np.float32)
        new64 = new32.astype(np.float64)
        n_cand = min(n, self.k + self._EXTRA_CANDIDATES)
        chunk = max(1, self._CHUNK_ELEMENTS // n)
        out = np.empty((len(new), 2), dtype=np.float32)
        for start in range(0, len(new), chunk):
            q32, q64 = new32[start : start + chunk], new64[start : start + chunk]
            # approximate squared distances (float32), then exact re-ranking of a few candidates
            d2 = self._sq_norms[None, :] - 2.0 * (q32 @ self.train_emb.T)
            if n_cand < n:
                cand = np.argpartition(d2, n_cand - 1, axis=1)[:, :n_cand]
            else:
                cand = np.broadcast_to(np.arange(n), (len(q32), n))
            diff = self.train_emb[cand].astype(np.float64) - q64[:, None, :]
            dist = np.sqrt(np.einsum("mkd,mkd->mk", diff, diff))
            order = np.argsort(dist, axis=1, kind="stable")[:, : self.k]
            idx = np.take_along_axis(cand, order, axis=1)
            dist = np.take_along_axis(dist, order, axis=1)
            dmin = dist[:, :1]
            with np.errstate(divide="ignore", invalid="ignore"):
                w = np.where(dmin > 0, dmin / dist, (dist == 0).astype(np.float64))
            w /= w.sum(axis=1, keepdims=True)
            out[start : start + chunk] = np.einsum("mk,mkc->mc", w, self.train_coords[idx])
        return out


def bench_placement(n_train: int = 20000, d: int = 64, n_new: int = 100, k: int = 10, seed: int = 0) -> dict:
    """Time :class:`KnnPlacer` on random data: build, first and second ``place``. Seconds."""
    rng = np.random.default_rng(seed)
    train = rng.standard_normal((n_train, d)).astype(np.float32)
    coords = rng.standard_normal((n_train, 2)).astype(np.float32)
    new = rng.standard_normal((n_new, d)).astype(np.float32)
    t0 = time.perf_counter()
    placer = KnnPlacer(train, coords, k=k)
    t1 = time.perf_counter()
    placer.place(new)
    t2 = time.perf_counter()
    placer.place(new)
    t3 = time.perf_counter()
    return {"n_train": n_train, "d": d, "n_new": n_new, "k": k,
            "build_s": t1 - t0, "place_s": t2 - t1, "place_again_s": t3 - t2}
