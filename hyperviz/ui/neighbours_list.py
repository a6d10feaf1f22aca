"""The details' list of the nearest other models in the embedding: click one to focus it.

Nearness is measured on the hyper-representation itself (the embedding the map is drawn from),
not on the 2-D map, where UMAP or PCA may put neighbours apart; one entry per other model, its
nearest state, among the states shown (filters apply).
"""
from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets

from hyperviz.model.formatting import format_value
from hyperviz.model.lookup import model_ids, nearest_models
from hyperviz.ui.context import AppContext

#: How many neighbours the list shows.
N_NEIGHBOURS = 8


class NeighboursList(QtWidgets.QListWidget):
    """Follows ``state.current``; an entry's row (into the table) is its ``UserRole`` data."""

    WATCHES = ("table", "current", "filters")

    def __init__(self, context: AppContext, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("neighboursList")
        self.state = context.state
        self.workspace = context.workspace
        self.setToolTip("The nearest other models in the embedding (their nearest state each); click one to see it")
        rows = self.fontMetrics().height() + 6
        self.setMinimumHeight(4 * rows + 6)
        self.setMaximumHeight(N_NEIGHBOURS * rows + 8)
        self.itemClicked.connect(self._focus)
        self.itemActivated.connect(self._focus)
        self.state.signals.watch(self.WATCHES, self.refresh)
        self.refresh(frozenset(self.WATCHES))

    def rows(self) -> list[int]:
        """The table rows listed, nearest first."""
        return [self.item(i).data(QtCore.Qt.ItemDataRole.UserRole) for i in range(self.count())]

    def refresh(self, changed: frozenset) -> None:
        self.clear()
        state, ws = self.state, self.workspace.ws
        row = state.current
        embeddings = None if ws is None else getattr(ws, "embeddings", None)
        if row is None or embeddings is None or len(embeddings) != state.n:
            return
        found, distances = nearest_models(embeddings, row, state.table["model"], N_NEIGHBOURS, state.visible_mask)
        ids = model_ids(state.table)
        acc = state.table.get("test_acc")
        for r, d in zip(found.tolist(), distances.tolist()):
            text = f"{ids[r]} @ epoch {int(state.table['epoch'][r])}   d = {d:.3g}"
            if acc is not None and np.isfinite(acc[r]):
                text += f"   test_acc {format_value(acc[r])}"
            item = QtWidgets.QListWidgetItem(text)
            item.setData(QtCore.Qt.ItemDataRole.UserRole, int(r))
            self.addItem(item)

    def _focus(self, item: QtWidgets.QListWidgetItem) -> None:
        row = int(item.data(QtCore.Qt.ItemDataRole.UserRole))
        # after the click is handled: focusing refills this list, which deletes the clicked item
        QtCore.QTimer.singleShot(0, self, lambda: self.state.set_current(row))
