"""The selection dock: the count ("47 / 412"), what the selection means, statistics, bookmarks."""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PySide6 import QtCore, QtWidgets

from hyperviz.model.crossfilter import describe_term
from hyperviz.model.formatting import format_stat
from hyperviz.model.selection import Range, SelectionError, summary
from hyperviz.model.state import SUMMARY_COLUMNS
from hyperviz.ui.context import AppContext
from hyperviz.ui.resources import icon

STATS_HEADERS = ("", "selected mean", "min – max", "all shown")


def _small_button(icon_name: str, tip: str) -> QtWidgets.QToolButton:
    """An icon button beside the count (the dock's width goes to the statistics)."""
    button = QtWidgets.QToolButton()
    button.setIcon(icon(icon_name))
    button.setText(tip.split(" (")[0])
    button.setToolTip(tip)
    button.setAutoRaise(True)
    return button


def stat_cells(selected: dict, everything: dict) -> list[str]:
    """The statistics row of one property: selected mean, selected min – max, mean of all shown; "–" when empty."""
    if not math.isfinite(selected["mean"]):
        return ["–", "–", format_stat(everything["mean"])]
    span = format_stat(selected["min"]) if selected["min"] == selected["max"] else \
        f"{format_stat(selected['min'])} – {format_stat(selected['max'])}"
    return [format_stat(selected["mean"]), span, format_stat(everything["mean"])]


class BookmarkList(QtWidgets.QListWidget):
    """The bookmarks: it asks only for its minimum height and takes what the dock has left, scrolling
    itself beyond that. (The dock's scroll area gives the panel its preferred height, since the panel's
    wrapped text has a height for its width: a list that asked for all its rows pushed the dock into
    scrolling instead, the bookmarks out of sight at 1366x768.)"""

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(super().sizeHint().width(), self.minimumHeight())


