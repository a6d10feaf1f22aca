"""The main window on a small synthetic workspace: colour, brushing (API and real mouse), ranges,
undo, bookmarks, filters, details, probes, figures, jobs and errors."""
import collections
import shutil

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from core.progress import Progress
from hyperviz.model.selection import Polygon, Range
from hyperviz.model.state import coord_columns
from hyperviz.ui.map_layers import FADED_OPACITY
from tests.hyperviz.ui.conftest import N_CKPT, N_MODELS

N = N_MODELS * N_CKPT


def data_box(state, lo=0.2, hi=0.7):
    """A box over the middle of the shown map, in data coordinates."""
    x, y = state.coords()
    return (np.quantile(x, lo), np.quantile(y, lo)), (np.quantile(x, hi), np.quantile(y, hi))


def viewport_pos(window, x, y) -> QtCore.QPoint:
    """Where data point (x, y) of the map is on the canvas viewport, in pixels."""
    scene = window.map.viewbox.mapViewToScene(QtCore.QPointF(x, y))
    return window.map.canvas.mapFromScene(scene)


def test_the_workspace_opens_with_its_map(window):
    state = window.state
    assert state.n == N and state.projection == "umap" and state.projections == ["umap", "pca"]
    assert len(window.map.base.data) == N and not window.map.overlay.data["visible"].any()
    assert window.windowTitle().startswith("ws.h5")
    assert window.statusBar().count_label.text() == f"0 / {N} selected"
    assert [b["name"] for b in state.bookmarks] == ["good"]
    assert window.toolbar.colour_combo.currentData() == "test_acc"
    assert window.map.colour_bar.isVisible() and not window.map.legend.isVisible()


def test_every_dock_and_toolbar_has_an_object_name(window):
    for widget in window.findChildren(QtWidgets.QDockWidget) + window.findChildren(QtWidgets.QToolBar):
        assert widget.objectName(), widget.windowTitle()


def test_colour_by_a_category_shows_a_legend(window, qtbot):
    combo = window.toolbar.colour_combo
    combo.setCurrentIndex(combo.findData("activation"))
    combo.activated.emit(combo.currentIndex())
    assert window.state.colour_by == "activation"
    assert window.map.coding.kind == "categorical" and window.map.coding.labels == ("gelu", "relu", "tanh")
    assert window.map.legend.isVisible() and not window.map.colour_bar.isVisible()
    codes = window.map.base.codes
    np.testing.assert_array_equal(codes, window.map.coding.codes)
    window.state.set_colour_by("epoch")
    assert window.map.coding.kind == "continuous" and window.map.colour_bar.isVisible()


def test_box_and_lasso_through_the_api(window):
    state, view = window.state, window.map
    (x0, y0), (x1, y1) = data_box(state)
    assert view.apply_gesture("box", [(x0, y0), (x1, y1)])
    expected = Polygon.box(*coord_columns("umap"), x0, y0, x1, y1).evaluate(state.table)
    np.testing.assert_array_equal(state.selected_mask, expected)
    assert 0 < expected.sum() < N
    np.testing.assert_array_equal(view.overlay.data["visible"], expected)     # the overlay shows the selection
    assert view.base.opacity() == pytest.approx(FADED_OPACITY)
    assert window.statusBar().count_label.text() == f"{expected.sum()} / {N} selected"
    assert window.selection_panel.count.text() == f"{expected.sum()} / {N}"

    lasso = [(x0, y0), (x1, y0), (x1, y1)]                     # a triangle: Ctrl subtracts it
    from hyperviz.model.brush import Modifiers

    assert view.apply_gesture("lasso", lasso, Modifiers(ctrl=True))
    triangle = Polygon(*coord_columns("umap"), tuple(lasso)).evaluate(state.table)
    np.testing.assert_array_equal(state.selected_mask, expected & ~triangle)
    assert not view.apply_gesture("lasso", [(x0, y0), (x1, y1)])      # degenerate: nothing changes
    window.act_undo.trigger()
    np.testing.assert_array_equal(state.selected_mask, expected)
    window.act_redo.trigger()
    np.testing.assert_array_equal(state.selected_mask, expected & ~triangle)
    window.act_clear.trigger()
    assert not state.has_selection and view.base.opacity() == 1.0


#: pyqtgraph's scene ignores a mouse move that follows the previous one within 1000 /
#: mouseRateLimit ms (10 ms by default); a test that sends moves back to back must wait this long.
MOVE_GAP_MS = 25


