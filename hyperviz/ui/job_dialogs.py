"""Dialogs that ask for the settings of a Jobs-menu job (Build zoo, Import zoo, Train, UMAP map).

Each dialog only collects settings (``values()``); :mod:`hyperviz.ui.jobs_menu` starts the job
(:mod:`hyperviz.model.jobs`) with them.
"""
from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets


class PathEdit(QtWidgets.QLineEdit):
    """A path field that, when it does not fit and is not being edited, shows the path elided in the
    middle (``/home/ann/…/zoos/zoo.h5``): its start and its file name, never just the end."""

    def __init__(self, text: str = "", parent=None) -> None:
        super().__init__(text, parent)
        self.setMinimumWidth(320)
        self.textChanged.connect(self.setToolTip)
        self.setToolTip(text)

    def _text_rect(self) -> QtCore.QRect:
        option = QtWidgets.QStyleOptionFrame()
        self.initStyleOption(option)
        return self.style().subElementRect(QtWidgets.QStyle.SubElement.SE_LineEditContents, option, self) \
            .adjusted(2, 0, -2, 0)

    def shown_text(self) -> str:
        """What the field shows when not being edited."""
        return self.fontMetrics().elidedText(self.text(), QtCore.Qt.TextElideMode.ElideMiddle,
                                             self._text_rect().width())

    def paintEvent(self, event) -> None:
        shown = self.shown_text()
        if self.hasFocus() or shown == self.text():
            super().paintEvent(event)
            return
        painter = QtGui.QPainter(self)
        try:
            option = QtWidgets.QStyleOptionFrame()
            self.initStyleOption(option)
            self.style().drawPrimitive(QtWidgets.QStyle.PrimitiveElement.PE_PanelLineEdit, option, painter, self)
            painter.setPen(self.palette().color(QtGui.QPalette.ColorRole.Text))
            painter.drawText(self._text_rect(), int(QtCore.Qt.AlignmentFlag.AlignVCenter
                                                    | QtCore.Qt.AlignmentFlag.AlignLeft), shown)
        finally:
            painter.end()


def existing_folder(*candidates: str) -> str:
    """The first candidate that is an existing folder (or the nearest existing parent of the first), else home."""
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return str(candidate)
    for candidate in candidates:
        for parent in Path(candidate).parents if candidate else ():
            if parent.is_dir() and parent != Path(parent.anchor):
                return str(parent)
    return str(Path.home())


class _Form(QtWidgets.QDialog):
    def __init__(self, title: str, intro: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(620)
        layout = QtWidgets.QVBoxLayout(self)
        text = QtWidgets.QLabel(intro)
        text.setWordWrap(True)
        text.setObjectName("hint")
        layout.addWidget(text)
        self.form = QtWidgets.QFormLayout()
        layout.addLayout(self.form)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).setText("Start")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _spin(self, lo: int, hi: int, value: int) -> QtWidgets.QSpinBox:
        spin = QtWidgets.QSpinBox()
        spin.setRange(lo, hi)
        spin.setValue(value)
        return spin

    def _path(self, default: str, save: bool, filter_: str = "HDF5 (*.h5)", folder: bool = False) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        edit = PathEdit(default)
        button = QtWidgets.QPushButton("Browse…")

        def browse() -> None:
            start = existing_folder(edit.text(), str(Path(edit.text()).parent))
            if folder:
                path = QtWidgets.QFileDialog.getExistingDirectory(self, "Choose a folder", start)
            elif filter_.startswith("JSON"):
                path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open", edit.text() or start, filter_)
            elif save:
                path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save as", edit.text(), filter_)
            else:
                path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open", edit.text(), filter_)
            if path:
                edit.setText(path)

        button.clicked.connect(browse)
        row.addWidget(edit, 1)
        row.addWidget(button)
        box.edit = edit
        return box


