"""The workspace open in the app: what was loaded with it, and the results of the jobs run on it.

A background job (:func:`hyperviz.model.jobs.load_session_job`) reads a workspace and its zoo
into a :class:`Session`; :meth:`OpenWorkspace.show` then puts its table in the
:class:`~hyperviz.model.state.AppState` in one batch. Results of jobs run on the open workspace
come back through here too: a finished sampling run's samples (:meth:`OpenWorkspace.store_samples`,
shown by the state's ``samples`` signal) and the probes (:class:`ProbeResults`, with its own
``changed`` signal), so no widget keeps results and no window writes into the workspace itself.
:func:`writable_demo` gives the app a private copy of the bundled demo to open. Nothing here
imports Qt or core.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hyperviz.model.columns import coord_columns
from hyperviz.model.state import AppState, Signal

SAMPLE_METRICS = ("test_acc", "val_acc", "novelty_weight", "novelty_embedding", "agreement", "anchor_state", "nn_state",
                  "novelty_region", "max_agreement", "mistake_agreement", "target_acc")


@dataclass
class Session:
    """What one open workspace needs in memory."""

    path: Path
    ws: Any                      # core.hyperrep.workspace.Workspace
    zoo: Any                     # core.zoo.store.Zoo
    table: dict[str, np.ndarray]

    @property
    def title(self) -> str:
        return self.path.name


class ProbeResults:
    """The probes last computed on the open workspace; ``changed()`` fires when they are set or cleared.

    ``results`` is ``{property: {"hyperrep": ProbeResult, "sw": ProbeResult, ...}}`` (see
    :func:`core.analysis.report.probe_workspace`), ``differences`` the hyper-rep minus s(W)
    intervals, ``comparison`` where either side is ahead, in words
    (:func:`core.analysis.report.comparison_sentence`), ``probed`` what they were computed on
    (e.g. "the selected states (1,204)").
    """

    def __init__(self) -> None:
        self.results: dict | None = None
        self.differences: dict = {}
        self.comparison = ""
        self.probed = ""
        self.changed = Signal()

    def set(self, results: dict, differences: dict, comparison: str, probed: str) -> None:
        self.results, self.differences, self.comparison, self.probed = results, differences, comparison, probed
        self.changed.emit()

    def clear(self) -> None:
        self.results, self.differences, self.comparison, self.probed = None, {}, "", ""
        self.changed.emit()


class OpenWorkspace:
    """The app's open workspace (``session`` is None until one is opened) and its job results."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.session: Session | None = None
        self.probes = ProbeResults()

    @property
    def ws(self):
        """The open :class:`core.hyperrep.workspace.Workspace`, or None."""
        return None if self.session is None else self.session.ws

    @property
    def zoo(self):
        """The open workspace's :class:`core.zoo.store.Zoo`, or None."""
        return None if self.session is None else self.session.zoo

    def show(self, session: Session, keep_selection: bool = False) -> None:
        """Make ``session`` the open workspace: its table and samples in the state (one batch), no probes yet."""
        self.session = session
        with self.state.batch():
            self.state.set_table(session.table, source=str(session.path), bookmarks=session.ws.bookmarks,
                                 keep_selection=keep_selection)
            self.state.set_samples(sample_table(session.ws, self.state.projections))
        self.probes.clear()

    def store_samples(self, samples: dict) -> None:
        """A finished sampling run's samples of the workspace (the job already saved them): keep and show them."""
        if self.session is None:
            return
        self.session.ws.samples = samples
        self.state.set_samples(sample_table(self.session.ws, self.state.projections))


def sample_table(ws, projections: list[str]) -> dict[str, np.ndarray]:
    """One row per sampled model of every run in ``ws.samples`` (``core.generate.sampling``); {} when none.

    Columns: ``run``, ``index``, ``method``, ``<method>_x`` / ``<method>_y`` for each map the run
    placed its samples in (NaN otherwise), the per-sample metrics of :data:`SAMPLE_METRICS` and
    ``finetune_acc`` (accuracy after the last fine-tuning epoch; NaN without fine-tuning).
    """
    parts: list[dict[str, np.ndarray]] = []
    for run in sorted(ws.samples):
        entry = ws.samples[run]
        arrays, meta = entry.get("arrays", {}), entry.get("meta", {})
        if "test_acc" not in arrays:
            continue
        n = len(arrays["test_acc"])
        part = {"run": np.array([run] * n), "index": np.arange(n), "method": np.array([str(meta.get("method", "?"))] * n)}
        for method in projections:
            coords = arrays.get(f"coords_{method}")
            x, y = coord_columns(method)
            ok = coords is not None and np.shape(coords) == (n, 2)
            part[x] = np.asarray(coords, dtype=np.float64)[:, 0] if ok else np.full(n, np.nan)
            part[y] = np.asarray(coords, dtype=np.float64)[:, 1] if ok else np.full(n, np.nan)
        for name in SAMPLE_METRICS:
            value = arrays.get(name)
            part[name] = np.asarray(value, dtype=np.float64) if value is not None and np.shape(value) == (n,) \
                else np.full(n, np.nan)
        tuned = arrays.get("finetune_acc")
        part["finetune_acc"] = np.asarray(tuned, dtype=np.float64)[:, -1] if tuned is not None and np.ndim(tuned) == 2 \
            and np.shape(tuned)[0] == n and np.shape(tuned)[1] > 0 else np.full(n, np.nan)
        parts.append(part)
    if not parts:
        return {}
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def writable_demo(src_dir: str | Path, dst_dir: str | Path) -> Path:
    """A private copy of the bundled demo (workspace + zoo) in ``dst_dir``; returns its workspace path.

    Jobs (sampling, new maps) write into the workspace they work on; working on a copy keeps the
    bundled files unchanged. The copy is refreshed only when the *bundled* files changed since it
    was made (a new hyperviz version), never because the user's work changed the copy.
    """
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    dst_dir.mkdir(parents=True, exist_ok=True)
    marker = dst_dir / "bundled.json"
    bundled = {src.name: [src.stat().st_size, src.stat().st_mtime] for src in sorted(src_dir.glob("*.h5"))}
    try:
        copied = json.loads(marker.read_text())
    except (OSError, ValueError):
        copied = {}
    if copied != bundled or not all((dst_dir / name).exists() for name in bundled):
        for name in bundled:
            shutil.copy2(src_dir / name, dst_dir / name)
        marker.write_text(json.dumps(bundled))
    return dst_dir / "demo.h5"
