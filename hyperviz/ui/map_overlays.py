"""Map layers added for reading the map (issue 11, item 16), each a small class like those of
:mod:`hyperviz.ui.map_layers`: the key that tells stars from circles, the ring around the sampled
models chosen in the samples table, and the density image for large maps.

The marker key is a child of the view box, so File > Export figure draws it too.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore

from hyperviz.model.columns import coord_columns
from hyperviz.model.density import DENSITY_AUTO_POINTS, density_grid, density_levels
from hyperviz.ui.map_layers import FOCUS_COLOUR, MapLayer

STATE_LABEL = "model state (a network after an epoch)"
SAMPLE_LABEL = "sampled model (decoded from the selection)"
#: Milliseconds the density image waits after the view moved before it is recounted.
DENSITY_DELAY_MS = 60


class MarkerKeyLayer(MapLayer):
    """A key in the map's lower left corner: circles are model states of the zoo, stars sampled models.
    Shown while the map shows stars (without stars every mark is a circle and needs no key)."""

    WATCHES = ("table", "projection", "samples")

    def __init__(self, view) -> None:
        self.legend = pg.LegendItem(brush=pg.mkBrush(255, 255, 255, 225), pen=pg.mkPen("#cccccc"),
                                    labelTextColor="#222222", verSpacing=-4)
        self.legend.setParentItem(view.viewbox)
        self.legend.anchor(itemPos=(0, 1), parentPos=(0, 1), offset=(10, -10))
        self.legend.hide()
        super().__init__(view)
        self.refresh(frozenset(self.WATCHES))

    @property
    def labels(self) -> list[str]:
        """The texts of the key's entries, top to bottom."""
        return [label.text for _sample, label in self.legend.items]

    def refresh(self, changed: frozenset) -> None:
        has_stars = self.shows_map and len(self.view.samples_layer.rows) > 0
        self.legend.setVisible(has_stars)
        if has_stars and not self.legend.items:
            self.restyle()

    def restyle(self) -> None:
        presenting = self.view.presentation
        self.legend.clear()
        self.legend.setLabelTextSize("13pt" if presenting else "9pt")
        # grey: the key is about the shape; the colours are the colour bar's (or the legend's)
        circle = pg.ScatterPlotItem(size=12 if presenting else 9, symbol="o", pen=None, brush=pg.mkBrush("#8c96a3"))
        star = pg.ScatterPlotItem(size=20 if presenting else 15, symbol="star", pen=pg.mkPen("#1b1b1b", width=1.0),
                                  brush=pg.mkBrush("#c4cad2"))
        self.legend.addItem(circle, STATE_LABEL)
        self.legend.addItem(star, SAMPLE_LABEL)


class ChosenSamplesLayer(MapLayer):
    """A ring around the star of each sampled model chosen in the samples table (``state.chosen_samples``)."""

    WATCHES = ("table", "projection", "samples", "chosen")

    def __init__(self, view) -> None:
        self.marker = pg.ScatterPlotItem(size=30, pen=pg.mkPen(FOCUS_COLOUR, width=3), brush=None)
        self.marker.setZValue(16)
        view.plot.addItem(self.marker, ignoreBounds=True)
        super().__init__(view)

    def refresh(self, changed: frozenset) -> None:
        shown = set(self.view.samples_layer.rows.tolist())
        chosen = [i for i in self.state.chosen_samples if i in shown]
        if not chosen or not self.shows_map:
            self.marker.setData([], [])
            return
        x_col, y_col = coord_columns(self.state.projection)
        samples = self.state.samples
        self.marker.setData(samples[x_col][chosen], samples[y_col][chosen])
        self.restyle()

    def restyle(self) -> None:
        self.marker.setSize(self.view.samples_layer.size * 3.0)


class DensityLayer(MapLayer):
    """How many visible states fall in each grid cell of the part of the map in view, as an image
    under the points; while it is on, the points of the states are hidden (the selected ones stay
    outlined). On by default for maps above ``DENSITY_AUTO_POINTS`` states; View > Density view toggles it."""

    WATCHES = ("table", "projection", "filters")

    def __init__(self, view) -> None:
        self.image = pg.ImageItem(axisOrder="col-major")
        self.image.setZValue(-5)
        lut = np.zeros((256, 4), np.uint8)
        ramp = np.linspace(0, 1, 255)[:, None]
        light, dark = np.array([222, 235, 247]), np.array([8, 48, 107])          # ColorBrewer Blues ends
        lut[1:, :3] = (light + ramp * (dark - light)).astype(np.uint8)
        lut[1:, 3] = 255                                                       # empty cells stay transparent
        self.image.setLookupTable(lut)
        self.image.hide()
        view.plot.addItem(self.image, ignoreBounds=True)
        self.enabled = False
        self.counts = np.zeros((0, 0))
        self._timer = QtCore.QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(DENSITY_DELAY_MS)
        self._timer.timeout.connect(self.recount)
        view.viewbox.sigRangeChanged.connect(lambda *_: self.enabled and self._timer.start())
        super().__init__(view)

    def set_enabled(self, on: bool) -> None:
        self.enabled = bool(on)
        self.view.states_layer.item.setVisible(not self.enabled)
        self.image.setVisible(self.enabled and self.shows_map)
        if self.enabled:
            self.recount()

    def refresh(self, changed: frozenset) -> None:
        if "table" in changed and self.shows_map and (self.state.n > DENSITY_AUTO_POINTS) != self.enabled:
            self.view.set_density(self.state.n > DENSITY_AUTO_POINTS)        # the view says so to its menu
            return
        if self.enabled:
            self.recount()

    def recount(self) -> None:
        """Count the visible states in a grid over the view range and show it."""
        if not self.shows_map:
            self.image.hide()
            return
        x, y = self.state.coords()
        visible = self.state.visible_mask
        view_range = self.view.view_range()
        width, height = self.view.viewbox.width(), self.view.viewbox.height()
        self.counts, ((x0, x1), (y0, y1)) = density_grid(x[visible], y[visible], view_range,
                                                         aspect=width / height if height > 0 else 1.0)
        self.image.setImage(density_levels(self.counts), levels=(0.0, 1.0), autoLevels=False)
        self.image.setRect(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0))
        self.image.setVisible(self.enabled)

    def restyle(self) -> None:
        pass
