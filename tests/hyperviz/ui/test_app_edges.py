"""The rough edges found in a real window (issue 11), each as the test that would have caught it."""
import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from hyperviz.model.selection import And, InSet, Range
from hyperviz.model.workspace import SAMPLE_METRICS
from tests.hyperviz.ui.conftest import N_CKPT, N_MODELS
from tests.hyperviz.ui.test_main_window import MOVE_GAP_MS, QtGui_mouse_move, viewport_pos

N = N_MODELS * N_CKPT


def fake_samples(state, k=3):
    """``k`` sampled models placed exactly on states 0..k-1 (so a star lies over a training state)."""
    samples = {"run": np.array(["r002_kde"] * k), "index": np.arange(k), "method": np.array(["kde"] * k)}
    for method in state.projections:
        x, y = state.coords(method)
        samples[f"{method}_x"], samples[f"{method}_y"] = x[:k].astype(float), y[:k].astype(float)
    for name in SAMPLE_METRICS:
        samples[name] = np.linspace(0.5, 0.9, k)
    samples["anchor_state"] = np.zeros(k)
    samples["finetune_acc"] = np.full(k, np.nan)
    return samples


def mouse_drag(qtbot, widget, start, end, steps=6):
    qtbot.mousePress(widget, QtCore.Qt.MouseButton.LeftButton, pos=start)
    qtbot.wait(MOVE_GAP_MS)
    for t in np.linspace(1 / steps, 1.0, steps):
        pos = QtCore.QPoint(int(start.x() + t * (end.x() - start.x())), int(start.y() + t * (end.y() - start.y())))
        QtWidgets.QApplication.sendEvent(widget, QtGui_mouse_move(widget, pos))
    qtbot.mouseRelease(widget, QtCore.Qt.MouseButton.LeftButton, pos=end)


# ---- 1: the hover ring ---------------------------------------------------------------------------

def test_the_hover_ring_goes_with_its_map_and_stays_out_of_bounds_and_figures(window, tmp_path):
    view = window.map
    x, y = window.state.coords()
    far = (float(x.max()) * 50, float(y.max()) * 50)
    view.hover_layer.show_at(*far)                   # a ring far away (as after hovering on another map)
    view.reset_view()
    (x0, x1), _ = view.view_range()
    assert x1 < far[0], "the hover ring widened the framed map"
    view.hover_layer.show_at(x[0], y[0])
    window.state.set_projection("pca")
    assert len(view.hover_layer.marker.data) == 0
    view.hover_layer.show_at(x[0], y[0])
    view.export_figure(str(tmp_path / "map.png"))
    assert len(view.hover_layer.marker.data) == 0                  # not drawn into the figure


# ---- 2: a click on a star ------------------------------------------------------------------------

def test_a_click_on_a_star_chooses_the_sample_not_the_state_under_it(window, qtbot):
    state = window.state
    state.set_samples(fake_samples(state))
    x, y = state.coords()
    window.show_dock(window.details_dock)
    pos = viewport_pos(window, x[1], y[1])
    qtbot.mouseClick(window.map.canvas.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=pos)
    assert state.current is None                                   # not the training state under the star
    assert window.generate.chosen_ids() == [("r002_kde", 1)]
    assert not window.generate_dock.visibleRegion().isEmpty()      # the Generate tab is in front


# ---- 7: the tooltip stays -----------------------------------------------------------------------

def test_the_tooltip_survives_the_views_own_tooltip_event(window, qtbot):
    viewport = window.map.canvas.viewport()
    event = QtGui.QHelpEvent(QtCore.QEvent.Type.ToolTip, QtCore.QPoint(10, 10), viewport.mapToGlobal(QtCore.QPoint(10, 10)))
    assert window.map.eventFilter(viewport, event) is True          # eaten: the view would hide our tooltip


# ---- 6, 10, 12: histograms and bars ------------------------------------------------------------

