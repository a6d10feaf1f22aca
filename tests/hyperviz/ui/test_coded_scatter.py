"""The code-indexed scatter item draws exactly what pyqtgraph would, only faster."""
import numpy as np
import pyqtgraph as pg
import pytest

from hyperviz.ui.brush_tables import BrushTables
from hyperviz.ui.coded_scatter import CodedScatter


@pytest.fixture
def plot(qtbot):
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.resize(300, 300)
    widget.show()
    return widget


def test_rectangles_match_pyqtgraphs_own_styling(plot):
    brushes = BrushTables().continuous()
    rng = np.random.default_rng(0)
    item = CodedScatter(size=7, pen=pg.mkPen("k", width=1.2))
    plot.addItem(item)
    codes = rng.integers(0, len(brushes), 500)
    item.set_points(rng.normal(size=500), rng.normal(size=500), codes, brushes)
    ours = item.data["sourceRect"].copy()
    assert all(b is brushes[c] for b, c in zip(item.data["brush"], codes))      # shared objects, not copies
    item.data["sourceRect"] = 0
    item.updateSpots()                                   # pyqtgraph's own per-point path
    np.testing.assert_array_equal(item.data["sourceRect"], ours)
    assert len(item.fragmentAtlas) <= len(brushes)


def test_recolour_visibility_and_bad_codes(plot):
    brushes = BrushTables().categorical(3)
    item = CodedScatter()
    plot.addItem(item)
    item.set_points(np.arange(4.0), np.arange(4.0), np.array([0, 1, 2, 3]), brushes)
    item.set_codes(np.array([3, 3, 0, 0]))
    assert item.data["brush"][0] is brushes[3]
    item.set_visible(np.array([True, False, True, False]))
    np.testing.assert_array_equal(item.data["visible"], [True, False, True, False])
    with pytest.raises(ValueError, match="index the 4 brushes"):
        item.set_codes(np.array([0, 1, 2, 4]))
    with pytest.raises(ValueError, match="shape"):
        item.set_codes(np.array([0, 1]))
    item.set_points(np.zeros(0), np.zeros(0))
    assert len(item.data) == 0