class BuildZooDialog(_Form):
    def __init__(self, folder: str, parent=None) -> None:
        super().__init__("Build a model zoo", "Train a population of small networks on the bundled 8×8 digits task, "
                         "varying seed, activation, initialisation, optimiser, learning rate, weight decay and "
                         "dropout. One checkpoint per epoch is kept (epoch 0 = initialisation).", parent)
        self.models = self._spin(2, 100_000, 128)
        self.epochs = self._spin(1, 200, 10)
        self.arch = QtWidgets.QComboBox()
        self.arch.addItems(["cnn", "mlp"])
        self.seed = self._spin(0, 2**31 - 1, 0)
        self.out = self._path(str(Path(folder) / "zoo.h5"), save=True)
        for label, widget in (("Models", self.models), ("Epochs", self.epochs), ("Architecture", self.arch),
                              ("Seed", self.seed), ("Zoo file", self.out)):
            self.form.addRow(label, widget)

    def values(self) -> dict:
        return {"models": self.models.value(), "epochs": self.epochs.value(), "arch": self.arch.currentText(),
                "seed": self.seed.value(), "out": self.out.edit.text()}


class ImportZooDialog(_Form):
    def __init__(self, folder: str, parent=None, source: str = "") -> None:
        super().__init__("Import a model zoo", "A Model Zoos folder (params.json, result.json, checkpoint_N/) or a "
                         "folder of .safetensors/.pt checkpoints with a properties table. Architectures that are "
                         "not recognised from their tensor shapes need an architecture spec (JSON).", parent)
        self.src = self._path(existing_folder(source, folder), save=False, folder=True)
        self.out = self._path(str(Path(folder) / "imported-zoo.h5"), save=True)
        self.arch_spec = self._path("", save=False, filter_="JSON architecture spec (*.json);;All files (*)")
        self.arch_spec.edit.setPlaceholderText("optional: recognised from the tensor shapes")
        self.form.addRow("Source folder", self.src)
        self.form.addRow("Zoo file", self.out)
        self.form.addRow("Architecture spec", self.arch_spec)

    def values(self) -> dict:
        return {"src": self.src.edit.text(), "out": self.out.edit.text(),
                "arch_spec": self.arch_spec.edit.text().strip() or None}


class TrainDialog(_Form):
    def __init__(self, zoo: str, folder: str, parent=None) -> None:
        super().__init__("Train a hyper-representation", "Fits the transformer autoencoder on the zoo's weights "
                         "(reconstruction + contrastive loss), embeds every model state and stores a PCA map. "
                         "Compute a UMAP map afterwards from the Jobs menu.", parent)
        self.zoo = self._path(zoo, save=False)
        self.out = self._path(str(Path(folder) / "workspace.h5"), save=True)
        self.preset = QtWidgets.QComboBox()
        self.preset.addItems(["tiny", "default"])
        self.preset.setCurrentText("default")
        self.epochs = self._spin(1, 500, 10)
        for label, widget in (("Zoo file", self.zoo), ("Workspace", self.out), ("Model size", self.preset),
                              ("Epochs", self.epochs)):
            self.form.addRow(label, widget)

    def values(self) -> dict:
        return {"zoo": self.zoo.edit.text(), "out": self.out.edit.text(), "preset": self.preset.currentText(),
                "epochs": self.epochs.value()}


class UmapDialog(_Form):
    def __init__(self, parent=None, neighbors: int = 15) -> None:
        super().__init__("Compute a UMAP map", "UMAP runs in a separate process: the window stays responsive and "
                         "Cancel stops it at once. The first fit in a session compiles for ~15-20 s. The suggested "
                         "neighbours span about six models' checkpoints (fewer draw one island per model).", parent)
        self.neighbors = self._spin(2, 500, neighbors)
        self.min_dist = QtWidgets.QDoubleSpinBox()
        self.min_dist.setRange(0.0, 1.0)
        self.min_dist.setSingleStep(0.05)
        self.min_dist.setValue(0.1)
        self.seed = self._spin(0, 2**31 - 1, 0)
        for label, widget in (("Neighbours", self.neighbors), ("Min. distance", self.min_dist), ("Seed", self.seed)):
            self.form.addRow(label, widget)

    def values(self) -> dict:
        return {"n_neighbors": self.neighbors.value(), "min_dist": self.min_dist.value(), "seed": self.seed.value()}