def test_a_real_mouse_drag_in_box_mode_selects(window, qtbot):
    state = window.state
    window.set_tool("box")
    assert window.tool_actions["box"].isChecked() and window.map.tool == "box"
    (x0, y0), (x1, y1) = data_box(state, 0.25, 0.75)
    start, end = viewport_pos(window, x0, y1), viewport_pos(window, x1, y0)
    viewport = window.map.canvas.viewport()
    qtbot.mousePress(viewport, QtCore.Qt.MouseButton.LeftButton, pos=start)
    for t in np.linspace(0.1, 1.0, 8):
        pos = QtCore.QPoint(int(start.x() + t * (end.x() - start.x())), int(start.y() + t * (end.y() - start.y())))
        event = QtGui_mouse_move(viewport, pos)
        QtWidgets.QApplication.sendEvent(viewport, event)
    qtbot.mouseRelease(viewport, QtCore.Qt.MouseButton.LeftButton, pos=end)
    selection = state.selection
    assert isinstance(selection, Polygon)
    (bx0, by0), _, (bx1, by1), _ = selection.vertices
    assert bx0 == pytest.approx(x0, abs=0.05 * (x1 - x0)) and by1 == pytest.approx(y1, abs=0.05 * (y1 - y0))
    inside = Polygon.box(*coord_columns("umap"), x0, y0, x1, y1).evaluate(state.table)
    assert abs(int(state.selected_mask.sum()) - int(inside.sum())) <= 3   # pixel rounding at the edges
    assert int(state.selected_mask.sum()) > 0
    # plain drag in pan mode moves the view and leaves the selection alone
    window.set_tool("pan")
    before = window.map.view_range()
    qtbot.mousePress(viewport, QtCore.Qt.MouseButton.LeftButton, pos=start)
    qtbot.wait(MOVE_GAP_MS)        # pyqtgraph drops moves closer than 1/mouseRateLimit to the last one
    QtWidgets.QApplication.sendEvent(viewport, QtGui_mouse_move(viewport, end))
    qtbot.mouseRelease(viewport, QtCore.Qt.MouseButton.LeftButton, pos=end)
    assert window.map.view_range() != before and state.selection is selection


def QtGui_mouse_move(widget, pos):
    from PySide6 import QtGui

    return QtGui.QMouseEvent(QtCore.QEvent.Type.MouseMove, QtCore.QPointF(pos), QtCore.QPointF(widget.mapToGlobal(pos)),
                             QtCore.Qt.MouseButton.NoButton, QtCore.Qt.MouseButton.LeftButton,
                             QtCore.Qt.KeyboardModifier.NoModifier)


def test_property_range_brush_and_its_display(window, qtbot):
    state, panel = window.state, window.properties
    qtbot.waitUntil(lambda: "test_acc" in panel.plots, timeout=5000)
    plot = panel.plots["test_acc"]
    plot.region.setRegion((0.6, plot.edges[-1]))               # drag the left edge in, release
    assert state.range_terms() == {"test_acc": (pytest.approx(0.6), None)}
    np.testing.assert_array_equal(state.selected_mask, Range("test_acc", 0.6, None).evaluate(state.table))
    epoch = panel.plots["epoch"]
    epoch.region.setRegion((2.5, 3.5))                          # integer property: exactly epoch 3
    assert state.range_terms()["epoch"] == (3.0, 3.0)
    assert set(state.table["epoch"][state.selected_mask]) == {3}
    window.state.undo()                                         # the epoch brush is undone; its region follows
    assert epoch.region.getRegion() == (epoch.edges[0], epoch.edges[-1])
    assert "≥ 0.6" in panel.titles["test_acc"].text
    sel_heights = plot.sel_bars.opts["height"]
    assert int(np.sum(sel_heights)) == int(state.selected_mask.sum())


def test_epoch_filter_hides_points(window):
    state = window.state
    window.toolbar.epoch_slider.set_range(2, 3, emit=True)
    assert state.filters == {"epoch": (2.0, 3.0)}
    assert int(window.map.base.data["visible"].sum()) == 2 * N_MODELS
    assert window.toolbar.epoch_label.text() == "2–3"
    state.brush_range("test_acc", None, None)
    state.select(Range("test_acc", 0, 1))
    assert window.state.count_label() == f"{2 * N_MODELS} / {2 * N_MODELS}"
    window.toolbar.epoch_slider.set_range(0, N_CKPT - 1, emit=True)
    assert state.filters == {} and window.toolbar.epoch_label.text() == "all"


