"""The bar above the map: find a model by its id, and select by a typed expression in the
``--where`` language of the command line (``test_acc >= 0.9 and epoch >= 20``).

Finding centres the map on the model's states and focuses its last epoch (the focus layer rings
it and draws its path). A typed expression replaces the selection, one undoable step, so the
Generate and Probes docks then work on exactly the states ``hyperviz sample --where ...`` would.
A problem with either shows as one line under the bar, never as a traceback.
"""
from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets

from hyperviz.model.lookup import completions, find_model, model_ids
from hyperviz.model.selection import Predicate, SelectionError
from hyperviz.model.where import WhereError, parse_where
from hyperviz.ui.context import AppContext

#: A found model is shown with at least this fraction of the whole map around it.
FIND_MIN_FRACTION = 0.25


class QueryBar(QtWidgets.QWidget):
    """``map_view`` is the :class:`~hyperviz.ui.map_view.MapView` a found model is framed in."""

    def __init__(self, context: AppContext, map_view, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("queryBar")
        self.context = context
        self.state = context.state
        self.map_view = map_view
        self._applied: Predicate | None = None        # the selection the typed expression made

        self.find_edit = QtWidgets.QLineEdit()
        self.find_edit.setObjectName("findModelEdit")
        self.find_edit.setPlaceholderText("model id, e.g. m00109")
        self.find_edit.setToolTip("Type a model id and press Enter: the map centres on that model's states")
        self.find_edit.setClearButtonEnabled(True)
        self.find_edit.setMaximumWidth(190)
        self.completer = QtWidgets.QCompleter([], self.find_edit)
        self.completer.setCaseSensitivity(QtCore.Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(QtCore.Qt.MatchFlag.MatchContains)
        self.find_edit.setCompleter(self.completer)
        self.find_edit.returnPressed.connect(self.find)
        self.completer.activated.connect(lambda text: self.find(text))

        self.where_edit = QtWidgets.QLineEdit()
        self.where_edit.setObjectName("whereEdit")
        self.where_edit.setPlaceholderText("select where…  e.g. test_acc >= 0.9 and epoch >= 20")
        self.where_edit.setToolTip("An expression in the --where language of `hyperviz sample`: property names, "
                                   "< <= > >= == !=, and / or / not, parentheses, 0.5 <= x <= 0.9, "
                                   "x in (\"relu\", \"gelu\"). Enter selects the states it matches.")
        self.where_edit.setClearButtonEnabled(True)
        self.where_edit.returnPressed.connect(self.apply_where)

        self.error = QtWidgets.QLabel()
        self.error.setObjectName("queryError")
        self.error.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        self.error.hide()

        row = QtWidgets.QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        row.addWidget(QtWidgets.QLabel("Find"))
        row.addWidget(self.find_edit, 1)
        row.addSpacing(8)
        row.addWidget(QtWidgets.QLabel("Where"))
        row.addWidget(self.where_edit, 3)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 5, 8, 3)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addWidget(self.error)

        self.state.signals.watch(("table",), self._new_table)
        self.state.signals.watch(("selection",), self._selection_changed)
        self._new_table(frozenset(("table",)))

    # ---- finding a model -----------------------------------------------------------------------
    def find(self, text: str | None = None) -> np.ndarray | None:
        """Centre the map on the model whose id is ``text`` (default: what is typed) and focus its last
        shown epoch; returns its rows, or None (and the reason under the bar)."""
        text = self.find_edit.text() if text is None else text
        if self.state.n == 0:
            return None
        try:
            rows = find_model(self.state.table, text)
        except SelectionError as exc:
            self.show_error(str(exc))
            return None
        self.show_error("")
        visible = rows[self.state.visible_mask[rows]]
        focus = int((visible if len(visible) else rows)[-1])
        self.state.set_current(focus)
        self.map_view.frame_rows(rows, min_fraction=FIND_MIN_FRACTION)
        model_id = model_ids(self.state.table)[focus]
        self.context.show_message(f"{model_id}: {len(rows)} state(s), epoch {int(self.state.table['epoch'][focus])} "
                                  "in focus")
        return rows

    # ---- typed selection ------------------------------------------------------------------------
    def apply_where(self, text: str | None = None) -> bool:
        """Select the states that the expression ``text`` (default: what is typed) matches; an empty
        expression clears the selection. False (and the reason under the bar) when it cannot."""
        text = (self.where_edit.text() if text is None else text).strip()
        if self.state.n == 0:
            return False
        if not text:
            self.show_error("")
            self.state.clear_selection()
            return True
        try:
            predicate = parse_where(text, self.state.table.keys())
            self._applied = predicate
            self.state.select(predicate)
        except WhereError as exc:
            self._applied = None
            self.show_error(f"{exc.problem} (at character {exc.position + 1})")
            return False
        except SelectionError as exc:
            self._applied = None
            self.show_error(str(exc))
            return False
        self.show_error("")
        self.context.show_message(f"Selected where {text}: {self.state.count_label()}")
        return True

    def show_error(self, message: str) -> None:
        """One line under the bar (elided to fit; the whole text in its tooltip), or none for ``""``."""
        line = message.splitlines()[0] if message else ""
        self.error.setToolTip(line)
        metrics = self.error.fontMetrics()
        width = max(self.width() - 20, 200)
        self.error.setText(metrics.elidedText(line, QtCore.Qt.TextElideMode.ElideRight, width))
        self.error.setVisible(bool(line))

    @property
    def error_text(self) -> str:
        """The whole error line shown (``""`` when none)."""
        return self.error.toolTip()

    # ---- state -> bar ----------------------------------------------------------------------------
    def _new_table(self, _changed: frozenset) -> None:
        ids = completions(self.state.table) if self.state.n else []
        self.completer.model().setStringList(ids)
        self.find_edit.setEnabled(self.state.n > 0)
        self.where_edit.setEnabled(self.state.n > 0)
        self._applied = None
        self.show_error("")

    def _selection_changed(self, _changed: frozenset) -> None:
        """A selection made another way (a lasso, undo): the typed expression no longer says what is selected."""
        if self._applied is not None and self.state.selection != self._applied:
            self._applied = None
            self.where_edit.clear()
