"""Sampling new models from a region of the latent space (``hyperviz sample``).

A *selection* is a set of rows of the workspace's states table (chosen by a ``--where`` filter, a
lasso in the map, ...). The latent codes of the selected states are computed on demand by
encoding their weights (``[k, T, d_latent]``, one latent per token, flattened to ``[k, D]`` with
``D = T * d_latent``); new codes are drawn, decoded to weights and judged (``core.generate.evaluate``).

Methods (:data:`METHODS`)
-------------------------
``kde``
    Gaussian kernel density estimate with a product (diagonal) kernel: each sample picks one
    anchor row uniformly from the selection and adds ``N(0, h_j^2)`` to every latent dimension
    ``j``, with *independent* random numbers per sample and per dimension. (The published
    reference fitted one 1-D KDE per dimension and sampled each with the same seed, so every
    dimension reused the same anchor and the same noise draw: each "sample" was one training
    embedding plus one shared offset. We do not reproduce that.) ``kde_mode="marginal"`` also
    draws the anchor independently per dimension (a product of per-dimension 1-D KDEs, SANE's
    ``individual`` mode done with independent randomness); it breaks the correlations between
    dimensions and is not the default.
``best-of``
    Oversample ``oversample * n`` (default 5x) codes with ``kde``, decode them, evaluate them on
    the task's **validation** split and keep the ``n`` best by validation accuracy (ties: lower
    validation loss). With ``rounds > 1`` the KDE is refitted on the kept codes and the draw is
    repeated (SANE's BOOT); the kept set is the best ``n`` of the previous kept set and the new
    candidates, so validation accuracy never drops from round to round.
``reconstruct``
    Baseline: the selected states' own latent codes decoded, no noise (the KDE at bandwidth 0):
    what the autoencoder alone changes. Every selected state is decoded once, in random order,
    before any is decoded twice (:func:`reconstruct_picks`); one selected state is enough.
``noise``
    Baseline: the selected states' own weights plus Gaussian noise. The anchor is a uniformly
    chosen selected state; every parametric layer (weight and bias) gets noise of standard
    deviation ``sigma * std(that layer's weight tensor in the anchor)``. Default ``sigma`` 0.02,
    the low end of the 0.02-0.04 Zeng et al. 2025 used at a similar scale: the baseline must show
    what "accurate but not novel" looks like, so its samples must stay functional copies of their
    anchors. On the default digits zoo (final states with test_acc >= 0.9, 150 per activation)
    99-100% of sigma-0.02 samples keep their anchor's mistakes (:data:`COPY_THRESHOLD`) for every
    activation; at 0.05, 13% of relu and gelu samples no longer do (60 per activation).
``random``
    Baseline: a fresh initialisation of the architecture; each sample takes the init scheme of a
    uniformly chosen selected model (its hyperparameter) and a fresh seed.
``zoo-best``
    Baseline: the selection's own best states, the ``n`` states of the chosen activation with the
    highest validation accuracy on the zoo's task (ties: lower validation loss, then higher test
    accuracy); every one once, so a run has ``min(n, selected states)`` samples. Copies by
    construction: what "fine-tune the zoo's best models" gives, beside samples and random init.

Bandwidth
---------
``bandwidth`` is a number (default 0.25), ``"scott"`` or ``"silverman"``. The rules are applied **per
dimension** on the selection's latents: Scott ``h_j = sigma_j * k^(-1/5)``, Silverman
``h_j = 0.9 * min(sigma_j, IQR_j / 1.349) * k^(-1/5)`` (``sigma_j``: the dimension's standard
deviation over the k selected codes). A number ``b`` is **relative to each dimension's standard
deviation**: ``h_j = b * sigma_j``, so ``0`` reproduces the anchors exactly and ``1`` blurs as
widely as the selection itself spreads; a relative scale means one value fits any autoencoder,
whatever the scale of its latents. (The multivariate Scott factor ``k^(-1/(D+4))`` is close to 1
for a D of hundreds, i.e. samples as far from their anchor as the selected models are from each
other; the per-dimension rule is the one the published method used.)

The default 0.25 was measured on the default 512-model digits zoo (top 30% of final-epoch models,
100 samples each): relative bandwidth 0 / 0.1 / 0.25 / Scott (about 0.44 there) / 1.0 gave mean
zero-shot test accuracy 0.955 / 0.945 / 0.865 / 0.650 / 0.219 against the selection's 0.970. At
0.25 samples keep most of the accuracy while moving visibly away from their anchors.

Activation
----------
A decoded weight vector needs an activation to run, and the zoo's models differ in it. The
density is fitted **only on the selected states of the majority activation** (ties: the
alphabetically first), and every sample of the run (every method) uses that activation. States of
other activations are left out of the fit and counted in the run's metadata
(``activation_counts``); a KDE mixing codes of networks that only work with different
nonlinearities would decode to models that fit none of them.

Fine-tuning
-----------
With ``finetune=K`` every sample (and every baseline) is trained K more epochs with one recipe per
run: the most common optimizer / learning rate / weight decay of the selected models (the recipe
that trained them), dropout 0, batch 32, the same data order for every model
(:func:`finetune_recipe`, recorded in the run's metadata).

Transfer to another task
------------------------
With ``target_task`` (a task spec, e.g. ``shapes``; :mod:`core.zoo.tasks`) other than the zoo's own,
every sample is also evaluated zero-shot on the target task's test split (``target_acc`` /
``target_loss``) and fine-tuning (``finetune=K``) trains on the target task's training split and
reports its test accuracy. Everything else (test and validation accuracy, best-of's choice,
novelty) stays on the zoo's task. The target must take the architecture's input shape and have
at most as many classes as it has outputs. The run's metadata records ``target_task``.

A wider architecture than the zoo's
-----------------------------------
With ``arch`` naming a known architecture the zoo does not hold but that widens one of the
selected architectures (:mod:`core.generate.grow`: same layers, every hidden width at least as
large; e.g. ``cnn_wide`` or ``cnn_large`` from ``cnn``), the method draws in the selection's
architecture and every sample is then widened to the target, keeping its function exactly.
Evaluation, fine-tuning, the stored weights and the export are of the target architecture;
novelty, the embedding and the place in the map are the source sample's (the same function).
``random`` there has no source to widen: every widened run instead records in its metadata
(``widened``) ``n`` fresh initialisations of the target architecture, evaluated and fine-tuned
the same way, so each run carries its own random-init baseline.

Novelty and copies
------------------
Every sample is judged against the states it could have been copied from
(:func:`core.generate.evaluate.novelty`): the weight-space distance to the nearest training-split
state (``novelty_weight``) and to the nearest state of the *fitted region*, the selected states the
sampler was fitted on (``novelty_region``); and its *functional* nearest neighbour among the
training and fitted-region states (``nn_state_function``, the state whose test predictions it
shares most, and that share, ``max_agreement``). A sample is a *copy* when it also makes that
neighbour's mistakes: ``mistake_agreement >= COPY_THRESHOLD`` (the threshold and the figures
behind it: :data:`core.generate.evaluate.COPY_THRESHOLD`). Each run stores ``copy_fraction``,
``median_max_agreement`` and ``median_mistake_agreement`` in its metadata.

Running a method
----------------
:func:`sample_job` runs the steps of a run, one function each: :func:`prepare_run` (checks, the
selection, the autoencoder), the method's draw (:data:`DRAWS`: :func:`draw_kde`,
:func:`draw_best_of`, :func:`draw_reconstruct`, :func:`draw_noise`, :func:`draw_random`),
:func:`evaluate_samples` (test and validation split), :func:`judge_novelty`,
:func:`finetune_samples` (optional), :func:`place_samples` (every stored projection) and
:func:`store_run` (``ws.samples[run_id]``). Run ids are ``r<NNN>_<method>`` (``r001_kde``,
``r002_best_of``); sample ids are ``<run>:<index>`` (0-based), e.g. ``r002_best_of:7``.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.device import resolve_device
from core.errors import HyperVizError
from core.generate.evaluate import (
    FINETUNE,
    FINETUNE_BATCH,
    Evaluation,
    TrainingReference,
    aligned_nearest_neighbours,
    copy_summary,
    evaluate_weights,
    finetune_job,
    novelty,
)
from core.generate.methods import BANDWIDTH_RULES, MAX_SAMPLES, METHODS
from core.hyperrep.workspace import Workspace, load_workspace
from core.progress import Job, Progress
from core.zoo.arch import INITS, ArchSpec
from core.zoo.modules import init_vector
from core.zoo.store import Zoo
from core.zoo.tasks import Task, check_task_fits, get_task, task_for_zoo

if TYPE_CHECKING:
    from core.hyperrep.autoencoder import HyperRepAE

DEFAULT_BANDWIDTH = 0.25
NOISE_SIGMA = 0.02
OVERSAMPLE = 5
KDE_MODES = ("joint", "marginal")
_RUN_ID = re.compile(r"r(\d+)_")


# ---- checks --------------------------------------------------------------------------------
def check_n(n: int, what: str = "-n") -> int:
    """The number of samples, or a one-line error when it is not in 1..MAX_SAMPLES."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise HyperVizError(f"{what} {n!r}: must be a whole number")
    if n <= 0:
        raise HyperVizError(f"{what} {n}: must be at least 1")
    if n > MAX_SAMPLES:
        raise HyperVizError(f"{what} {n}: at most {MAX_SAMPLES} samples per run")
    return int(n)


