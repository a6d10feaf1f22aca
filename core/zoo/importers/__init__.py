"""Import a population of trained models from public on-disk formats into a zoo file.

Two source layouts are read (:func:`detect_format` tells which one a directory is):

``modelzoos``
    The Model Zoos / Ray Tune layout: a directory of model directories (or one model directory),
    each with ``params.json`` (the config), ``result.json`` (JSON lines, one per evaluated epoch)
    and ``checkpoint_<N>`` or ``checkpoint_<NNNNNN>`` folders holding a file ``checkpoints``
    (a ``torch.save``-d state_dict). The checkpoint epochs of the zoo are the union of all
    models' checkpoint numbers; ``present`` is False where a model lacks one. ``-999`` in
    ``result.json`` means "not measured" and becomes NaN; ``ggap = train_acc - test_acc``.

    **Epoch alignment of result.json.** Each line is matched to a checkpoint epoch through its
    ``training_iteration`` ``t`` (1-based, counted by Ray): when the zoo has ``checkpoint_0``
    (the initialisation, whose metrics the trainable's first, evaluation-only step reports), line
    ``t`` belongs to epoch ``t - 1``; otherwise to epoch ``t``. A line without a usable
    ``training_iteration`` falls back to its position ``j`` (0-based, blank lines not counted):
    epoch ``j`` with ``checkpoint_0``, ``j + 1`` without. This is the rule of the Model Zoos
    loaders (``idx_offset = 0 if checkpoint_0 was written, else 1``). Whether ``checkpoint_0``
    exists is decided once for the whole zoo (any model has it), because it is a property of the
    training script, not of one model: a model that merely lost its ``checkpoint_0`` keeps the
    zoo's alignment. Result lines for epochs without a checkpoint are not kept.

``folder``
    A folder of ``.safetensors`` / ``.pt`` (``.pth``) state_dicts plus one properties table
    (``properties.csv`` / ``properties.json``, else the folder's single ``.csv`` / ``.json``) with
    a ``file`` column. Each row is one model with a single checkpoint (epoch from an ``epoch``
    column, else 0), unless the table has both ``model_id`` and ``epoch`` columns: then rows with
    the same ``model_id`` are the checkpoints of one model. Hyperparameters (``activation``,
    ``init``, ``optimizer``, ``lr``, ``weight_decay``, ``dropout``, ``seed``) and text columns
    become model columns; every other numeric column is a state property. Checkpoint files the
    table does not name are ignored with a warning.

Parameters are matched by **order and shape**, never by key name (the Model Zoos CNN keeps its
layers in a ``module_list`` whose indices shift with dropout): the floating-point tensors of a
state_dict, minus normalisation buffers, are taken in order and their shapes must equal a known
architecture's (:func:`core.zoo.arch.recognise`) or the ``--arch-spec`` file's. torch files keep
their saved order; safetensors files do not store one, so their keys are put in natural order
(``2.weight`` before ``10.weight``, weight before bias).

**Hostile or careless sources.** A checkpoint may take at most 256 MiB in memory
(``HYPERVIZ_MAX_CHECKPOINT_MB`` sets another limit): its file size, and for torch's zip format the
declared uncompressed sizes of its entries, are checked before anything is read or decompressed.
A table may name each checkpoint file once (one file is never two models or two states); two
columns whose names are the same (after making them safe: ``l r`` and ``l_r``) and NUL bytes are
one-line errors, like epochs outside 0..2**31-1 and a ``training_iteration`` that is not a whole
number >= 1. NaN and infinite values (``nan``/``inf`` cells, ``NaN``/``Infinity`` in
``result.json``) are read as missing ("not measured", like -999), with one warning line per file.

``.pt`` files and Model Zoos checkpoints are loaded with ``torch.load(weights_only=True)``; a file
that needs arbitrary unpickling is refused, never loaded another way. Everything is read and
checked in memory before :func:`core.zoo.store.write_zoo` writes ``out`` atomically, so a failed
import leaves no file and an existing ``out`` untouched. A file already at ``out`` (a zoo, a
workspace, anything) is refused before anything is read, unless ``overwrite`` is given.
"""
from __future__ import annotations

from pathlib import Path

from core.errors import HyperVizError, shown
from core.progress import Job, Progress
from core.zoo.importers.checkpoints import CHECKPOINT_SUFFIXES, read_spec
from core.zoo.importers.folder import TABLE_NAMES, import_folder
from core.zoo.importers.modelzoos import checkpoint_dirs, import_modelzoos
from core.zoo.store import check_zoo_destination, write_zoo
from core.zoo.tasks import check_task_fits, get_task

__all__ = ["detect_format", "import_zoo_job"]


def import_zoo_job(src: str | Path, out: str | Path, arch_spec_path: str | Path | None = None,
                   overwrite: bool = False, task: str | None = None) -> Job[Path]:
    """Read the models under ``src`` (either layout), write them as a zoo file at ``out``.

    Yields one :class:`Progress` per model and one for the write; returns the written path.
    ``arch_spec_path`` names a JSON :class:`ArchSpec` (or a list of them) for architectures hyperviz
    does not know. A source may mix architectures: each model's is recognised from its shapes and
    recorded in the model column ``arch``.
    Anything already at ``out`` is refused unless ``overwrite`` (a folder always is).
    ``task`` (a task spec: ``idx:FOLDER``, ``npz:FILE.npz``, ``images:FOLDER`` or a bundled name)
    is the data the models were trained on: it is read and checked against the architecture
    before anything else, and recorded in the zoo's ``/meta/task`` (with its files and split), so
    the zoo's models can be evaluated, sampled and fine-tuned on it. Without it the task is the
    name the source gives (Model Zoos: the ``dataset::dump`` folder), which hyperviz cannot run.
    """
    src, out = Path(src), Path(out)
    check_zoo_destination(out, overwrite)
    spec = read_spec(Path(arch_spec_path)) if arch_spec_path is not None else None
    data = get_task(task) if task is not None else None
    kind = detect_format(src)
    if kind == "modelzoos":
        zoo = yield from import_modelzoos(src, spec)
    else:
        zoo = yield from import_folder(src, spec)
    if data is not None:
        for arch in zoo.archs:
            check_task_fits(arch, data, f"--task {shown(task, 80)}: ")
        zoo.task = {**data.describe(), "named_by_source": zoo.task.get("name")}
    total = zoo.n_models + 1
    yield Progress(zoo.n_models, total, f"writing {out.name}")
    path = write_zoo(out, zoo)
    yield Progress(total, total, f"wrote {zoo.n_models} models to {path.name}")
    return path


def detect_format(src: Path) -> str:
    """``"modelzoos"`` or ``"folder"``; a one-line error for anything else."""
    if not src.exists():
        raise HyperVizError(f"{src}: no such file or directory")
    if not src.is_dir():
        raise HyperVizError(f"{src}: not a directory (expected a Model Zoos directory or a folder of checkpoints)")
    entries = list(src.iterdir())
    if not entries:
        raise HyperVizError(f"{src}: empty directory, nothing to import")
    if checkpoint_dirs(src) or any(p.is_dir() and checkpoint_dirs(p) for p in entries):
        return "modelzoos"
    if any(p.is_file() and (p.suffix in CHECKPOINT_SUFFIXES or p.name in TABLE_NAMES) for p in entries):
        return "folder"
    raise HyperVizError(
        f"{src}: neither a Model Zoos directory (model folders with params.json, result.json, "
        f"checkpoint_<N>/checkpoints) nor a folder of .safetensors/.pt checkpoints with a properties table"
    )