def test_switching_maps_keeps_the_selection(window):
    state = window.state
    (x0, y0), (x1, y1) = data_box(state)
    window.map.apply_gesture("box", [(x0, y0), (x1, y1)])
    mask = state.selected_mask.copy()
    combo = window.toolbar.projection_combo
    combo.setCurrentIndex(combo.findData("pca"))
    combo.activated.emit(combo.currentIndex())
    assert state.projection == "pca"
    np.testing.assert_array_equal(window.map.base.data["x"], state.table["pca_x"])
    np.testing.assert_array_equal(state.selected_mask, mask)     # the polygon is over the UMAP columns
    overlay = window.map.overlay.data
    np.testing.assert_array_equal(np.sort(overlay["x"][overlay["visible"]]), np.sort(state.table["pca_x"][mask]))


def test_click_focuses_a_model_and_shows_its_details(window, qtbot):
    state = window.state
    x, y = state.coords()
    row = int(np.argmax(state.table["test_acc"]))
    pos = viewport_pos(window, x[row], y[row])
    qtbot.mouseClick(window.map.canvas.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=pos)
    assert state.current is not None
    hit = state.current
    assert abs(x[hit] - x[row]) + abs(y[hit] - y[row]) < 0.05 * (np.ptp(x) + np.ptp(y))
    model = int(state.table["model"][hit])
    assert state.table["model_id"][hit] in window.details.header.text()
    assert len(window.map.trajectory.getData()[0]) == N_CKPT
    xs, ys = window.details.curves["test_acc"].getData()
    assert len(xs) == N_CKPT
    assert window.details.weights.ci.layout.count() == 4            # one histogram per weight layer
    assert "epoch" in window.map.tooltip(hit) and "activation" in window.map.tooltip(hit)
    assert state.rows_of_model(model).tolist() == sorted(state.rows_of_model(model).tolist(), key=lambda r: state.table["epoch"][r])


def test_bookmark_round_trip_through_the_window(window, tmp_path, settings, qtbot):
    state = window.state
    state.set_colour_by("init")
    state.brush_range("test_acc", 0.5, None)
    window.toolbar.epoch_slider.set_range(1, 4, emit=True)
    window.map.set_view_range([[-1, 1], [-2, 2]])
    bookmark = state.add_bookmark("lecture", window.map.view_range())
    mask = state.selected_mask.copy()
    path = state.save_bookmarks(tmp_path / "bm.json")
    window.act_clear.trigger()
    window.toolbar.epoch_slider.set_range(0, N_CKPT - 1, emit=True)
    state.set_colour_by("test_acc")
    state.remove_bookmark("lecture")
    assert "lecture" not in [b["name"] for b in state.bookmarks]

    state.load_bookmarks(path)
    items = window.selection_panel.bookmark_list.findItems("lecture", QtCore.Qt.MatchFlag.MatchExactly)
    window.selection_panel.bookmark_list.itemActivated.emit(items[0])
    np.testing.assert_array_equal(state.selected_mask, mask)
    assert state.colour_by == "init" and window.toolbar.epoch_label.text() == "1–4"
    (vx0, vx1), _ = window.map.view_range()
    assert (vx0, vx1) == pytest.approx(tuple(bookmark["view_range"][0]), abs=1e-6)


#: Every view that redraws from the state, by its one redraw entry ``refresh(changed)``.
def _view_classes():
    from hyperviz.ui import map_layers, map_overlays
    from hyperviz.ui.details_panel import DetailsPanel
    from hyperviz.ui.generate_panel import GeneratePanel
    from hyperviz.ui.neighbours_list import NeighboursList
    from hyperviz.ui.property_panel import PropertyPanel
    from hyperviz.ui.selection_panel import SelectionPanel
    from hyperviz.ui.status_bar import MainStatusBar

    layers = [map_layers.StatesLayer, map_layers.SelectionLayer, map_layers.SamplesLayer, map_layers.FocusLayer,
              map_layers.HoverLayer, map_layers.ColourKeyLayer, map_layers.TitleLayer, map_overlays.ChosenSamplesLayer,
              map_overlays.MarkerKeyLayer, map_overlays.DensityLayer]
    return layers + [PropertyPanel, SelectionPanel, GeneratePanel, DetailsPanel, NeighboursList, MainStatusBar]


@pytest.fixture
def redraws(monkeypatch):
    """How often each view redrew, by view; requested before ``window``, so it counts the window's views."""
    counts = collections.Counter()
    for cls in _view_classes():
        def counting(self, changed, original=cls.refresh):
            counts[self] += 1
            return original(self, changed)

        monkeypatch.setattr(cls, "refresh", counting)
    return counts


