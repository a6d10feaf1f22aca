"""Judging weight vectors: batched evaluation, novelty against the training zoo, batched fine-tuning.

Everything here works on plain arrays (weights ``[N, P]``, an activation per model) and a device,
so the same functions serve sampled models, baselines, benchmarks and tests, and chunks of work
could be spread over machines.

* :func:`evaluate_weights` - accuracy and mean cross-entropy of N models on a task split, grouped
  by activation and cut into chunks of models; optionally every model's predictions. Accuracy is
  ``correct / n`` in float64, so it equals what one ``build_module`` model gives exactly.
* :func:`nearest_neighbours` - for each query row the nearest reference row (Euclidean), in
  chunks: ``torch.cdist`` (matrix-product form, fast) proposes a few candidates, which are then
  re-ranked with exact float64 differences, so a query equal to a reference row is at distance 0.
* :func:`functional_nearest_neighbours` - for each query model the reference model whose test
  predictions it shares most often (prediction agreement), from int class arrays, in chunks;
  :func:`mistake_agreement` - how alike two models' mistakes are, beyond chance.
* :func:`novelty` - for every sample: L2 distance to the nearest *training* model state in weight
  space, distance to the nearest training embedding, how often its test predictions agree with
  those of its weight-space nearest neighbour, its *functional* nearest neighbour among the states
  the generator learned from (highest agreement), that agreement and how alike their mistakes
  are, and the weight-space distance to the nearest state of the fitted region. A sample is a copy
  when that mistake agreement is at least :data:`COPY_THRESHOLD` (Zeng et al. 2025: copies must
  be visible; weight distance to the zoo does not show them, shared mistakes do).
* :func:`finetune_job` - k epochs of batched training from given weights, test accuracy after
  every epoch. All models of a call use one recipe (default :data:`FINETUNE`: Adam, lr 1e-3, no
  weight decay, no dropout; ``core.generate.sampling`` passes the selection's own recipe), batch 32, and
  see the training data in the same order, so samples and baselines are compared on equal terms.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.device import resolve_device
from core.errors import HyperVizError
from core.progress import Job, Progress
from core.zoo.arch import ACTIVATIONS, ArchSpec
from core.zoo.batched import batched_forward, batched_loss_and_correct, loss_and_grad
from core.zoo.population import PopulationOptimizer
from core.zoo.tasks import Task

#: The default fine-tuning recipe (used when the zoo does not say how its models were trained).
FINETUNE: dict = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "dropout": 0.0}
FINETUNE_BATCH = 32
_DATA_BATCH = 1024

COPY_THRESHOLD = 0.5
"""A sample is a *copy* when its :func:`mistake_agreement` with its functional nearest neighbour
(the training or fitted-region state it agrees with most) is at least this.

Measured on the default 512-model digits zoo (``zoo build --task digits --arch cnn --models 512
--epochs 25 --seed 0``; 270 test inputs) with a default fit, against its 9,308 training-split
states plus the fitted region (``--where "epoch == 25 and test_acc >= 0.9"``: 88 tanh states).
Not copies by construction: the 73 held-out final states with test_acc >= 0.9 - independently
trained models, mean accuracy 0.953 - reach mistake agreement median 0.24, 95th percentile 0.47,
maximum 0.51 (4% at >= 0.5; all 154 held-out final states: 2%); random initialisations (150 per
activation) median about 0, maximum 0.33. Copies: the ``noise`` baseline at its default sigma 0.02,
drawn from the final states with test_acc >= 0.9 of each activation (150 each), is at >= 0.5 for
99-100% of its samples (tanh 1.00, relu 0.99, gelu 0.99, sigmoid 1.00); at sigma 0.05, 87-97%;
at sigma 0.1 (tanh), 51%.