def test_a_drag_across_a_histogram_brushes_a_new_rounded_range(window, qtbot):
    state, panel = window.state, window.properties
    qtbot.waitUntil(lambda: "test_acc" in panel.plots, timeout=5000)
    plot = panel.plots["test_acc"]
    assert not plot.region.isVisible()                  # no invisible full-width region to move
    canvas = panel.canvas
    panel.ensureWidgetVisible(canvas)
    rect = plot.view.sceneBoundingRect()
    start = canvas.mapFromScene(QtCore.QPointF(rect.left() + 0.55 * rect.width(), rect.center().y()))
    end = canvas.mapFromScene(QtCore.QPointF(rect.left() + 0.85 * rect.width(), rect.center().y()))
    mouse_drag(qtbot, canvas.viewport(), start, end)
    lo, hi = state.range_terms()["test_acc"]
    assert lo is not None and hi is not None and lo < hi
    assert lo == round(lo, 3) and hi == round(hi, 3)
    assert len(state.describe_selection()) < 40 and "test_acc" in state.describe_selection()


def test_few_valued_numbers_are_bars_and_a_bar_click_ands_with_a_bookmark(window, qtbot):
    state, panel = window.state, window.properties
    qtbot.waitUntil(lambda: "activation" in panel.plots, timeout=5000)
    from hyperviz.ui.property_panel import CategoryBars

    for column in ("lr", "dropout", "activation", "init"):
        assert isinstance(panel.plots[column], CategoryBars), column
    labels = [label.toPlainText() for label in panel.plots["init"].labels]
    assert labels == ["kaiming_normal", "uniform"]
    tops = [label.sceneBoundingRect() for label in panel.plots["init"].labels]
    assert not tops[0].intersects(tops[1])                            # one row each: no overlap
    state.apply_bookmark(state.bookmarks[0])                          # test_acc >= 0.8
    bars = panel.plots["activation"]
    rect = bars.view.sceneBoundingRect()
    row = list(bars.values).index("relu")
    scene = bars.view.mapViewToScene(QtCore.QPointF(1, row))
    qtbot.mouseClick(panel.canvas.viewport(), QtCore.Qt.MouseButton.LeftButton,
                     pos=panel.canvas.mapFromScene(QtCore.QPointF(rect.left() + 20, scene.y())))
    assert state.selection == And(Range("test_acc", 0.8, None), InSet("activation", ("relu",)))
    expected = (state.table["test_acc"] >= 0.8) & (state.table["activation"] == "relu")
    np.testing.assert_array_equal(state.selected_mask, expected)


def test_wide_ranging_values_get_a_log_axis(qtbot):
    from hyperviz.ui.property_panel import PropertyHistogram

    values = np.geomspace(1e-5, 1e-1, 40)
    plot = PropertyHistogram("lr", values, lambda *a: None)
    assert plot.log and plot.axis.logMode
    plot.region.setRegion((-4, -2))
    assert plot.chosen_range() == (pytest.approx(1e-4), pytest.approx(1e-2))



def test_a_log_axis_labels_decades_not_every_multiple(qtbot):
    """The demo's test_loss (1e-3..6) in a narrow histogram: pyqtgraph labelled 0.001, 0.002, ...
    0.009, 0.02, ... 6, and the labels ran together. Decades are labelled; other multiples are not."""
    from hyperviz.ui.property_panel import PropertyHistogram

    plot = PropertyHistogram("test_loss", np.geomspace(1e-3, 6, 60), lambda *a: None)
    narrow = [(0.5, [-3.0, -2.5, -2.0]), (0.1, list(np.arange(-3, 0.8, 0.1)))]      # no whole-decade spacing
    levels = plot.axis.logTickValues(-3.0, np.log10(6), 190, narrow)
    assert levels[0][1] == [-3.0, -2.0, -1.0, 0.0] and plot.axis.style["maxTextLevel"] == 0
    assert len(levels[1][1]) > 20                                          # unlabelled minor ticks
    one_decade = plot.axis.logTickValues(-0.9, 0.35, 190, narrow)[0][1]    # 0.13..2.2: only 1 is a decade, so 2x, 5x too
    assert np.allclose(sorted(10 ** np.array(one_decade)), [0.2, 0.5, 1.0, 2.0])