def test_applying_a_bookmark_redraws_each_view_once(redraws, window):
    state = window.state
    bookmark = {"name": "b", "projection": "pca", "colour_by": "activation", "filters": {"epoch": [1, 4]},
                "selection": Range("test_acc", 0.5, None).to_dict(), "view_range": [[-1, 1], [-2, 2]]}
    emitted = collections.Counter()
    for name in (*state.signals.ASPECTS, "changed", "view"):
        getattr(state.signals, name).connect(lambda *_args, name=name: emitted.update([name]))
    views = [*window.map.layers, window.properties, window.selection_panel, window.generate, window.details,
             window.details.neighbours, window.statusBar()]
    assert {type(view) for view in views} == set(_view_classes())
    redraws.clear()
    state.apply_bookmark(bookmark)
    assert emitted == {"projection": 1, "colour": 1, "filters": 1, "selection": 1, "changed": 1, "view": 1}
    changed = {"projection", "colour", "filters", "selection"}
    expected = {type(view).__name__: int(bool(changed & set(view.WATCHES))) for view in views}
    assert {type(view).__name__: redraws[view] for view in views} == expected
    assert expected["StatesLayer"] == expected["PropertyPanel"] == 1 and expected["DetailsPanel"] == 0
    # ... and what they drew once is the bookmark
    assert window.toolbar.projection_combo.currentData() == "pca" and window.toolbar.colour_combo.currentData() == "activation"
    assert window.toolbar.epoch_label.text() == "1–4" and window.map.coding.column == "activation"
    np.testing.assert_array_equal(window.map.overlay.data["visible"], state.selected_mask)
    np.testing.assert_array_equal(window.map.base.data["x"], state.table["pca_x"])
    assert window.map.view_range()[0] == pytest.approx([-1, 1], abs=1e-6)


def test_export_figure_png_and_svg(window, tmp_path):
    for name in ("map.png", "map.svg"):
        window.export_figure(str(tmp_path / name))
        assert (tmp_path / name).stat().st_size > 1000
    assert (tmp_path / "map.svg").read_text().lstrip().startswith("<?xml")


def test_presentation_mode_enlarges_markers_and_fonts(window):
    size = window.map.base.data["size"][0]
    font = QtWidgets.QApplication.font().pointSizeF()
    window.act_presentation.trigger()
    assert window.map.base.data["size"][0] > size * 1.4
    assert QtWidgets.QApplication.font().pointSizeF() > font * 1.3
    window.act_presentation.trigger()
    assert window.map.base.data["size"][0] == size
    assert QtWidgets.QApplication.font().pointSizeF() == pytest.approx(font)


def test_probes_run_in_the_background(window, qtbot):
    panel = window.probes
    panel.compute()
    with qtbot.waitSignal(panel.handle.done, timeout=120_000):
        pass
    assert panel.handle.outcome == "finished", panel.handle.message
    assert panel.table.rowCount() >= 3
    names = [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())]
    assert "test_acc" in names
    panel.table.selectRow(names.index("test_acc"))
    assert len(panel.points["hyperrep"].getData()[0]) > 0
    d = panel.differences["test_acc"]                            # hyper-rep minus s(W), with its interval
    assert d is not None and d.low <= d.high
    assert f"{d.diff:+.3f}" in panel.table.item(names.index("test_acc"), 1).toolTip()
    assert "Paired bootstrap over" in panel.status.text()
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    trees = headers.index("trees")
    assert panel.table.item(0, trees).text() == "–"                   # not asked for
    assert panel.points["sw_trees"].getData()[0] is None or len(panel.points["sw_trees"].getData()[0]) == 0


def test_probes_with_the_tree_ceiling(window, qtbot):
    panel = window.probes
    panel.ceiling.setChecked(True)
    panel.compute()
    with qtbot.waitSignal(panel.handle.done, timeout=120_000):
        pass
    assert panel.handle.outcome == "finished", panel.handle.message
    result = panel.results["test_acc"]["sw_trees"]
    assert result.applicable and result.penalty_name == "rounds"
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    names = [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())]
    row = names.index("test_acc")
    assert panel.table.item(row, headers.index("trees")).text() == f"{result.score:.3f}"
    panel.table.selectRow(row)
    assert len(panel.points["sw_trees"].getData()[0]) == result.n_test


