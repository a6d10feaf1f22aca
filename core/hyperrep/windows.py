"""One autoencoder for several architectures and for models larger than its context (SANE's windows).

The plain autoencoder (core.hyperrep.codec) sees all ``T`` tokens of one architecture at once. A
*windowed* autoencoder has a context of ``W`` tokens (``config.n_tokens``) and position tables
that cover every architecture it was trained on (``config.max_positions``: the largest token
count, layer count and row count among them):

* **Tokens.** Every architecture keeps its own tokenizer at one shared token size ``S`` (by
  default the longest row among the architectures, at most 73 values: longer rows are cut) and its own
  per-layer mean and std over the training models of that architecture (the layer-wise
  normalisation); both are recorded in the workspace's training record (``archs``), so the
  autoencoder's tensors need nothing architecture-specific. A token's position is SANE's
  ``(global index, layer, row)``, with the global index counted **within the window**
  (``positions = "window"``, the default): the position tables then bound only the window, the
  layers and the rows, not a model's length, so the same autoencoder reads a model of any number
  of tokens, and every window looks alike wherever it lies. ``positions = "model"`` counts the
  index over the whole model, as SANE does (its tables then need a row per token of the longest
  model).
* **Training** draws one architecture per step (in proportion to its training states), a batch of
  its states and one random window of ``W`` consecutive tokens (the whole model when it has at
  most ``W``): the same ``gamma * NT-Xent + (1 - gamma) * masked MSE`` as the plain fit, on the
  window. Memory depends on ``W``, not on the model's size.
* **Embedding a whole model** (:meth:`ArchCodec.encode`): windows of ``W`` tokens overlapping by
  at least ``2 * halo`` cover its ``T`` tokens; each window is encoded and only its centre is kept
  (SANE's haloing: every token is read with context on both sides, except at the model's ends),
  giving latents ``[T, d_latent]``; the embedding is their per-layer mean (as the plain
  autoencoder pools). :meth:`ArchCodec.decode` decodes latents window by window the same way.

What a windowed autoencoder leaves out: the value branch and the statistics head (both read a
whole model of one architecture at once); its embedding is the per-layer latent means.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import HyperVizError, shown
from core.hyperrep.augment import add_noise, get_permuter, random_erase
from core.hyperrep.autoencoder import HyperRepAE, layerwise_r2, layerwise_reconstruction_loss, make_config, nt_xent
from core.hyperrep.steps import optimise
from core.hyperrep.tokens import get_tokenizer
from core.progress import Progress
from core.zoo.arch import ArchSpec

MODE = "windowed"
#: How a token's global index is counted: within its window (default), or over the whole model (SANE).
POSITIONS = ("window", "model")
#: Settings of the plain autoencoder a windowed one cannot have (they read a whole model at once).
WHOLE_MODEL_SETTINGS = ("value_features", "unit_features", "latent_components", "value_moments", "n_stats",
                        "stats_weight")


def is_windowed(training: dict) -> bool:
    return isinstance(training, dict) and training.get("mode") == MODE


def window_plan(n_tokens: int, window: int, halo: int) -> list[tuple[int, int, int, int]]:
    """Windows ``(start, stop, keep_start, keep_stop)`` over ``n_tokens`` tokens: every window is
    ``window`` long (one window of all tokens when there are at most ``window``), consecutive
    windows overlap by at least ``2 * halo``, and the kept parts partition ``0..n_tokens``, each
    boundary in the middle of an overlap."""
    if n_tokens <= window:
        return [(0, n_tokens, 0, n_tokens)]
    stride = max(1, window - 2 * halo)
    starts = list(range(0, n_tokens - window, stride)) + [n_tokens - window]
    bounds = [0] + [(a + b + window) // 2 for a, b in zip(starts, starts[1:])] + [n_tokens]
    return [(s, s + window, bounds[i], bounds[i + 1]) for i, s in enumerate(starts)]


def pool_latents(z: torch.Tensor, layer_of_token: torch.Tensor, n_layers: int, pooling: str = "mean") -> torch.Tensor:
    """Per-layer mean of ``z [B, T, d]`` over each layer's tokens (``layer_of_token [T]``), layers side
    by side: ``[B, n_layers * d]`` (layers a model lacks are 0); ``mean_std`` adds each layer's
    spread (the plain autoencoder's :meth:`HyperRepAE.pool` for a token layout of its own)."""
    onehot = F.one_hot(layer_of_token.to(z.device), n_layers).to(z.dtype)          # [T, L]
    counts = onehot.sum(0).clamp_min(1).view(1, n_layers, 1)
    mean = torch.einsum("btd,tl->bld", z, onehot) / counts
    if pooling == "mean":
        return mean.reshape(z.shape[0], -1)
    second = torch.einsum("btd,tl->bld", z * z, onehot) / counts
    std = (second - mean * mean).clamp_min(0).add(1e-8).sqrt()
    return torch.cat([mean.reshape(z.shape[0], -1), std.reshape(z.shape[0], -1)], 1)


@dataclass
class ArchCodec:
    """Weights of one architecture <-> standardised tokens <-> a windowed autoencoder's latents."""

    spec: ArchSpec
    token_size: int
    layer_mean: torch.Tensor          # [L_arch]
    layer_std: torch.Tensor           # [L_arch]
    window: int
    halo: int
    canonical: bool = True
    positions: str = "window"         # the global index counted within the window, or over the "model"

    def __post_init__(self) -> None:
        if self.positions not in POSITIONS:
            raise HyperVizError(f"positions {self.positions!r}: expected one of {', '.join(POSITIONS)}")
        self.tokenizer = get_tokenizer(self.spec, self.token_size)
        self.permuter = get_permuter(self.spec) if self.canonical else None
        layer = self.tokenizer.layer_of_value
        self._mean = self.layer_mean.float()[layer]
        self._std = self.layer_std.float().clamp_min(1e-4)[layer]
        self.plan = window_plan(self.tokenizer.n_tokens, self.window, self.halo)

    @property
    def n_tokens(self) -> int:
        return self.tokenizer.n_tokens

    def to_tokens(self, weights: torch.Tensor) -> torch.Tensor:
        """``[n, P]`` raw weights -> ``[n, T, S]`` standardised tokens."""
        if self.permuter is not None:
            weights = self.permuter.canonical(weights)
        return self.tokenizer.tokenize((weights - self._mean.to(weights.device)) / self._std.to(weights.device))

    def from_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.tokenizer.detokenize(tokens) * self._std.to(tokens.device) + self._mean.to(tokens.device)

    def window_positions(self, start: int, stop: int, device=None) -> torch.Tensor:
        """Positions ``[stop - start, 3]`` of the tokens ``start:stop`` (global index, layer, row)."""
        pos = self.tokenizer.positions[start:stop].clone()
        if self.positions == "window":
            pos[:, 0] = torch.arange(stop - start)
        return pos if device is None else pos.to(device)

    def check_fits(self, model: HyperRepAE) -> None:
        c = list(self.tokenizer.max_positions)
        if self.positions == "window":
            c[0] = min(c[0], self.window)
        if any(m > n for m, n in zip(c, model.config.max_positions)) or self.token_size != model.config.token_size:
            raise HyperVizError(f"architecture {self.spec.name!r} ({self.n_tokens} tokens of {self.tokenizer.token_size}) "
                                f"does not fit the autoencoder's positions {tuple(model.config.max_positions)}")

    @torch.no_grad()
    def latents_of_tokens(self, model: HyperRepAE, tokens: torch.Tensor) -> torch.Tensor:
        """``[n, T, S]`` -> ``[n, T, d_latent]``, window by window, keeping each window's centre."""
        out = tokens.new_zeros(tokens.shape[0], self.n_tokens, model.config.d_latent)
        for start, stop, keep0, keep1 in self.plan:
            z = model.encode(tokens[:, start:stop], self.window_positions(start, stop, tokens.device))
            out[:, keep0:keep1] = z[:, keep0 - start : keep1 - start].to(out.dtype)
        return out

    @torch.no_grad()
    def tokens_of_latents(self, model: HyperRepAE, z: torch.Tensor) -> torch.Tensor:
        out = z.new_zeros(z.shape[0], self.n_tokens, self.token_size)
        for start, stop, keep0, keep1 in self.plan:
            t = model.decode(z[:, start:stop], self.window_positions(start, stop, z.device))
            out[:, keep0:keep1] = t[:, keep0 - start : keep1 - start].to(out.dtype)
        return out

    def embedding(self, model: HyperRepAE, z: torch.Tensor) -> torch.Tensor:
        return pool_latents(z, self.tokenizer.layer_of_token, model.config.max_positions[1], model.config.pooling)

    @torch.no_grad()
    def encode(self, model: HyperRepAE, weights, device: torch.device, batch: int = 256,
               pooled: bool = True) -> np.ndarray:
        """Embeddings ``[n, embedding_width]`` (``pooled``) or latents ``[n, T, d_latent]`` of ``weights [n, P]``."""
        model.eval()
        weights = torch.as_tensor(np.asarray(weights, dtype=np.float32))[:, : self.spec.n_params]
        out = []
        for s in range(0, len(weights), batch):
            z = self.latents_of_tokens(model, self.to_tokens(weights[s : s + batch].to(device)))
            out.append((self.embedding(model, z) if pooled else z).float().cpu())
        width = (model.embedding_width,) if pooled else (self.n_tokens, model.config.d_latent)
        return torch.cat(out).numpy() if out else np.zeros((0, *width), np.float32)

    @torch.no_grad()
    def decode(self, model: HyperRepAE, latents, device: torch.device, batch: int = 256) -> np.ndarray:
        """Weights ``[n, P]`` decoded from latents ``[n, T, d_latent]``."""
        model.eval()
        latents = torch.as_tensor(np.asarray(latents, dtype=np.float32))
        if latents.dim() != 3 or latents.shape[1] != self.n_tokens:
            raise HyperVizError(f"latents of shape {tuple(latents.shape)} do not fit {self.spec.name!r} "
                                f"({self.n_tokens} tokens)")
        out = [self.from_tokens(self.tokens_of_latents(model, latents[s : s + batch].to(device))).cpu()
               for s in range(0, len(latents), batch)]
        return torch.cat(out).numpy() if out else np.zeros((0, self.spec.n_params), np.float32)


# ---- the training record ------------------------------------------------------------------------
def codecs_from_training(training: dict, model: HyperRepAE, label: str = "workspace") -> dict[str, ArchCodec]:
    """The :class:`ArchCodec` of every architecture a windowed workspace was trained on."""
    where = f"{label}: /autoencoder/training"
    archs = training.get("archs")
    if not isinstance(archs, dict) or not archs:
        raise HyperVizError(f"{where}: 'archs' is not an object of architectures")
    window, halo = training.get("window"), training.get("halo")
    if not isinstance(window, int) or not isinstance(halo, int) or window < 1 or halo < 0:
        raise HyperVizError(f"{where}: 'window' / 'halo' are not whole numbers (window >= 1, halo >= 0)")
    positions = training.get("positions", "model")       # records without the key counted over the model
    if positions not in POSITIONS:
        raise HyperVizError(f"{where}: 'positions' is {shown(repr(positions), 40)}, expected one of {', '.join(POSITIONS)}")
    codecs = {}
    for name, entry in archs.items():
        try:
            spec = ArchSpec.from_dict(entry["spec"], source=f"{where}: archs[{name!r}]")
            mean = torch.tensor(entry["layer_mean"], dtype=torch.float32)
            std = torch.tensor(entry["layer_std"], dtype=torch.float32)
        except HyperVizError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise HyperVizError(f"{where}: archs[{shown(repr(name), 40)}]: not usable ({shown(exc, 80)})") from None
        if mean.shape != (spec.n_layers,) or std.shape != (spec.n_layers,) or not torch.isfinite(mean).all() \
                or not (std > 0).all():
            raise HyperVizError(f"{where}: archs[{shown(repr(name), 40)}]: layer statistics do not fit its "
                                f"{spec.n_layers} layers")
        codec = ArchCodec(spec, model.config.token_size, mean, std, window, halo, model.config.canonical, positions)
        codec.check_fits(model)
        codecs[name] = codec
    return codecs


def codec_for(training: dict, model: HyperRepAE, spec: ArchSpec, label: str = "workspace") -> ArchCodec:
    """The codec of architecture ``spec``; a one-line error when the autoencoder was not trained on it."""
    codecs = codecs_from_training(training, model, label)
    codec = codecs.get(spec.name)
    if codec is None or codec.spec != spec:
        raise HyperVizError(f"{label}: its autoencoder was trained on {', '.join(codecs)}, not on architecture "
                            f"{spec.name!r}")
    return codec


# ---- training -----------------------------------------------------------------------------------
def window_loss(model: HyperRepAE, view1: torch.Tensor, view2: torch.Tensor, target1: torch.Tensor,
                target2: torch.Tensor, codec: ArchCodec, start: int, stop: int) -> tuple[torch.Tensor, dict]:
    """The plain fit's loss on the window ``start:stop`` of two views ``[B, W, S]`` of one architecture."""
    c = model.config
    tok = codec.tokenizer
    pos = codec.window_positions(start, stop, view1.device)
    mask = tok.mask[start:stop].to(view1.device)
    layers = tok.layer_of_token[start:stop].to(view1.device)
    both = torch.cat([view1, view2])
    z = model.encode(both, pos)
    recon = model.decode(z, pos)
    p1, p2 = model.project(pool_latents(z, layers, c.max_positions[1], c.pooling)).chunk(2)
    contrastive = nt_xent(p1, p2, c.temperature) if c.gamma > 0 else recon.new_zeros(())
    ones = torch.ones(c.max_positions[1], device=view1.device)
    reconstruction = layerwise_reconstruction_loss(recon, torch.cat([target1, target2]), mask, layers, ones)
    total = c.gamma * contrastive + (1 - c.gamma) * reconstruction
    return total, {"loss": total.detach(), "contrastive": contrastive.detach(),
                   "reconstruction": reconstruction.detach(), "statistics": total.new_zeros(())}


def window_train_step(model: HyperRepAE, codec: ArchCodec, opt: torch.optim.Optimizer, w: torch.Tensor,
                      gen: torch.Generator, noise: float, erase_p: float) -> dict[str, float]:
    """One step on raw weights ``w [B, P]`` of ``codec``'s architecture: a random window, two noisy
    and erased views of it (the clean window is the target), one optimiser step."""
    model.train()
    tokens = codec.to_tokens(w)
    T, W = codec.n_tokens, model.config.n_tokens
    start = int(torch.randint(0, T - W + 1, (1,), generator=gen)) if T > W else 0
    stop = min(T, start + W)
    t = tokens[:, start:stop]
    in1 = random_erase(add_noise(t, noise, multiplicative=True, generator=gen), p=erase_p, generator=gen)
    in2 = random_erase(add_noise(t, noise, multiplicative=True, generator=gen), p=erase_p, generator=gen)
    return optimise(model, opt, w.device, lambda: window_loss(model, in1, in2, t, t, codec, start, stop))


@torch.no_grad()
def validate(model: HyperRepAE, codecs: dict[str, ArchCodec], val: dict[str, torch.Tensor]) -> dict:
    """Reconstruction of whole clean validation models through the windows: per-layer R^2 in the
    standardised space, per architecture (``val_arch_r2``) and their mean (``val_recon_r2``)."""
    model.eval()
    per_arch, layers_all = {}, []
    for name, w in val.items():
        if not len(w):
            continue
        codec = codecs[name]
        tokens = codec.to_tokens(w)
        recon = codec.tokens_of_latents(model, codec.latents_of_tokens(model, tokens))
        zero = torch.zeros(codec.spec.n_layers)
        r2 = layerwise_r2(recon, tokens, codec.tokenizer.mask, codec.tokenizer.layer_of_token, zero)
        per_arch[name] = float(torch.nanmean(r2))
        layers_all += [round(float(v), 4) for v in r2]
    mean = float(np.mean(list(per_arch.values()))) if per_arch else float("nan")
    return {"val_recon_r2": mean, "val_layer_r2": layers_all, "val_arch_r2": {k: round(v, 4) for k, v in per_arch.items()}}


#: The largest default token size: the default cnn's longest row. Longer rows are cut into tokens of
#: this size. Measured on 64 cnn_large models (122 tokens of 145, or 218 of 73) with a default-preset
#: autoencoder (64 latent values per token): validation R^2 plateaued at 0.68 with 145-value
#: tokens (window 32, 100 epochs) but reached 0.94 with 73-value ones (window 44, 150 epochs).
MAX_DEFAULT_TOKEN_SIZE = 73


def default_token_size(specs) -> int:
    """The shared token size: the longest row (weights + bias of one output unit) among ``specs``,
    at most :data:`MAX_DEFAULT_TOKEN_SIZE`."""
    return min(MAX_DEFAULT_TOKEN_SIZE, max(get_tokenizer(spec).max_row_length for spec in specs))


def new_windowed_model(zoo, train_rows: dict[str, np.ndarray], preset: str, config: dict | None, window: int | None,
                       halo: int | None, seed: int, positions: str = "window") -> tuple[HyperRepAE, dict]:
    """A fresh windowed autoencoder for ``zoo``'s architectures and its training record
    (``train_rows``: per architecture the training states' weights ``[n, P_arch]``)."""
    config = dict(config or {})
    given = [k for k in WHOLE_MODEL_SETTINGS if config.get(k)]
    if given:
        raise HyperVizError(f"autoencoder settings {', '.join(given)}: a windowed autoencoder (several architectures "
                            "or --window) has no value or unit branch, latent summary or statistics head")
    specs = [zoo.spec(name) for name in train_rows]
    size = int(config.pop("token_size", 0) or default_token_size(specs))
    toks = {spec.name: get_tokenizer(spec, size) for spec in specs}
    longest = max(t.n_tokens for t in toks.values())
    window = longest if window is None else int(window)
    if window < 1:
        raise HyperVizError(f"--window {window}: must be >= 1")
    window = min(window, longest)
    halo = window // 4 if halo is None else int(halo)
    if not 0 <= 2 * halo < window:
        raise HyperVizError(f"halo {halo}: must be >= 0 and below half the window ({window})")
    if positions not in POSITIONS:
        raise HyperVizError(f"positions {positions!r}: expected one of {', '.join(POSITIONS)}")
    max_positions = tuple(max(t.max_positions[i] for t in toks.values()) for i in range(3))
    if positions == "window":
        max_positions = (window, *max_positions[1:])
    first = next(iter(toks.values()))
    torch.manual_seed(seed)
    cfg = make_config(first, preset, **{**config, "token_size": size, "n_tokens": window,
                                        "max_positions": max_positions, "value_features": 0, "unit_features": 0,
                                        "latent_components": 0, "value_moments": False, "n_stats": 0,
                                        "stats_weight": 0.0})
    model = HyperRepAE(cfg)
    record = {"mode": MODE, "window": window, "halo": halo, "positions": positions, "archs": {}}
    for spec in specs:
        mean, std = toks[spec.name].layer_stats(torch.as_tensor(train_rows[spec.name]))
        record["archs"][spec.name] = {"spec": spec.to_dict(), "layer_mean": [float(v) for v in mean],
                                      "layer_std": [float(v) for v in std]}
    return model, record


def fit_windowed(zoo, ws, states: np.ndarray, split: np.ndarray, settings: dict, preset: str, config: dict | None,
                 window: int | None, halo: int | None, seed: int, dev: torch.device, save_optimizer, load_optimizer,
                 non_finite_parameters):
    """``fit`` for a zoo of several architectures or with ``--window`` (a job like
    :func:`core.hyperrep.fit.fit_job`, whose checks and split it shares; returns the workspace path)."""
    names = zoo.model_archs()[states[:, 0]]
    by_arch = {}
    for spec in zoo.archs:
        pick = names == spec.name
        w = zoo.weights[states[pick, 0], states[pick, 1], : spec.n_params]
        by_arch[spec.name] = {s: torch.from_numpy(np.ascontiguousarray(w[split[pick] == s])) for s in ("train", "val")}
    by_arch = {k: v for k, v in by_arch.items() if len(v["train"])}
    if not by_arch:
        raise HyperVizError("no usable training states (every model state is in the validation or test split)")
    if ws.has_autoencoder:
        if not is_windowed(ws.training):
            raise HyperVizError(f"{ws.path}: its autoencoder reads one architecture whole; fit a new workspace for "
                                "several architectures or --window")
        model = ws.autoencoder(dev)
        settings.update(ws.training.get("augmentation", {}))
        missing = sorted(set(by_arch) - set(ws.training.get("archs", {})))
        if missing:
            raise HyperVizError(f"{ws.path}: its autoencoder was not trained on architecture {missing[0]!r}")
    else:
        model, record = new_windowed_model(zoo, {k: v["train"].numpy() for k, v in by_arch.items()}, preset, config,
                                           window, halo, seed)
        model.to(dev)
        ws.training = {**record, "preset": preset, "epochs_done": 0, "history": [], "seed": seed,
                       "augmentation": {k: settings[k] for k in ("noise", "erase_p")}}
    codecs = codecs_from_training(ws.training, model, str(ws.path))
    opt = torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=1e-5)
    if ws.optimizer:
        load_optimizer(opt, ws.optimizer, dev)

    from core.hyperrep.fit import _one_cycle

    archs = list(by_arch)
    counts = np.array([len(by_arch[a]["train"]) for a in archs], np.float64)
    n_train = int(counts.sum())
    bsz = min(settings["batch_size"], int(counts.max()))
    steps_per_epoch = max(1, n_train // bsz)
    done_epochs, total_epochs = int(ws.training["epochs_done"]), settings["epochs"]
    ws.training["epochs_target"] = total_epochs
    total_steps = total_epochs * steps_per_epoch
    gen = torch.Generator().manual_seed(seed + 1000 * done_epochs)
    val = {a: by_arch[a]["val"][:256].to(dev) for a in archs}
    yield Progress(done_epochs * steps_per_epoch, total_steps, "resuming" if done_epochs else "starting",
                   {"train_states": n_train, "architectures": len(archs), "window": ws.training["window"],
                    "device": str(dev)})
    start, seen = time.perf_counter(), 0
    for epoch in range(done_epochs, total_epochs):
        sums = {"loss": 0.0, "contrastive": 0.0, "reconstruction": 0.0, "statistics": 0.0}
        picks = torch.multinomial(torch.from_numpy(counts), steps_per_epoch, replacement=True, generator=gen)
        for s in range(steps_per_epoch):
            step = epoch * steps_per_epoch + s
            for group in opt.param_groups:
                group["lr"] = _one_cycle(step, total_steps, settings["lr"])
            arch = archs[int(picks[s])]
            train = by_arch[arch]["train"]
            rows = torch.randperm(len(train), generator=gen)[:bsz]
            parts = window_train_step(model, codecs[arch], opt, train[rows].to(dev), gen, settings["noise"],
                                      settings["erase_p"])
            if not math.isfinite(parts["loss"]):
                raise HyperVizError(f"training diverged at epoch {epoch + 1} step {s + 1} (loss {parts['loss']}); "
                                    f"{ws.path} keeps the last good checkpoint (epoch {ws.training['epochs_done']}); "
                                    "try a lower --lr")
            for k in sums:
                sums[k] += float(parts[k])
            seen += len(rows)
            if s % 10 == 9 or s == steps_per_epoch - 1:
                rate = seen / (time.perf_counter() - start)
                yield Progress(step + 1, total_steps, f"epoch {epoch + 1}/{total_epochs}",
                               {"loss": sums["loss"] / (s + 1), "samples_per_s": rate,
                                "eta_s": (total_steps - step - 1) * bsz / rate})
        broken = non_finite_parameters(model)
        if broken:
            raise HyperVizError(f"training diverged in epoch {epoch + 1}: {broken} autoencoder parameter values are NaN or "
                                f"infinite; {ws.path} keeps the last good checkpoint (epoch {ws.training['epochs_done']})")
        record = {"epoch": epoch + 1, **{k: v / steps_per_epoch for k, v in sums.items()}, **validate(model, codecs, val)}
        ws.training["history"].append(record)
        ws.training["epochs_done"] = epoch + 1
        ws.training["samples_per_s"] = seen / (time.perf_counter() - start)
        ws.set_autoencoder(model)
        ws.optimizer = save_optimizer(opt)
        ws.embeddings = None
        ws.projections = {}
        ws.save()
        yield Progress((epoch + 1) * steps_per_epoch, total_steps, f"epoch {epoch + 1}/{total_epochs} saved",
                       {"loss": record["loss"], "val_recon_r2": record["val_recon_r2"]})
    return ws.path


# ---- one interface for both kinds of autoencoder ----------------------------------------------------
class PlainCodec:
    """The plain autoencoder (one architecture, all tokens at once) behind :class:`ArchCodec`'s interface."""

    def __init__(self, spec: ArchSpec) -> None:
        self.spec = spec

    def encode(self, model: HyperRepAE, weights, device: torch.device, batch: int = 512, pooled: bool = True) -> np.ndarray:
        from core.hyperrep.codec import encode_weights

        return encode_weights(model, self.spec, np.asarray(weights)[:, : self.spec.n_params], device, batch, pooled)

    def decode(self, model: HyperRepAE, latents, device: torch.device, batch: int = 512) -> np.ndarray:
        from core.hyperrep.codec import decode_latents

        return decode_latents(model, self.spec, latents, device, batch)


def workspace_codec(ws, model: HyperRepAE, spec: ArchSpec) -> ArchCodec | PlainCodec:
    """How the workspace's autoencoder encodes and decodes models of ``spec``: ``.encode(model,
    weights [n, P], device, pooled=...)`` and ``.decode(model, latents, device)``."""
    if is_windowed(ws.training):
        return codec_for(ws.training, model, spec, str(ws.path))
    return PlainCodec(spec)


def encode_states(ws, model: HyperRepAE, zoo, states: np.ndarray, device: torch.device, batch: int = 512):
    """Embeddings ``[len(states), width]`` of the zoo's states ``[n, 2]`` (model row, checkpoint), each
    architecture with its own codec; yields Progress per batch, returns the array."""
    names = zoo.model_archs()[states[:, 0]] if len(states) else np.zeros(0, str)
    out = np.zeros((len(states), model.embedding_width), np.float32)
    done = 0
    for spec in zoo.archs:
        pick = np.flatnonzero(names == spec.name)
        if not len(pick):
            continue
        codec = workspace_codec(ws, model, spec)
        for s in range(0, len(pick), batch):
            rows = states[pick[s : s + batch]]
            out[pick[s : s + batch]] = codec.encode(model, zoo.weights[rows[:, 0], rows[:, 1]], device, batch)
            done += len(rows)
            yield Progress(done, len(states), f"embedding ({spec.name})" if zoo.is_mixed else "embedding")
    return out
