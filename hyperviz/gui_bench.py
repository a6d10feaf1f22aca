"""``hyperviz bench gui``: is the map fast enough at 100k points, and does background work stall it?

Measured on an offscreen window holding the real views (map, property histograms, selection
panel) over a synthetic table of ``--points`` model states:

* ``selection_update_s`` - a lasso selection through the state until every view has updated
  (median of a few; target <= 0.1 s), and ``filter_update_s`` for the epoch filter;
* ``recolour_s`` - colour by a category and by a continuous property (the slower; target <= 0.6 s);
* ``repaint_s`` - one full repaint of the map;
* ``max_stall_s`` - the longest gap of a 5 ms GUI-thread heartbeat while a UMAP fit runs in a
  subprocess and a sampling-like CPU job runs in a worker thread, both through the app's job
  runner (target <= 0.1 s); then ``selection_update_busy_s``, the lasso update while both still
  run, and ``repaint_busy_s``, a map repaint meanwhile (on 2 cores the jobs compete with the GUI
  thread for CPU and the GIL), and ``cancel_s``, how long cancelling both took.
"""
from __future__ import annotations

import os
import statistics
import time

import numpy as np

from hyperviz.commands.common import add_common, bench_points, bench_seconds, print_json

TARGETS = {"selection_update_s": 0.1, "filter_update_s": 0.1, "recolour_s": 0.6, "max_stall_s": 0.1}


