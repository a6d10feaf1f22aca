"""What peers offer for reading a map (issue 11, item 16): search by id, a typed --where selection,
table rows ringing their stars, a key for stars and circles, zoom to selection, nearest neighbours
in the details, a density view and a tour beside the map."""
import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from hyperviz.model.lookup import nearest_models
from tests.hyperviz.ui.conftest import N_CKPT
from tests.hyperviz.ui.test_app_edges import fake_samples


def _inside(view_range, x, y):
    (x0, x1), (y0, y1) = view_range
    return bool(np.all((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)))


def test_finding_a_model_by_id_centres_the_map_on_its_states(window, qtbot):
    state, bar = window.state, window.query_bar
    window.map.set_view_range([[100, 101], [100, 101]])                # looking somewhere else
    qtbot.keyClicks(bar.find_edit, "M00007")
    qtbot.keyClick(bar.find_edit, QtCore.Qt.Key.Key_Return)
    rows = np.flatnonzero(state.table["model_id"] == "m00007")
    assert state.current == rows[np.argmax(state.table["epoch"][rows])]   # its last epoch in focus
    x, y = state.coords()
    view = window.map.view_range()
    assert _inside(view, x[rows], y[rows])
    centre = [(a + b) / 2 for a, b in view]
    assert centre == pytest.approx([(x[rows].min() + x[rows].max()) / 2, (y[rows].min() + y[rows].max()) / 2])
    assert len(window.map.focus_layer.trajectory.getData()[0]) == N_CKPT       # its path is drawn
    assert not bar.error.isVisible()
    bar.find_edit.setText("nobody")
    qtbot.keyClick(bar.find_edit, QtCore.Qt.Key.Key_Return)
    assert bar.error.isVisible() and bar.error_text == "no model with id 'nobody'"
    assert state.current == rows[np.argmax(state.table["epoch"][rows])]   # unchanged


def test_a_typed_where_expression_selects_and_bad_text_is_one_line_in_the_bar(window, qtbot):
    state, bar = window.state, window.query_bar
    qtbot.keyClicks(bar.where_edit, "test_acc >= 0.5 and epoch >= 2")
    qtbot.keyClick(bar.where_edit, QtCore.Qt.Key.Key_Return)
    expected = (state.table["test_acc"] >= 0.5) & (state.table["epoch"] >= 2)
    np.testing.assert_array_equal(state.selected_mask, expected)
    assert not bar.error.isVisible()
    before = state.selection
    for text, words in (("test_acc >=", "expected a value after '>='"),
                        ("tset_acc > 0.5", "did you mean 'test_acc'?"),
                        ("activation > 1", "activation"),
                        ("test_acc >= 0.5 && epoch > 1", "use 'and'")):
        bar.where_edit.setText(text)
        qtbot.keyClick(bar.where_edit, QtCore.Qt.Key.Key_Return)       # no exception escapes the slot
        assert bar.error.isVisible() and words in bar.error_text, (text, bar.error_text)
        assert "\n" not in bar.error.text() and "Traceback" not in bar.error_text
        assert state.selection == before                                 # a bad expression changes nothing
    bar.where_edit.setText("")
    qtbot.keyClick(bar.where_edit, QtCore.Qt.Key.Key_Return)
    assert not state.has_selection and not bar.error.isVisible()


def test_a_lasso_after_a_typed_selection_clears_the_stale_text(window):
    bar, state = window.query_bar, window.state
    assert bar.apply_where("epoch >= 3")
    x, y = state.coords()
    window.map.apply_gesture("box", [(float(x.min()), float(y.min())), (float(x.mean()), float(y.mean()))])
    assert bar.where_edit.text() == ""


def test_a_samples_table_row_rings_its_star(window, qtbot):
    state = window.state
    state.set_samples(fake_samples(state, 3))
    window.show_dock(window.generate_dock)
    table = window.generate.table
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).data(QtCore.Qt.ItemDataRole.UserRole)[1] == 2)
    table.selectRow(row)
    assert state.chosen_samples == (2,)
    x, y = window.map.chosen_layer.marker.getData()
    sx, sy = window.map.samples_layer.position(2)
    assert list(x) == [pytest.approx(sx)] and list(y) == [pytest.approx(sy)]
    table.clearSelection()
    assert state.chosen_samples == () and len(window.map.chosen_layer.marker.getData()[0]) == 0
    window.generate.show_sample(1)                          # a clicked star chooses its row, which rings the star

    assert state.chosen_samples == (1,)


