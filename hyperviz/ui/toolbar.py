"""The main tool bar: file, tool and selection actions, and the map, colour and epoch choosers.

The choosers are bound to the state with :mod:`hyperviz.ui.binding`: the user's choice calls a
state setter, and a change of the state (a new table, a bookmark, undo) shows in the chooser with
its signals blocked. The state owns what there is to choose from: the maps, the properties to
colour by and the range of epochs.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from hyperviz.model.state import AppState
from hyperviz.ui.binding import bind_combo, connect_refresh, connect_setter
from hyperviz.ui.range_slider import RangeSlider


class MainToolBar(QtWidgets.QToolBar):
    """``leading`` groups of actions (a separator after each), the choosers, a spacer, ``trailing`` actions."""

    def __init__(self, state: AppState, leading: Sequence[Sequence[QtGui.QAction]],
                 trailing: Sequence[QtGui.QAction], parent=None) -> None:
        super().__init__("Main tool bar", parent)
        self.state = state
        self.setObjectName("mainToolbar")
        self.setMovable(False)
        self.setIconSize(QtCore.QSize(20, 20))
        self.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonIconOnly)
        for group in leading:
            self.addActions(list(group))
            self.addSeparator()
        self.addWidget(QtWidgets.QLabel("Map"))
        self.projection_combo = QtWidgets.QComboBox()
        self.projection_combo.setObjectName("projectionCombo")
        self.projection_combo.setMinimumWidth(80)
        self.addWidget(self.projection_combo)
        self.addWidget(QtWidgets.QLabel("Colour"))
        self.colour_combo = QtWidgets.QComboBox()
        self.colour_combo.setObjectName("colourCombo")
        self.colour_combo.setMinimumWidth(130)
        self.colour_combo.setMaxVisibleItems(20)
        self.addWidget(self.colour_combo)
        self.addWidget(QtWidgets.QLabel("Epochs"))
        self.epoch_slider = RangeSlider()
        self.epoch_slider.setObjectName("epochSlider")
        self.epoch_slider.setFixedWidth(170)
        self.addWidget(self.epoch_slider)
        self.epoch_label = QtWidgets.QLabel("all")
        self.epoch_label.setMinimumWidth(48)
        self.addWidget(self.epoch_label)
        spacer = QtWidgets.QWidget()
        spacer.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Preferred)
        self.addWidget(spacer)
        self.addActions(list(trailing))

        signals = state.signals
        bind_combo(self.projection_combo, state.projection_choices, lambda: state.projection, state.set_projection,
                   [signals.table, signals.projection])
        bind_combo(self.colour_combo, state.colour_choices, lambda: state.colour_by, state.set_colour_by,
                   [signals.table, signals.colour])
        connect_setter(self.epoch_slider.range_changed, state.set_filter, self._epoch_filter)
        connect_refresh([signals.table, signals.filters], [self.epoch_slider], self._show_epochs)

    def _epoch_filter(self, lo: int, hi: int) -> tuple[str, int | None, int | None]:
        """The slider's range as the epoch filter: a handle at its end leaves that side open."""
        low, high = self.epoch_slider.bounds()
        return "epoch", None if lo <= low else lo, None if hi >= high else hi

    def _show_epochs(self) -> None:
        """The slider spans the table's epochs and shows the epoch filter; the label says it in numbers."""
        slider, bounds = self.epoch_slider, self.state.bounds("epoch")
        if bounds is not None and slider.bounds() != (int(bounds[0]), int(bounds[1])):
            slider.set_bounds(int(bounds[0]), int(bounds[1]))
        slider.setEnabled(bounds is not None)
        lo, hi = self.state.filters.get("epoch", (None, None))
        low, high = slider.bounds()
        slider.set_range(low if lo is None else int(np.ceil(lo)), high if hi is None else int(np.floor(hi)))
        a, b = slider.range()
        self.epoch_label.setText("all" if (a, b) == (low, high) else (f"{a}" if a == b else f"{a}–{b}"))