def check_method(method: str) -> str:
    if method not in METHODS:
        raise HyperVizError(f"sampling method {method!r}: expected one of {', '.join(METHODS)}")
    return method


def parse_bandwidth(value) -> str | float:
    """``None`` -> the default (0.25); a rule name; or a number >= 0 (relative to each dim's std)."""
    if value is None:
        return DEFAULT_BANDWIDTH
    if isinstance(value, str):
        if value.lower() in BANDWIDTH_RULES:
            return value.lower()
        try:
            value = float(value)
        except ValueError:
            raise HyperVizError(f"bandwidth {value!r}: expected {' or '.join(BANDWIDTH_RULES)} or a number >= 0") from None
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise HyperVizError(f"bandwidth {value}: must be a finite number >= 0 (relative to each dimension's std)")
    return value


# ---- the density ---------------------------------------------------------------------------
def kde_bandwidths(latents, bandwidth=None) -> np.ndarray:
    """Per-dimension kernel widths ``h [D]`` for codes ``latents [k, D]`` (see the module docstring)."""
    z = np.asarray(latents, dtype=np.float64)
    k = z.shape[0]
    if k < 2:
        raise HyperVizError(f"a density needs at least 2 latent codes, got {k}")
    bw = parse_bandwidth(bandwidth)
    sigma = z.std(axis=0, ddof=1)
    if isinstance(bw, float):
        return bw * sigma
    factor = k ** (-1.0 / 5.0)
    if bw == "scott":
        return sigma * factor
    q75, q25 = np.percentile(z, [75, 25], axis=0)
    spread = np.minimum(sigma, (q75 - q25) / 1.349)
    spread = np.where(spread > 0, spread, sigma)          # a degenerate IQR falls back to the std
    return 0.9 * spread * factor


