"""Drive the real hyperviz window with synthetic X input (xdotool) and take screenshots.

Run by ``scripts/real-window-check.sh`` inside Xvfb with a window manager; not a pytest test.
The app runs in this process with a copy of the demo workspace; the steps are run from the Qt
event loop one at a time (a timer tick each), so the window handles every X event as a user's:

1. the window opens maximised on the start page; a click on its "Open the demo" button shows the map;
2. a click on the tool bar's lasso button, then a lasso drawn with the mouse around the middle
   of the densest part of the map;
3. a drag across the ``test_acc`` histogram (a range brush, ANDed with the lasso);
4. a click on the Generate tab and on "Sample from selection"; waits for the samples;
5. a click on the best sample's star (of those no other star overlaps) (it is chosen in the samples table and ringed in the map);
6. a click on the tool bar's Quick tour button: the tour opens beside the map, not over it;
7. a screenshot of the whole screen (``import -window root``) after each stage.

Where to click is read from the widgets (their global geometry); what happened is checked on the
state. One JSON line per check is printed; the exit status is 0 when every check passed.

    python scripts/real_window_driver.py --out DIR [--name window-1600x1000] [--timeout 600]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

TICK_MS = 40


def xdotool(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True, timeout=20)


def screenshot(path: Path) -> None:
    subprocess.run(["import", "-window", "root", str(path)], check=True, timeout=60)


class Driver:
    """Runs ``steps()`` - a generator that yields either a delay in ms or a condition to wait for."""

    def __init__(self, app, window, out: Path, name: str, timeout: float) -> None:
        self.app, self.window, self.out, self.name, self.timeout = app, window, out, name, timeout
        self.checks: list[dict] = []
        self.started = time.monotonic()
        self._steps = self.steps()

    # ---- plumbing ---------------------------------------------------------------------------------
    def run(self) -> int:
        from PySide6 import QtCore

        self._timer = QtCore.QTimer()
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._advance)
        self._timer.start(TICK_MS)
        self.app.exec()
        return 0 if self.checks and all(c["ok"] for c in self.checks) else 1

    def _advance(self, wait: Callable[[], bool] | None = None) -> None:
        if time.monotonic() - self.started > self.timeout:
            self.check("finished within the time limit", False, f"{self.timeout} s")
            self.app.exit(1)
            return
        try:
            step = next(self._steps)
        except StopIteration:
            self.app.exit(0)
            return
        except Exception as exc:              # a failed step is a failed check, not a hung window
            self.check("driver step", False, f"{type(exc).__name__}: {exc}")
            self.app.exit(1)
            return
        self._timer.start(step if isinstance(step, int) else TICK_MS)

    def until(self, condition: Callable[[], bool], what: str, seconds: float) -> Iterator[int]:
        """Yield ticks until ``condition()`` holds (a failed check after ``seconds``)."""
        end = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > end:
                raise TimeoutError(f"{what}: not within {seconds} s")
            yield TICK_MS

    def check(self, what: str, ok: bool, detail="") -> None:
        record = {"check": what, "ok": bool(ok), "detail": detail, "t_s": round(time.monotonic() - self.started, 1)}
        self.checks.append(record)
        print(json.dumps(record), flush=True)

    def shot(self, stage: str) -> Path:
        path = self.out / f"{self.name}-{stage}.png"
        screenshot(path)
        return path

    # ---- geometry -----------------------------------------------------------------------------------
    @staticmethod
    def centre(widget) -> tuple[int, int]:
        from PySide6 import QtCore

        point = widget.mapToGlobal(QtCore.QPoint(widget.width() // 2, widget.height() // 2))
        return point.x(), point.y()

    def map_point(self, x: float, y: float) -> tuple[int, int]:
        """Screen pixel of map data point ``(x, y)``."""
        from PySide6 import QtCore

        view = self.window.map
        scene = view.viewbox.mapViewToScene(QtCore.QPointF(x, y))
        point = view.canvas.viewport().mapToGlobal(view.canvas.mapFromScene(scene))
        return point.x(), point.y()

    def click(self, x: int, y: int) -> Iterator[int]:
        xdotool("mousemove", str(x), str(y))
        yield 150
        xdotool("click", "1")
        yield 250

    def drag(self, points: list[tuple[int, int]]) -> Iterator[int]:
        """Press at the first point, move through the others a tick apart, release at the last."""
        xdotool("mousemove", str(points[0][0]), str(points[0][1]))
        yield 150
        xdotool("mousedown", "1")
        yield 80
        for x, y in points[1:]:
            xdotool("mousemove", str(x), str(y))
            yield 25
        yield 80
        xdotool("mouseup", "1")
        yield 300

    # ---- the session ---------------------------------------------------------------------------------
    def steps(self) -> Iterator[int]:
        from PySide6 import QtCore, QtWidgets

        window, state = self.window, self.window.state
        yield from self.until(lambda: window.isVisible() and window.start_page.isVisible(), "the start page", 60)
        yield 1500
        self.shot("0-start")
        yield from self.click(*self.centre(window.start_page.buttons["demo"]))
        yield from self.until(lambda: state.n > 0, "the demo's map after a click on Open the demo", 120)
        self.check("the start page's demo button opens the demo", state.n > 0, f"{state.n} states")
        yield 1500                                           # the window manager maximises, the map settles
        screen = window.screen().geometry()
        frame = window.frameGeometry()
        self.check("window fills the screen", frame.width() >= screen.width() - 2 and frame.height() >= screen.height() - 2,
                   f"window {frame.width()}x{frame.height()}, screen {screen.width()}x{screen.height()}")
        self.check("map shown", window.map.canvas.isVisible() and window.map.canvas.width() > 0.45 * screen.width(),
                   f"{state.n} states, map {window.map.canvas.width()}x{window.map.canvas.height()} px")
        self.shot("1-open")

        # 2: the lasso tool by its tool bar button, then a lasso around the densest part of the map
        button = window.toolbar.widgetForAction(window.tool_actions["lasso"])
        yield from self.click(*self.centre(button))
        self.check("lasso tool chosen by a click", window.map.tool == "lasso", window.map.tool)
        x, y = state.coords()
        counts, xe, ye = np.histogram2d(x, y, bins=6)
        i, j = np.unravel_index(np.argmax(counts), counts.shape)
        cx, cy = (xe[i] + xe[i + 1]) / 2, (ye[j] + ye[j + 1]) / 2
        rx, ry = 1.1 * (xe[1] - xe[0]), 1.1 * (ye[1] - ye[0])
        ring = [self.map_point(cx + rx * np.cos(t), cy + ry * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 28)]
        yield from self.drag(ring)
        lassoed = int(state.selected_mask.sum())
        self.check("a lasso drawn with the mouse selects", lassoed > 0 and "lasso" in state.describe_selection(),
                   f"{lassoed} selected: {state.describe_selection()}")
        self.shot("2-lasso")

        # 3: a drag across the test_acc histogram
        panel = window.properties
        yield from self.until(lambda: "test_acc" in panel.plots, "the test_acc histogram", 20)
        panel.ensureWidgetVisible(panel.canvas)
        yield 200
        plot, canvas = panel.plots["test_acc"], panel.canvas
        rect = plot.view.sceneBoundingRect()

        def at(fraction: float) -> tuple[int, int]:
            local = canvas.mapFromScene(QtCore.QPointF(rect.left() + fraction * rect.width(), rect.center().y()))
            point = canvas.viewport().mapToGlobal(local)
            return point.x(), point.y()

        yield from self.drag([at(f) for f in np.linspace(0.45, 0.98, 8)])
        terms = state.range_terms()
        self.check("a drag on the histogram brushes test_acc, ANDed with the lasso",
                   "test_acc" in terms and "lasso" in state.describe_selection() and 0 < state.selected_mask.sum() <= lassoed,
                   f"{int(state.selected_mask.sum())} selected: {state.describe_selection()}")

        # 4: Generate tab, Sample
        before = len(state.samples.get("run", []))
        tabs = [bar for bar in window.findChildren(QtWidgets.QTabBar)
                if bar.isVisible() and any(bar.tabText(k) == "Generate" for k in range(bar.count()))]
        if tabs:
            bar = tabs[0]
            k = next(k for k in range(bar.count()) if bar.tabText(k) == "Generate")
            r = bar.tabRect(k)
            point = bar.mapToGlobal(r.center())
            yield from self.click(point.x(), point.y())
        self.check("Generate tab in front by a click", not window.generate_dock.visibleRegion().isEmpty())
        yield from self.click(*self.centre(window.generate.sample_button))
        yield from self.until(lambda: len(state.samples.get("run", [])) > before, "the samples", self.timeout * 0.6)
        yield 1000
        stars = len(window.map.samples_layer.rows)
        self.check("sampling from the selection put stars in the map", stars > 0, f"{stars} stars")

        # 5: click the best star that no other star overlaps (stars of near-copies can lie on each other)
        samples = state.samples
        rows = window.map.samples_layer.rows
        pixels = np.array([self.map_point(*window.map.samples_layer.position(int(r))) for r in rows], float)
        gaps = np.sqrt(((pixels[:, None] - pixels[None]) ** 2).sum(-1)) + np.eye(len(rows)) * 1e9
        acc = np.nan_to_num(samples["test_acc"][rows], nan=-1) - 10 * (gaps.min(1) < 14)
        best = int(rows[int(np.argmax(acc))])
        yield from self.click(*self.map_point(*window.map.samples_layer.position(best)))
        key = (str(samples["run"][best]), int(samples["index"][best]))
        yield 300
        chosen = window.generate.chosen_ids()
        self.check("a click on a star chooses that sample", key in chosen and best in state.chosen_samples,
                   f"{key} -> table {chosen}, ringed {state.chosen_samples}")
        xdotool("mousemove", str(screen.width() - 5), str(screen.height() - 5))   # no hover ring in the picture
        yield 600
        final = self.shot("3-sampled")
        shutil.copy(final, self.out / f"{self.name}.png")
        self.check("screenshots written", final.exists(), str(self.out / f"{self.name}.png"))

        # 6: the tour beside the map
        yield from self.click(*self.centre(window.toolbar.widgetForAction(window.act_tour)))
        yield 800
        dock = window.findChild(QtWidgets.QDockWidget, "tourDock")
        canvas = window.map.canvas

        def global_rect(widget):
            return QtCore.QRect(widget.mapToGlobal(QtCore.QPoint(0, 0)), widget.size())

        self.check("the quick tour opens beside the map, not over it",
                   dock is not None and dock.isVisible() and not global_rect(dock).intersects(global_rect(canvas)),
                   f"map {canvas.width()}x{canvas.height()} px")
        xdotool("mousemove", str(screen.width() - 5), str(screen.height() - 5))
        yield 400
        self.shot("4-tour")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--name", default="window")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    from PySide6 import QtCore

    from hyperviz.app import _tear_down, make_app
    from hyperviz.model.workspace import writable_demo
    from hyperviz.ui.main_window import MainWindow
    from hyperviz.ui.resources import DEMO_DIR
    from hyperviz.ui.settings import Settings

    app = make_app(sys.argv[:1])
    scratch = Path(tempfile.mkdtemp(prefix="hyperviz-real-window-"))
    settings = Settings(QtCore.QSettings(str(scratch / "settings.ini"), QtCore.QSettings.Format.IniFormat))
    demo = writable_demo(DEMO_DIR, scratch / "demo")         # sampling writes a run: never into the bundled demo
    window = MainWindow(settings=settings, demo_path=demo)
    window.interactive_errors = False
    window.showMaximized()                                   # no workspace: the start page
    driver = Driver(app, window, args.out, args.name, args.timeout)
    status = driver.run()
    window.runner.cancel_all()
    _tear_down(app, window)
    shutil.rmtree(scratch, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
