"""The map's view box: a left drag pans, or draws a box or lasso outline when that tool is active.

The middle button always pans; a finished box or lasso goes, as points in data coordinates and
the modifier keys held, to ``on_gesture(tool, points, modifiers)``, which asks the model what it
means (:func:`hyperviz.model.brush.gesture_selection`).
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from hyperviz.ui.modifiers import modifiers


class MapViewBox(pg.ViewBox):
    """A ViewBox whose left drag pans or draws a box/lasso; finished gestures go to ``on_gesture``."""

    def __init__(self, on_gesture) -> None:
        super().__init__(enableMenu=False)
        self.border = None          # no (invisible) border path: pyqtgraph's SVG export cannot parse closed paths
        self.tool = "pan"
        self._on_gesture = on_gesture
        self._path: list[QtCore.QPointF] = []
        self._outline = QtWidgets.QGraphicsPathItem()
        pen = QtGui.QPen(QtGui.QColor("#0b5cad"), 1.6, QtCore.Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self._outline.setPen(pen)
        self._outline.setBrush(QtGui.QColor(11, 92, 173, 28))
        self._outline.setZValue(100)
        self._outline.hide()
        self.addItem(self._outline, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None):
        if self.tool == "pan" or ev.button() != QtCore.Qt.MouseButton.LeftButton or axis is not None:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            self._path = [self.mapSceneToView(ev.buttonDownScenePos(QtCore.Qt.MouseButton.LeftButton))]
        self._path.append(self.mapSceneToView(ev.scenePos()))
        self._draw_outline()
        if ev.isFinish():
            self._outline.hide()
            points = [(p.x(), p.y()) for p in self._path]
            self._path = []
            self._on_gesture(self.tool, points, modifiers(ev.modifiers()))

    def _draw_outline(self) -> None:
        path = QtGui.QPainterPath()
        if self.tool == "box":
            path.addRect(QtCore.QRectF(self._path[0], self._path[-1]).normalized())
        else:
            path.moveTo(self._path[0])
            for point in self._path[1:]:
                path.lineTo(point)
            path.closeSubpath()
        self._outline.setPath(path)
        self._outline.show()