def test_probes_on_the_selected_states_only(window, qtbot):
    panel, state = window.probes, window.state
    panel.subset.setCurrentText("the selected states")
    panel.compute()                                               # nothing selected: a hint, no job
    assert panel.handle is None and "No model states" in panel.status.text()
    full = dict(zip(*np.unique(state.table["split"], return_counts=True)))["test"]
    state.select(Range("epoch", 1, None))
    n = int(state.selected_mask.sum())
    assert 0 < n < state.n
    panel.compute()
    with qtbot.waitSignal(panel.handle.done, timeout=120_000):
        pass
    assert panel.handle.outcome == "finished", panel.handle.message
    result = panel.results["test_acc"]["hyperrep"]
    tested = state.table["epoch"][result.test_rows]
    assert result.n_test < full and tested.min() >= 1                # only selected test states were probed
    assert f"the selected states ({n:,})" in panel.status.text()


def test_a_cancelled_job_leaves_the_workspace_as_it_was(window, qtbot):
    state, ws = window.state, window.session.ws
    before = (state.n, dict(ws.projections), state.selection)
    written = []

    def slow_job(cancel):
        for i in range(500):
            yield Progress(i, 500, "working")
            QtCore.QThread.msleep(10)
        written.append(True)                     # a real job stores its result only here

    handle = window.context.start_job("slow", slow_job, on_finished=lambda _r: window.reload_workspace())
    assert window.statusBar().job_cancel.isVisible()
    with qtbot.waitSignal(handle.progress, timeout=10_000):
        pass
    window.statusBar().job_cancel.click()
    with qtbot.waitSignal(handle.cancelled, timeout=10_000):
        pass
    assert written == [] and (state.n, dict(ws.projections), state.selection) == before
    qtbot.waitUntil(lambda: not window.statusBar().job_cancel.isVisible(), timeout=5000)


def test_computing_a_pca_map_reloads_and_keeps_the_selection(window, qtbot, tmp_path, workspace_path):
    for name in ("ws.h5", "zoo.h5"):
        shutil.copy(workspace_path.parent / name, tmp_path / name)
    with qtbot.waitSignal(window.loaded, timeout=60_000):
        window.open_workspace(tmp_path / "ws.h5")
    window.state.brush_range("test_acc", 0.5, None)
    mask = window.state.selected_mask.copy()
    handle = window.jobs_menu.compute_projection("pca")
    with qtbot.waitSignal(window.loaded, timeout=60_000):
        pass
    assert handle.outcome == "finished"
    np.testing.assert_array_equal(window.state.selected_mask, mask)


def test_a_bad_file_is_a_message_not_a_crash(window, qtbot, tmp_path):
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"this is not HDF5")
    with qtbot.waitSignal(window.load_failed, timeout=30_000) as blocker:
        window.open_workspace(bad)
    assert "broken.h5" in blocker.args[0] and "not a readable workspace" in blocker.args[0]
    assert "Could not open" in window.statusBar().currentMessage()
    assert window.state.n == N                                   # what was shown stays shown


def test_layout_and_preferences_persist(window, settings, qtbot):
    from hyperviz.ui.main_window import MainWindow

    window.probe_dock.raise_()
    window.properties_dock.hide()
    window.act_presentation.trigger()
    window.act_presentation.trigger()
    window.close()
    assert settings.q.value("window/state") is not None
    again = MainWindow(settings=settings)
    qtbot.addWidget(again)
    again.show()
    assert not again.properties_dock.isVisible()
    assert settings.presentation() is False


def test_quick_tour_steps(window, qtbot):
    window.show_tour()
    tour = window.tour
    assert tour.title.text().startswith("1")
    tour.run_step()                                              # look: colour by accuracy, focus the best state
    assert window.state.colour_by == "test_acc" and window.state.current is not None
    tour.go(1)
    tour.run_step()                                              # brush: lasso tool and the "good" bookmark
    assert window.map.tool == "lasso" and window.state.has_selection
    tour.go(3)
    assert not tour.next_button.isEnabled()
    tour.close_button.click()
    assert not window.findChild(QtWidgets.QDockWidget, "tourDock").isVisible()


def test_training_job_shows_its_loss_and_opens_the_new_workspace(window, qtbot, tmp_path, workspace_path):
    from hyperviz.model import jobs

    out = tmp_path / "trained.h5"
    zoo = str(workspace_path.parent / "zoo.h5")
    window.training.start("training")
    handle = window.context.start_job("Train autoencoder",
                                      lambda _c: jobs.train_workspace_job(zoo, str(out), "tiny", 2),
                                      on_progress=window.training.add, on_finished=lambda p: window.open_workspace(p),
                                      uses_torch=True)
    with qtbot.waitSignal(window.loaded, timeout=300_000):
        pass
    assert handle.outcome == "finished", handle.message
    assert len(window.training.losses) >= 1 and all(np.isfinite(window.training.losses))
    assert window.session.path == out and window.state.projections == ["pca"]
