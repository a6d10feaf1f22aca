"""Help > Quick tour: four steps on the demo workspace - look, brush, sample, export.

Each step explains one idea and has a "Show me" button that does it in the window (the window
passes the actions in), so a class can follow along on a projector.
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


class QuickTour(QtWidgets.QDialog):
    """A non-modal, step-by-step guide; ``actions[step.action]()`` runs a step's demonstration."""

    def __init__(self, actions: dict[str, Callable[[], None]], parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("quickTour")
        self.setWindowTitle("Quick tour")
        self.setMinimumSize(520, 340)
        self.actions = actions
        self.index = 0
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 14)
        self.progress = QtWidgets.QLabel()
        self.progress.setObjectName("hint")
        layout.addWidget(self.progress)
        self.title = QtWidgets.QLabel()
        self.title.setStyleSheet("font-size: 16pt; font-weight: 600; color: #1f3b63;")
        layout.addWidget(self.title)
        self.text = QtWidgets.QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.text.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.text, 1)
        buttons = QtWidgets.QHBoxLayout()
        self.show_button = QtWidgets.QPushButton("Show me")
        self.show_button.setObjectName("primaryButton")
        self.show_button.clicked.connect(self.run_step)
        self.back_button = QtWidgets.QPushButton("Back")
        self.back_button.clicked.connect(lambda: self.go(self.index - 1))
        self.next_button = QtWidgets.QPushButton("Next")
        self.next_button.clicked.connect(lambda: self.go(self.index + 1))
        close = QtWidgets.QPushButton("Close")
        close.clicked.connect(self.close)
        buttons.addWidget(self.show_button)
        buttons.addStretch(1)
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.next_button)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.go(0)

    def go(self, index: int) -> None:
        self.index = max(0, min(index, len(STEPS) - 1))
        step = STEPS[self.index]
        self.progress.setText(f"Step {self.index + 1} of {len(STEPS)}")
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