def synthetic_table(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` made-up model states in 40 clusters, with map coordinates and typical properties."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, 40, n)
    centres = rng.normal(0, 6, (40, 2))
    xy = centres[cluster] + rng.normal(0, 0.6, (n, 2))
    epoch = rng.integers(0, 26, n).astype(float)
    acc = np.clip(0.1 + 0.85 * (1 - np.exp(-epoch / 6)) * rng.uniform(0.5, 1, n), 0, 1)
    return {"row": np.arange(n), "model": np.arange(n) // 26, "checkpoint": epoch.astype(int),
            "epoch": epoch, "test_acc": acc, "train_acc": np.clip(acc + rng.normal(0.02, 0.01, n), 0, 1),
            "ggap": rng.normal(0.02, 0.01, n),
            "activation": np.array(["relu", "tanh", "gelu", "sigmoid"])[cluster % 4],
            "lr": np.array([1e-3, 1e-2])[cluster % 2],
            "umap_x": xy[:, 0], "umap_y": xy[:, 1], "pca_x": xy[:, 0] * 0.5, "pca_y": xy[:, 1] * 0.7}


def sampling_like_job(seconds: float, seed: int = 0):
    """CPU work shaped like sampling: KDE draws, a decoder-sized matrix product, distances to a
    reference set; a progress record after every step."""
    from core.progress import Progress

    rng = np.random.default_rng(seed)
    latents = rng.normal(size=(2000, 256)).astype(np.float32)
    decoder = rng.normal(size=(256, 1200)).astype(np.float32)
    reference = np.empty((4000, 1200), np.float32)
    for start in range(0, len(reference), 250):         # set-up in steps too, like a real job
        reference[start:start + 250] = rng.normal(size=(250, 1200))
        yield Progress(0, 1, "preparing")
    end, step = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        anchors = rng.integers(0, len(latents), 64)
        z = latents[anchors] + rng.normal(0, 0.1, (64, 256)).astype(np.float32)
        w = np.tanh(z @ decoder)
        d2 = (w * w).sum(1)[:, None] - 2 * w @ reference[:500].T
        step += 1
        yield Progress(step, step + 1, "sampling-like work", {"min_d2": float(d2.min())})
    return step


def umap_job(emb: np.ndarray, should_cancel):
    """A UMAP fit in a subprocess (the app's way), as a job."""
    from core.analysis.projection import umap_fit_in_subprocess
    from core.progress import Progress

    yield Progress(0, 1, "UMAP in a subprocess")
    return umap_fit_in_subprocess(emb, seed=None, should_cancel=should_cancel)


def _median_time(fn, repeats: int) -> float:
    times = []
    for i in range(repeats):
        t = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_gui(points: int = 100_000, background_s: float = 12.0, umap_points: int = 3000, repeats: int = 5,
              on_status=None) -> dict:
    """Run the measurements (see the module docstring); returns the JSON-able result."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtCore, QtWidgets

    from hyperviz.app import make_app
    from hyperviz.model.selection import Polygon
    from hyperviz.model.state import AppState
    from hyperviz.model.workspace import OpenWorkspace
    from hyperviz.ui.context import AppContext
    from hyperviz.ui.jobs import JobRunner
    from hyperviz.ui.map_view import MapView
    from hyperviz.ui.property_panel import PropertyPanel
    from hyperviz.ui.selection_panel import SelectionPanel

    say = on_status or (lambda text: None)
    app = make_app([])
    state = AppState()
    runner = JobRunner(min_interval_s=0.05)
    context = AppContext(state, OpenWorkspace(state), runner)
    window = QtWidgets.QWidget()
    layout = QtWidgets.QHBoxLayout(window)
    view, panel, selection = MapView(state), PropertyPanel(context), SelectionPanel(context)
    for widget in (panel, view, selection):
        layout.addWidget(widget)
    window.resize(1500, 900)
    window.show()
    t = time.perf_counter()
    state.set_table(synthetic_table(points), source="synthetic")
    app.processEvents()
    load_s = time.perf_counter() - t
    say(f"{points} points shown in {load_s:.2f} s")

    def repaint(_i=0) -> None:
        view.canvas.viewport().repaint()

    repaint_s = _median_time(repaint, repeats)
    x, y = state.coords()
    cx, cy = np.median(x), np.median(y)

    def lasso(i: int) -> None:
        r = 4.0 + i
        angles = np.linspace(0, 2 * np.pi, 120, endpoint=False)
        state.select(Polygon("umap_x", "umap_y", tuple(zip(cx + r * np.cos(angles), cy + r * np.sin(angles)))))

    selection_s = _median_time(lasso, repeats)
    selected = int(state.selected_mask.sum())
    filter_s = _median_time(lambda i: state.set_filter("epoch", i, 20 + i % 2), repeats)
    state.clear_filters()
    recolour = {}
    for column in ("activation", "test_acc"):
        t = time.perf_counter()
        state.set_colour_by(column)
        recolour[column] = time.perf_counter() - t
    say(f"selection {selection_s * 1e3:.0f} ms, filter {filter_s * 1e3:.0f} ms, "
        f"recolour {max(recolour.values()) * 1e3:.0f} ms, repaint {repaint_s * 1e3:.0f} ms")

    # ---- stalls while background jobs run -------------------------------------------------
    gaps: list[float] = []
    last = [time.perf_counter()]

    def beat() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QtCore.QTimer()
    timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
    timer.timeout.connect(beat)
    emb = np.random.default_rng(1).normal(size=(umap_points, 16)).astype(np.float32)
    say(f"heartbeat for {background_s:.0f} s while UMAP ({umap_points} points, subprocess) and a CPU job run")
    umap = runner.start("umap", lambda cancel: umap_job(emb, cancel))
    cpu = runner.start("sampling-like", lambda cancel: sampling_like_job(background_s * 2))
    for _ in range(3):                                 # no paint left over from the measurements above
        app.processEvents()
        window.repaint()
    last[0] = time.perf_counter()
    timer.start(5)
    end = time.perf_counter() + background_s
    while time.perf_counter() < end:                  # the heartbeat alone: stalls caused by the jobs
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)
        time.sleep(0.001)
    timer.stop()
    stall_gaps = list(gaps)
    busy, busy_paint = [], []                          # brushing and painting while the jobs still run
    for i in range(repeats):
        t = time.perf_counter()
        lasso(i)
        busy.append(time.perf_counter() - t)
        busy_paint.append(_median_time(repaint, 1))
        app.processEvents()
    umap_done = umap.outcome == "finished"
    t = time.perf_counter()
    runner.cancel_all(wait_ms=10_000)
    while runner.running and time.perf_counter() - t < 10:
        app.processEvents()
    cancel_s = time.perf_counter() - t
    ignored = 0.25        # the first beats include starting the worker threads and the UMAP process
    stalls = [g for g, at in zip(stall_gaps, np.cumsum(stall_gaps)) if at > ignored]
    result = {
        "points": points, "selected": selected, "load_s": round(load_s, 3),
        "selection_update_s": round(selection_s, 4), "filter_update_s": round(filter_s, 4),
        "recolour_s": round(max(recolour.values()), 4),
        "recolour_categorical_s": round(recolour["activation"], 4), "recolour_continuous_s": round(recolour["test_acc"], 4),
        "repaint_s": round(repaint_s, 4),
        "max_stall_s": round(max(stalls) if stalls else float("nan"), 4),
        "p99_stall_s": round(float(np.percentile(stalls, 99)) if stalls else float("nan"), 4),
        "heartbeats": len(stalls), "background_s": background_s,
        "selection_update_busy_s": round(statistics.median(busy), 4),
        "repaint_busy_s": round(statistics.median(busy_paint), 4),
        "umap_finished_before_cancel": umap_done, "cancel_s": round(cancel_s, 3),
        "cpu_job_steps": cpu.result if cpu.outcome == "finished" else None,
    }
    result["within_targets"] = all(result[k] <= v for k, v in TARGETS.items())
    window.close()
    return result


def cmd_bench_gui(args) -> int:
    result = bench_gui(points=args.points, background_s=args.seconds, umap_points=args.umap_points,
                       on_status=None if args.json or args.quiet else print)
    if args.json:
        print_json(result)
        return 0
    print(f"{result['points']} points: selection update {result['selection_update_s'] * 1e3:.0f} ms "
          f"(target <= 100), filter {result['filter_update_s'] * 1e3:.0f} ms, recolour "
          f"{result['recolour_s'] * 1e3:.0f} ms (target <= 600), repaint {result['repaint_s'] * 1e3:.0f} ms")
    print(f"longest GUI stall with UMAP + a CPU job in the background: {result['max_stall_s'] * 1e3:.0f} ms "
          f"(target <= 100); selection update meanwhile {result['selection_update_busy_s'] * 1e3:.0f} ms; "
          f"cancelling took {result['cancel_s']:.2f} s")
    return 0


def register(bench) -> None:
    """Add ``gui`` to the ``bench`` command's sub-commands (called by hyperviz.cli)."""
    p = bench.add_parser("gui", help="map speed at 100k points; GUI stalls during background jobs")
    p.add_argument("--points", type=bench_points, default=100_000)
    p.add_argument("--seconds", type=bench_seconds, default=12.0, help="how long background jobs run while measuring stalls")
    p.add_argument("--umap-points", type=bench_points, default=3000)
    add_common(p)
    p.set_defaults(func=cmd_bench_gui)
