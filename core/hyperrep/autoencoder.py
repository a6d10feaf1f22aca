"""The hyper-representation autoencoder (SANE-style): weight tokens -> per-token latents -> tokens.

::

    tokens [B, T, S] --Linear(S, d)--> + pos(n) + pos(l) + pos(k) --> encoder blocks --> LN
        --Linear(d, d_latent)--> z [B, T, d_latent]                                 (encode)
    z --Linear(d_latent, d)--> + pos --> decoder blocks --> LN --Linear(d, S)--> tokens   (decode)
    features = pooled latents: per-layer means of z, side by side  [B, L * d_latent]  (pool)
        + the value profile: per group of values (a layer's weights, a layer's biases) the
          means of k learned ramps of the values, standardised  [B, 2L * k]   (value branch)
        + the unit profile: per layer, learned ramps of its units' RMS and mean  [B, 2L * ku]
    embedding = the same, with the pooled latents summarised by their top m principal
          directions over the training states  [B, m + 2L * (k + ku)]                (embed)
    optional statistics head: features -> Linear -> rank-normalised s(W) of the input  [B, n_stats]
    projection head: features -> Linear, LN, ReLU, Linear -> [B, d_proj]  (contrastive loss only)

Blocks are pre-LN transformer blocks with non-causal ``scaled_dot_product_attention`` and a GELU
MLP. There is no CLS token: as in SANE the latent is a sequence with one ``d_latent`` vector per
token, and the one vector per model state used for maps and probes is the summary of each
layer's mean latent beside the value profile (:meth:`HyperRepAE.value_pool`), which keeps the
spread and tails of every layer's values that means of token latents average away, and the unit
profile (:meth:`HyperRepAE.unit_pool`), which keeps how unequal a layer's units are.

The loss is ``gamma * NT-Xent(proj(features(view1)), proj(features(view2)), temperature)
+ (1 - gamma) * layer-wise normalised masked MSE`` of both views' reconstructions against their
targets (the augmented views before noise/erasing).

The model owns, as buffers, the token structure of its architecture (mask, positions, layer of every
token; see :meth:`HyperRepAE.attach_tokenizer`) and the zoo's per-layer mean/std
(:meth:`HyperRepAE.set_layer_stats`), so ``(config JSON, tensors)`` rebuild a working model alone,
without pickle: :func:`state_to_tensors`, :func:`model_from_tensors`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import HyperVizError
from core.hyperrep.tokens import Tokenizer
from core.zoo.weight_stats import weight_statistics_names

CONFIG_FORMAT = "hyperviz.autoencoder/1"
#: How per-token latents become one vector per model state (see :meth:`HyperRepAE.pool`).
POOLINGS = ("mean", "mean_std")
#: Width of a value-branch ramp, in units of its group's std (see :meth:`HyperRepAE.init_value_profile`).
RAMP_WIDTH = 0.3


def ramp_levels(k: int) -> torch.Tensor:
    """The ``k`` quantile levels at which the value branch's ramps start: evenly from 1% to 99%
    (``[0.5]`` for one ramp). Between them they read a group's whole distribution, tails included."""
    return torch.linspace(0.01, 0.99, k) if k > 1 else torch.full((k,), 0.5)


