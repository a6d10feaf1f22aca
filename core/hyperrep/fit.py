"""Training the hyper-representation autoencoder on a zoo (``hyperviz fit``).

The zoo's usable model states (present, finite weights) are split by model 70/15/15. Each step
draws a batch of training states and makes two views of every one: multiplicative noise and
random erasing on the inputs, the clean state as the target. By default states are put in a
canonical unit order first (core.hyperrep.codec), which makes every permutation of a model one input;
an autoencoder configured with ``canonical=False`` instead learns the symmetry from views that
are independently permuted (function-preserving) copies. The loss is ``gamma * NT-Xent + (1 - gamma) *``
MSE on layer-standardised tokens (= layer-wise normalised reconstruction; see core.hyperrep.codec),
plus, for an autoencoder with a statistics head, ``stats_weight *`` the MSE of its prediction of
the states' rank-normalised s(W) (fitted on the training states; computed only for such a model).

AdamW with a one-cycle schedule (linear warm-up, cosine decay), bf16 autocast on CUDA. After every
epoch the latent summary of the embedding is refitted to the changed encoder
(:meth:`HyperRepAE.fit_latent_basis`) and the workspace is saved with the model, the optimiser
state and the history, so a cancelled or crashed run resumes from the last finished epoch. A
non-finite loss stops training with a clear error and leaves the last good checkpoint in place.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from core.device import resolve_device
from core.errors import HyperVizError
from core.hyperrep.augment import add_noise, get_permuter, random_erase
from core.hyperrep.autoencoder import HyperRepAE, layerwise_r2, make_config
from core.hyperrep.codec import WeightCodec
from core.hyperrep.steps import optimise
from core.hyperrep.tokens import get_tokenizer
from core.hyperrep.workspace import Workspace, load_workspace
from core.progress import Job, Progress
from core.zoo.splits import split_by_model
from core.zoo.store import Zoo, read_zoo
from core.zoo.weight_stats import rank_normalise, weight_statistics

#: Training settings per autoencoder preset (architecture sizes are in core.hyperrep.autoencoder.PRESETS).
#: ``noise``: multiplicative input noise; ``erase_p``: probability of erasing a block of an input view.
TRAINING = {
    "tiny": dict(epochs=3, batch_size=64, lr=3e-3, noise=0.05, erase_p=0.3),
    "default": dict(epochs=12, batch_size=128, lr=1e-3, noise=0.05, erase_p=0.3),
}
#: Epochs of a *windowed* fit (a zoo of several architectures, or ``--window``) when none are given:
#: it sees one window of a model per step, and on a 384-model zoo of cnn, cnn_wide and mlp (10
#: epochs each) 12 epochs (5 min) left KDE samples of the CNNs at 62% of their region's accuracy
#: and the architecture probe at 0.969, 40 epochs (14 min) at 71-73% and 0.991.
WINDOWED_EPOCHS = {"tiny": 3, "default": 40}
AUGMENTATION_KEYS = ("noise", "erase_p")
PROFILE_STATES = 4096  # training states the profiles' ramps and the latent summary are fitted on
WEIGHT_LIMIT = 1e3     # states with larger weights (diverged training) are left out


def usable_states(zoo: Zoo) -> np.ndarray:
    """``[n, 2]`` (model row, checkpoint column) of present states with finite, bounded weights."""
    ok = zoo.present.copy()
    mi, ci = np.nonzero(ok)
    w = zoo.weights[mi, ci]
    good = np.isfinite(w).all(1) & (np.abs(w).max(1) < WEIGHT_LIMIT)
    return np.stack([mi[good], ci[good]], 1).astype(np.int32)


def state_split(ws: Workspace) -> np.ndarray:
    """Split label per embedded/usable state row, from the per-model split."""
    return ws.split[ws.states[:, 0]]


def _one_cycle(step: int, total: int, peak: float, warmup: float = 0.1) -> float:
    w = max(1, int(total * warmup))
    if step < w:
        return peak * (0.04 + 0.96 * step / w)
    progress = (step - w) / max(1, total - w)
    return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _optimizer_state(opt: torch.optim.Optimizer) -> dict[str, np.ndarray]:
    out = {}
    for i, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            out[f"{i}.{key}"] = torch.as_tensor(value).detach().cpu().numpy()
    return out


def _load_optimizer_state(opt: torch.optim.Optimizer, arrays: dict[str, np.ndarray], device: torch.device) -> None:
    state: dict[int, dict] = {}
    for name, value in arrays.items():
        i, key = name.split(".", 1)
        tensor = torch.from_numpy(np.array(value))
        state.setdefault(int(i), {})[key] = tensor if key == "step" else tensor.to(device)
    sd = opt.state_dict()
    sd["state"] = state
    opt.load_state_dict(sd)


def fit_job(zoo_path: str | Path, ws_path: str | Path, preset: str = "default", epochs: int | None = None,
            device: str | torch.device = "auto", seed: int = 0, batch_size: int | None = None,
            lr: float | None = None, max_states: int | None = None, augmentation: dict | None = None,
            config: dict | None = None, window: int | None = None, halo: int | None = None) -> Job[Path]:
    """Train (or resume training) the autoencoder of the workspace ``ws_path`` on ``zoo_path``.

    ``augmentation`` overrides the preset's ``noise`` / ``erase_p``; ``config`` overrides settings
    of the autoencoder preset (core.hyperrep.autoencoder.AEConfig fields, e.g. ``{"gamma": 0.5}``)
    when the workspace is new. Both are recorded in the workspace's training record; a resumed fit
    keeps the recorded augmentation. A zoo of several architectures, or ``window`` (a context of
    that many tokens; ``halo`` tokens of context kept on each side when embedding), trains a
    windowed autoencoder instead (core.hyperrep.windows)."""
    if preset not in TRAINING:
        raise HyperVizError(f"preset {preset!r}: expected one of {', '.join(TRAINING)}")
    settings = dict(TRAINING[preset])
    settings.update({k: v for k, v in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr)) if v is not None})
    unknown = set(augmentation or {}) - set(AUGMENTATION_KEYS)
    if unknown:
        raise HyperVizError(f"augmentation settings {sorted(unknown)}: expected {', '.join(AUGMENTATION_KEYS)}")
    settings.update(augmentation or {})
    if settings["epochs"] < 1:
        raise HyperVizError(f"--epochs {settings['epochs']}: must be >= 1")
    if not (settings["noise"] >= 0 and 0 <= settings["erase_p"] <= 1):
        raise HyperVizError(f"augmentation noise {settings['noise']} / erase_p {settings['erase_p']}: need noise >= 0, 0 <= erase_p <= 1")
    dev = resolve_device(device)
    zoo = read_zoo(zoo_path)
    ws_path = Path(ws_path)
    resume = ws_path.exists()
    if resume:
        ws = load_workspace(ws_path)
        if Path(zoo_path).resolve() != ws.zoo_path.resolve():
            raise HyperVizError(f"{ws_path}: belongs to zoo {ws.zoo_path}, not {zoo_path}")
        ws.check_fits(zoo)
    else:
        ws = Workspace.create(ws_path, zoo_path)

    states = usable_states(zoo)
    if max_states is not None and len(states) > max_states:
        states = states[np.sort(np.random.default_rng(seed).choice(len(states), max_states, replace=False))]
    model_ids = zoo.models["model_id"] if "model_id" in zoo.models else np.arange(zoo.n_models).astype(str)
    if ws.split is None:
        ws.split = split_by_model(model_ids)
    split = ws.split[states[:, 0]]
    if zoo.is_mixed or window is not None or ws.training.get("mode") == "windowed":
        from core.hyperrep.windows import fit_windowed

        if epochs is None:
            settings["epochs"] = WINDOWED_EPOCHS[preset]

        return (yield from fit_windowed(zoo, ws, states, split, settings, preset, config, window, halo, seed, dev,
                                        _optimizer_state, _load_optimizer_state, _non_finite_parameters))
    weights = torch.from_numpy(zoo.weights[states[:, 0], states[:, 1]])          # [n, P]
    train_w, val_w = weights[split == "train"], weights[split == "val"]

    tokenizer = get_tokenizer(zoo.arch)
    profile_rows = np.sort(np.random.default_rng(seed).permutation(len(train_w))[:PROFILE_STATES])
    if ws.has_autoencoder:
        if ws.training.get("arch") != zoo.arch.to_dict():
            raise HyperVizError(f"{ws_path}: its autoencoder was trained for architecture "
                                f"{ws.training.get('arch', {}).get('name')!r}, the zoo has {zoo.arch.name!r}")
        model = ws.autoencoder(dev)
        settings.update(ws.training.get("augmentation", {}))
    else:
        torch.manual_seed(seed)
        model = HyperRepAE(make_config(tokenizer, preset, **(config or {}))).attach_tokenizer(tokenizer)
        mean, std = tokenizer.layer_stats(train_w)
        model.set_layer_stats(std.float(), mean.float())
        model.init_value_profile(WeightCodec(zoo.arch, model).to_tokens(train_w[profile_rows]))
        model.to(dev)
        ws.training = {"arch": zoo.arch.to_dict(), "preset": preset, "epochs_done": 0, "history": [], "seed": seed,
                       "augmentation": {k: settings[k] for k in AUGMENTATION_KEYS}}
    train_stats = None                                                           # the statistics head's targets
    if model.config.n_stats and model.config.stats_weight > 0:
        train_sw = weight_statistics(zoo.arch, train_w.numpy())
        train_stats = torch.from_numpy(rank_normalise(train_sw, train_sw))
    codec = WeightCodec(zoo.arch, model)
    permuter = get_permuter(zoo.arch)
    opt = torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=1e-5)
    if ws.optimizer:
        try:
            _load_optimizer_state(opt, ws.optimizer, dev)
        except (ValueError, KeyError, RuntimeError, IndexError, TypeError) as exc:
            raise HyperVizError(f"{ws_path}: /autoencoder/optimizer: does not fit the autoencoder ({' '.join(str(exc).split())[:120]})") from None

    done_epochs = int(ws.training["epochs_done"])
    total_epochs = settings["epochs"]
    ws.training["epochs_target"] = total_epochs
    n_train, bsz = len(train_w), min(settings["batch_size"], len(train_w))
    steps_per_epoch = max(1, n_train // bsz)
    total_steps = total_epochs * steps_per_epoch
    gen = torch.Generator().manual_seed(seed + 1000 * done_epochs)
    val_tokens = codec.to_tokens(val_w[:1024].to(dev))
    profile_tokens = (codec.to_tokens(train_w[profile_rows].to(dev))              # what the latent summary is fitted on
                      if model.config.latent_components else None)

    yield Progress(done_epochs * steps_per_epoch, total_steps, "resuming" if done_epochs else "starting",
                   {"train_states": n_train, "val_states": len(val_w), "device": str(dev)})
    start, seen = time.perf_counter(), 0
    for epoch in range(done_epochs, total_epochs):
        model.train()
        order = torch.randperm(n_train, generator=gen)
        sums = {"loss": 0.0, "contrastive": 0.0, "reconstruction": 0.0, "statistics": 0.0}
        for s in range(steps_per_epoch):
            step = epoch * steps_per_epoch + s
            for group in opt.param_groups:
                group["lr"] = _one_cycle(step, total_steps, settings["lr"])
            rows = order[s * bsz : (s + 1) * bsz]
            parts = train_step(model, codec, permuter, opt, train_w[rows].to(dev), gen, settings["noise"],
                               settings["erase_p"],
                               stats_target=None if train_stats is None else train_stats[rows].to(dev))
            if not math.isfinite(parts["loss"]):
                raise HyperVizError(f"training diverged at epoch {epoch + 1} step {s + 1} (loss {parts['loss']}); "
                                    f"{ws_path} keeps the last good checkpoint (epoch {ws.training['epochs_done']}); try a lower --lr")
            for k in sums:
                sums[k] += float(parts[k])
            seen += len(rows)
            if s % 10 == 9 or s == steps_per_epoch - 1:
                rate = seen / (time.perf_counter() - start)
                left = (total_steps - step - 1) * bsz / rate
                yield Progress(step + 1, total_steps, f"epoch {epoch + 1}/{total_epochs}",
                               {"loss": sums["loss"] / (s + 1), "samples_per_s": rate, "eta_s": left})
        broken = _non_finite_parameters(model)
        if broken:                              # a finite loss, but the last step left NaN/inf weights
            raise HyperVizError(f"training diverged in epoch {epoch + 1}: {broken} autoencoder parameter values are NaN or "
                                f"infinite; {ws_path} keeps the last good checkpoint (epoch {ws.training['epochs_done']}); "
                                "try a lower --lr")
        record = {"epoch": epoch + 1, **{k: v / steps_per_epoch for k, v in sums.items()}}
        record.update(_validate(model, val_tokens))
        ws.training["history"].append(record)
        ws.training["epochs_done"] = epoch + 1
        ws.training["samples_per_s"] = seen / (time.perf_counter() - start)
        if profile_tokens is not None:
            model.fit_latent_basis(profile_tokens)
        ws.set_autoencoder(model)
        ws.optimizer = _optimizer_state(opt)
        ws.embeddings = None                     # embeddings of an older model are stale
        ws.projections = {}
        ws.save()
        yield Progress((epoch + 1) * steps_per_epoch, total_steps, f"epoch {epoch + 1}/{total_epochs} saved",
                       {"loss": record["loss"], "val_recon_r2": record["val_recon_r2"]})
    return ws.path


def _non_finite_parameters(model) -> int:
    """How many parameter and buffer values of ``model`` are NaN or infinite."""
    return sum(int(t.numel() - torch.isfinite(t).sum()) for t in (*model.parameters(), *model.buffers())
               if t.is_floating_point())


def train_step(model: HyperRepAE, codec: WeightCodec, permuter, opt: torch.optim.Optimizer, w: torch.Tensor,
               gen: torch.Generator, noise: float = TRAINING["default"]["noise"],
               erase_p: float = TRAINING["default"]["erase_p"],
               stats_target: torch.Tensor | None = None) -> dict[str, float]:
    """One optimisation step on a batch of raw weights ``w [B, P]`` (on the model's device).

    Two views per state: an independent random permutation each (the targets), then noise and
    random erasing (the inputs), all drawn from ``gen``, so a seeded fit gives the same weights
    twice on the same device. With a canonicalising codec both permutations map back to the
    same canonical vector, so the views differ by noise and erasing alone and the permutation
    step is skipped. ``stats_target [B, n_stats]``: the states' rank-normalised s(W), what the
    statistics head learns (ignored by a model without one). Returns the loss parts as floats;
    does not step on a NaN loss.
    """
    model.train()
    if codec.permuter is None:
        t1, t2 = codec.to_tokens(permuter(w, gen)), codec.to_tokens(permuter(w, gen))
    else:
        t1 = t2 = codec.to_tokens(w)
    in1 = random_erase(add_noise(t1, noise, multiplicative=True, generator=gen), p=erase_p, generator=gen)
    in2 = random_erase(add_noise(t2, noise, multiplicative=True, generator=gen), p=erase_p, generator=gen)
    return optimise(model, opt, w.device, lambda: model.loss(in1, in2, t1, t2, layer_std=torch.ones_like(model.layer_std), stats_target=stats_target))


@torch.no_grad()
def _validate(model: HyperRepAE, tokens: torch.Tensor) -> dict:
    """Reconstruction of clean validation states: loss and per-layer R^2 (standardised space)."""
    if len(tokens) == 0:
        return {"val_recon_r2": float("nan"), "val_layer_r2": []}
    model.eval()
    recon, _ = model(tokens)
    mean = torch.zeros_like(model.layer_std)  # standardised space: the zoo mean is 0 per layer
    r2 = layerwise_r2(recon, tokens, model.token_mask, model.layer_of_token, mean)
    return {"val_recon_r2": float(torch.nanmean(r2)), "val_layer_r2": [round(float(v), 4) for v in r2]}