def test_the_marker_key_tells_stars_from_circles_also_in_exported_figures(window, tmp_path):
    from hyperviz.ui.map_overlays import SAMPLE_LABEL, STATE_LABEL

    key = window.map.marker_key_layer
    assert not key.legend.isVisible()                       # no stars: every mark is a circle
    window.state.set_samples(fake_samples(window.state, 3))
    assert key.legend.isVisible() and key.labels == [STATE_LABEL, SAMPLE_LABEL]
    path = tmp_path / "map.svg"
    window.export_figure(str(path))
    svg = path.read_text()
    assert "sampled model" in svg and "model state" in svg


def test_zoom_to_selection_frames_the_selected_states(window):
    state = window.state
    assert not window.act_zoom_selection.isEnabled()
    x, y = state.coords()
    window.map.apply_gesture("box", [(float(x.min()), float(y.min())),
                                     (float(np.quantile(x, 0.3)), float(np.quantile(y, 0.3)))])
    whole = window.map.view_range()
    assert window.act_zoom_selection.isEnabled()
    window.act_zoom_selection.trigger()
    view = window.map.view_range()
    chosen = state.selected_mask
    assert _inside(view, x[chosen], y[chosen])
    assert (view[0][1] - view[0][0]) < 0.8 * (whole[0][1] - whole[0][0])
    assert not _inside(view, x, y)                          # zoomed in: not everything is in view


def test_the_details_list_the_nearest_models_and_a_click_focuses_one(window, qtbot):
    state, listing = window.state, window.details.neighbours
    assert listing.count() == 0
    state.set_current(3)
    expected, _ = nearest_models(window.workspace.ws.embeddings, 3, state.table["model"], 8, state.visible_mask)
    assert listing.rows() == expected.tolist() and len(expected) == 8
    assert state.table["model"][3] not in state.table["model"][expected]
    assert listing.item(0).text().startswith(str(state.table["model_id"][expected[0]]))
    item = listing.item(1)
    rect = listing.visualItemRect(item)
    qtbot.mouseClick(listing.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: state.current == expected[1], timeout=2000)
    now = state.table["model"][expected[1]]                 # refilled for the new focus: its model left out
    assert listing.count() and now not in state.table["model"][listing.rows()]


def test_the_density_view_counts_the_visible_states(window, qtbot):
    state, view = window.state, window.map
    layer = view.density_layer
    assert not layer.enabled and not layer.image.isVisible() and view.base.isVisible()
    window.act_density.trigger()
    assert layer.enabled and layer.image.isVisible() and not view.base.isVisible()
    assert layer.counts.sum() == state.n                       # the whole map is in view
    state.set_filter("epoch", 2, None)
    assert layer.counts.sum() == state.visible_mask.sum() < state.n
    x, y = state.coords()
    view.set_view_range([[float(x.min()), float(np.median(x))], [float(y.min()), float(y.max())]])
    qtbot.waitUntil(lambda: layer.counts.sum() < state.visible_mask.sum(), timeout=2000)   # recounted for the view
    window.act_density.trigger()
    assert not layer.image.isVisible() and view.base.isVisible() and not window.act_density.isChecked()


def test_the_density_view_is_on_for_large_maps(blank_window, qtbot, workspace_path, monkeypatch):
    from hyperviz.ui import map_overlays

    monkeypatch.setattr(map_overlays, "DENSITY_AUTO_POINTS", 10)
    with qtbot.waitSignal(blank_window.loaded, timeout=60_000):
        blank_window.open_workspace(workspace_path)
    assert blank_window.map.density_layer.enabled and blank_window.act_density.isChecked()


def test_the_quick_tour_sits_beside_the_map_not_over_it(window, qtbot):
    window.resize(1366, 768)
    qtbot.wait(50)
    window.show_tour()
    qtbot.wait(100)
    dock = window.findChild(QtWidgets.QDockWidget, "tourDock")
    assert dock.isVisible() and not dock.isFloating()

    def global_rect(widget):
        return QtCore.QRect(widget.mapToGlobal(QtCore.QPoint(0, 0)), widget.size())

    assert not global_rect(dock).intersects(global_rect(window.map.canvas))
    tour = global_rect(dock)                                              # under the map only: the side
    assert tour.left() > global_rect(window.properties_dock).right()     # columns keep their full height
    assert tour.right() < global_rect(window.details_dock).left()
    assert window.map.canvas.height() >= 300 and window.tour.text.height() >= 60
    window.tour.go(2)
    window.tour.run_step()                                  # sample: the Generate dock comes to the front
    assert not window.generate_dock.visibleRegion().isEmpty() and dock.isVisible()