# ---- configuration -----------------------------------------------------------------------------
@dataclass
class AEConfig:
    """Everything needed to build a :class:`HyperRepAE` (JSON-able via :meth:`to_dict`)."""

    token_size: int                              # S: values per token
    n_tokens: int                                # T: tokens per model
    max_positions: tuple[int, int, int]          # distinct (global index, layer, row) positions
    d_model: int = 128
    n_heads: int = 4
    n_layers_enc: int = 2
    n_layers_dec: int = 2
    d_latent: int = 32                           # latent width per token; the embedding is this wide
    d_ff: int = 256
    dropout: float = 0.0
    d_proj: int = 32                             # output width of the projection head
    gamma: float = 0.1                           # weight of the contrastive term
    temperature: float = 0.1                     # NT-Xent temperature
    canonical: bool = True                       # inputs are put in canonical unit order (core.hyperrep.codec)
    pooling: str = "mean"                        # per-layer "mean" of z, or "mean_std" (mean and spread)
    value_features: int = 0                      # k: learned value features per s(W) group (0: none)
    unit_features: int = 0                       # learned features per layer of its units' RMS and mean (0: none)
    latent_components: int = 0                   # the pooled latents' top principal directions kept (0: all)
    value_moments: bool = False                  # the embedding also holds each group's mean, RMS and max |value|
    n_stats: int = 0                             # width of the s(W) target of the statistics head (0: no head)
    stats_weight: float = 0.0                    # weight of the statistics term in the loss

    def __post_init__(self) -> None:
        self.max_positions = tuple(int(m) for m in self.max_positions)
        if len(self.max_positions) != 3:
            raise HyperVizError(f"autoencoder config: max_positions needs 3 values, got {self.max_positions}")
        for name in ("token_size", "n_tokens", "d_model", "n_heads", "d_latent", "d_ff", "d_proj"):
            if int(getattr(self, name)) < 1:
                raise HyperVizError(f"autoencoder config: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("value_features", "unit_features", "latent_components", "n_stats"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise HyperVizError(f"autoencoder config: {name} must be an integer >= 0, got {getattr(self, name)!r}")
        if not isinstance(self.value_moments, bool):
            raise HyperVizError(f"autoencoder config: value_moments must be true or false, got {self.value_moments!r}")
        if not 0 <= self.stats_weight <= 100:
            raise HyperVizError(f"autoencoder config: stats_weight {self.stats_weight} must lie in [0, 100]")
        if self.stats_weight > 0 and self.n_stats == 0:
            raise HyperVizError("autoencoder config: stats_weight > 0 needs n_stats > 0 (the width of the s(W) target)")
        if self.n_layers_enc < 0 or self.n_layers_dec < 0:
            raise HyperVizError("autoencoder config: layer counts must be >= 0")
        if self.d_model % self.n_heads:
            raise HyperVizError(f"autoencoder config: d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if not 0 <= self.gamma <= 1:
            raise HyperVizError(f"autoencoder config: gamma {self.gamma} must lie in [0, 1]")
        if self.temperature <= 0:
            raise HyperVizError(f"autoencoder config: temperature {self.temperature} must be > 0")
        if self.pooling not in POOLINGS:
            raise HyperVizError(f"autoencoder config: pooling {self.pooling!r}: expected one of {', '.join(POOLINGS)}")
        if self.latent_components > self.pooled_width:
            raise HyperVizError(f"autoencoder config: latent_components {self.latent_components} exceeds the "
                                f"{self.pooled_width} pooled latent values")
        if self.max_positions[0] < self.n_tokens:
            raise HyperVizError(f"autoencoder config: max_positions[0] {self.max_positions[0]} < n_tokens {self.n_tokens}")

    @property
    def pooled_width(self) -> int:
        """Width of the pooled latents (:meth:`HyperRepAE.pool`): per layer ``d_latent`` means (and
        as many spreads with pooling ``"mean_std"``)."""
        return (2 if self.pooling == "mean_std" else 1) * self.max_positions[1] * self.d_latent

    def to_dict(self) -> dict:
        data = asdict(self)
        data["max_positions"] = list(self.max_positions)
        data["format"] = CONFIG_FORMAT
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict, source: str = "autoencoder config") -> AEConfig:
        data = dict(data)
        fmt = data.pop("format", CONFIG_FORMAT)
        if fmt != CONFIG_FORMAT:
            raise HyperVizError(f"{source}: format {fmt!r} is not {CONFIG_FORMAT!r}")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise HyperVizError(f"{source}: unknown keys {sorted(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise HyperVizError(f"{source}: {exc}") from None

    @classmethod
    def from_json(cls, text: str, source: str = "autoencoder config") -> AEConfig:
        try:
            return cls.from_dict(json.loads(text), source)
        except json.JSONDecodeError as exc:
            raise HyperVizError(f"{source}: invalid JSON ({exc})") from None


#: Size presets. ``tiny``: trains in seconds on a CPU (tests, CI, demos). ``default``: the 1.2k-param
#: CNN zoo (44 tokens of 73): 584k parameters; one epoch over 13k samples (two views each) took
#: ~100 s with one torch thread on the 2-core dev machine, so 10-15 epochs fit in 15-25 min.
PRESETS: dict[str, dict] = {
    "tiny": dict(d_model=32, n_heads=2, n_layers_enc=1, n_layers_dec=1, d_latent=8, d_ff=64,
                 dropout=0.0, d_proj=16, gamma=0.1, temperature=0.1, value_features=8, unit_features=4,
                 latent_components=4, value_moments=True),
    "default": dict(d_model=128, n_heads=4, n_layers_enc=2, n_layers_dec=2, d_latent=64, d_ff=256,
                    dropout=0.0, d_proj=32, gamma=0.1, temperature=0.1, value_features=16, unit_features=8,
                    latent_components=8, value_moments=True),
}


def make_config(tokenizer: Tokenizer, preset: str = "default", **overrides) -> AEConfig:
    """An :class:`AEConfig` for ``tokenizer``'s token shape from a named preset plus overrides."""
    if preset not in PRESETS:
        raise HyperVizError(f"autoencoder preset {preset!r}: expected one of {', '.join(PRESETS)}")
    values = dict(PRESETS[preset], token_size=tokenizer.token_size, n_tokens=tokenizer.n_tokens,
                  max_positions=tokenizer.max_positions)
    unknown = set(overrides) - {f.name for f in fields(AEConfig)}
    if unknown:
        raise HyperVizError(f"autoencoder config: unknown settings {sorted(unknown)}")
    values.update(overrides)
    if values.get("stats_weight", 0) > 0 and "n_stats" not in overrides:
        values["n_stats"] = len(weight_statistics_names(tokenizer.spec))
    return AEConfig(**values)


# ---- building blocks -------------------------------------------------------------------------
class SelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.out_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=False)
        return self.out_drop(self.out(y.transpose(1, 2).reshape(B, T, D)))


class Block(nn.Module):
    """Pre-LN transformer block: ``x + attn(ln(x))``, then ``x + mlp(ln(x))``."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_heads, dropout)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class PositionEmbedding(nn.Module):
    """Sum of learned embeddings of the three position components (global index, layer, row)."""

    def __init__(self, max_positions: tuple[int, int, int], d_model: int) -> None:
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(m, d_model) for m in max_positions)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:      # [T, 3] or [B, T, 3] -> [.., T, d]
        return sum(table(positions[..., i]) for i, table in enumerate(self.tables))


# ---- the model -----------------------------------------------------------------------------
class HyperRepAE(nn.Module):
    """Transformer autoencoder over weight tokens; see the module docstring for the data flow.

    Buffers (saved with the weights): ``token_mask [T, S]`` bool, ``token_positions [T, 3]``,
    ``layer_of_token [T]``, ``layer_std [L]`` and ``layer_mean [L]`` (L = ``max_positions[1]``).
    Until :meth:`attach_tokenizer` is called, every entry counts as real, positions are
    ``(t, 0, 0)`` and every token is in layer 0; until :meth:`set_layer_stats`, std 1 / mean 0.
    """

    def __init__(self, config: AEConfig) -> None:
        super().__init__()
        self.config = c = config
        T, S, L = c.n_tokens, c.token_size, c.max_positions[1]
        self.token_embed = nn.Linear(S, c.d_model)
        self.enc_pos = PositionEmbedding(c.max_positions, c.d_model)
        self.enc_drop = nn.Dropout(c.dropout)
        self.encoder = nn.ModuleList(Block(c.d_model, c.n_heads, c.d_ff, c.dropout) for _ in range(c.n_layers_enc))
        self.enc_ln = nn.LayerNorm(c.d_model)
        self.to_latent = nn.Linear(c.d_model, c.d_latent)
        self.from_latent = nn.Linear(c.d_latent, c.d_model)
        self.dec_pos = PositionEmbedding(c.max_positions, c.d_model)
        self.dec_drop = nn.Dropout(c.dropout)
        self.decoder = nn.ModuleList(Block(c.d_model, c.n_heads, c.d_ff, c.dropout) for _ in range(c.n_layers_dec))
        self.dec_ln = nn.LayerNorm(c.d_model)
        self.to_token = nn.Linear(c.d_model, S)
        self.projection = nn.Sequential(nn.Linear(self.feature_width, c.d_model), nn.LayerNorm(c.d_model), nn.ReLU(),
                                        nn.Linear(c.d_model, c.d_proj))
        if c.value_features or c.unit_features or c.value_moments:
            self.register_buffer("group_of_entry", torch.zeros(T, S, dtype=torch.long))
        if c.value_moments:
            self.register_buffer("moment_mean", torch.zeros(3 * self.n_value_groups))
            self.register_buffer("moment_std", torch.ones(3 * self.n_value_groups))
        if c.value_features:
            G, k = self.n_value_groups, c.value_features
            self.value_slope = nn.Parameter(torch.empty(G, k))
            self.value_offset = nn.Parameter(torch.empty(G, k))
            self.register_buffer("value_mean", torch.zeros(G * k))
            self.register_buffer("value_std", torch.ones(G * k))
        if c.unit_features:
            G, k = self.n_value_groups, c.unit_features
            self.unit_slope = nn.Parameter(torch.empty(G, k))
            self.unit_offset = nn.Parameter(torch.empty(G, k))
            self.register_buffer("unit_of_token", torch.arange(T))
            self.register_buffer("unit_mean", torch.zeros(G * k))
            self.register_buffer("unit_std", torch.ones(G * k))
        if c.n_stats:
            self.stats_head = nn.Linear(self.feature_width, c.n_stats)
        if c.latent_components:
            self.register_buffer("latent_centre", torch.zeros(self.pooled_width))
            self.register_buffer("latent_basis", torch.eye(self.pooled_width)[:, : c.latent_components].clone())

        positions = torch.zeros(T, 3, dtype=torch.long)
        positions[:, 0] = torch.arange(T)
        self.register_buffer("token_mask", torch.ones(T, S, dtype=torch.bool))
        self.register_buffer("token_positions", positions)
        self.register_buffer("layer_of_token", torch.zeros(T, dtype=torch.long))
        self.register_buffer("layer_std", torch.ones(L))
        self.register_buffer("layer_mean", torch.zeros(L))
        self.apply(self._init_weights)
        G = self.n_value_groups
        if c.value_features:
            self._set_ramps(self.value_slope, self.value_offset, torch.zeros(G), torch.ones(G))
        if c.unit_features:
            self._set_ramps(self.unit_slope, self.unit_offset, torch.zeros(G), torch.ones(G))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    # ---- structure -------------------------------------------------------------------------
    def attach_tokenizer(self, tokenizer: Tokenizer) -> HyperRepAE:
        """Copy ``tokenizer``'s mask, positions and token layers into the model's buffers."""
        c = self.config
        if (tokenizer.n_tokens, tokenizer.token_size) != (c.n_tokens, c.token_size):
            raise HyperVizError(
                f"tokenizer ({tokenizer.n_tokens} tokens of {tokenizer.token_size}) does not fit the autoencoder "
                f"({c.n_tokens} tokens of {c.token_size})"
            )
        if any(m > n for m, n in zip(tokenizer.max_positions, c.max_positions)):
            raise HyperVizError(f"tokenizer positions {tokenizer.max_positions} exceed the autoencoder's {c.max_positions}")
        with torch.no_grad():
            self.token_mask.copy_(tokenizer.mask)
            self.token_positions.copy_(tokenizer.positions)
            self.layer_of_token.copy_(tokenizer.layer_of_token)
            if hasattr(self, "group_of_entry"):
                self.group_of_entry.copy_(tokenizer.group_of_entry)
            if self.config.unit_features:
                rows = tokenizer.layer_of_token * (int(tokenizer.row_of_token.max()) + 1) + tokenizer.row_of_token
                self.unit_of_token.copy_(torch.unique_consecutive(rows, return_inverse=True)[1])
        return self

    def set_layer_stats(self, std: torch.Tensor, mean: torch.Tensor | None = None) -> HyperRepAE:
        """Store the training zoo's per-layer std (and mean) ``[n_layers]`` (see ``Tokenizer.layer_stats``)."""
        n = std.numel()
        if n > self.layer_std.numel():
            raise HyperVizError(f"{n} layer statistics for an autoencoder with {self.layer_std.numel()} layers")
        with torch.no_grad():
            self.layer_std.fill_(1.0)
            self.layer_std[:n].copy_(std.reshape(-1))
            if mean is not None:
                self.layer_mean.zero_()
                self.layer_mean[:n].copy_(mean.reshape(-1))
        return self

    @staticmethod
    @torch.no_grad()
    def _set_ramps(slope: nn.Parameter, offset: nn.Parameter, centre: torch.Tensor, spread: torch.Tensor,
                   quantiles: torch.Tensor | None = None) -> None:
        """Ramp ``j`` of group ``g`` (``slope``/``offset`` ``[G, k]``) starts at threshold ``t_gj``
        and is ``RAMP_WIDTH * spread_g`` wide. The thresholds are ``quantiles [G, k]`` (a group's
        quantiles at :func:`ramp_levels`) or, without them, the quantiles of a normal distribution
        of mean ``centre_g`` and std ``spread_g`` (``[G]`` each)."""
        if quantiles is None:
            levels = ramp_levels(slope.shape[1])
            quantiles = centre[:, None] + spread[:, None] * torch.special.ndtri(levels)[None, :]
        width = (RAMP_WIDTH * spread).clamp_min(1e-6)[:, None]
        slope.copy_((1.0 / width).expand_as(slope))
        offset.copy_(-quantiles / width)

    @staticmethod
    def _fit_ramps(slope: nn.Parameter, offset: nn.Parameter, groups: list[torch.Tensor], max_values: int) -> None:
        """Place ramps ``[G, k]`` at the quantiles of each group's training values (``groups[g]``, 1-D);
        a group with fewer than 2 values keeps unit-normal ramps. A seeded subsample of at most
        ``max_values`` values per group, so the result is deterministic."""
        G, k = slope.shape
        levels = ramp_levels(k)
        centre, spread, quantiles = torch.zeros(G), torch.ones(G), torch.special.ndtri(levels).repeat(G, 1)
        gen = torch.Generator().manual_seed(0)
        for g, values in enumerate(groups):
            if values.numel() < 2:
                continue
            if values.numel() > max_values:
                values = values[torch.randperm(values.numel(), generator=gen)[:max_values]]
            centre[g], spread[g] = values.mean(), values.std().clamp_min(1e-6)
            quantiles[g] = torch.quantile(values, levels)
        device = slope.device
        HyperRepAE._set_ramps(slope, offset, centre.to(device), spread.to(device), quantiles.to(device))

    @torch.no_grad()
    def init_value_profile(self, tokens: torch.Tensor, max_values: int = 1_000_000) -> HyperRepAE:
        """Fit the value and unit branches to training ``tokens [n, T, S]`` (a sample of the
        training states, standardised as :class:`~core.hyperrep.codec.WeightCodec` makes them):
        each group's ramps start at that group's quantiles at :func:`ramp_levels` (of its values
        for the value branch, of its units' RMS or mean for the unit branch) and are ``RAMP_WIDTH``
        of the group's std wide; each profile is then standardised by its mean and std over
        ``tokens`` (buffers ``value_mean`` / ``value_std``, ``unit_mean`` / ``unit_std``), so every
        feature weighs as one unit in the embedding's distances. Groups without values (padding
        layers) keep unit-normal ramps. With ``value_moments``, :meth:`moment_pool` is standardised
        the same way (``moment_mean`` / ``moment_std``). A no-op without any of them. Deterministic."""
        c = self.config
        if not (c.value_features or c.unit_features or c.value_moments):
            return self
        self._check_tokens(tokens)
        flat = tokens.detach().float().cpu()
        if c.value_moments:
            self._standardise(self.moment_pool, self.moment_mean, self.moment_std, flat)
        if c.value_features:
            group = self.group_of_entry.cpu()
            self._fit_ramps(self.value_slope, self.value_offset,
                            [flat[:, group == g].reshape(-1) for g in range(self.n_value_groups)], max_values)
            self._standardise(self.value_pool, self.value_mean, self.value_std, flat)
        if c.unit_features:
            moments = torch.cat([self._unit_moments(part.to(self.unit_of_token.device))[0].cpu() for part in flat.split(512)])
            layer = self._unit_layers().cpu()                                                  # [U], L = no unit
            groups = [moments[:, layer == g // 2, g % 2].reshape(-1) for g in range(self.n_value_groups)]
            self._fit_ramps(self.unit_slope, self.unit_offset, groups, max_values)
            self._standardise(self.unit_pool, self.unit_mean, self.unit_std, flat)
        return self

    @staticmethod
    def _standardise(pool, mean: torch.Tensor, std: torch.Tensor, flat: torch.Tensor) -> None:
        """Set a profile's standardisation buffers ``mean`` / ``std`` to the mean and std of
        ``pool`` (:meth:`value_pool`, :meth:`unit_pool` or :meth:`moment_pool`) over the tokens ``flat``."""
        mean.zero_()
        std.fill_(1.0)
        profile = torch.cat([pool(part.to(mean.device)) for part in flat.split(512)])
        if len(profile) > 1:
            mean.copy_(profile.mean(0))
            std.copy_(profile.std(0).clamp_min(1e-6))

    # ---- forward pieces --------------------------------------------------------------------
    def _check_tokens(self, tokens: torch.Tensor) -> None:
        c = self.config
        if tokens.dim() != 3 or tokens.shape[-1] != c.token_size or tokens.shape[1] > c.max_positions[0]:
            raise HyperVizError(f"tokens of shape {tuple(tokens.shape)}: expected [B, {c.n_tokens}, {c.token_size}]")

    def encode(self, tokens: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """``tokens [B, T, S]`` -> per-token latents ``z [B, T, d_latent]``.

        ``positions`` ``[T, 3]`` or ``[B, T, 3]`` defaults to the attached tokenizer's positions
        (pass it to encode a window of tokens)."""
        self._check_tokens(tokens)
        if positions is None and tokens.shape[1] != self.config.n_tokens:
            raise HyperVizError(f"a window of {tokens.shape[1]} tokens needs explicit positions")
        pos = self.token_positions if positions is None else positions
        x = self.enc_drop(self.token_embed(tokens) + self.enc_pos(pos))
        for block in self.encoder:
            x = block(x)
        return self.to_latent(self.enc_ln(x))

    def decode(self, z: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """``z [B, T, d_latent]`` -> tokens ``[B, T, S]`` (values at padding entries are meaningless)."""
        if positions is None and z.shape[1] != self.config.n_tokens:
            raise HyperVizError(f"a window of {z.shape[1]} latents needs explicit positions")
        pos = self.token_positions if positions is None else positions
        x = self.dec_drop(self.from_latent(z) + self.dec_pos(pos))
        for block in self.decoder:
            x = block(x)
        return self.to_token(self.dec_ln(x))

    @property
    def n_value_groups(self) -> int:
        """Value groups of the value branch: every layer's weights and every layer's biases."""
        return 2 * self.config.max_positions[1]

    @property
    def pooled_width(self) -> int:
        """Width of :meth:`pool`'s output."""
        return self.config.pooled_width

    @property
    def feature_width(self) -> int:
        """Width of :meth:`features`: the pooled latents and the profiles, what the heads read."""
        c = self.config
        return self.pooled_width + self.n_value_groups * (c.value_features + c.unit_features)

    @property
    def embedding_width(self) -> int:
        """Width of :meth:`embedding`, the one vector per model state."""
        c = self.config
        summarised = self.feature_width - (self.pooled_width - c.latent_components if c.latent_components else 0)
        return summarised + (3 * self.n_value_groups if c.value_moments else 0)

    def pool(self, z: torch.Tensor) -> torch.Tensor:
        """One vector per model state from ``z [B, T, d_latent]``, invariant to the order of units
        within a layer: the mean of ``z`` over each layer's tokens, layers side by side
        (``[B, L * d_latent]``; a single mean over all tokens probed worse); with pooling
        ``"mean_std"`` also each layer's standard deviation over its tokens
        (``[B, 2 * L * d_latent]``: means first), which keeps the spread of a layer's units that
        a mean averages away."""
        n_layers = self.config.max_positions[1]
        onehot = F.one_hot(self.layer_of_token, n_layers).to(z.dtype)          # [T, L]
        counts = onehot.sum(0).clamp_min(1).view(1, n_layers, 1)
        mean = torch.einsum("btd,tl->bld", z, onehot) / counts                  # [B, L, d]
        if self.config.pooling == "mean":
            return mean.reshape(z.shape[0], -1)
        second = torch.einsum("btd,tl->bld", z * z, onehot) / counts
        std = (second - mean * mean).clamp_min(0).add(1e-8).sqrt()             # [B, L, d]
        return torch.cat([mean.reshape(z.shape[0], -1), std.reshape(z.shape[0], -1)], 1)

    def value_pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """The value branch: the *value profile* of ``tokens [B, T, S]``, ``[B, 2 * L * value_features]``.

        Every group of values (a layer's weights, a layer's biases: the groups of s(W)) has
        ``value_features`` learned ramps ``phi_gj(v) = GELU(a_gj v + b_gj)``; the profile is each
        ramp's mean over the group's real values, standardised by ``value_mean`` / ``value_std``.
        A ramp's mean is a smoothed "how much mass lies above ``-b/a``" (a GELU is a soft
        ``max(0, x)``, and differences of neighbouring ramps are clipped steps whose means trace
        the group's CDF), so the profile holds a group's spread, skew and tails, which the per-token
        latents' means average away. :meth:`init_value_profile` puts the ramps at the group's
        training quantiles; training moves them little. Measured (docs/hyperrep-ablation.md): on
        the default zoo (seed 0) the profile alone, probed linearly, reads test accuracy, epoch
        and learning rate better than s(W) itself. One layer of ramps, not an MLP: it runs on
        every value of every state and adds 13% to a training step (default preset, batch 128,
        one CPU thread). ``[B, 0]`` without a value branch."""
        k = self.config.value_features
        if not k:
            return tokens.new_zeros(tokens.shape[0], 0)
        if tokens.shape[1] != self.config.n_tokens:
            raise HyperVizError(f"the value branch needs all {self.config.n_tokens} tokens, got {tokens.shape[1]}")
        G = self.n_value_groups
        group = self.group_of_entry.reshape(-1)                                                # [E], G = padding
        onehot = F.one_hot(group, G + 1)[:, :G].to(tokens.dtype)                              # [E, G]
        counts = onehot.sum(0).clamp_min(1)
        slope = F.pad(self.value_slope, (0, 0, 0, 1))[group].to(tokens.dtype)                  # [E, k]
        offset = F.pad(self.value_offset, (0, 0, 0, 1))[group].to(tokens.dtype)
        phi = F.gelu(tokens.reshape(tokens.shape[0], -1, 1) * slope + offset)                  # [B, E, k]
        profile = (torch.einsum("bek,eg->bgk", phi, onehot) / counts[None, :, None]).reshape(tokens.shape[0], G * k)
        return (profile - self.value_mean.to(tokens.dtype)) / self.value_std.to(tokens.dtype)

    def _unit_layers(self) -> torch.Tensor:
        """``[U]`` (U = ``n_tokens``): the layer of every unit of :meth:`_unit_moments`, ``L`` for
        unit indices no token has (the architecture has fewer units than tokens)."""
        L, T = self.config.max_positions[1], self.config.n_tokens
        layer = torch.full((T,), L, dtype=torch.long, device=self.unit_of_token.device)
        return layer.scatter(0, self.unit_of_token, self.layer_of_token)

    def _unit_moments(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every unit's RMS and mean over its incoming weights (a row of its layer's weight,
        biases left out), ``[B, U, 2]`` (RMS first; U = ``n_tokens``, one slot per possible unit),
        and the number of weights of every unit ``[U]`` (0 for unused slots)."""
        T = self.config.n_tokens
        is_weight = (self.group_of_entry == 2 * self.layer_of_token[:, None]).to(tokens.dtype)    # [T, S]
        onehot = F.one_hot(self.unit_of_token, T).to(tokens.dtype)                               # [T, U]
        count = is_weight.sum(1) @ onehot                                                        # [U]
        first = ((tokens * is_weight).sum(2) @ onehot) / count.clamp_min(1)
        second = ((tokens * tokens * is_weight).sum(2) @ onehot) / count.clamp_min(1)
        return torch.stack([second.clamp_min(0).add(1e-12).sqrt(), first], 2), count

    def unit_pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """The unit branch: the *unit profile* of ``tokens [B, T, S]``, ``[B, 2 * L * unit_features]``.

        Per layer, the distribution over its units (output neurons, conv filters) of each unit's
        RMS and of each unit's mean of incoming weights, read by ``unit_features`` learned ramps
        per layer and moment, as :meth:`value_pool` reads values: how unequal a layer's units are
        (a few grown filters, dead ones), which neither the per-value profile nor s(W) holds.
        Groups ``2l`` (RMS) and ``2l + 1`` (mean) of layer ``l``; standardised by ``unit_mean`` /
        ``unit_std``. ``[B, 0]`` without a unit branch."""
        k = self.config.unit_features
        if not k:
            return tokens.new_zeros(tokens.shape[0], 0)
        if tokens.shape[1] != self.config.n_tokens:
            raise HyperVizError(f"the unit branch needs all {self.config.n_tokens} tokens, got {tokens.shape[1]}")
        L = self.config.max_positions[1]
        moments, count = self._unit_moments(tokens)                                        # [B, U, 2], [U]
        layer = self._unit_layers()
        in_layer = F.one_hot(layer, L + 1)[:, :L].to(tokens.dtype) * (count > 0).to(tokens.dtype)[:, None]  # [U, L]
        at = layer.clamp_max(L - 1)
        slope = self.unit_slope.view(L, 2, k)[at].to(tokens.dtype)                          # [U, 2, k]
        offset = self.unit_offset.view(L, 2, k)[at].to(tokens.dtype)
        phi = F.gelu(moments[..., None] * slope + offset)                                  # [B, U, 2, k]
        profile = torch.einsum("bujk,ul->bljk", phi, in_layer) / in_layer.sum(0).clamp_min(1)[None, :, None, None]
        profile = profile.reshape(tokens.shape[0], -1)
        return (profile - self.unit_mean.to(tokens.dtype)) / self.unit_std.to(tokens.dtype)

    def _with_profiles(self, latent_part: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        parts = [latent_part]
        if self.config.value_features:
            parts.append(self.value_pool(tokens))
        if self.config.unit_features:
            parts.append(self.unit_pool(tokens))
        return parts[0] if len(parts) == 1 else torch.cat(parts, 1)

    def features(self, z: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """What the projection and statistics heads read in training, ``[B, feature_width]``:
        :meth:`pool` of the latents ``z`` of ``tokens``, then :meth:`value_pool` and
        :meth:`unit_pool` of the tokens (for the branches the model has)."""
        return self._with_profiles(self.pool(z), tokens)

    def summarise(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pooled latents ``[B, pooled_width]`` -> their coordinates on the ``latent_components``
        principal directions of the training states, each of std 1 there (unchanged with
        ``latent_components`` 0). See :meth:`fit_latent_basis`."""
        if not self.config.latent_components:
            return pooled
        return (pooled - self.latent_centre.to(pooled.dtype)) @ self.latent_basis.to(pooled.dtype)

    def moment_pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """Every value group's mean, RMS and largest absolute value, ``[B, 3 * 2L]`` (group by
        group), standardised by ``moment_mean`` / ``moment_std``. The value profile reads a
        group's shape through soft thresholds; these read its location, scale and extent exactly
        (an init's bound, a layer grown by training). Without parameters: they enter the
        embedding, not the contrastive heads."""
        if tokens.shape[1] != self.config.n_tokens:
            raise HyperVizError(f"the value moments need all {self.config.n_tokens} tokens, got {tokens.shape[1]}")
        G, B = self.n_value_groups, tokens.shape[0]
        group = self.group_of_entry.reshape(1, -1).expand(B, -1)                                # [B, E], G = padding
        values = tokens.reshape(B, -1)
        count = torch.bincount(self.group_of_entry.reshape(-1), minlength=G + 1)[:G].clamp_min(1).to(tokens.dtype)
        total = values.new_zeros(B, G + 1).scatter_add(1, group, values)[:, :G]
        square = values.new_zeros(B, G + 1).scatter_add(1, group, values * values)[:, :G]
        largest = values.new_zeros(B, G + 1).scatter_reduce(1, group, values.abs(), "amax")[:, :G]
        moments = torch.stack([total / count, (square / count).sqrt(), largest], 2).reshape(B, 3 * G)
        return (moments - self.moment_mean.to(tokens.dtype)) / self.moment_std.to(tokens.dtype)

    def embedding(self, z: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """The one vector per model state, ``[B, embedding_width]``: :meth:`summarise` of the
        pooled latents ``z`` of ``tokens``, then the value and unit profiles of the tokens and,
        with ``value_moments``, :meth:`moment_pool`.

        Why a summary and not all ``L * d_latent`` pooled values: most of those directions vary
        from model to model but little with any property, and beside the profiles they cost a
        linear probe more than they give (docs/hyperrep-ablation.md: on the default zoo all 256
        took epoch R^2 from 0.31 to 0.22), while the leading few add what the profiles miss
        (8 directions: activation accuracy +0.02 / +0.05 on the zoos of seeds 0 / 1, optimizer
        +0.03 on seed 1)."""
        out = self._with_profiles(self.summarise(self.pool(z)), tokens)
        return torch.cat([out, self.moment_pool(tokens)], 1) if self.config.value_moments else out

    @torch.no_grad()
    def fit_latent_basis(self, tokens: torch.Tensor) -> HyperRepAE:
        """Fit :meth:`summarise` to training ``tokens [n, T, S]``: the top ``latent_components``
        principal directions of their pooled latents (signs fixed so each direction's largest
        entry is positive, so the same model and tokens give the same basis), scaled to std 1.
        Call it whenever the encoder has changed (``fit`` does at every saved epoch). A no-op
        with ``latent_components`` 0."""
        m = self.config.latent_components
        if not m:
            return self
        self._check_tokens(tokens)
        was_training = self.training
        self.eval()
        device = self.latent_basis.device
        pooled = torch.cat([self.pool(self.encode(part.to(device))).double().cpu() for part in tokens.split(512)])
        self.train(was_training)
        centre = pooled.mean(0)
        _, sing, vh = torch.linalg.svd(pooled - centre, full_matrices=False)
        basis = vh[:m].T                                                      # [pooled_width, m]
        sign = torch.sign(basis.gather(0, basis.abs().argmax(0, keepdim=True)))
        scale = (sing[:m] / max(len(pooled) - 1, 1) ** 0.5).clamp_min(1e-8)
        basis = basis * sign / scale
        if basis.shape[1] < m:                                                # fewer states than directions
            basis = torch.cat([basis, basis.new_zeros(basis.shape[0], m - basis.shape[1])], 1)
        self.latent_centre.copy_(centre.float())
        self.latent_basis.copy_(basis.float())
        return self

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens [B, T, S]`` -> model embedding ``[B, embedding_width]`` (see :meth:`embedding`)."""
        return self.embedding(self.encode(tokens), tokens)

    def project(self, embedding: torch.Tensor) -> torch.Tensor:
        """Projection head for the contrastive loss: ``[B, feature_width] -> [B, d_proj]``."""
        return self.projection(embedding)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens [B, T, S]`` -> (reconstructed tokens ``[B, T, S]``, ``z [B, T, d_latent]``)."""
        z = self.encode(tokens)
        return self.decode(z), z

    def loss(self, view1: torch.Tensor, view2: torch.Tensor,
             target1: torch.Tensor | None = None, target2: torch.Tensor | None = None,
             mask: torch.Tensor | None = None, layer_of_token: torch.Tensor | None = None,
             layer_std: torch.Tensor | None = None,
             stats_target: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``gamma * NT-Xent + (1 - gamma) * reconstruction + stats_weight * statistics`` for two
        views ``[B, T, S]``.

        ``target1/2`` are what each view should reconstruct (the augmented views before noise and
        erasing; default: the views themselves). Reconstruction is the mean over both views of
        :func:`layerwise_reconstruction_loss`; ``mask``, ``layer_of_token`` and ``layer_std``
        default to the model's buffers. ``stats_target [B, n_stats]`` is the states' rank-normalised
        s(W) (:func:`core.zoo.weight_stats.rank_normalise`); the statistics term is the MSE of the
        linear statistics head on both views' embeddings against it (0 without a target or head).
        Returns ``(total, parts)`` with detached scalar tensors
        ``parts = {"loss", "contrastive", "reconstruction", "statistics"}``.
        """
        c = self.config
        target1 = view1 if target1 is None else target1
        target2 = view2 if target2 is None else target2
        mask = self.token_mask if mask is None else mask
        layer_of_token = self.layer_of_token if layer_of_token is None else layer_of_token
        layer_std = self.layer_std if layer_std is None else layer_std
        both = torch.cat([view1, view2])
        recon, z = self(both)
        embedding = self.features(z, both)
        p1, p2 = self.project(embedding).chunk(2)
        contrastive = nt_xent(p1, p2, c.temperature) if c.gamma > 0 else recon.new_zeros(())
        reconstruction = layerwise_reconstruction_loss(recon, torch.cat([target1, target2]), mask, layer_of_token, layer_std)
        total = c.gamma * contrastive + (1 - c.gamma) * reconstruction
        statistics = recon.new_zeros(())
        if stats_target is not None and c.n_stats and c.stats_weight > 0:
            if tuple(stats_target.shape) != (view1.shape[0], c.n_stats):
                raise HyperVizError(f"statistics target of shape {tuple(stats_target.shape)}: expected [{view1.shape[0]}, {c.n_stats}]")
            target = torch.cat([stats_target, stats_target]).to(embedding.dtype)
            statistics = F.mse_loss(self.stats_head(embedding), target)
            total = total + c.stats_weight * statistics
        parts = {"loss": total.detach(), "contrastive": contrastive.detach(), "reconstruction": reconstruction.detach(),
                 "statistics": statistics.detach()}
        return total, parts


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- losses and metrics ------------------------------------------------------------------------
def nt_xent(p1: torch.Tensor, p2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's NT-Xent for positive pairs ``(p1[i], p2[i])`` ``[B, D]``, in-batch negatives,
    cosine similarity / ``temperature``; mean over the ``2B`` anchors."""
    if p1.shape != p2.shape or p1.dim() != 2:
        raise HyperVizError(f"nt_xent: views of shapes {tuple(p1.shape)} and {tuple(p2.shape)}: expected equal [B, D]")
    B = p1.shape[0]
    z = F.normalize(torch.cat([p1, p2]), dim=1)
    sim = (z @ z.T) / temperature
    sim = sim.masked_fill(torch.eye(2 * B, dtype=torch.bool, device=sim.device), float("-inf"))
    target = torch.cat([torch.arange(B, 2 * B), torch.arange(0, B)]).to(sim.device)
    return F.cross_entropy(sim, target)


def _entry_layers(layer_of: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Layer index per entry of ``like`` from per-token ``[T]`` (for ``[B, T, S]``) or per-value indices."""
    if like.dim() == 3 and layer_of.dim() == 1 and layer_of.numel() == like.shape[1]:
        return layer_of[:, None].expand(like.shape[1], like.shape[2])
    if tuple(layer_of.shape) == tuple(like.shape[like.dim() - layer_of.dim():]):
        return layer_of
    raise HyperVizError(f"layer index of shape {tuple(layer_of.shape)} does not fit values of shape {tuple(like.shape)}")


def layerwise_reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None,
                                  layer_of_token: torch.Tensor, layer_std: torch.Tensor,
                                  min_std: float = 1e-4) -> torch.Tensor:
    """Masked MSE with every value divided by its layer's zoo std (clamped ``>= min_std``).

    ``pred, target [B, T, S]`` with ``mask [T, S]`` (or ``[B, T, S]``) and ``layer_of_token [T]``;
    also works on flat ``[B, P]`` with ``layer_of_token`` = per-value layers ``[P]``, mask None.
    Mean over the valid entries: equals plain MSE when all stds are 1 and the mask is all-true."""
    layers = _entry_layers(layer_of_token.to(pred.device), pred)
    scale = layer_std.to(pred.device, pred.dtype).clamp(min=min_std).reciprocal()[layers]
    err = ((pred - target) * scale) ** 2
    if mask is None:
        return err.mean()
    mask = mask.to(pred.device)
    err = err * mask
    n_valid = mask.sum() * (err.numel() // mask.numel())
    return err.sum() / n_valid


def layerwise_r2(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None,
                 layer_of_token: torch.Tensor, layer_mean: torch.Tensor) -> torch.Tensor:
    """Per-layer R^2 ``[n_layers]``: ``1 - SSE_l / SS_l``, ``SS_l`` the squared deviation of the
    target from the zoo's layer mean ``layer_mean[l]``; same shapes as
    :func:`layerwise_reconstruction_loss`. A layer with no variation gets R^2 = nan."""
    layers = _entry_layers(layer_of_token.to(pred.device), pred)
    layers = layers.expand_as(pred)
    mean = layer_mean.to(pred.device, torch.float64)
    sse = (pred.double() - target.double()) ** 2
    ss = (target.double() - mean[layers]) ** 2
    if mask is not None:
        keep = mask.to(pred.device).expand_as(pred)
        sse, ss, layers = sse[keep], ss[keep], layers[keep]
    else:
        sse, ss, layers = sse.reshape(-1), ss.reshape(-1), layers.reshape(-1)
    n = layer_mean.numel()
    sse_l = torch.zeros(n, dtype=torch.float64, device=pred.device).index_add_(0, layers.reshape(-1), sse)
    ss_l = torch.zeros(n, dtype=torch.float64, device=pred.device).index_add_(0, layers.reshape(-1), ss)
    r2 = 1 - sse_l / ss_l
    return torch.where(ss_l > 0, r2, torch.full_like(r2, float("nan"))).float()


# ---- saving without pickle -------------------------------------------------------------------
def state_to_tensors(model: HyperRepAE) -> dict[str, torch.Tensor]:
    """All parameters and buffers as independent, contiguous CPU tensors (safetensors/HDF5-ready)."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def model_from_tensors(config: AEConfig | dict | str, tensors: dict[str, torch.Tensor],
                       device: torch.device | str = "cpu") -> HyperRepAE:
    """Rebuild a :class:`HyperRepAE` from its config (object, dict or JSON) and :func:`state_to_tensors`."""
    if isinstance(config, str):
        config = AEConfig.from_json(config)
    elif isinstance(config, dict):
        config = AEConfig.from_dict(config)
    model = HyperRepAE(config)
    expected = model.state_dict()
    tensors = _from_shared_ramps(tensors, model)
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise HyperVizError(f"autoencoder weights do not match the config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    for key, value in tensors.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise HyperVizError(f"autoencoder weights: {key!r} has shape {tuple(value.shape)}, expected {tuple(expected[key].shape)}")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    return model.to(device)


def _from_shared_ramps(tensors: dict[str, torch.Tensor], model: HyperRepAE) -> dict[str, torch.Tensor]:
    """Workspaces written before the value branch had ramps per group stored one set of ramps for
    all groups (``value_net.0.weight [k, 1]`` / ``value_net.0.bias [k]``) and no standardisation:
    the same ramps in every group, mean 0, std 1, give exactly the same profile."""
    if "value_net.0.weight" not in tensors or not model.config.value_features:
        return tensors
    out = dict(tensors)
    weight, bias = out.pop("value_net.0.weight"), out.pop("value_net.0.bias", None)
    G, k = model.value_slope.shape
    if tuple(weight.shape) != (k, 1) or bias is None or tuple(bias.shape) != (k,):
        raise HyperVizError(f"autoencoder weights: 'value_net.0.weight' has shape {tuple(weight.shape)}, expected ({k}, 1)")
    out["value_slope"] = weight[:, 0].expand(G, k).clone()
    out["value_offset"] = bias.expand(G, k).clone()
    out["value_mean"] = torch.zeros(G * k)
    out["value_std"] = torch.ones(G * k)
    return out