class KdeSampler:
    """A Gaussian KDE with a diagonal kernel over codes ``[k, D]`` (or ``[k, T, d]``, flattened)."""

    def __init__(self, latents, bandwidth=None, mode: str = "joint"):
        z = np.asarray(latents, dtype=np.float32)
        self.shape = z.shape[1:]
        self.latents = z.reshape(len(z), -1)
        if mode not in KDE_MODES:
            raise HyperVizError(f"KDE mode {mode!r}: expected one of {', '.join(KDE_MODES)}")
        self.mode = mode
        self.bandwidth = parse_bandwidth(bandwidth)
        self.h = kde_bandwidths(self.latents, self.bandwidth).astype(np.float32)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(codes [n, *shape], anchors)``: anchors ``[n]`` (joint) or ``[n, D]`` (marginal) index the rows."""
        k, d = self.latents.shape
        noise = rng.standard_normal((n, d), dtype=np.float32) * self.h       # independent per sample and dim
        if self.mode == "joint":
            anchors = rng.integers(0, k, size=n)
            base = self.latents[anchors]
        else:
            anchors = rng.integers(0, k, size=(n, d))
            base = np.take_along_axis(self.latents, anchors, axis=0)             # base[i, j] = latents[anchors[i, j], j]
        return (base + noise).reshape(n, *self.shape), anchors


# ---- the selection -------------------------------------------------------------------------
def selection_table(ws: Workspace, zoo: Zoo) -> dict[str, np.ndarray]:
    """One row per embedded state (the workspace's states table): every state property, every
    model hyperparameter, ``epoch``, ``model_id`` and ``split`` - the columns ``--where`` knows."""
    from core.analysis.report import state_properties

    ws.require("embeddings")
    table = state_properties(zoo, ws.states)
    if "model_id" not in table:
        table["model_id"] = np.array([f"m{i:05d}" for i in ws.states[:, 0]])
    if ws.split is not None:
        table["split"] = ws.split[ws.states[:, 0]]
    return table


@dataclass
class Selection:
    rows: np.ndarray                 # int64: selected rows of ws.states
    used: np.ndarray                 # int64: the rows of the chosen architecture and activation (what the density sees)
    activation: str
    activation_counts: dict[str, int]
    description: str
    arch: str = ""                   # the architecture of ``used`` (one, in a zoo that mixes them)
    arch_counts: dict[str, int] = field(default_factory=dict)


def choose_arch(ws: Workspace, zoo: Zoo, rows: np.ndarray, arch: str | None = None) -> tuple[str, dict[str, int]]:
    """The architecture a run samples: ``arch`` (one of the zoo's), else the selection's most common
    (ties: the first in the zoo's order); and the selection's count per architecture."""
    names = zoo.model_archs()[ws.states[rows, 0]]
    counts = {a: int(np.sum(names == a)) for a in zoo.arch_names if np.any(names == a)}
    if arch is None:
        return max(counts, key=lambda a: counts[a]), counts
    zoo.spec(arch)                                        # a one-line error for a name the zoo lacks
    if arch not in counts:
        raise HyperVizError(f"--arch {arch}: the selection holds no model state of architecture {arch!r} "
                            f"(it holds {', '.join(f'{a} ({c})' for a, c in counts.items())})")
    return arch, counts


def _activation_column(zoo: Zoo) -> np.ndarray:
    if "activation" not in zoo.models:
        raise HyperVizError("the zoo has no 'activation' column: decoded models cannot be run")
    return np.asarray(zoo.models["activation"]).astype(str)


def check_rows(ws: Workspace, rows) -> np.ndarray:
    """Selected rows of ``ws.states`` (indices, or a mask of them), sorted and unique; a one-line
    error for an empty selection or a row out of range."""
    rows = np.asarray(rows)
    if rows.dtype == bool:
        if rows.shape != (len(ws.states),):
            raise HyperVizError(f"selection mask of length {len(rows)} does not fit {len(ws.states)} model states")
        rows = np.flatnonzero(rows)
    rows = np.unique(rows.astype(np.int64))
    if rows.size == 0:
        raise HyperVizError("the selection is empty: select at least one model state")
    if rows[0] < 0 or rows[-1] >= len(ws.states):
        raise HyperVizError(f"selection rows must be in 0..{len(ws.states) - 1}")
    return rows


def make_selection(ws: Workspace, zoo: Zoo, rows, description: str | None = None, arch: str | None = None) -> Selection:
    """Check ``rows`` (indices into ``ws.states``) and restrict them to one architecture (``arch``, else
    the selection's most common: :func:`choose_arch`) and to its majority activation."""
    ws.require("embeddings")
    rows = check_rows(ws, rows)
    arch, arch_counts = choose_arch(ws, zoo, rows, arch)
    rows_arch = rows[zoo.model_archs()[ws.states[rows, 0]] == arch]
    acts = _activation_column(zoo)[ws.states[rows_arch, 0]]
    names, counts = np.unique(acts, return_counts=True)
    activation = str(names[np.argmax(counts)])             # np.unique sorts: ties go to the first name
    return Selection(rows, rows_arch[acts == activation], activation,
                     {str(a): int(c) for a, c in zip(names, counts)},
                     description or f"{len(rows)} model states", arch, arch_counts)


def state_weights(ws: Workspace, zoo: Zoo, rows, arch: ArchSpec | None = None) -> np.ndarray:
    """Weights ``[len(rows), P]`` of states table rows (``P`` = ``arch``'s parameters, when given: the
    rows must be of that architecture; else the zoo's width)."""
    states = ws.states[np.asarray(rows, dtype=np.int64)]
    width = arch.n_params if arch is not None else zoo.weights.shape[2]
    return zoo.weights[states[:, 0], states[:, 1], :width]


def training_reference(ws: Workspace, zoo: Zoo, arch: str | None = None) -> TrainingReference:
    """The usable states of the models in split ``train`` (what novelty is measured against); in a
    zoo of several architectures, those of ``arch`` (default: the zoo's first)."""
    ws.require("embeddings")
    rows = np.arange(len(ws.states)) if ws.split is None else np.flatnonzero(ws.split[ws.states[:, 0]] == "train")
    spec = zoo.spec(arch) if arch is not None else zoo.archs[0]
    rows = rows[zoo.model_archs()[ws.states[rows, 0]] == spec.name]
    if rows.size == 0:
        raise HyperVizError(f"{ws.path}: no model states of architecture {spec.name!r} in the training split to "
                            "measure novelty against")
    return TrainingReference(rows, state_weights(ws, zoo, rows, spec), _activation_column(zoo)[ws.states[rows, 0]],
                             ws.embeddings[rows])


def selection_summary(ws: Workspace, zoo: Zoo, rows, device: str | torch.device = "cpu", arch: str | None = None) -> dict:
    """``n``, ``mean_test_acc`` and ``median_nn_distance`` (median over the selected states of the
    weight-space distance (core.generate.evaluate.aligned_nearest_neighbours, as for samples' novelty) to the
    nearest *other* selected state; None for a single state)."""
    sel = make_selection(ws, zoo, rows, arch=arch)
    if zoo.is_mixed:                                     # the figures of the architecture the run samples
        sel.rows = sel.rows[zoo.model_archs()[ws.states[sel.rows, 0]] == sel.arch]
    states = ws.states[sel.rows]
    acc = zoo.states["test_acc"][states[:, 0], states[:, 1]] if "test_acc" in zoo.states else np.full(len(sel.rows), np.nan)
    median_nn = None
    if len(sel.rows) > 1:
        spec = zoo.spec(sel.arch)
        w = state_weights(ws, zoo, sel.rows, spec)
        dist, _ = aligned_nearest_neighbours(spec, w, w, device, exclude=np.arange(len(sel.rows)))
        median_nn = float(np.median(dist))
    out = {"n": int(len(sel.rows)), "mean_test_acc": _finite_mean(acc), "median_nn_distance": median_nn,
           "activation": sel.activation, "activation_counts": sel.activation_counts}
    if zoo.is_mixed:
        out.update(arch=sel.arch, arch_counts=sel.arch_counts)
    return out


def _finite_mean(values) -> float | None:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def finetune_recipe(ws: Workspace, zoo: Zoo, rows) -> dict:
    """How every sample and baseline of a run is fine-tuned: the most common (optimizer, lr,
    weight decay) among the selected states' models - the recipe that trained them, so the random
    baseline is "training from scratch the way the zoo did" - with dropout 0. Falls back to
    :data:`core.generate.evaluate.FINETUNE` (Adam, lr 1e-3) when the zoo lacks those hyperparameters."""
    from collections import Counter

    from core.zoo.spec import OPTIMIZERS

    cols = ("optimizer", "lr", "weight_decay")
    if len(rows) == 0 or not all(c in zoo.models for c in cols):
        return {**FINETUNE, "source": "default"}
    models = ws.states[np.asarray(rows, dtype=np.int64), 0]
    combos = Counter(zip(*(zoo.models[c][models].tolist() for c in cols)))
    top = max(combos.values())
    optimizer, lr, wd = sorted((c for c, k in combos.items() if k == top), key=str)[0]
    try:
        lr, wd = float(lr), float(wd)
    except (TypeError, ValueError):
        return {**FINETUNE, "source": "default"}
    if str(optimizer) not in OPTIMIZERS or not (np.isfinite(lr) and lr > 0 and np.isfinite(wd) and wd >= 0):
        return {**FINETUNE, "source": "default"}
    return {"optimizer": str(optimizer), "lr": lr, "weight_decay": wd, "dropout": 0.0,
            "source": "most common among the selected models"}


# ---- runs ----------------------------------------------------------------------------------
def next_run_id(ws: Workspace, method: str) -> str:
    numbers = [int(m.group(1)) for key in ws.samples if (m := _RUN_ID.match(key))]
    return f"r{max(numbers, default=0) + 1:03d}_{method.replace('-', '_')}"


def run_order(run_id: str) -> tuple[int, str]:
    """Sort key of run ids: by run number, then name."""
    m = _RUN_ID.match(run_id)
    return (int(m.group(1)) if m else -1, run_id)


def latest_run(ws: Workspace) -> str | None:
    """The run stored last (highest run number)."""
    runs = sorted(ws.samples, key=run_order)
    return runs[-1] if runs else None


def _noise_baseline(weights: np.ndarray, arch, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``weights [n, P]`` plus per-layer noise ``sigma * std(layer weight)`` (std per row)."""
    out = weights.astype(np.float32, copy=True)
    for layer in range(arch.n_layers):
        slots = [s for s in arch.layout if s.layer == layer]
        w_slot = next(s for s in slots if s.kind == "weight")
        scale = sigma * weights[:, w_slot.offset : w_slot.stop].std(axis=1, keepdims=True)
        for s in slots:
            out[:, s.offset : s.stop] += rng.standard_normal((len(out), s.size), dtype=np.float32) * scale
    return out


def _random_baseline(arch, inits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    seeds = rng.integers(0, 2**62, size=len(inits))
    return np.stack([init_vector(arch, init, torch.Generator().manual_seed(int(seed))).numpy()
                     for init, seed in zip(inits, seeds)]) if len(inits) else np.zeros((0, arch.n_params), np.float32)


# ---- the steps of a run ----------------------------------------------------------------------
@dataclass
class RunSetup:
    """What one sampling run works with, checked and loaded once (:func:`prepare_run`)."""

    ws: Workspace
    zoo: Zoo
    task: Task
    device: torch.device
    method: str
    n: int
    seed: int
    selection: Selection
    used_weights: np.ndarray         # float32 [k, P]: the selected states of the chosen activation
    model: HyperRepAE                # the workspace's autoencoder, on ``device``
    recipe: dict                     # fine-tuning recipe (finetune_recipe)
    finetune: int = 0
    bandwidth: str | float = DEFAULT_BANDWIDTH
    kde_mode: str = "joint"
    sigma: float = NOISE_SIGMA
    oversample: int = OVERSAMPLE
    rounds: int = 1
    target: Task | None = None       # the task to transfer to (None: the zoo's own)
    ray: object = None               # a core.zoo.distributed.RayOptions: evaluate and fine-tune as Ray tasks
    grow_to: ArchSpec | None = None  # a wider architecture, not in the zoo, that every sample is widened to

    @property
    def tuning_task(self) -> Task:
        """The task fine-tuning trains on: the target task, else the zoo's."""
        return self.target if self.target is not None else self.task

    @property
    def arch(self) -> ArchSpec:
        """The architecture the run samples (the selection's, one of a zoo that mixes them)."""
        return self.zoo.spec(self.selection.arch)

    @property
    def out_arch(self) -> ArchSpec:
        """The architecture of the run's samples: :attr:`grow_to` when widening, else :attr:`arch`."""
        return self.grow_to if self.grow_to is not None else self.arch

    @property
    def codec(self):
        """How the workspace's autoencoder encodes and decodes models of :attr:`arch`."""
        from core.hyperrep.windows import workspace_codec

        return workspace_codec(self.ws, self.model, self.arch)

    @property
    def activation(self) -> str:
        return self.selection.activation


@dataclass
class Draw:
    """What a method made: the samples' weights, the selected state behind each (-1: none), the
    method's parameters and any further metadata for the run."""

    weights: np.ndarray              # float32 [n, P]
    anchor_state: np.ndarray         # int64 [n]: rows of ws.states
    params: dict
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.weights = np.ascontiguousarray(self.weights, dtype=np.float32)
        self.anchor_state = np.asarray(self.anchor_state, np.int64)


class Steps:
    """The numbered progress records of one run: ``steps(message)`` is the next one."""

    def __init__(self, method: str, total: int) -> None:
        self.method, self.total, self.done = method, total, 0

    def __call__(self, message: str, **metrics) -> Progress:
        self.done += 1
        return Progress(self.done, self.total, f"{self.method}: {message}", metrics)

    def within(self, width: int, record: Progress) -> Progress:
        """A record of a sub-job that spans the next ``width`` steps."""
        return Progress(self.done + record.done * width / record.total, self.total, f"{self.method}: {record.message}",
                        record.metrics)


def total_steps(method: str, rounds: int = 1, finetune: int = 0) -> int:
    """Progress steps of a run: draw, models ready, evaluated, novelty, placed, stored; best-of
    adds one per round, fine-tuning one per epoch."""
    return 6 + (rounds if method == "best-of" else 0) + finetune


def prepare_run(ws: Workspace | str | Path, rows, method: str, n: int, *, seed: int = 0, bandwidth=None,
                finetune: int = 0, device: str | torch.device = "auto", zoo: Zoo | None = None,
                description: str | None = None, sigma: float = NOISE_SIGMA, oversample: int = OVERSAMPLE,
                rounds: int = 1, kde_mode: str = "joint", target_task: str | Task | None = None,
                ray=None, arch: str | None = None) -> RunSetup:
    """Check every argument (one-line errors), load what the run needs and make the selection
    (``arch``: the architecture to sample, in a zoo of several; default the selection's most common).
    ``ray``: an address or :class:`core.zoo.distributed.RayOptions` (see :func:`sample_job`)."""
    check_method(method)
    n = check_n(n)
    if ray is not None:
        from core.zoo.distributed import RayOptions, check_ray

        ray = ray if isinstance(ray, RayOptions) else RayOptions(str(ray))
        check_ray()
    if finetune < 0:
        raise HyperVizError(f"--finetune {finetune}: must be >= 0")
    if rounds < 1 or oversample < 1:
        raise HyperVizError(f"best-of: rounds ({rounds}) and oversample ({oversample}) must be >= 1")
    if sigma < 0 or not np.isfinite(sigma):
        raise HyperVizError(f"noise sigma {sigma}: must be a finite number >= 0")
    bw = parse_bandwidth(bandwidth)
    if not isinstance(ws, Workspace):
        ws = load_workspace(ws)
    ws.require("autoencoder")
    ws.require("embeddings")
    zoo = zoo if zoo is not None else ws.read_zoo()
    task = task_for_zoo(zoo.task, str(ws.zoo_path))
    target = get_task(target_task) if isinstance(target_task, str) else target_task
    dev = resolve_device(device)
    source, grow_to = widening_source(ws, zoo, rows, arch, method)
    sel = make_selection(ws, zoo, rows, description, source)
    if target is not None:
        check_task_fits(grow_to or zoo.spec(sel.arch), target, "target task: ")
        if target.name == task.name:
            target = None                                   # the zoo's own task: no transfer
    if method in ("kde", "best-of") and len(sel.used) < 2:
        raise HyperVizError(f"{method}: a density needs at least 2 selected model states of one activation; the selection has "
                            f"{len(sel.used)} ({sel.activation}); select more, or use --method reconstruct, noise or random")
    return RunSetup(ws, zoo, task, dev, method, n, int(seed), sel, state_weights(ws, zoo, sel.used, zoo.spec(sel.arch)),
                    ws.autoencoder(dev), finetune_recipe(ws, zoo, sel.used), int(finetune), bw, kde_mode,
                    float(sigma), int(oversample), int(rounds), target, ray, grow_to)


def widening_source(ws: Workspace, zoo: Zoo, rows, arch: str | None, method: str) -> tuple[str | None, ArchSpec | None]:
    """``(architecture to sample, architecture to widen to)`` for ``--arch``: ``(arch, None)`` for
    one of the zoo's (or None); for a known architecture the zoo lacks, the selection's most common
    architecture that widens to it (:func:`core.generate.grow.widening_problem`) and its spec."""
    if arch is None or arch in zoo.arch_names:
        return arch, None
    from core.generate.grow import widening_problem
    from core.zoo.arch import KNOWN_ARCHS

    if arch not in KNOWN_ARCHS:
        zoo.spec(arch)                                    # the one-line error for an unknown name
    target = KNOWN_ARCHS[arch]
    if method == "random":
        raise HyperVizError(f"--arch {arch}: not in this zoo, so random has no models to stand beside; sample "
                            f"with another method: a widened run records random initialisations of {arch} itself")
    rows = check_rows(ws, rows)
    _, counts = choose_arch(ws, zoo, rows)
    problems = {name: widening_problem(zoo.spec(name), target) for name in sorted(counts, key=lambda a: -counts[a])}
    for name, problem in problems.items():
        if problem is None:
            return name, target
    raise HyperVizError(f"--arch {arch}: not in this zoo, and no selected architecture widens to it ("
                        + "; ".join(f"{name}: {problem}" for name, problem in problems.items()) + ")")


def encode_selection(setup: RunSetup) -> np.ndarray:
    """Per-token latent codes ``[k, T, d_latent]`` of the selected states the density sees."""
    return setup.codec.encode(setup.model, setup.used_weights, setup.device, pooled=False)


def decode(setup: RunSetup, codes) -> np.ndarray:
    return setup.codec.decode(setup.model, codes, setup.device)


def _kde_params(setup: RunSetup, sampler: KdeSampler) -> dict:
    bw = setup.bandwidth
    return {"n": setup.n, "bandwidth": bw if isinstance(bw, str) else float(bw), "kde_mode": setup.kde_mode,
            "bandwidth_mean": float(sampler.h.mean()), "latent_dims": int(sampler.latents.shape[1])}


def draw_kde(setup: RunSetup, rng: np.random.Generator, steps: Steps) -> Job[Draw]:
    """``kde``: n codes from the density of the selected codes, decoded."""
    latents = encode_selection(setup)
    yield steps(f"encoded {len(setup.selection.used)} selected states")
    sampler = KdeSampler(latents, setup.bandwidth, setup.kde_mode)
    z, anchors = sampler.sample(setup.n, rng)
    anchor_state = setup.selection.used[anchors] if setup.kde_mode == "joint" else np.full(setup.n, -1, np.int64)
    return Draw(decode(setup, z), anchor_state, _kde_params(setup, sampler))


def draw_best_of(setup: RunSetup, rng: np.random.Generator, steps: Steps) -> Job[Draw]:
    """``best-of``: oversample with the KDE, keep the best n by validation accuracy; with
    ``rounds > 1`` refit on the kept codes and repeat, the old best competing with the new."""
    n, used, joint = setup.n, setup.selection.used, setup.kde_mode == "joint"
    latents = encode_selection(setup)
    yield steps(f"encoded {len(used)} selected states")
    sampler = KdeSampler(latents, setup.bandwidth, setup.kde_mode)
    params = {**_kde_params(setup, sampler), "oversample": setup.oversample, "rounds": setup.rounds}
    kept_z = kept_w = kept_acc = kept_loss = kept_anchor = refit_anchor = None
    history = []
    for r in range(setup.rounds):
        z, anchors = sampler.sample(setup.oversample * n, rng)
        cand_w = decode(setup, z)
        ev = evaluate_weights(setup.arch, setup.task, cand_w, setup.activation, "val", setup.device)
        if joint:                                                                    # the selected state behind each code
            cand_anchor = used[anchors] if refit_anchor is None else refit_anchor[anchors]
        else:
            cand_anchor = np.full(len(z), -1, np.int64)
        if kept_z is not None:                                                        # elitism: the old best compete too
            z, cand_w = np.concatenate([kept_z, z]), np.concatenate([kept_w, cand_w])
            acc, loss = np.concatenate([kept_acc, ev.acc]), np.concatenate([kept_loss, ev.loss])
            cand_anchor = np.concatenate([kept_anchor, cand_anchor])
        else:
            acc, loss = ev.acc, ev.loss
        order = np.lexsort((np.nan_to_num(loss, nan=np.inf), -acc))                   # best val acc, then lower loss
        keep = order[: max(n, 2)]
        kept_z, kept_w, kept_acc, kept_loss, kept_anchor = z[keep], cand_w[keep], acc[keep], loss[keep], cand_anchor[keep]
        history.append(float(kept_acc[:n].mean()))
        yield steps(f"round {r + 1}/{setup.rounds}: kept the best {n} of {len(order)} by validation accuracy",
                    mean_val_acc=history[-1])
        if r + 1 < setup.rounds:
            sampler = KdeSampler(kept_z, setup.bandwidth, setup.kde_mode)             # BOOT: refit on the best
            refit_anchor = kept_anchor
    return Draw(kept_w[:n], kept_anchor[:n], params, {"mean_val_acc_per_round": history})


def reconstruct_picks(k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Which of ``k`` selected states each of ``n`` reconstructions decodes: every state once in a
    random order, again for more than ``k`` samples, so no state is used twice before all are used once."""
    rounds = -(-n // k)
    return np.concatenate([rng.permutation(k) for _ in range(rounds)])[:n]


def draw_reconstruct(setup: RunSetup, rng: np.random.Generator, steps: Steps) -> Job[Draw]:
    """``reconstruct``: the selected states' own codes decoded, no noise (the KDE at bandwidth 0,
    with every selected state used as evenly as possible)."""
    used = setup.selection.used
    latents = encode_selection(setup)
    yield steps(f"encoded {len(used)} selected states")
    pick = reconstruct_picks(len(used), setup.n, rng)
    params = {"n": setup.n, "latent_dims": int(np.prod(latents.shape[1:])),
              "anchors": "every selected state once, in random order, before any twice"}
    return Draw(decode(setup, latents[pick]), used[pick], params)


def draw_noise(setup: RunSetup, rng: np.random.Generator, steps: Steps) -> Job[Draw]:
    """``noise``: selected states' weights plus per-layer Gaussian noise (:func:`_noise_baseline`)."""
    pick = rng.integers(0, len(setup.selection.used), size=setup.n)
    weights = _noise_baseline(setup.used_weights[pick], setup.arch, setup.sigma, rng)
    yield steps("added noise to selected states")
    return Draw(weights, setup.selection.used[pick],
                {"n": setup.n, "sigma": setup.sigma, "sigma_relative_to": "each layer's weight std in the anchor"})


def draw_random(setup: RunSetup, rng: np.random.Generator, steps: Steps) -> Job[Draw]:
    """``random``: fresh initialisations, each with the init scheme of a uniformly chosen selected model."""
    zoo, used = setup.zoo, setup.selection.used
    inits = np.asarray(zoo.models["init"]).astype(str)[setup.ws.states[used, 0]] if "init" in zoo.models \
        else np.full(len(used), "uniform")
    inits = np.where(np.isin(inits, INITS), inits, "uniform")
    chosen = inits[rng.integers(0, len(inits), size=setup.n)]
    weights = _random_baseline(setup.out_arch, chosen, rng)
    yield steps("initialised fresh models")
    return Draw(weights, np.full(setup.n, -1, np.int64),
                {"n": setup.n, "inits": {str(k): int(v) for k, v in zip(*np.unique(chosen, return_counts=True))}})


def zoo_best_picks(setup: RunSetup) -> np.ndarray:
    """Indices into ``setup.selection.used`` of its best states, best first: highest validation
    accuracy on the zoo's task (NaN last), then lower validation loss, then higher test accuracy."""
    states = setup.ws.states[setup.selection.used]
    col = lambda name: setup.zoo.states[name][states[:, 0], states[:, 1]].astype(np.float64) \
        if name in setup.zoo.states else np.full(len(states), np.nan)  # noqa: E731
    val, loss, test = col("val_acc"), col("val_loss"), col("test_acc")
    return np.lexsort((-np.nan_to_num(test, nan=-np.inf), np.nan_to_num(loss, nan=np.inf),
                       -np.nan_to_num(val, nan=-np.inf)))[: setup.n]


def draw_zoo_best(setup: RunSetup, rng: np.random.Generator, steps: Steps) -> Job[Draw]:
    """``zoo-best``: the selection's best states themselves (:func:`zoo_best_picks`); a run of
    fewer than ``n`` samples when fewer states are selected."""
    del rng
    pick = zoo_best_picks(setup)
    setup.n = len(pick)
    yield steps(f"took the {setup.n} best selected states by validation accuracy")
    return Draw(setup.used_weights[pick], setup.selection.used[pick],
                {"n": setup.n, "ranked_by": "validation accuracy on the zoo's task, then validation loss"})


#: The draw step of each method (:data:`METHODS`).
DRAWS = {"kde": draw_kde, "best-of": draw_best_of, "reconstruct": draw_reconstruct, "noise": draw_noise,
         "random": draw_random, "zoo-best": draw_zoo_best}
#: Methods whose samples come out of the decoder.
DECODED = ("kde", "best-of", "reconstruct")


def fitted_region(setup: RunSetup) -> TrainingReference:
    """The selected states the sampler is fitted on, as a reference for novelty."""
    used = setup.selection.used
    return TrainingReference(used, setup.used_weights, np.full(len(used), setup.activation), setup.ws.embeddings[used])


def evaluate_samples(setup: RunSetup, weights: np.ndarray) -> tuple[Evaluation, Evaluation]:
    """Test (with every sample's predictions) and validation results of the samples."""
    if setup.ray is not None:
        from core.generate.distributed import evaluate_on_ray

        ev = evaluate_on_ray(setup.ray, setup.out_arch, setup.task, weights, setup.activation, ("test", "val"), ("test",),
                             setup.device)
        return ev["test"], ev["val"]
    args = (setup.out_arch, setup.task, weights, setup.activation)
    return (evaluate_weights(*args, "test", setup.device, predictions=True),
            evaluate_weights(*args, "val", setup.device))


def judge_novelty(setup: RunSetup, weights: np.ndarray, test_predictions: np.ndarray,
                  reference: TrainingReference) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The samples' embeddings and their novelty against ``reference`` and the fitted region
    (:func:`core.generate.evaluate.novelty`)."""
    embeddings = setup.codec.encode(setup.model, weights, setup.device, pooled=True).astype(np.float32)
    nov = novelty(setup.arch, setup.task, weights, setup.activation, reference, embeddings, setup.device,
                  sample_predictions=test_predictions, region=fitted_region(setup))
    return embeddings, nov


def evaluate_target(setup: RunSetup, weights: np.ndarray) -> dict[str, np.ndarray]:
    """``target_acc`` / ``target_loss [n]``: zero-shot on the target task's test split (nothing
    without a target task)."""
    if setup.target is None:
        return {}
    if setup.ray is not None:
        from core.generate.distributed import evaluate_on_ray

        ev = evaluate_on_ray(setup.ray, setup.out_arch, setup.target, weights, setup.activation, ("test",),
                             device=setup.device)["test"]
    else:
        ev = evaluate_weights(setup.out_arch, setup.target, weights, setup.activation, "test", setup.device)
    return {"target_acc": ev.acc, "target_loss": ev.loss}


def finetune_samples(setup: RunSetup, weights: np.ndarray, steps: Steps) -> Job[dict[str, np.ndarray]]:
    """``finetune_acc`` / ``finetune_loss [n, K]`` after K epochs with the run's recipe on the
    target task (the zoo's task without one); nothing for K = 0."""
    if not setup.finetune:
        return {}
    if setup.ray is not None:                   # the epochs run in the tasks: one step for all of them
        from core.generate.distributed import finetune_on_ray

        tuned = finetune_on_ray(setup.ray, setup.out_arch, setup.tuning_task, weights, setup.activation, setup.finetune,
                                setup.seed, setup.recipe, setup.device)
        steps.done += setup.finetune - 1
        yield steps(f"fine-tuned {len(weights)} models on Ray ({setup.finetune} epochs)")
        return {"finetune_acc": tuned.acc, "finetune_loss": tuned.loss}
    job = finetune_job(setup.out_arch, setup.tuning_task, weights, setup.activation, setup.finetune, seed=setup.seed,
                       device=setup.device, config=setup.recipe)
    try:
        while True:
            yield steps.within(setup.finetune, next(job))
    except StopIteration as stop:
        tuned = stop.value
    steps.done += setup.finetune
    return {"finetune_acc": tuned.acc, "finetune_loss": tuned.loss}


def random_target_baseline(setup: RunSetup, rng: np.random.Generator, steps: Steps) -> Job[dict]:
    """A widened run's own random-init baseline: ``n`` fresh initialisations of the target
    architecture (:func:`draw_random`), evaluated and fine-tuned as the samples are; the run's
    ``widened`` metadata."""
    fresh = yield from draw_random(setup, rng, steps)
    test, _ = evaluate_samples(setup, fresh.weights)
    target = evaluate_target(setup, fresh.weights)
    tuned = yield from finetune_samples(setup, fresh.weights, steps)
    return {
        "from": setup.arch.name, "to": setup.out_arch.name,
        "how": "function-preserving widening (core.generate.grow): each sample computes its source sample's function",
        "random_target": {
            "n": len(fresh.weights), **fresh.params, "mean_test_acc": float(test.acc.mean()),
            "mean_target_acc": float(target["target_acc"].mean()) if target else None,
            "mean_test_acc_finetuned": float(tuned["finetune_acc"][:, -1].mean()) if tuned else None,
        },
    }


def place_samples(ws: Workspace, embeddings: np.ndarray) -> dict[str, np.ndarray]:
    """``coords_<projection> [n, 2]``: the samples placed in every stored map."""
    from core.analysis.maps import stored_projection

    return {f"coords_{name}": stored_projection(ws, name).placer(train_emb=ws.embeddings).place(embeddings)
            for name in sorted(ws.projections)}


def run_arrays(setup: RunSetup, weights: np.ndarray, draw: Draw, test: Evaluation, val: Evaluation,
               embeddings: np.ndarray, nov: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The per-sample arrays a run stores (see :func:`sample_job`); ``weights``: the samples' (widened
    ones when the run widens)."""
    return {
        "weights": weights, "test_acc": test.acc, "test_loss": test.loss, "val_acc": val.acc, "val_loss": val.loss,
        **nov, "anchor_state": draw.anchor_state, "embeddings": embeddings, "selection": setup.selection.rows,
    }


def run_meta(setup: RunSetup, draw: Draw, run_id: str, reference: TrainingReference, arrays: dict) -> dict:
    """The run's provenance and its copy figures (:func:`core.generate.evaluate.copy_summary`)."""
    ws, sel, n = setup.ws, setup.selection, setup.n
    return {
        "run": run_id, "method": setup.method, "seed": setup.seed, "n": n,
        "selection": sel.description, "selection_size": int(len(sel.rows)), "selection_used": int(len(sel.used)),
        "activation": sel.activation, "activation_counts": sel.activation_counts,
        **({"arch_counts": sel.arch_counts} if setup.zoo.is_mixed else {}),
        "activation_policy": "majority activation of the selection; other activations left out of the fit",
        "params": draw.params, **draw.extra,
        "finetune": {"epochs": setup.finetune, **setup.recipe, "batch_size": FINETUNE_BATCH, "data_order_seed": setup.seed,
                     "task": setup.tuning_task.name},
        "target_task": setup.target.describe() if setup.target is not None else None,
        "novelty_reference": f"{len(reference.state_index)} usable model states of the training split",
        "region_reference": f"the {len(sel.used)} selected states the sampler was fitted on",
        "functional_reference": "the training split's states and the fitted region's",
        **copy_summary(arrays.get("mistake_agreement"), arrays.get("max_agreement")),
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "zoo_sha256": ws.zoo_sha256, "arch": setup.out_arch.to_dict(), "task": dict(setup.zoo.task),
        "autoencoder_epochs": ws.training.get("epochs_done"),
        "projections": sorted(ws.projections),
        "sample_ids": f"{run_id}:0 .. {run_id}:{n - 1}",
    }


def store_run(setup: RunSetup, draw: Draw, arrays: dict, reference: TrainingReference, save: bool = True) -> str:
    """Put the run into ``ws.samples`` under the next run id (and save the workspace); its id."""
    run_id = next_run_id(setup.ws, setup.method)
    setup.ws.samples[run_id] = {"meta": run_meta(setup, draw, run_id, reference, arrays), "arrays": arrays}
    if save:
        setup.ws.save()
    return run_id


def sample_job(ws: Workspace | str | Path, rows, method: str, n: int, seed: int = 0, bandwidth=None,
               finetune: int = 0, device: str | torch.device = "auto", *, zoo: Zoo | None = None,
               description: str | None = None, sigma: float = NOISE_SIGMA, oversample: int = OVERSAMPLE,
               rounds: int = 1, kde_mode: str = "joint", save: bool = True,
               reference: TrainingReference | None = None, target_task: str | Task | None = None,
               ray=None, arch: str | None = None) -> Job[str]:
    """Sample ``n`` models with ``method`` from the selected states ``rows``; store the run; return its id.

    Yields :class:`Progress` between steps (cancel there: nothing is stored until the end).
    Stored arrays (``ws.samples[run]["arrays"]``): ``weights [n, P]``, ``test_acc``, ``test_loss``,
    ``val_acc``, ``val_loss``, ``novelty_weight``, ``novelty_embedding``, ``agreement``,
    ``nn_state`` / ``nn_state_embedding`` (rows of the states table), ``max_agreement``,
    ``mistake_agreement``, ``nn_state_function`` (the functional nearest neighbour),
    ``novelty_region`` / ``nn_state_region`` (the nearest state of the fitted region),
    ``anchor_state`` (-1: none), ``embeddings [n, d]``, ``coords_<projection> [n, 2]``,
    ``finetune_acc`` / ``finetune_loss [n, k]`` when ``finetune`` > 0, and ``selection`` (the
    selected rows). ``meta`` holds the provenance and the run's copy figures. ``reference``: the
    workspace's :func:`training_reference`, to share its test predictions between runs.
    ``target_task``: transfer to that task (see the module docstring): adds ``target_acc`` /
    ``target_loss [n]`` and fine-tunes on it. ``ray``: an address (``local``, ``auto``,
    ``HOST:PORT``) or :class:`core.zoo.distributed.RayOptions`: the samples are evaluated and
    fine-tuned in chunks as Ray tasks (:mod:`core.generate.distributed`), with the same results;
    this process still writes the workspace, once. ``arch``: in a zoo of several architectures, the
    one to sample (default: the selection's most common); the selection is restricted to it. A known
    architecture the zoo lacks that widens a selected one: the samples are widened to it (see the
    module docstring) and ``meta["widened"]`` holds the run's random-init baseline of it.
    """
    setup = prepare_run(ws, rows, method, n, seed=seed, bandwidth=bandwidth, finetune=finetune, device=device,
                        zoo=zoo, description=description, sigma=sigma, oversample=oversample, rounds=rounds,
                        kde_mode=kde_mode, target_task=target_task, ray=ray, arch=arch)
    steps = Steps(method, total_steps(method, setup.rounds, setup.finetune)
                  + (2 + setup.finetune if setup.grow_to is not None else 0))
    rng = np.random.default_rng(seed)
    draw = yield from DRAWS[method](setup, rng, steps)
    yield steps(f"decoded {setup.n} models" if method in DECODED else f"{setup.n} models")
    weights = draw.weights
    if setup.grow_to is not None:
        from core.generate.grow import widen

        weights = widen(setup.arch, setup.grow_to, draw.weights, rng)
        draw.extra["widened"] = yield from random_target_baseline(setup, rng, steps)
    test, val = evaluate_samples(setup, weights)
    yield steps("evaluated", mean_test_acc=float(test.acc.mean()))
    if reference is None or not np.all(setup.zoo.model_archs()[setup.ws.states[reference.state_index, 0]]
                                       == setup.arch.name):
        reference = training_reference(setup.ws, setup.zoo, setup.arch.name)
    embeddings, nov = judge_novelty(setup, draw.weights, test.predictions, reference)
    yield steps("novelty measured", median_novelty=float(np.median(nov["novelty_weight"])))
    arrays = run_arrays(setup, weights, draw, test, val, embeddings, nov)
    arrays.update(evaluate_target(setup, weights))
    arrays.update((yield from finetune_samples(setup, weights, steps)))
    arrays.update(place_samples(setup.ws, embeddings))
    yield steps(f"placed in {', '.join(sorted(setup.ws.projections)) or 'no'} map(s)")
    run_id = store_run(setup, draw, arrays, reference, save)
    yield steps(f"stored run {run_id}")
    return run_id


def run_summary(ws: Workspace, run_id: str) -> dict:
    """The per-method entry of ``hyperviz sample --json`` for a stored run. Runs stored before the
    copy figures existed give None for ``copy_fraction``, ``median_max_agreement``,
    ``median_mistake_agreement`` and ``median_novelty_region``."""
    if run_id not in ws.samples:
        raise HyperVizError(f"{ws.path}: no sampling run {run_id!r}")
    a, meta = ws.samples[run_id]["arrays"], ws.samples[run_id]["meta"]
    tuned = a.get("finetune_acc")
    region = a.get("novelty_region")
    return {
        "run": run_id,
        "n": int(len(a["test_acc"])),
        "mean_test_acc": float(np.mean(a["test_acc"])),
        "max_test_acc": float(np.max(a["test_acc"])),
        "mean_test_acc_finetuned": float(np.mean(tuned[:, -1])) if tuned is not None and tuned.size else None,
        "target_task": (meta.get("target_task") or {}).get("name"),
        "mean_target_acc": float(np.mean(a["target_acc"])) if "target_acc" in a else None,
        "finetune_task": (meta.get("finetune") or {}).get("task") if tuned is not None else None,
        "median_novelty": float(np.median(a["novelty_weight"])),
        "median_novelty_embedding": float(np.median(a["novelty_embedding"])),
        "median_novelty_region": float(np.median(region)) if region is not None and region.size else None,
        "mean_agreement": float(np.mean(a["agreement"])),
        **copy_summary(a.get("mistake_agreement"), a.get("max_agreement"), meta.get("copy_threshold")),
        **({"widened": meta["widened"]} if "widened" in meta else {}),
    }
