"""A two-handle integer range slider (Qt has none built in), used for the epoch filter."""
from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

HANDLE_RADIUS = 7
TRACK_COLOUR = "#d5d9df"
RANGE_COLOUR = "#3a78c2"


def _round_pen(colour: QtGui.QColor, width: float) -> QtGui.QPen:
    pen = QtGui.QPen(colour, width)
    pen.setCapStyle(QtCore.Qt.PenCapStyle.RoundCap)
    return pen


class RangeSlider(QtWidgets.QWidget):
    """Pick ``lo <= hi`` in ``[minimum, maximum]``; ``range_changed(lo, hi)`` fires on release and on keys."""

    range_changed = QtCore.Signal(int, int)

    def __init__(self, minimum: int = 0, maximum: int = 10, parent=None) -> None:
        super().__init__(parent)
        self._min, self._max = minimum, maximum
        self._lo, self._hi = minimum, maximum
        self._dragging: str | None = None
        self.setMinimumWidth(140)
        self.setFixedHeight(26)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.setToolTip("Drag the handles to show only these epochs (arrow keys move the upper handle, "
                        "Shift+arrows the lower one)")

    # ---- values ------------------------------------------------------------------------------
    def set_bounds(self, minimum: int, maximum: int) -> None:
        self._min, self._max = int(minimum), int(max(minimum, maximum))
        self._lo, self._hi = self._min, self._max
        self.update()

    def set_range(self, lo: int, hi: int, emit: bool = False) -> None:
        lo, hi = sorted((int(lo), int(hi)))
        lo, hi = max(lo, self._min), min(hi, self._max)
        changed = (lo, hi) != (self._lo, self._hi)
        self._lo, self._hi = lo, hi
        self.update()
        if emit and changed:
            self.range_changed.emit(lo, hi)

    def range(self) -> tuple[int, int]:
        return self._lo, self._hi

    def bounds(self) -> tuple[int, int]:
        return self._min, self._max

    # ---- geometry ------------------------------------------------------------------------------
    def _x(self, value: int) -> float:
        span = max(1, self._max - self._min)
        usable = self.width() - 2 * HANDLE_RADIUS - 2
        return HANDLE_RADIUS + 1 + usable * (value - self._min) / span

    def _value(self, x: float) -> int:
        span = max(1, self._max - self._min)
        usable = max(1, self.width() - 2 * HANDLE_RADIUS - 2)
        return int(round(self._min + (x - HANDLE_RADIUS - 1) / usable * span))

    def paintEvent(self, _event) -> None:
        painter = QtGui.QPainter(self)
        try:
            self._paint(painter)
        finally:
            painter.end()

    def _paint(self, painter: QtGui.QPainter) -> None:
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        y = self.height() / 2
        painter.setPen(_round_pen(QtGui.QColor(TRACK_COLOUR), 4))
        painter.drawLine(QtCore.QPointF(self._x(self._min), y), QtCore.QPointF(self._x(self._max), y))
        colour = QtGui.QColor(RANGE_COLOUR if self.isEnabled() else "#aaaaaa")
        painter.setPen(_round_pen(colour, 4))
        painter.drawLine(QtCore.QPointF(self._x(self._lo), y), QtCore.QPointF(self._x(self._hi), y))
        painter.setPen(QtGui.QPen(colour, 2))
        painter.setBrush(QtGui.QColor("white"))
        for value in (self._lo, self._hi):
            painter.drawEllipse(QtCore.QPointF(self._x(value), y), HANDLE_RADIUS - 1, HANDLE_RADIUS - 1)

    # ---- interaction ---------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:
        x = event.position().x()
        near_lo, near_hi = abs(x - self._x(self._lo)), abs(x - self._x(self._hi))
        self._dragging = "lo" if near_lo < near_hi or (near_lo == near_hi and x < self._x(self._lo)) else "hi"
        self._drag_to(x)

    def mouseMoveEvent(self, event) -> None:
        if self._dragging:
            self._drag_to(event.position().x())

    def mouseReleaseEvent(self, _event) -> None:
        if self._dragging:
            self._dragging = None
            self.range_changed.emit(self._lo, self._hi)

    def _drag_to(self, x: float) -> None:
        value = min(max(self._value(x), self._min), self._max)
        if self._dragging == "lo":
            self._lo = min(value, self._hi)
        else:
            self._hi = max(value, self._lo)
        self.update()

    def keyPressEvent(self, event) -> None:
        step = {QtCore.Qt.Key.Key_Left: -1, QtCore.Qt.Key.Key_Right: 1}.get(event.key())
        if step is None:
            super().keyPressEvent(event)
            return
        if event.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier:
            self.set_range(min(self._lo + step, self._hi), self._hi, emit=True)
        else:
            self.set_range(self._lo, max(self._hi + step, self._lo), emit=True)
