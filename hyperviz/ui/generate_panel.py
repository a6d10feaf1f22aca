"""The generate dock: sample new models from the selected region, list them, export them.

"Sample" runs :func:`hyperviz.model.jobs.sample_job` in the background on a copy of the workspace
(the job stores its run and saves only when it completes, so a cancelled run leaves the workspace
as it was); the finished run's samples go to the open workspace
(:meth:`~hyperviz.model.workspace.OpenWorkspace.store_samples`). Sampled models appear in the map
as stars coloured by test accuracy and in a sortable table (accuracy, fine-tuned accuracy,
novelty, provenance). Chosen rows go to :func:`hyperviz.model.jobs.export_job`.
"""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtWidgets

from hyperviz.model import jobs
from hyperviz.ui.context import AppContext
from hyperviz.ui.resources import icon

#: (method, its name in the narrow menu, what it does: the item's tooltip)
METHODS = (("kde", "KDE", "KDE in latent space: new codes around the selected states' codes, decoded"),
           ("best-of", "KDE best of 5×", "KDE, drawing 5× as many and keeping the best by validation accuracy"),
           ("reconstruct", "decoded only", "baseline: the selected states decoded, no noise"),
           ("noise", "weights + noise", "baseline: the selected states' weights plus Gaussian noise"),
           ("random", "random init", "baseline: random initialisation"),
           ("zoo-best", "zoo's best", "baseline: the selection's best models themselves"))
COLUMNS = (("sample", None), ("method", None), ("test acc", "test_acc"), ("target acc", "target_acc"),
           ("fine-tuned", "finetune_acc"),
           ("val acc", "val_acc"), ("novelty (W)", "novelty_weight"), ("to region (W)", "novelty_region"),
           ("novelty (z)", "novelty_embedding"), ("max agreement", "max_agreement"),
           ("mistakes", "mistake_agreement"), ("agreement", "agreement"), ("anchor", None))
#: What each number column means, as header tooltips.
COLUMN_TIPS = {
    "target acc": "zero-shot test accuracy on the run's target task (runs with a target task only)",
    "fine-tuned": "test accuracy after fine-tuning, on the run's target task when it has one",
    "novelty (W)": "weight distance to the nearest training state",
    "to region (W)": "weight distance to the nearest state of the region the sample was drawn from",
    "novelty (z)": "embedding distance to the nearest training state",
    "max agreement": "share of test inputs on which the sample predicts like its functional nearest "
                     "neighbour (the training or region state it agrees with most)",
    "mistakes": "how alike its mistakes are to that neighbour's (Cohen's kappa); >= 0.5 counts as a copy",
    "agreement": "share of test inputs on which it predicts like its nearest training state in weight space",
}


#: Columns shown at first (the dock is narrow); the header's context menu shows the others.
SHOWN_COLUMNS = ("sample", "test acc", "target acc", "fine-tuned", "novelty (W)", "mistakes")


class _Sortable(QtWidgets.QTableWidgetItem):
    def __init__(self, text: str, key) -> None:
        super().__init__(text)
        self.key = key

    def __lt__(self, other) -> bool:
        try:
            return self.key < other.key
        except TypeError:
            return str(self.key) < str(other.key)


