"""Start the desktop app: ``python main.py [WORKSPACE]`` (or ``--smoke`` for a headless check).

Heavy imports (torch, umap, h5py through core) happen in a background job after the window is
shown, so the window appears in about a second and the map as soon as the workspace is read.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

log = logging.getLogger("hyperviz")
_T0 = time.perf_counter()


def process_age() -> float:
    """Seconds since this process started (Linux: from /proc; elsewhere: since this module loaded)."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/self/stat") as f:
            start = float(f.read().rsplit(")", 1)[1].split()[19]) / ticks
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start)
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _T0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="main.py", description="hyperviz: explore model zoos through "
                                     "hyper-representations of their weights.")
    parser.add_argument("workspace", nargs="?", help="workspace file to open (default: the bundled demo)")
    parser.add_argument("--smoke", action="store_true",
                        help="open offscreen, load, render once, print one JSON line and exit")
    parser.add_argument("--timeout", type=float, default=120.0, help="--smoke: give up after this many seconds")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def make_app(argv: list[str]):
    """The QApplication with hyperviz's names, style and icon."""
    import pyqtgraph as pg
    from PySide6 import QtWidgets

    from hyperviz.ui.resources import icon, stylesheet

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(argv)
    app.setOrganizationName("hyperviz")
    app.setApplicationName("hyperviz")
    app.setApplicationDisplayName("hyperviz")
    app.setStyle("Fusion")
    app.setStyleSheet(stylesheet())
    app.setWindowIcon(icon("hyperviz"))
    pg.setConfigOptions(antialias=True, foreground="#444444", background="w")
    return app


def _install_excepthook(window) -> None:
    """Bugs in slots become a message in the window instead of ending the program."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, value, tb)
            return
        from core.errors import HyperVizError

        if issubclass(kind, HyperVizError):             # a problem with a file or value: its one line
            try:
                window.show_error("Error", str(value))
                return
            except Exception:
                pass
        log.error("unexpected error", exc_info=(kind, value, tb))
        try:
            window.show_error("Unexpected error", f"{kind.__name__}: {value}")
        except Exception:
            previous(kind, value, tb)

    sys.excepthook = hook


def default_workspace() -> Path | None:
    """A writable copy of the bundled demo workspace (None when assets/demo is missing)."""
    from PySide6 import QtCore

    from hyperviz.model.workspace import writable_demo
    from hyperviz.ui.resources import DEMO_DIR, DEMO_WORKSPACE

    if not DEMO_WORKSPACE.exists():
        return None
    data = QtCore.QStandardPaths.writableLocation(QtCore.QStandardPaths.StandardLocation.GenericDataLocation)
    try:
        return writable_demo(DEMO_DIR, (Path(data) if data else Path.home()) / "hyperviz" / "demo")
    except OSError as exc:
        log.warning("cannot copy the demo (%s); opening it in place", exc)
        return DEMO_WORKSPACE


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.smoke:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6 import QtCore

    app = make_app(sys.argv[:1])
    from hyperviz.ui.main_window import MainWindow
    from hyperviz.ui.settings import Settings

    settings = None
    if args.smoke:       # leave the user's preferences and layout alone
        import tempfile

        ini = Path(tempfile.mkdtemp(prefix="hyperviz-smoke-")) / "settings.ini"
        settings = Settings(QtCore.QSettings(str(ini), QtCore.QSettings.Format.IniFormat))
    if args.workspace and not args.smoke and not Path(args.workspace).is_file():
        path = Path(args.workspace)         # nothing to open and no window to return to: say so, exit non-zero
        cannot_open(path, f"{path}: no such file" if not path.exists() else f"{path}: not a file")
        return 2
    demo = default_workspace()
    window = MainWindow(settings=settings, demo_path=demo)
    _install_excepthook(window)
    window.show()
    shown_at = process_age()
    path = Path(args.workspace) if args.workspace else demo
    if args.smoke:
        if path is not None:
            QtCore.QTimer.singleShot(0, lambda: window.open_workspace(path))
        return _smoke(app, window, shown_at, args.timeout, path)
    if path is None:             # the start page offers the rest
        window.start_page.show_problem("The bundled demo is missing: run `hyperviz demo build`, or open a workspace.")
        window.act_demo.setEnabled(False)
        status = app.exec()
    else:
        status = _open_first(app, window, path)
    _tear_down(app, window)
    return status


def cannot_open(path: Path, message: str, parent=None) -> None:
    """Say that ``path`` could not be opened: on stderr and in a message box whose title fits (the path and
    the reason are in its text)."""
    from PySide6 import QtWidgets

    first = message.splitlines()[0] if message else "unknown error"
    print(f"error: {first}", file=sys.stderr, flush=True)
    box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Critical, "hyperviz",
                                f"<b>Could not open {path.name}</b>", QtWidgets.QMessageBox.StandardButton.Close,
                                parent)
    box.setInformativeText(f"{first}\n\n{path}")
    if "\n" in message:
        box.setDetailedText(message)
    box.setMinimumWidth(420)
    box.exec()


def _open_first(app, window, path: Path) -> int:
    """Open the workspace named on the command line. When it cannot be opened there is no window to return
    to: say why and exit with status 2 (a later failed open, from the File menu, only shows a message)."""
    from PySide6 import QtCore

    outcome = {"status": None}
    interactive = window.interactive_errors
    window.interactive_errors = False       # this open's failure gets one message box, below

    def failed(message: str) -> None:
        window.interactive_errors = interactive
        window.load_failed.disconnect(failed)
        window.loaded.disconnect(loaded)
        outcome["status"] = 2
        window.hide()
        cannot_open(path, message)
        app.exit(2)

    def loaded(_session) -> None:
        window.interactive_errors = interactive
        window.load_failed.disconnect(failed)
        window.loaded.disconnect(loaded)

    window.load_failed.connect(failed)
    window.loaded.connect(loaded)
    QtCore.QTimer.singleShot(0, lambda: window.open_workspace(path))
    status = app.exec()
    return outcome["status"] or status


def _smoke(app, window, shown_at: float, timeout: float, path) -> int:
    """Wait for the map, render it once, print one JSON line; exit 0 on success."""
    from PySide6 import QtCore

    window.interactive_errors = False
    result: dict = {"workspace": str(path), "window_shown_s": round(shown_at, 3)}
    code = {"value": 1}

    def loaded(_session) -> None:
        window.map.canvas.grab()                   # one full render of the map
        result.update(time_to_map_s=round(process_age(), 3), points=int(window.state.n),
                      projection=window.state.projection, colour_by=window.state.colour_by,
                      samples=int(len(window.state.samples.get("run", []))), ok=True)
        code["value"] = 0
        app.exit(0)

    def failed(message: str) -> None:
        result.update(ok=False, error=message.splitlines()[0] if message else "failed")
        app.exit(1)

    def timed_out() -> None:
        result.update(ok=False, error=f"no map within {timeout} s")
        app.exit(2)

    window.loaded.connect(loaded)
    window.load_failed.connect(failed)
    QtCore.QTimer.singleShot(int(timeout * 1000), timed_out)
    if path is None:
        failed("no workspace (the bundled demo is missing)")
    status = app.exec()
    window.runner.cancel_all()
    print(json.dumps(result), flush=True)
    _tear_down(app, window)
    return code["value"] if status == 0 else status


def _tear_down(app, window) -> None:
    """Close and delete the window while Qt is still alive (Python's own shutdown order can crash)."""
    from PySide6 import QtCore

    window.close()
    window.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    app.processEvents()
