"""The code-indexed scatter item draws exactly what pyqtgraph would, only faster; colour codes."""
import numpy as np
import pyqtgraph as pg
import pytest

from hyperviz.ui.coded_scatter import CodedScatter
from hyperviz.ui.colours import N_STEPS, BrushTables, colour_coding


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


def test_colour_codes():
    values = np.append(np.linspace(0, 1, 101), np.nan)
    c = colour_coding("acc", values)
    assert c.kind == "continuous" and c.codes[-1] == N_STEPS == c.missing_code
    assert (c.lo, c.hi) == pytest.approx((0.01, 0.99))     # 1st-99th percentile: outliers do not wash out the map
    assert c.codes[0] == 0 and c.codes[100] == N_STEPS - 1 and np.all(np.diff(c.codes[:-1]) >= 0)
    c = colour_coding("act", np.array(["tanh", "relu", "tanh"]))
    assert c.kind == "categorical" and c.labels == ("relu", "tanh") and list(c.codes) == [1, 0, 1]
    c = colour_coding("lr", np.array([1e-3, 1e-2, np.nan]))
    assert c.kind == "categorical" and c.labels == ("0.001", "0.01") and list(c.codes) == [0, 1, 2]
