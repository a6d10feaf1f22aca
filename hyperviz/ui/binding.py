"""Widgets bound to the state, both ways, one way for all (as napari's layer controls and glue's viewers do).

A bound widget has two connections and nothing else:

* widget -> state: the widget's Qt signal calls a state setter (:func:`connect_setter`, napari's
  ``connect_setattr``), so the user's choice takes the same path as every other change;
* state -> widget: the state's signals refresh the widget with the widget's own signals blocked
  (:func:`connect_refresh` with :func:`blocker`, napari's ``qt_signals_blocked``), so showing the
  state never writes back into it.

:func:`bind_combo` binds a combo box to a choice whose list the state owns too (glue's
``SelectionCallbackProperty`` with ``connect_combo_selection``).
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from PySide6 import QtCore, QtWidgets

from hyperviz.model.state import Signal


@contextlib.contextmanager
def blocker(*widgets: QtCore.QObject) -> Iterator[None]:
    """Block the Qt signals of ``widgets`` inside the block."""
    blockers = [QtCore.QSignalBlocker(widget) for widget in widgets]
    try:
        yield
    finally:
        for b in blockers:
            b.unblock()


def connect_setter(signal: QtCore.SignalInstance, setter: Callable[..., Any],
                    convert: Callable[..., tuple | None] = lambda *args: args) -> None:
    """widget -> state: ``signal(*args)`` calls ``setter(*convert(*args))``; nothing when ``convert`` gives None."""
    def apply(*args: Any) -> None:
        values = convert(*args)
        if values is not None:
            setter(*values)

    signal.connect(apply)


def connect_refresh(signals: Iterable[Signal], widgets: Sequence[QtCore.QObject], refresh: Callable[[], None]) -> None:
    """state -> widget: ``refresh()`` now and after each of the state's ``signals``, with ``widgets`` blocked."""
    def update(*_args: Any) -> None:
        with blocker(*widgets):
            refresh()

    for signal in signals:
        signal.connect(update)
    update()


def bind_combo(combo: QtWidgets.QComboBox, choices: Callable[[], list[tuple[str, Any]]], current: Callable[[], Any],
               setter: Callable[[Any], None], signals: Iterable[Signal]) -> None:
    """Show ``choices()`` (``[(label, value)]``) with ``current()`` chosen, after each of ``signals``;
    the user's choice goes to ``setter(value)``."""
    def refresh() -> None:
        items = choices()
        if [(combo.itemText(i), combo.itemData(i)) for i in range(combo.count())] != items:
            combo.clear()
            for label, value in items:
                combo.addItem(label, value)
        index = combo.findData(current())
        if index >= 0:
            combo.setCurrentIndex(index)

    connect_setter(combo.activated, setter, lambda _index: (combo.currentData(),) if combo.currentData() else None)
    connect_refresh(signals, [combo], refresh)