Plain agreement cannot make this call: the independent models already agree with their nearest
training state on a median 0.970 of the test inputs (53% at >= 0.97), sigma-0.05 noise copies on
0.989; random initialisations agree up to 1.0 with untrained states that predict the same
constant class (24% of a ``random`` run at >= 0.97; with sigmoid 98%).
"""


def model_chunk(device: torch.device) -> int:
    """Models run together in one forward: memory-bound on a CPU, large on a GPU."""
    return 64 if device.type == "cpu" else 4096


def _activation_groups(activations, n: int) -> dict[str, np.ndarray]:
    """``{activation: indices}`` for a single activation (str) or one per model."""
    if isinstance(activations, str):
        acts = np.full(n, activations, dtype=object)
    else:
        acts = np.asarray(activations, dtype=object)
        if acts.shape != (n,):
            raise HyperVizError(f"{len(acts)} activations for {n} models")
    groups = {}
    for act in sorted(set(acts.tolist())):
        if act not in ACTIVATIONS:
            raise HyperVizError(f"activation {act!r}: expected one of {', '.join(ACTIVATIONS)}")
        groups[act] = np.flatnonzero(acts == act)
    return groups


@dataclass
class Evaluation:
    """Per-model results of :func:`evaluate_weights` (float64 arrays ``[N]``)."""

    acc: np.ndarray
    loss: np.ndarray
    predictions: np.ndarray | None = None        # int64 [N, n_examples] when asked for


@torch.no_grad()
def evaluate_weights(arch: ArchSpec, task: Task, weights, activations, split: str = "test",
                     device: str | torch.device = "cpu", chunk: int | None = None,
                     predictions: bool = False) -> Evaluation:
    """Accuracy and mean loss of the models ``weights [N, P]`` on ``task``'s ``split``.

    ``activations``: one name for all, or one per model (models are grouped by activation).
    Models with non-finite weights get NaN loss and accuracy 0 rather than an error.
    """
    dev = resolve_device(device)
    w_all = torch.as_tensor(np.asarray(weights, dtype=np.float32))
    if w_all.dim() != 2 or w_all.shape[1] != arch.n_params:
        raise HyperVizError(f"weights of shape {tuple(w_all.shape)} do not fit {arch.name!r} ({arch.n_params} parameters)")
    n = w_all.shape[0]
    x, y = (t.to(dev) for t in task.split(split))
    n_ex = len(y)
    correct = np.zeros(n, np.int64)
    loss = np.zeros(n, np.float64)
    preds = np.zeros((n, n_ex), np.int64) if predictions else None
    chunk = chunk or model_chunk(dev)
    for act, idx in _activation_groups(activations, n).items():
        for s in range(0, len(idx), chunk):
            rows = idx[s : s + chunk]
            w = w_all[rows].to(dev)
            for b in range(0, n_ex, _DATA_BATCH):
                xb, yb = x[b : b + _DATA_BATCH], y[b : b + _DATA_BATCH]
                logits = batched_forward(arch, w, xb, act)
                l, c = batched_loss_and_correct(logits, yb)
                loss[rows] += l.double().cpu().numpy() * len(yb)
                correct[rows] += c.cpu().numpy()
                if preds is not None:
                    preds[rows, b : b + len(yb)] = logits.argmax(-1).cpu().numpy()
    acc = correct / n_ex
    broken = ~torch.isfinite(w_all).all(1).numpy()
    acc[broken], loss[broken] = 0.0, np.nan                 # diverged weights: no accidental hits
    return Evaluation(acc, loss / n_ex, preds)


# ---- nearest neighbours ---------------------------------------------------------------------
@torch.no_grad()
def nearest_neighbours(query, reference, device: str | torch.device = "cpu", exclude=None,
                       chunk_elements: int = 1 << 24, candidates: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``query [m, d]`` the nearest row of ``reference [n, d]``: ``(dist [m], index [m])``.

    ``exclude`` (int ``[m]``, -1 for none) names a reference row each query must skip (itself).
    Distances are exact float64 Euclidean distances; the search goes in chunks of about
    ``chunk_elements`` distance-matrix entries, so memory stays bounded for any sizes.
    """
    dev = resolve_device(device)
    q_all = torch.as_tensor(np.asarray(query, dtype=np.float32))
    ref = torch.as_tensor(np.asarray(reference, dtype=np.float32)).to(dev)
    m, n = q_all.shape[0], ref.shape[0]
    if m and (n == 0 or (exclude is not None and n == 1)):
        raise HyperVizError("nearest neighbours: no reference rows to compare with")
    if q_all.shape[1:] != ref.shape[1:]:
        raise HyperVizError(f"nearest neighbours: query width {q_all.shape[1]} != reference width {ref.shape[1]}")
    excl = None if exclude is None else torch.as_tensor(np.asarray(exclude, dtype=np.int64))
    c = min(candidates, n)
    ref_chunk = max(1, min(n, chunk_elements // 64))
    q_chunk = max(1, min(chunk_elements // max(1, min(n, ref_chunk)),            # distance matrix
                         (chunk_elements // 4) // (c * max(1, ref.shape[1]))))   # exact re-ranking
    dist_out = np.empty(m, np.float64)
    idx_out = np.empty(m, np.int64)
    for qs in range(0, m, q_chunk):
        q = q_all[qs : qs + q_chunk].to(dev)
        best_d = torch.full((len(q), 0), float("inf"), device=dev)
        best_i = torch.zeros((len(q), 0), dtype=torch.long, device=dev)
        for rs in range(0, n, ref_chunk):
            d = torch.cdist(q, ref[rs : rs + ref_chunk])                       # float32, fast form
            if excl is not None:
                e = excl[qs : qs + q_chunk].to(dev) - rs
                hit = (e >= 0) & (e < d.shape[1])
                d[hit.nonzero(as_tuple=True)[0], e[hit]] = float("inf")
            k = min(c, d.shape[1])
            dv, di = torch.topk(d, k, dim=1, largest=False)
            best_d = torch.cat([best_d, dv], 1)
            best_i = torch.cat([best_i, di + rs], 1)
            if best_d.shape[1] > c:
                best_d, keep = torch.topk(best_d, c, dim=1, largest=False)
                best_i = torch.gather(best_i, 1, keep)
        # exact re-ranking of the candidates in float64
        diff = ref[best_i].double() - q.double().unsqueeze(1)                   # [mq, c, d]
        exact = diff.pow(2).sum(-1).sqrt()
        exact[~torch.isfinite(best_d)] = float("inf")
        dmin, j = exact.min(1)
        dist_out[qs : qs + len(q)] = dmin.cpu().numpy()
        idx_out[qs : qs + len(q)] = torch.gather(best_i, 1, j.unsqueeze(1)).squeeze(1).cpu().numpy()
    return dist_out, idx_out


def canonical_weights(arch: ArchSpec, weights) -> np.ndarray:
    """``weights [n, P]`` with every model's hidden units in canonical order (function-preserving;
    core.hyperrep.augment.Permuter.canonical). Distances between canonical forms compare models, not the
    arbitrary order their units were born in."""
    from core.hyperrep.augment import get_permuter

    w = torch.as_tensor(np.asarray(weights, dtype=np.float32))
    return get_permuter(arch).canonical(w).numpy()


def aligned_nearest_neighbours(arch: ArchSpec, query, ref, device, exclude=None) -> tuple[np.ndarray, np.ndarray]:
    """Nearest ``ref`` row of every ``query`` row by the smaller of two weight-space distances:
    as stored, and between canonical forms. Both are upper bounds of the distance under the best
    alignment of hidden units: the stored order is right for a perturbed copy (whose canonical
    order may flip between units of similar norm), the canonical order for a copy with its units
    reordered (e.g. a decoded sample). Returns float64 distances ``[n]`` and int indices ``[n]``."""
    raw_d, raw_i = nearest_neighbours(query, ref, device, exclude=exclude)
    can_d, can_i = nearest_neighbours(canonical_weights(arch, query), canonical_weights(arch, ref), device, exclude=exclude)
    use_canonical = can_d < raw_d
    return np.where(use_canonical, can_d, raw_d), np.where(use_canonical, can_i, raw_i)


@dataclass
class TrainingReference:
    """Model states to measure novelty against: the training split of the zoo, or a fitted region."""

    state_index: np.ndarray          # int [n]: rows of the workspace's states table
    weights: np.ndarray              # float32 [n, P]
    activations: np.ndarray          # str [n]
    embeddings: np.ndarray | None    # float32 [n, d]
    predictions: np.ndarray | None = None   # int [n, n_test]: test-split predictions (reference_predictions)


def reference_predictions(arch: ArchSpec, task: Task, reference: TrainingReference,
                          device: str | torch.device = "cpu") -> np.ndarray:
    """The test-split class predictions ``[n, n_test]`` of every state of ``reference``, evaluated
    once and kept on it (``reference.predictions``), so several runs against one reference share them.
    Stored in the smallest unsigned integer type that holds the classes (``uint8`` for <= 256)."""
    if reference.predictions is None:
        pred = evaluate_weights(arch, task, reference.weights, reference.activations, "test", device,
                                predictions=True).predictions
        reference.predictions = pred.astype(np.min_scalar_type(max(int(pred.max(initial=0)), 0)))
    return reference.predictions


@torch.no_grad()
def functional_nearest_neighbours(query_predictions, reference_predictions, device: str | torch.device = "cpu",
                                  chunk_elements: int = 1 << 24) -> tuple[np.ndarray, np.ndarray]:
    """For each query model the reference model it agrees with most: ``(agreement [m], index [m])``.

    ``query_predictions [m, t]`` and ``reference_predictions [n, t]`` are class predictions (ints
    >= 0) on the same ``t`` inputs. Agreement is the fraction of inputs on which two models predict
    the same class (float64, ``count / t`` exactly); ties go to the lowest reference index. The
    counts come from one-hot matrix products (``[m, t*C] @ [t*C, n]``, exact: every partial sum is
    a whole number below 2^24), in chunks of about ``chunk_elements`` matrix entries, so memory
    stays bounded for any m and n (10k states x 1k samples x 270 inputs: a few seconds on a CPU).
    """
    dev = resolve_device(device)
    q_all = torch.as_tensor(np.asarray(query_predictions, dtype=np.int64))
    r_all = torch.as_tensor(np.asarray(reference_predictions, dtype=np.int64))
    if q_all.dim() != 2 or r_all.dim() != 2 or q_all.shape[1] != r_all.shape[1]:
        raise HyperVizError(f"prediction agreement: query {tuple(q_all.shape)} and reference {tuple(r_all.shape)} "
                            "must be [models, inputs] over the same inputs")
    m, (n, t) = q_all.shape[0], r_all.shape
    if m and (n == 0 or t == 0):
        raise HyperVizError("prediction agreement: no reference models or no inputs to compare")
    if m == 0:
        return np.zeros(0, np.float64), np.zeros(0, np.int64)
    if int(min(q_all.min(), r_all.min())) < 0:
        raise HyperVizError("prediction agreement: predictions must be class indices >= 0")
    if t >= 1 << 24:
        raise HyperVizError(f"prediction agreement: {t} inputs, at most {(1 << 24) - 1}")
    n_classes = int(max(q_all.max(), r_all.max())) + 1
    width = t * n_classes

    def one_hot(p: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(p.to(dev), n_classes).reshape(len(p), width).float()

    ref_chunk = max(1, min(n, chunk_elements // (2 * width)))
    q_chunk = max(1, min(m, chunk_elements // (width + ref_chunk)))
    best = np.full(m, -1, np.int64)
    best_i = np.zeros(m, np.int64)
    for rs in range(0, n, ref_chunk):
        r = one_hot(r_all[rs : rs + ref_chunk])                                   # [nr, t*C]
        for qs in range(0, m, q_chunk):
            counts = one_hot(q_all[qs : qs + q_chunk]) @ r.T                      # [mq, nr]: shared predictions
            c, i = counts.max(1)                                                  # first maximum on ties
            c = c.round().long().cpu().numpy()
            better = c > best[qs : qs + len(c)]                                   # strictly: earlier chunks win ties
            best[qs : qs + len(c)][better] = c[better]
            best_i[qs : qs + len(c)][better] = i.cpu().numpy()[better] + rs
    return best / t, best_i


def mistake_agreement(predictions, other, labels) -> np.ndarray:
    """How alike the mistakes of model pairs are, beyond chance: float64 ``[m]`` for the rows of
    ``predictions [m, t]`` and ``other [m, t]`` (class predictions on ``t`` inputs whose true classes
    are ``labels [t]``).

    ``(p_o - p_e) / (1 - p_e)`` (Cohen's kappa, observed on the mistakes): ``p_o`` is the share of
    the inputs that at least one of the two models gets wrong on which both predict the same class;
    ``p_e`` is the agreement their overall class frequencies give by chance. Two accurate models
    agree on almost every input whatever their history, so plain agreement says little about
    copying; a copy makes the *same mistakes* (p-diff and Zeng et al. 2025 compare models by the
    inputs they get wrong). The chance correction gives 0, not 1, to two untrained models that
    predict one constant class, which share every mistake without one descending from the other.
    1: identical mistakes; about 0: no more alike than chance; 0 when neither model makes a
    mistake (nothing to judge by) or both predict one and the same class throughout.
    """
    a = np.asarray(predictions, dtype=np.int64)
    b = np.asarray(other, dtype=np.int64)
    y = np.asarray(labels, dtype=np.int64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != len(y):
        raise HyperVizError(f"mistake agreement: predictions {a.shape} and {b.shape} do not fit {len(y)} labels")
    m, t = a.shape
    out = np.zeros(m, np.float64)
    if m == 0 or t == 0:
        return out
    if min(a.min(), b.min()) < 0:
        raise HyperVizError("mistake agreement: predictions must be class indices >= 0")
    classes = np.arange(int(max(a.max(), b.max())) + 1)
    step = max(1, (1 << 22) // (t * len(classes)))                     # rows per chunk: bounded memory
    for s in range(0, m, step):
        p, q = a[s : s + step], b[s : s + step]
        wrong = (p != y) | (q != y)                                    # [r, t]: inputs at least one gets wrong
        n = wrong.sum(1)
        p_o = ((p == q) & wrong).sum(1) / np.maximum(n, 1)
        freq_p = (p[:, :, None] == classes).mean(1)                    # [r, C]: class frequencies over all inputs
        freq_q = (q[:, :, None] == classes).mean(1)
        p_e = (freq_p * freq_q).sum(1)
        ok = (n > 0) & (p_e < 1.0 - 1e-12)
        out[s : s + step][ok] = (p_o[ok] - p_e[ok]) / (1.0 - p_e[ok])
    return out


def _with_region(arch: ArchSpec, task: Task, reference: TrainingReference, region: TrainingReference | None,
                 device) -> tuple[np.ndarray, np.ndarray]:
    """States-table rows and test predictions of ``reference`` plus the ``region`` states not in it."""
    index, pred = reference.state_index, reference_predictions(arch, task, reference, device)
    extra = np.zeros(0, bool) if region is None else ~np.isin(region.state_index, index)
    if not extra.any():
        return index, pred
    rest = TrainingReference(region.state_index[extra], region.weights[extra], region.activations[extra], None)
    return np.concatenate([index, rest.state_index]), np.concatenate([pred, reference_predictions(arch, task, rest, device)])


def novelty(arch: ArchSpec, task: Task, weights, activations, reference: TrainingReference,
            embeddings=None, device: str | torch.device = "cpu", sample_predictions: np.ndarray | None = None,
            region: TrainingReference | None = None) -> dict[str, np.ndarray]:
    """Novelty of the models ``weights [N, P]`` (run with ``activations``) against ``reference``.

    Weight-space distances are :func:`aligned_nearest_neighbours`, so a sample is not called novel
    merely because its hidden units come in another order than its neighbour's. Returns:

    * ``novelty_weight`` (float64: L2 to the nearest ``reference`` state's weights), ``nn_state``
      (that state's row in the states table) and ``agreement`` (the share of test examples on which
      the model predicts what that neighbour predicts);
    * ``nn_state_function``, ``max_agreement``, ``mistake_agreement``: the *functional* nearest
      neighbour - among the reference states and the ``region`` states, i.e. every state the
      generator learned from - is the state whose test predictions the model shares most often
      (:func:`functional_nearest_neighbours`); ``max_agreement`` is that share and
      ``mistake_agreement`` how alike their mistakes are (:func:`mistake_agreement`; a copy when
      >= :data:`COPY_THRESHOLD`);
    * with ``embeddings [N, d]`` and reference embeddings: ``novelty_embedding`` / ``nn_state_embedding``;
    * with ``region`` (the states a sampler was fitted on): ``novelty_region`` / ``nn_state_region``,
      the weight-space distance to the nearest of them and its row.

    The test predictions of every reference (and region) state are computed once and kept on the
    reference (:func:`reference_predictions`).
    """
    dev = resolve_device(device)
    w = np.asarray(weights, dtype=np.float32)
    out: dict[str, np.ndarray] = {}
    dist, nn = aligned_nearest_neighbours(arch, w, reference.weights, dev)
    out["novelty_weight"] = dist
    out["nn_state"] = reference.state_index[nn].astype(np.int64)
    if sample_predictions is None:
        sample_predictions = evaluate_weights(arch, task, w, activations, "test", dev, predictions=True).predictions
    ref_pred = reference_predictions(arch, task, reference, dev)
    out["agreement"] = (sample_predictions == ref_pred[nn]).mean(1).astype(np.float64)
    func_index, func_pred = _with_region(arch, task, reference, region, dev)
    agree, fnn = functional_nearest_neighbours(sample_predictions, func_pred, dev)
    out["max_agreement"] = agree
    out["nn_state_function"] = func_index[fnn].astype(np.int64)
    out["mistake_agreement"] = mistake_agreement(sample_predictions, func_pred[fnn], task.split("test")[1].numpy())
    if embeddings is not None and reference.embeddings is not None:
        d_emb, nn_emb = nearest_neighbours(np.asarray(embeddings, np.float32), reference.embeddings, dev)
        out["novelty_embedding"] = d_emb
        out["nn_state_embedding"] = reference.state_index[nn_emb].astype(np.int64)
    if region is not None:
        d_reg, nn_reg = aligned_nearest_neighbours(arch, w, region.weights, dev)
        out["novelty_region"] = d_reg
        out["nn_state_region"] = region.state_index[nn_reg].astype(np.int64)
    return out


def copy_summary(mistakes, max_agreement=None, threshold: float | None = None) -> dict:
    """Per-run copy figures from the per-sample ``mistake_agreement`` (and ``max_agreement``) of
    :func:`novelty`: ``copy_fraction`` (the share of samples whose mistake agreement with their
    functional nearest neighbour is >= ``threshold``, default :data:`COPY_THRESHOLD`),
    ``median_mistake_agreement``, ``median_max_agreement`` and the ``copy_threshold`` used. A figure
    is None when its array is missing or empty (e.g. a run stored before they existed)."""
    threshold = COPY_THRESHOLD if threshold is None else float(threshold)

    def median(values):
        return None if values is None or len(values) == 0 else float(np.median(np.asarray(values, np.float64)))

    fraction = None if mistakes is None or len(mistakes) == 0 else float(np.mean(np.asarray(mistakes, np.float64) >= threshold))
    return {"copy_fraction": fraction, "median_max_agreement": median(max_agreement),
            "median_mistake_agreement": median(mistakes), "copy_threshold": threshold}


# ---- fine-tuning -------------------------------------------------------------------------------
@dataclass
class Finetuned:
    acc: np.ndarray          # float64 [N, epochs]: test accuracy after each epoch
    loss: np.ndarray         # float64 [N, epochs]: test loss after each epoch
    weights: np.ndarray      # float32 [N, P]: weights after the last epoch


def finetune_job(arch: ArchSpec, task: Task, weights, activations, epochs: int, seed: int = 0,
                 device: str | torch.device = "cpu", config: dict | None = None, batch_size: int = FINETUNE_BATCH,
                 chunk: int | None = None) -> Job[Finetuned]:
    """Train the models ``weights [N, P]`` for ``epochs`` epochs, batched; yields a Progress per epoch.

    Uses :class:`core.zoo.population.PopulationOptimizer` with ``config`` (default :data:`FINETUNE`)
    for every model. The data order comes from ``seed`` alone and is the same for every model and
    chunk, so results do not depend on how models are grouped.
    """
    if epochs < 0:
        raise HyperVizError(f"fine-tuning epochs {epochs}: must be >= 0")
    cfg = {**FINETUNE, **(config or {})}
    dev = resolve_device(device)
    w_all = np.array(weights, dtype=np.float32, copy=True)
    n = len(w_all)
    acc = np.full((n, epochs), np.nan)
    loss = np.full((n, epochs), np.nan)
    x_train, y_train = (t.to(dev) for t in task.split("train"))
    chunk = chunk or (256 if dev.type == "cpu" else 4096)
    groups = _activation_groups(activations, n)
    pieces = [(act, idx[s : s + chunk]) for act, idx in groups.items() for s in range(0, len(idx), chunk)]
    total = max(1, len(pieces) * epochs)
    done = 0
    for act, rows in pieces:
        w = torch.from_numpy(w_all[rows]).to(dev)
        k = len(rows)
        opt = PopulationOptimizer([cfg] * k, dev, arch.n_params)
        dropout = torch.full((k,), float(cfg["dropout"]), device=dev) if cfg["dropout"] > 0 else None
        order_gen = torch.Generator().manual_seed(int(seed))
        drop_gen = torch.Generator(device=dev).manual_seed(int(seed) + 1)
        for epoch in range(epochs):
            order = torch.randperm(len(y_train), generator=order_gen).to(dev)
            for s in range(0, len(y_train), batch_size):
                idx = order[s : s + batch_size]
                _, grad = loss_and_grad(arch, w, x_train[idx], y_train[idx], act, dropout, drop_gen)
                opt.step(w, grad)
            ev = evaluate_weights(arch, task, w, act, "test", dev)
            acc[rows, epoch], loss[rows, epoch] = ev.acc, ev.loss
            done += 1
            yield Progress(done, total, f"fine-tuning ({act}) epoch {epoch + 1}/{epochs}",
                           {"mean_test_acc": float(np.mean(ev.acc))})
        w_all[rows] = w.cpu().numpy()
    return Finetuned(acc, loss, w_all)


# ---- re-checking a zoo's recorded accuracies -----------------------------------------------------
def recheck_accuracy(zoo, task: Task, split: str = "test", device: str | torch.device = "cpu",
                     last_only: bool = True) -> dict:
    """Evaluate a zoo's model states on ``task``'s ``split`` and compare with the accuracies the
    zoo records for that split (``<split>_acc``): each model's last present checkpoint, or every
    present state, each with its own architecture (a zoo may mix them). Returns counts, means and ``abs_difference`` (mean, max, how many within 1
    point, over the states whose recorded accuracy is finite). Models run with their
    ``activation`` column (relu when the zoo has none)."""
    from core.zoo.tasks import check_task_fits

    for arch in zoo.archs:
        check_task_fits(arch, task)
    present = np.asarray(zoo.present, bool)
    if last_only:
        models = np.flatnonzero(present.any(1))
        cols = np.array([np.flatnonzero(present[m])[-1] for m in models], np.int64)
    else:
        models, cols = np.nonzero(present)
    acts = np.asarray(zoo.models["activation"]).astype(str)[models] if "activation" in zoo.models \
        else np.full(len(models), "relu")
    measured = np.zeros(len(models), np.float64)
    model_archs = zoo.model_archs()[models]
    for arch in zoo.archs:                        # one batched evaluation per architecture
        pick = np.flatnonzero(model_archs == arch.name)
        if not len(pick):
            continue
        weights = np.stack([zoo.weights[models[j], cols[j], : arch.n_params] for j in pick])
        measured[pick] = evaluate_weights(arch, task, weights, acts[pick], split, device).acc
    recorded_col = zoo.states.get(f"{split}_acc")
    recorded = recorded_col[models, cols].astype(np.float64) if recorded_col is not None else np.full(len(models), np.nan)
    ok = np.isfinite(recorded)
    diff = np.abs(measured[ok] - recorded[ok])
    return {
        "task": task.name, "split": split, "states": int(len(models)), "examples": int(len(task.split(split)[1])),
        "mean_measured": float(measured.mean()) if len(measured) else None,
        "mean_recorded": float(recorded[ok].mean()) if ok.any() else None,
        "abs_difference": {"compared": int(ok.sum()), "mean": float(diff.mean()) if diff.size else None,
                           "max": float(diff.max()) if diff.size else None,
                           "within_1_point": int((diff <= 0.01 + 1e-12).sum())},
        "measured": measured.tolist(), "recorded": [None if not np.isfinite(v) else float(v) for v in recorded],
    }