# ---- 5, 13: the selection dock --------------------------------------------------------------------

def test_the_selection_reads_as_one_rounded_sentence_and_nothing_overlaps(window, qtbot):
    state, panel = window.state, window.selection_panel
    state.brush_range("test_acc", 0.8332060086924182, None)
    x, y = state.coords()
    window.map.apply_gesture("box", [(float(np.quantile(x, 0.1)), float(np.quantile(y, 0.1))),
                                     (float(np.quantile(x, 0.9)), float(np.quantile(y, 0.9)))])
    text = panel.description.text()
    assert text == "a box on the UMAP map and test_acc ≥ 0.833"             # both, AND, rounded
    assert "0.83320" not in text and panel.description.wordWrap()
    qtbot.wait(20)
    # nothing drawn over anything: the widgets of the panel follow each other down the page
    widgets = [panel.count, panel.description, panel.stats, panel.bookmark_list]
    bottoms = [w.mapTo(panel, QtCore.QPoint(0, 0)).y() + w.height() for w in widgets]
    tops = [w.mapTo(panel, QtCore.QPoint(0, 0)).y() for w in widgets]
    assert all(bottom <= top + 1 for bottom, top in zip(bottoms, tops[1:])), (tops, bottoms)
    assert panel.stats.height() >= panel.stats.rowCount() * panel.stats.rowHeight(0)


def test_the_statistics_show_mean_and_min_max_and_dashes_when_empty(window):
    state, stats = window.state, window.selection_panel.stats
    headers = [stats.horizontalHeaderItem(j).text() for j in range(stats.columnCount())]
    assert headers == ["", "selected mean", "min – max", "all shown"]
    assert [stats.item(0, j).text() for j in (1, 2)] == ["–", "–"]            # nothing selected
    state.brush_range("test_acc", 0.5, 0.9)
    row = [stats.item(i, 0).text() for i in range(stats.rowCount())].index("test_acc")
    acc = state.table["test_acc"][state.selected_mask]
    lo, hi = stats.item(row, 2).text().split(" – ")
    assert float(lo) == pytest.approx(acc.min(), abs=1e-3) and float(hi) == pytest.approx(acc.max(), abs=1e-3)
    assert float(stats.item(row, 1).text()) == pytest.approx(acc.mean(), abs=1e-3)


# ---- 3: reset layout ------------------------------------------------------------------------------

def layout_of(window):
    docks = (window.properties_dock, window.selection_dock, window.details_dock, window.generate_dock,
             window.probe_dock, window.jobs_dock, window.training_dock)
    return {d.objectName(): (window.dockWidgetArea(d), d.isFloating(), d.isVisibleTo(window),
                             sorted(t.objectName() for t in window.tabifiedDockWidgets(d))) for d in docks}


def test_reset_layout_brings_back_the_default_now_and_after_a_restart(window, settings, qtbot):
    from hyperviz.ui.main_window import MainWindow

    qtbot.wait(50)
    default = layout_of(window)
    widths = (window.properties_dock.width(), window.selection_dock.width())
    window.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, window.properties_dock)
    window.selection_dock.setFloating(True)
    window.probe_dock.hide()
    window.resizeDocks([window.details_dock], [700], QtCore.Qt.Orientation.Horizontal)
    assert layout_of(window) != default
    window.act_reset_layout.trigger()
    qtbot.wait(50)
    assert layout_of(window) == default
    assert window.properties_dock.width() == pytest.approx(widths[0], abs=12)
    assert window.selection_dock.width() == pytest.approx(widths[1], abs=12)
    window.close()
    again = MainWindow(settings=settings)
    qtbot.addWidget(again)
    again.show()
    qtbot.wait(50)
    assert layout_of(again) == default


# ---- 8: presentation mode -------------------------------------------------------------------------