class ExportDialog(QtWidgets.QDialog):
    """Where and in which formats to write the chosen sampled models."""

    def __init__(self, count: int, folder: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export sampled models")
        layout = QtWidgets.QVBoxLayout(self)
        text = QtWidgets.QLabel(f"Write {count} model(s) as loadable checkpoints, each with a JSON file of its "
                                "architecture, metrics and provenance.")
        text.setWordWrap(True)
        layout.addWidget(text)
        form = QtWidgets.QFormLayout()
        row = QtWidgets.QHBoxLayout()
        self.folder = QtWidgets.QLineEdit(folder)
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form.addRow("Folder", row)
        self.safetensors = QtWidgets.QCheckBox("safetensors (recommended)")
        self.safetensors.setChecked(True)
        self.pt = QtWidgets.QCheckBox("PyTorch .pt (torch.load weights_only=True)")
        formats = QtWidgets.QVBoxLayout()
        formats.addWidget(self.safetensors)
        formats.addWidget(self.pt)
        form.addRow("Formats", formats)
        self.overwrite = QtWidgets.QCheckBox("Replace existing files")
        form.addRow("", self.overwrite)
        layout.addLayout(form)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Export to", self.folder.text())
        if path:
            self.folder.setText(path)

    def values(self) -> dict:
        formats = [name for name, box in (("safetensors", self.safetensors), ("pt", self.pt)) if box.isChecked()]
        return {"folder": self.folder.text(), "formats": formats or ["safetensors"],
                "overwrite": self.overwrite.isChecked()}


class GeneratePanel(QtWidgets.QWidget):
    """Samples from the context's selection in the open workspace, through the context's job runner."""

    WATCHES = ("table", "selection", "filters", "samples")

    def __init__(self, context: AppContext, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.state = state = context.state
        self.handle = None
        self._arch_ok = True                  # the selection can give the chosen architecture (_update_source)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        self.source = QtWidgets.QLabel()
        self.source.setObjectName("hint")
        self.source.setWordWrap(True)
        layout.addWidget(self.source)
        form = QtWidgets.QGridLayout()
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(4)
        self.method = QtWidgets.QComboBox()
        for i, (key, label, tip) in enumerate(METHODS):
            self.method.addItem(label, key)
            self.method.setItemData(i, tip, QtCore.Qt.ItemDataRole.ToolTipRole)
        self.method.currentIndexChanged.connect(lambda i: self.method.setToolTip(METHODS[i][2]))
        self.method.setToolTip(METHODS[0][2])
        self.method.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.method.setMinimumContentsLength(8)          # the dock stays narrow; the popup shows the whole names
        self.n = QtWidgets.QSpinBox()
        self.n.setRange(1, 2000)
        self.n.setValue(24)
        self.bandwidth = QtWidgets.QComboBox()
        self.bandwidth.setEditable(True)
        self.bandwidth.addItems(["0.25", "0.1", "0.5", "1.0", "scott", "silverman"])
        self.bandwidth.setToolTip("Kernel width per latent dimension: a rule, or a number relative to each "
                                  "dimension's spread over the selection (0 = copy the anchors)")
        self.seed = QtWidgets.QSpinBox()
        self.seed.setRange(0, 999_999)
        self.finetune = QtWidgets.QSpinBox()
        self.finetune.setRange(0, 50)
        self.finetune.setSuffix(" epochs")
        self.target = QtWidgets.QComboBox()
        self.target.setObjectName("targetTask")
        self.target.setToolTip("Transfer: evaluate the samples zero-shot on this task and fine-tune them on it "
                               "(compare with the random and zoo-best baselines)")
        self.target.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.target.setMinimumContentsLength(8)
        self.arch = QtWidgets.QComboBox()
        self.arch.setObjectName("targetArch")
        self.arch.setToolTip("The architecture to sample: one of the zoo's (the selection is restricted to its "
                             "model states), or a wider one the zoo lacks (samples are drawn as the zoo's and "
                             "widened, keeping their function)")
        self.arch.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.arch.setMinimumContentsLength(8)
        self.arch.currentIndexChanged.connect(lambda _i: self._update_source())
        cells = ((0, 0, "Method", self.method, 1), (0, 2, "Task", self.target, 1), (1, 0, "Samples", self.n, 1),
                 (1, 2, "Seed", self.seed, 1), (2, 0, "Bandwidth", self.bandwidth, 1),
                 (2, 2, "Fine-tune", self.finetune, 1), (3, 0, "Architecture", self.arch, 3))
        # "Task": the target task. The architecture row shows only when there is a choice.
        self.arch_label = None
        for row, col, label, widget, span in cells:
            caption = QtWidgets.QLabel(label)
            form.addWidget(caption, row, col)
            form.addWidget(widget, row, col + 1, 1, span)
            if widget is self.arch:
                self.arch_label = caption
        form.setColumnStretch(1, 1)
        form.setColumnStretch(3, 1)
        layout.addLayout(form)
        buttons = QtWidgets.QHBoxLayout()
        self.sample_button = QtWidgets.QPushButton("Sample from selection")
        self.sample_button.setObjectName("primaryButton")
        self.sample_button.setIcon(icon("sample"))
        self.sample_button.clicked.connect(self.sample)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button = QtWidgets.QPushButton("Export selected…")
        self.export_button.setToolTip("Write the sampled models chosen in the table as loadable checkpoints")
        self.export_button.clicked.connect(self.export_dialog)
        buttons.addWidget(self.sample_button, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.export_button)
        layout.addLayout(buttons)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.progress.hide()
        self.status = QtWidgets.QLabel("")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)

        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("samplesTable")
        self.table.setHorizontalHeaderLabels([c for c, _ in COLUMNS])
        for j, (title, _key) in enumerate(COLUMNS):
            if title in COLUMN_TIPS:
                self.table.horizontalHeaderItem(j).setToolTip(COLUMN_TIPS[title])
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemSelectionChanged.connect(self._choose_in_map)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        self.table.setMinimumHeight(self.table.horizontalHeader().sizeHint().height()
                                    + 5 * self.table.verticalHeader().defaultSectionSize() + 4)     # five rows
        header = self.table.horizontalHeader()
        header.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._column_menu)
        header.setToolTip("Right-click to show or hide columns")
        for j, (title, _key) in enumerate(COLUMNS):
            self.table.setColumnHidden(j, title not in SHOWN_COLUMNS)
        layout.addWidget(self.table, 1)

        state.signals.watch(self.WATCHES, self.refresh)
        self.refresh(frozenset(self.WATCHES))

    def refresh(self, changed: frozenset) -> None:
        """What sampling would start from, after the selection changed; the samples table, after the samples did."""
        if "table" in changed and not (self.handle is not None and self.handle.running):
            self.status.setText("")                  # a new workspace: the last run's report was about the old one
        if "table" in changed:
            self._fill_targets()
            self._fill_archs()
        if changed & {"table", "selection", "filters"}:
            self._update_source()
        if "samples" in changed:
            self._fill_table()

    # ---- sampling --------------------------------------------------------------------------------
    def _fill_targets(self) -> None:
        """The target-task menu for the open zoo (jobs.target_task_choices), keeping the choice when it still fits."""
        session = self.context.workspace.session
        keep = self.target.currentData()
        self.target.clear()
        for spec, label in jobs.target_task_choices(session.zoo if session is not None else None):
            self.target.addItem(label, spec)
        index = self.target.findData(keep) if keep is not None else 0
        self.target.setCurrentIndex(max(index, 0))

    def _fill_archs(self) -> None:
        """The architecture menu (jobs.target_arch_choices), shown when there is a choice."""
        session = self.context.workspace.session
        keep = self.arch.currentData()
        self.arch.blockSignals(True)
        self.arch.clear()
        for name, label in jobs.target_arch_choices(session.zoo if session is not None else None):
            self.arch.addItem(label, name)
        self.arch.setCurrentIndex(max(self.arch.findData(keep) if keep is not None else 0, 0))
        self.arch.blockSignals(False)
        choice = self.arch.count() > 0
        self.arch.setVisible(choice)
        self.arch_label.setVisible(choice)

    def _arch_note(self) -> tuple[str, bool]:
        """What the architecture choice means for the selection, and whether it can be sampled
        (core.generate.sampling's choose_arch and widening_source: the choice the run will make)."""
        chosen, session = self.arch.currentData(), self.context.workspace.session
        rows = np.flatnonzero(self.state.selected_mask) if self.state.n else np.zeros(0, np.int64)
        if self.arch.count() == 0 or session is None or rows.size == 0:
            return "", True
        if chosen is None and not session.zoo.is_mixed:
            return "", True                                  # the zoo's one architecture: nothing to say
        from core.errors import HyperVizError
        from core.generate.sampling import choose_arch, widening_source

        most_common, counts = choose_arch(session.ws, session.zoo, rows)
        if chosen is None or chosen in session.zoo.arch_names:
            chosen = chosen or most_common
            return (f" Architecture <b>{html.escape(chosen)}</b>: {counts.get(chosen, 0)} of them"
                    + ("" if counts.get(chosen) else " (choose another architecture)") + ".", bool(counts.get(chosen)))
        try:
            source, _ = widening_source(session.ws, session.zoo, rows, chosen, "kde")
        except HyperVizError:
            return f" No selected architecture widens to <b>{html.escape(chosen)}</b> (choose another).", False
        return (f" Drawn as <b>{html.escape(source)}</b> ({counts[source]} of them) and widened to "
                f"<b>{html.escape(chosen)}</b>, keeping each sample's function.", True)

    def _update_source(self) -> None:
        k = int(self.state.selected_mask.sum()) if self.state.n else 0
        if k == 0:
            self.source.setText("Select a region of the map (box, lasso or a property range), then sample new "
                                "models from it: latent codes are drawn around the selected models' codes and "
                                "decoded to weights.")
        else:
            text = (f"Sampling from <b>{k}</b> selected model states "
                    f"({html.escape(self.state.describe_selection())}).")
            note, self._arch_ok = self._arch_note()
            self.source.setText(text + note)
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.handle is not None and self.handle.running
        has_selection = self.state.n > 0 and bool(self.state.selected_mask.any())
        has_selection = has_selection and self._arch_ok       # not a chosen architecture the selection cannot give
        self.sample_button.setEnabled(has_selection and not running)
        self.cancel_button.setEnabled(running)
        self.cancel_button.setVisible(running)           # only while sampling: the row stays narrow
        self.export_button.setEnabled(bool(self.chosen_ids()))

    def sample(self) -> None:
        session = self.context.workspace.session
        rows = np.flatnonzero(self.state.selected_mask)
        if session is None or rows.size == 0:
            return
        method, n, target, arch = (self.method.currentData(), self.n.value(), self.target.currentData(),
                                   self.arch.currentData())
        bandwidth = self.bandwidth.currentText().strip() or None
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText(f"Sampling {n} models ({method})" + (f", transfer to {target}" if target else "") + "…")
        ws, zoo, bookmarks = session.ws, session.zoo, self.state.bookmarks
        description = self.state.selection.describe()
        self.handle = self.context.start_job(
            f"Sample {n} ({method})",
            lambda _cancel: jobs.sample_job(ws, zoo, rows, method, n, self.seed.value(), bandwidth,
                                            self.finetune.value(), description, bookmarks, target, arch),
            on_progress=self._on_progress, on_finished=self._on_finished, on_failed=self._on_failed,
            on_cancelled=self._on_cancelled, uses_torch=True)
        self._update_buttons()

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.status.setText("Cancelling…")

    def _on_progress(self, record) -> None:
        if record.total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * record.fraction))
        self.status.setText(record.message)

    def _on_finished(self, result) -> None:
        run, samples = result
        self._done()
        self.context.workspace.store_samples(samples)
        acc = samples[run]["arrays"]["test_acc"]
        text = f"Stored run {run}: mean test accuracy {np.mean(acc):.3f}, best {np.max(acc):.3f}."
        arrays = samples[run]["arrays"]
        target = (samples[run].get("meta", {}).get("target_task") or {}).get("name")
        if target and "target_acc" in arrays:
            text += f" On {target}: zero-shot {np.mean(arrays['target_acc']):.3f}"
            if arrays.get("finetune_acc") is not None and np.size(arrays["finetune_acc"]):
                text += f", fine-tuned {np.mean(np.asarray(arrays['finetune_acc'])[:, -1]):.3f}"
            text += "."
        copies = samples[run].get("meta", {}).get("copy_fraction")
        if copies is not None:
            text += f" {copies:.0%} are copies (the same mistakes as a training or region state)."
        self.status.setText(text)
        self.context.show_message(text)

    def _on_failed(self, message: str) -> None:
        self._done()
        self.status.setText(f"<span style='color:#D55E00'>Sampling failed: {message.splitlines()[0]}</span>")

    def _on_cancelled(self) -> None:
        self._done()
        self.status.setText("Sampling cancelled; the workspace is unchanged.")

    def _done(self) -> None:
        self.progress.hide()
        QtCore.QTimer.singleShot(0, self, self._update_buttons)

    # ---- the table -------------------------------------------------------------------------------
    def _fill_table(self) -> None:
        samples = self.state.samples
        self.table.setSortingEnabled(False)
        n = len(samples.get("run", []))
        self.table.setRowCount(n)
        table = self.state.table
        for i in range(n):
            run, index = str(samples["run"][i]), int(samples["index"][i])
            cells = [_Sortable(f"{run}:{index}", (run, index)), _Sortable(str(samples["method"][i]), str(samples["method"][i]))]
            for _title, key in COLUMNS[2:-1]:
                value = float(samples[key][i])
                shown = "–" if np.isnan(value) else f"{round(value, 3) + 0.0:.3f}"      # + 0.0: no "-0.000"
                cells.append(_Sortable(shown, -np.inf if np.isnan(value) else value))
            anchor = samples["anchor_state"][i]
            if np.isfinite(anchor) and anchor >= 0 and table and int(anchor) < self.state.n:
                row = int(anchor)
                model_id = table["model_id"][row] if "model_id" in table else table["model"][row]
                text = f"{model_id} @ epoch {int(table['epoch'][row])}"
            else:
                text = "–"
            cells.append(_Sortable(text, text))
            for j, cell in enumerate(cells):
                cell.setData(QtCore.Qt.ItemDataRole.UserRole, (run, index))
                self.table.setItem(i, j, cell)
        self.table.setSortingEnabled(True)
        if n and self.table.horizontalHeader().sortIndicatorSection() == 0:
            self.table.sortItems(2, QtCore.Qt.SortOrder.DescendingOrder)      # best test accuracy first
        tuned = COLUMNS.index(("fine-tuned", "finetune_acc"))
        if n and not np.isfinite(samples["finetune_acc"]).any():
            self.table.setColumnHidden(tuned, True)          # no run was fine-tuned: no empty column
        target_col = COLUMNS.index(("target acc", "target_acc"))
        if n:
            self.table.setColumnHidden(target_col, not np.isfinite(samples["target_acc"]).any())  # only with a target
        self.table.resizeColumnsToContents()
        self._fit_columns()
        self._update_buttons()

    def _fit_columns(self) -> None:
        """The name column as wide as its contents, the number columns sharing the rest: no sideways scrolling."""
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        for j in range(1, len(COLUMNS)):
            header.setSectionResizeMode(j, QtWidgets.QHeaderView.ResizeMode.Stretch)

    def _column_menu(self, pos) -> None:
        menu = QtWidgets.QMenu(self)
        for j, (title, _key) in enumerate(COLUMNS):
            act = menu.addAction(title)
            act.setCheckable(True)
            act.setChecked(not self.table.isColumnHidden(j))
            act.toggled.connect(lambda on, j=j: self.table.setColumnHidden(j, not on))
        menu.popup(self.table.horizontalHeader().mapToGlobal(pos))

    def show_sample(self, i: int) -> None:
        """Choose sampled model ``i`` (an index into ``state.samples``, e.g. its star was clicked) in the table."""
        samples = self.state.samples
        if not samples or not 0 <= i < len(samples.get("run", [])):
            return
        key = (str(samples["run"][i]), int(samples["index"][i]))
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 0)
            if item is not None and item.data(QtCore.Qt.ItemDataRole.UserRole) == key:
                self.table.selectRow(r)
                self.table.scrollToItem(item)
                self.context.show_message(f"Sampled model {key[0]}:{key[1]} chosen in the Generate table")
                return

    def _choose_in_map(self) -> None:
        """The rows chosen in the table: their stars are ringed in the map (``state.chosen_samples``)."""
        samples = self.state.samples
        if not samples or "run" not in samples:
            return
        where = {(str(r), int(i)): k for k, (r, i) in enumerate(zip(samples["run"], samples["index"]))}
        self.state.choose_samples(where[key] for key in self.chosen_ids() if key in where)

    def chosen_ids(self) -> list[tuple[str, int]]:
        rows = sorted({item.row() for item in self.table.selectedItems()})
        return [self.table.item(r, 0).data(QtCore.Qt.ItemDataRole.UserRole) for r in rows]

    def export_dialog(self) -> None:
        ids = self.chosen_ids()
        session = self.context.workspace.session
        if not ids or session is None:
            return
        dialog = ExportDialog(len(ids), str(Path.home() / "hyperviz-exports"), self)
        if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return
        values = dialog.values()
        self.export(ids, values["folder"], values["formats"], values["overwrite"])

    def export(self, ids: list[tuple[str, int]], folder: str, formats, overwrite: bool = False):
        """Write the sampled models ``ids`` with :func:`hyperviz.model.jobs.export_job` in the background."""
        ws = self.context.workspace.ws
        if ws is None or not ids:
            return None
        say = self.context.show_message
        return self.context.start_job(f"Export {len(ids)} model(s)",
                                      lambda _cancel: jobs.export_job(ws, ids, folder, formats, overwrite),
                                      uses_torch=True,
                                      on_finished=lambda paths: say(f"Exported {len(paths)} model(s) to {folder}"),
                                      on_failed=lambda m: say(f"Export failed: {m.splitlines()[0]}"))
