"""The modifier keys of a Qt mouse event as the model's :class:`~hyperviz.model.brush.Modifiers`.

The map and the property bars both turn Shift / Ctrl / Alt into a combine mode
(:func:`hyperviz.model.brush.combine_mode`); this is where Qt's flags become plain booleans.
"""
from __future__ import annotations

from PySide6 import QtCore

from hyperviz.model.brush import Modifiers


def modifiers(flags: QtCore.Qt.KeyboardModifier) -> Modifiers:
    """``Modifiers`` of ``event.modifiers()``."""
    key = QtCore.Qt.KeyboardModifier
    return Modifiers(shift=bool(flags & key.ShiftModifier), ctrl=bool(flags & key.ControlModifier),
                     alt=bool(flags & key.AltModifier))