def test_presentation_mode_is_full_screen_and_gives_the_layout_back_exactly(window, qtbot):
    qtbot.wait(50)
    geometry, state, map_width = window.saveGeometry(), window.saveState(), window.map.width()
    size = window.map.base.data["size"][0]
    window.act_presentation.trigger()
    qtbot.wait(50)
    assert window.isFullScreen() and window.presenting
    assert window.map.base.data["size"][0] > size * 1.4
    window.act_presentation.trigger()
    qtbot.wait(50)
    assert not window.isFullScreen()
    assert window.saveState() == state and window.saveGeometry() == geometry
    assert window.map.width() == map_width
    assert window.probes.plot.minimumHeight() >= 150              # the probe plot never shrinks to a strip


# ---- 4, 9: a finished training job ----------------------------------------------------------------

def test_a_finished_fit_asks_before_replacing_what_is_shown(window, qtbot, monkeypatch, workspace_path):
    box = QtWidgets.QMessageBox
    asked = []
    answer = {"button": box.StandardButton.Cancel}
    monkeypatch.setattr(box, "question", staticmethod(lambda _p, title, text, *a, **k: asked.append(text) or
                                                      answer["button"]))
    state = window.state
    state.brush_range("test_acc", 0.5, None)
    selection, session = state.selection, window.session
    started = []
    window.runner.started.connect(started.append)
    window.jobs_menu.fit_finished(workspace_path)
    assert len(asked) == 1 and "selection" in asked[0] and "test_acc ≥ 0.5" in asked[0]
    assert started == [] and window.session is session and state.selection == selection   # nothing dropped
    assert window.training.open_button.isVisibleTo(window.training)                          # still offered
    answer["button"] = box.StandardButton.Open
    with qtbot.waitSignal(window.loaded, timeout=60_000):
        window.jobs_menu.fit_finished(workspace_path)
    assert window.generate.status.text() == ""                 # no report of the old workspace's run


def test_the_loss_plot_is_tall_enough_and_grows_while_the_job_runs(window):
    from core.progress import Progress

    panel = window.training
    window.show_dock(window.training_dock)
    panel.start("training")
    assert panel.plot.minimumHeight() >= 150
    panel.add(Progress(10, 100, "epoch 1/10", {"loss": 0.9}))
    assert len(panel.curve.getData()[0]) == 1                    # a point at once, not at the end
    panel.add(Progress(10, 100, "epoch 1/10 saved", {"loss": 0.85}))   # the same step again: no new point
    panel.add(Progress(20, 100, "epoch 2/10 saved", {"loss": 0.7}))    # an epoch whose step records were thinned
    assert list(panel.curve.getData()[1]) == [0.9, 0.7]
    assert panel.plot.getAxis("left").labelText == "loss"


# ---- 14: Build zoo / Import zoo ---------------------------------------------------------------

def test_a_cancelled_build_leaves_no_partial_file(tmp_path):
    from core.errors import Cancelled
    from core.progress import drive
    from hyperviz.model.jobs import build_zoo_job

    out = tmp_path / "zoo.h5"
    seen = []

    def cancel_after_first_chunk():
        return any(record.done > 0 for record in seen)

    with pytest.raises(Cancelled):
        drive(build_zoo_job(130, 1, "cnn", 0, str(out)), seen.append, cancel_after_first_chunk)
    assert seen and not out.exists() and not list(tmp_path.glob("*.partial"))


def test_a_cancelled_job_row_resets_its_bar(qtbot):
    from core.progress import Progress
    from hyperviz.ui.jobs import JobHandle
    from hyperviz.ui.jobs_panel import JobRow

    handle = JobHandle("Build zoo")
    row = JobRow(handle)
    qtbot.addWidget(row)
    handle._relay_progress(Progress(5, 10, "chunk 1/2"))
    assert row.bar.value() == 500
    handle._relay_outcome("cancelled", None)
    assert row.bar.value() == 0 and "cancelled" in row.message.text()