class SelectionPanel(QtWidgets.QWidget):
    """Renders the selection of the context's state; ``view_range`` tells bookmarks what the map shows."""

    WATCHES = ("table", "selection", "filters", "bookmarks")

    def __init__(self, context: AppContext, view_range: Callable[[], list] | None = None, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.state = state = context.state
        self._view_range = view_range or (lambda: None)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(6)

        self.count = QtWidgets.QLabel("0 / 0")
        self.count.setObjectName("bigCount")
        caption = QtWidgets.QLabel("selected / shown")
        caption.setObjectName("hint")
        head = QtWidgets.QHBoxLayout()
        head.addWidget(self.count)
        head.addWidget(caption, 0, QtCore.Qt.AlignmentFlag.AlignBottom)
        head.addStretch(1)
        layout.addLayout(head)
        buttons = head            # Undo / Redo / Clear beside the count: the dock's height goes to the lists
        self.description = QtWidgets.QLabel("nothing selected")
        self.description.setObjectName("selectionText")
        self.description.setWordWrap(True)
        self.description.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.description)

        self.undo_button, self.redo_button, self.clear_button = (
            _small_button(name, tip) for name, tip in (("undo", "Undo (Ctrl+Z)"), ("redo", "Redo (Ctrl+Shift+Z)"),
                                                        ("clear", "Clear the selection (Esc)")))
        for button, slot in ((self.undo_button, state.undo), (self.redo_button, state.redo),
                             (self.clear_button, state.clear_selection)):
            button.clicked.connect(slot)
            buttons.addWidget(button, 0, QtCore.Qt.AlignmentFlag.AlignVCenter)

        self.stats = QtWidgets.QTableWidget(0, len(STATS_HEADERS))
        self.stats.setObjectName("statsTable")
        self.stats.setHorizontalHeaderLabels(list(STATS_HEADERS))
        self.stats.setToolTip("Mean and range (min – max) of each property over the selected states, "
                              "and the mean over all shown states")
        self.stats.verticalHeader().hide()
        self.stats.horizontalHeader().setStretchLastSection(True)
        self.stats.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.stats.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self.stats.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.stats.verticalHeader().setDefaultSectionSize(22)
        self.stats.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.stats.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.stats.setFixedHeight(30 + 22 * len(SUMMARY_COLUMNS))
        layout.addWidget(self.stats)

        row = QtWidgets.QHBoxLayout()           # the heading and its buttons on one line: the list keeps the room
        title = QtWidgets.QLabel("Bookmarks")
        title.setObjectName("sectionTitle")
        row.addWidget(title, 0, QtCore.Qt.AlignmentFlag.AlignBottom)
        row.addStretch(1)
        self.add_button = QtWidgets.QPushButton("Add…")
        self.add_button.setToolTip("Bookmark the selection, filters, colour and view")
        self.add_button.clicked.connect(self.add_bookmark_dialog)
        self.remove_button = QtWidgets.QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove_current)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        layout.addLayout(row)
        self.bookmark_list = BookmarkList()
        self.bookmark_list.setObjectName("bookmarkList")
        self.bookmark_list.itemActivated.connect(self._apply_item)
        self.bookmark_list.setToolTip("Double-click (or Enter) to show a bookmark")
        self.bookmark_list.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        rows = self.bookmark_list.fontMetrics().height() + 6
        self.bookmark_list.setMinimumHeight(3 * rows + 6)   # a short dock: three rows, the list scrolls itself
        layout.addWidget(self.bookmark_list, 1)

        state.signals.watch(self.WATCHES, self.refresh)
        self.refresh(frozenset(self.WATCHES))

    # ---- rendering -------------------------------------------------------------------------------
    def refresh(self, changed: frozenset) -> None:
        """Show the selection after it, the filters or the table changed; the bookmarks after they did."""
        if changed & {"table", "selection", "filters"}:
            self._show_selection()
        if changed & {"table", "bookmarks"}:
            self._show_bookmarks()

    def _show_selection(self) -> None:
        state = self.state
        self.undo_button.setEnabled(state.history.can_undo)
        self.redo_button.setEnabled(state.history.can_redo)
        self.clear_button.setEnabled(state.has_selection)
        if state.n == 0:
            self.count.setText("0 / 0")
            self.stats.setRowCount(0)
            self._fit_stats_columns()
            return
        self.count.setText(state.count_label())
        text = state.describe_selection() if state.has_selection else \
            "nothing selected (draw a box or lasso, or brush a property)"
        if state.filters:
            shown = " and ".join(describe_term(Range(k, lo, hi)) for k, (lo, hi) in state.filters.items())
            text += f"\nshown: {shown}"
        self.description.setText(text)
        self.description.setToolTip(state.selection.describe() if state.has_selection else "")
        columns = [c for c in SUMMARY_COLUMNS if c in state.table and state.kind(c) != "categorical"]
        selected = state.summary()["stats"]
        key = (id(state.table), tuple(sorted(state.filters.items())))
        if getattr(self, "_all_key", None) != key:             # statistics of everything shown change rarely
            self._all_key, self._all_stats = key, summary(state.table, state.visible_mask, columns)["stats"]
        everything = self._all_stats
        self.stats.setRowCount(len(columns))
        row_height = self.stats.fontMetrics().height() + 8          # follows presentation mode's larger font
        self.stats.verticalHeader().setDefaultSectionSize(row_height)
        self.stats.setFixedHeight(row_height * (len(columns) + 1) + 6)
        for i, column in enumerate(columns):
            s, a = selected[column], everything[column]
            cells = [column, *stat_cells(s, a)]
            for j, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                if j:
                    item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
                self.stats.setItem(i, j, item)
        self._fit_stats_columns()

    def _fit_stats_columns(self) -> None:
        """Every column as wide as its header and cells; the min – max column takes the rest."""
        header = self.stats.horizontalHeader()
        header.setStretchLastSection(False)
        for j in range(len(STATS_HEADERS)):
            header.setSectionResizeMode(j, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QtWidgets.QHeaderView.ResizeMode.Stretch)

    def _show_bookmarks(self) -> None:
        self.bookmark_list.clear()
        for bookmark in self.state.bookmarks:
            item = QtWidgets.QListWidgetItem(bookmark.get("name", "?"))
            item.setData(QtCore.Qt.ItemDataRole.UserRole, bookmark)
            item.setToolTip(str(bookmark.get("selection")))
            self.bookmark_list.addItem(item)
        self.remove_button.setEnabled(bool(self.state.bookmarks))

    # ---- actions ---------------------------------------------------------------------------------
    def add_bookmark_dialog(self) -> None:
        if self.state.n == 0:
            return
        name, ok = QtWidgets.QInputDialog.getText(self, "Add bookmark", "Name of this view:",
                                                  text=f"Bookmark {len(self.state.bookmarks) + 1}")
        if ok and name.strip():
            self.state.add_bookmark(name.strip(), self._view_range())
            self.context.show_message(f"Bookmarked “{name.strip()}”")

    def _apply_item(self, item: QtWidgets.QListWidgetItem) -> None:
        bookmark = item.data(QtCore.Qt.ItemDataRole.UserRole)
        try:
            self.state.apply_bookmark(bookmark)
        except SelectionError as exc:
            self.context.show_message(f"Cannot show bookmark: {exc}")
        else:
            self.context.show_message(f"Showing bookmark “{bookmark.get('name')}”: {self.state.count_label()} selected")

    def _remove_current(self) -> None:
        item = self.bookmark_list.currentItem()
        if item is not None:
            self.state.remove_bookmark(item.text())

    def selected_rows(self) -> np.ndarray:
        return np.flatnonzero(self.state.selected_mask)
