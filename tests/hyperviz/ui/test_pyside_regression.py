"""PySide6 6.12.0 crashes Python 3.11 after a few thousand void-returning calls (DESIGN.md, Pitfalls).

pyqtgraph makes such calls on every paint, so this repaints a scatter plot a few thousand times.
"""
import sys

import numpy as np
import pyqtgraph as pg
import PySide6

from hyperviz.ui.brush_tables import BrushTables
from hyperviz.ui.coded_scatter import CodedScatter


def test_pyside6_is_below_6_12_on_python_3_11():
    version = tuple(int(p) for p in PySide6.__version__.split(".")[:2])
    if sys.version_info[:2] == (3, 11):
        assert version < (6, 12), f"PySide6 {PySide6.__version__} crashes Python 3.11 (none_dealloc); pin <6.12"


def test_thousands_of_repaints_do_not_crash(qtbot):
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.resize(200, 200)
    widget.show()
    brushes = BrushTables().continuous()
    item = CodedScatter(size=5)
    widget.addItem(item)
    rng = np.random.default_rng(1)
    item.set_points(rng.normal(size=300), rng.normal(size=300), rng.integers(0, 256, 300), brushes)
    for i in range(2500):
        if i % 100 == 0:
            item.set_codes(rng.integers(0, 256, 300))
        item.setOpacity(0.5 + 0.5 * (i % 2))          # void-returning calls, every paint
        widget.viewport().repaint()
    assert len(item.data) == 300