def test_import_starts_in_an_existing_folder_and_asks_for_an_arch_spec(qtbot, tmp_path):
    from hyperviz.ui.job_dialogs import ImportZooDialog, PathEdit

    dialog = ImportZooDialog(str(tmp_path / "not" / "there"), source="")
    qtbot.addWidget(dialog)
    values = dialog.values()
    assert __import__("pathlib").Path(values["src"]).is_dir()
    assert "arch_spec" in values and values["arch_spec"] is None
    dialog.arch_spec.edit.setText("/data/spec.json")
    assert dialog.values()["arch_spec"] == "/data/spec.json"
    edit = PathEdit("/home/someone/a/very/long/folder/name/that/goes/on/and/on/for/ever/zoos/imported-zoo.h5")
    qtbot.addWidget(edit)
    edit.resize(220, 28)
    shown = edit.shown_text()
    assert "…" in shown and shown.startswith("/home") and shown.endswith("imported-zoo.h5")


# ---- 15: main.py with a path that cannot be opened -------------------------------------------

@pytest.mark.parametrize("kind", ["missing", "not a workspace"])
def test_main_with_a_bad_path_says_why_and_exits_non_zero(kind, qtbot, monkeypatch, tmp_path, capsys):
    from PySide6 import QtCore

    import hyperviz.app as app_module
    import hyperviz.ui.main_window as main_window
    from hyperviz.ui.settings import Settings

    ini = str(tmp_path / "settings.ini")
    monkeypatch.setattr(main_window, "Settings", lambda: Settings(QtCore.QSettings(ini, QtCore.QSettings.Format.IniFormat)))
    monkeypatch.setattr(app_module, "default_workspace", lambda: None)
    monkeypatch.setattr(app_module, "_tear_down", lambda app, window: window.close())
    boxes = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "exec", lambda box: boxes.append(
        (box.windowTitle(), box.text(), box.informativeText())) or 0)
    path = tmp_path / "nope.h5"
    if kind != "missing":
        path.write_text("not a workspace")
    status = app_module.main([str(path)])
    assert status == 2
    assert len(boxes) == 1
    title, text, info = boxes[0]
    assert title == "hyperviz" and "Could not open nope.h5" in text and str(path) in info
    assert "error:" in capsys.readouterr().err


# ---- 11: the right column at common screen sizes --------------------------------------------

@pytest.mark.parametrize("size", [(1600, 1000), (1366, 768)])
def test_the_right_column_is_not_cramped(window, qtbot, size):
    window.resize(*size)
    qtbot.wait(50)
    window._default_sizes()
    state = window.state
    state.set_samples(fake_samples(state, 12))
    state.brush_range("test_acc", 0.5, None)
    window.show_dock(window.generate_dock)
    qtbot.wait(50)
    table = window.generate.table
    assert not table.horizontalScrollBar().isVisible()
    assert table.viewport().height() >= 5 * table.rowHeight(0), size
    stats = window.selection_panel.stats
    assert stats.height() >= (stats.rowCount() + 1) * stats.rowHeight(0)
    assert window.map.width() >= 0.5 * size[0]


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_the_bookmarks_fit_or_scroll_and_nothing_overlaps(window, qtbot, size):
    window.resize(*size)
    qtbot.wait(50)
    window._default_sizes()
    state, panel = window.state, window.selection_panel
    for i in range(14):
        state.add_bookmark(f"bookmark {i}")
    qtbot.wait(50)
    listing, area = panel.bookmark_list, window.selection_dock.widget()
    row = listing.sizeHintForRow(0)
    assert listing.viewport().height() >= 3 * row                          # at least three rows show
    assert listing.verticalScrollBar().maximum() > 0                       # the rest: the list scrolls itself
    heading = panel.add_button.mapTo(panel, QtCore.QPoint(0, 0)).y() + panel.add_button.height()
    assert heading <= listing.mapTo(panel, QtCore.QPoint(0, 0)).y()        # buttons above the list, not over it
    area.ensureWidgetVisible(listing)
    assert not listing.visibleRegion().isEmpty()                           # reachable in a short dock
    if size[1] >= 1080:
        assert area.verticalScrollBar().maximum() == 0                     # a tall screen: no scrolling at all
        assert listing.viewport().height() >= 4 * row
