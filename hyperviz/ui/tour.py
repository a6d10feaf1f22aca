"""Help > Quick tour: four steps on the demo workspace - look, brush, sample, export.

Each step explains one idea and has a "Show me" button that does it in the window (the window
passes the actions in), so a class can follow along on a projector. The tour sits in a dock under
the map, so it never covers the map it explains (a dialog in the middle of the window did).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6 import QtCore, QtWidgets


@dataclass(frozen=True)
class TourStep:
    title: str
    text: str
    action: str          # key into the actions the window provides ("" = none)
    button: str = "Show me"


STEPS = (
    TourStep("1 · Look",
             "Every point is one <b>model state</b>: one network of the zoo after some epoch of training. "
             "Its position comes from the <b>hyper-representation</b> - an autoencoder trained on the "
             "networks' <i>weights</i> - laid out in 2-D by UMAP (or PCA).<br><br>"
             "Colour by any property with the <b>Colour</b> box (test accuracy, epoch, activation, …). "
             "Hover a point for its hyperparameters; <b>click</b> it to see its accuracy curve, its path "
             "through the map over the epochs, and its weights per layer.",
             "look"),
    TourStep("2 · Brush",
             "Pick the <b>Box</b> (B) or <b>Lasso</b> (L) tool and drag in the map to select a region; "
             "<b>Shift</b> adds, <b>Ctrl</b>/<b>Alt</b> subtracts, <b>Esc</b> clears, <b>Ctrl+Z</b> undoes. "
             "Drag a shaded range in a histogram on the left to brush by property - all views share "
             "<i>one</i> selection, and the count (selected / shown) follows it.<br><br>"
             "The epoch slider in the tool bar hides the epochs you are not looking at.",
             "brush"),
    TourStep("3 · Sample",
             "The <b>Generate</b> dock draws new latent codes around the selected models' codes "
             "(a kernel density estimate) and decodes them into new networks, which are evaluated on "
             "the task. They appear in the map as <b>stars</b>, coloured by accuracy.<br><br>"
             "Compare with the baselines (random init; selected weights + noise) and check "
             "<b>novelty</b>: the distance to the nearest training model - is it a new model, or a copy?",
             "sample"),
    TourStep("4 · Export",
             "Choose rows in the samples table and <b>Export selected…</b> to write them as loadable "
             "checkpoints (safetensors) with a JSON file of their provenance.<br><br>"
             "<b>File › Export figure</b> saves the map as PNG or SVG; <b>Bookmarks</b> keep a named "
             "selection, filters, colour and view, saved to JSON for the next lecture.",
             "export"),
)


class QuickTour(QtWidgets.QWidget):
    """A step-by-step guide; ``actions[step.action]()`` runs a step's demonstration.

    It lives in a dock under the map (:func:`open_tour`), never over it: the map is what it explains.
    """

    closed = QtCore.Signal()

    def __init__(self, actions: dict[str, Callable[[], None]], parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("quickTour")
        self.actions = actions
        self.index = 0
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(16, 8, 12, 8)
        layout.setSpacing(16)
        column = QtWidgets.QVBoxLayout()
        column.setSpacing(2)
        head = QtWidgets.QHBoxLayout()
        self.title = QtWidgets.QLabel()
        self.title.setStyleSheet("font-size: 14pt; font-weight: 600; color: #1f3b63;")
        self.progress = QtWidgets.QLabel()
        self.progress.setObjectName("hint")
        head.addWidget(self.title)
        head.addWidget(self.progress, 0, QtCore.Qt.AlignmentFlag.AlignBottom)
        head.addStretch(1)
        column.addLayout(head)
        self.text = QtWidgets.QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.text.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop)
        self.text.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Preferred)
        column.addWidget(self.text, 1)
        layout.addLayout(column, 1)
        buttons = QtWidgets.QGridLayout()
        buttons.setSpacing(6)
        self.show_button = QtWidgets.QPushButton("Show me")
        self.show_button.setObjectName("primaryButton")
        self.show_button.clicked.connect(self.run_step)
        self.back_button = QtWidgets.QPushButton("Back")
        self.back_button.clicked.connect(lambda: self.go(self.index - 1))
        self.next_button = QtWidgets.QPushButton("Next")
        self.next_button.clicked.connect(lambda: self.go(self.index + 1))
        self.close_button = QtWidgets.QPushButton("Close")
        self.close_button.clicked.connect(self.closed.emit)
        buttons.addWidget(self.show_button, 0, 0, 1, 2)
        buttons.addWidget(self.back_button, 1, 0)
        buttons.addWidget(self.next_button, 1, 1)
        buttons.addWidget(self.close_button, 2, 0, 1, 2)
        buttons.setRowStretch(3, 1)
        layout.addLayout(buttons)
        self.go(0)

    def go(self, index: int) -> None:
        self.index = max(0, min(index, len(STEPS) - 1))
        step = STEPS[self.index]
        self.progress.setText(f"step {self.index + 1} of {len(STEPS)}")
        self.title.setText(step.title)
        self.text.setText(step.text)
        self.show_button.setText(step.button)
        self.show_button.setEnabled(step.action in self.actions)
        self.back_button.setEnabled(self.index > 0)
        self.next_button.setEnabled(self.index < len(STEPS) - 1)

    def run_step(self) -> None:
        action = self.actions.get(STEPS[self.index].action)
        if action is not None:
            action()


def open_tour(window) -> QuickTour:
    """Show the tour in a dock under the map of ``window`` (a MainWindow), made once; from step 1."""
    dock = window.findChild(QtWidgets.QDockWidget, "tourDock")
    if dock is None:
        tour = QuickTour(tour_actions(window))
        dock = QtWidgets.QDockWidget("Quick tour", window)
        dock.setObjectName("tourDock")
        dock.setWidget(tour)
        dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable)
        window.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        tour.closed.connect(dock.hide)
    tour = dock.widget()
    tour.go(0)
    dock.setFloating(False)
    dock.show()
    dock.raise_()
    height = max(tour.sizeHint().height(), 150)
    QtCore.QTimer.singleShot(0, window, lambda: window.resizeDocks([dock], [height], QtCore.Qt.Orientation.Vertical))
    return tour


def tour_actions(window) -> dict:
    """The demonstrations of the tour's steps, done in ``window`` (a MainWindow)."""

    def look() -> None:
        if window.state.n == 0:
            window.open_demo()
            return
        window.state.set_colour_by("test_acc")
        acc = window.state.table.get("test_acc", np.zeros(window.state.n))
        best = int(np.nanargmax(np.where(window.state.visible_mask, acc, -1)))
        window.state.set_current(best)

    def brush() -> None:
        window.set_tool("lasso")
        named = [b for b in window.state.bookmarks if "test acc" in b.get("name", "").lower()]
        if named:
            window.state.apply_bookmark(named[0])
        elif "test_acc" in window.state.table:
            window.state.brush_range("test_acc", 0.9, None)

    def sample() -> None:
        window.generate_dock.raise_()
        window.generate_dock.show()

    def export() -> None:
        window.generate_dock.raise_()
        window.show_message("Choose sampled models in the table, then Export selected…; File › Export figure saves the map")

    return {"look": look, "brush": brush, "sample": sample, "export": export}
