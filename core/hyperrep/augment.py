"""Augmentations of batches of flat weight vectors ``[B, P]`` (and of token batches ``[B, T, S]``).

* :class:`Permuter` - function-preserving permutation of hidden units. For every parametric layer
  except the last, its output units (weight rows, bias entries) are permuted and the next parametric
  layer's input dimension is permuted the same way: input channels of a following conv, blocks of
  ``H * W`` inputs (channel-major, as ``nn.Flatten`` orders them) of a linear after a flatten, and
  plain input features of a following linear. Max-pooling, activations and dropout act per channel,
  so the permuted network computes exactly the same function.
* :func:`add_noise` - additive or multiplicative Gaussian noise.
* :func:`random_erase` - with probability ``p`` zero one random contiguous block per sample.

All of them are vectorised over the batch: each sample draws its own randomness, and the work is a
handful of tensor ops, no Python loop over samples. Pass a ``torch.Generator`` for reproducibility;
random numbers are drawn on the generator's device and moved to the data's device.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch

from core.errors import HyperVizError
from core.zoo.arch import ArchSpec


def _rand(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    if generator is None:
        return torch.rand(shape, device=device, dtype=dtype)
    return torch.rand(shape, generator=generator, device=generator.device, dtype=dtype).to(device)


def _randn(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    if generator is None:
        return torch.randn(shape, device=device, dtype=dtype)
    return torch.randn(shape, generator=generator, device=generator.device, dtype=dtype).to(device)


class Permuter:
    """Precomputed index maps for permuting the hidden units of ``spec``.

    The hidden units of all permutable layers are numbered ``0..n_units-1`` group after group
    (``groups[g] = (layer index, n_units of that layer)``, ``group_offsets[g]`` its first number).
    A batch of permutations is a long tensor ``perms [B, n_units]`` holding, for every group, a
    permutation of ``0..n_g-1`` in that group's columns; new unit ``i`` of layer ``g`` is old unit
    ``perms[:, group_offsets[g] + i]``.

    For every flat value ``p`` the maps record which unit of which group it belongs to as an
    *output* (weight row / bias entry of a hidden layer) and as an *input* (a column block of the
    next layer's weight), with the flat stride of one unit step; then::

        src[b, p] = p + (perm[b, out_pos[p]] - out_unit[p]) * out_stride[p]
                      + (perm[b, in_pos[p]]  - in_unit[p])  * in_stride[p]
        permuted[b, p] = weights[b, src[b, p]]
    """

    def __init__(self, spec: ArchSpec) -> None:
        self.spec = spec
        P = self.n_params = spec.n_params
        slots = spec.layout
        outs = {s.layer: s.shape[0] for s in slots if s.kind == "weight"}
        n_layers = len(outs)
        self.groups: list[tuple[int, int]] = [(l, outs[l]) for l in range(n_layers - 1)]
        self.group_offsets: list[int] = []
        offset = 0
        for _, n in self.groups:
            self.group_offsets.append(offset)
            offset += n
        self.n_units = U = offset
        sentinel = U                                   # an extra, always-zero column of the perms

        out_pos = torch.full((P,), sentinel, dtype=torch.long)
        out_unit = torch.zeros(P, dtype=torch.long)
        out_stride = torch.zeros(P, dtype=torch.long)
        in_pos = torch.full((P,), sentinel, dtype=torch.long)
        in_unit = torch.zeros(P, dtype=torch.long)
        in_stride = torch.zeros(P, dtype=torch.long)
        for s in slots:
            local = torch.arange(s.size)
            where = slice(s.offset, s.stop)
            row_len = s.size // s.shape[0]             # 1 for a bias
            if s.layer < n_layers - 1:                 # a hidden layer: its outputs are permuted
                unit = local // row_len
                out_pos[where] = self.group_offsets[s.layer] + unit
                out_unit[where] = unit
                out_stride[where] = row_len
            if s.layer > 0 and s.kind == "weight":     # its inputs are the previous layer's units
                c_prev = outs[s.layer - 1]
                if row_len % c_prev:
                    raise HyperVizError(
                        f"architecture {spec.name!r}: layer {s.key} has {row_len} inputs per unit, "
                        f"not a multiple of the {c_prev} units before it; cannot permute"
                    )
                block = row_len // c_prev              # k*k for a conv, H*W after a flatten, else 1
                unit = (local % row_len) // block
                in_pos[where] = self.group_offsets[s.layer - 1] + unit
                in_unit[where] = unit
                in_stride[where] = block
        self._maps = (out_pos, out_unit, out_stride, in_pos, in_unit, in_stride)
        self.unit_group = torch.cat([torch.full((n,), g, dtype=torch.long) for g, (_, n) in enumerate(self.groups)]) \
            if self.groups else torch.zeros(0, dtype=torch.long)
        self.unit_offset = torch.tensor(self.group_offsets, dtype=torch.long)[self.unit_group] \
            if self.groups else torch.zeros(0, dtype=torch.long)
        self._device_cache: dict[torch.device, tuple[torch.Tensor, ...]] = {}

    def __repr__(self) -> str:
        return f"Permuter({self.spec.name!r}, groups={self.groups})"

    def _on(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        if device not in self._device_cache:
            self._device_cache[device] = tuple(m.to(device) for m in self._maps)
        return self._device_cache[device]

    def identity(self, batch: int = 1, device: torch.device | str = "cpu") -> torch.Tensor:
        """``[batch, n_units]`` identity permutations."""
        return (torch.arange(self.n_units) - self.unit_offset).to(device).expand(batch, -1).clone()

    def draw(self, batch: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
        """``[batch, n_units]`` independent uniformly random permutations, one set per sample."""
        device = torch.device(device)
        # Sorting keys group + U[0, 0.5) keeps each group in its own columns and shuffles within it.
        keys = _rand((batch, self.n_units), generator, device, torch.float64) * 0.5 + self.unit_group.to(device)
        return keys.argsort(dim=1) - self.unit_offset.to(device)

    def index(self, perms: torch.Tensor) -> torch.Tensor:
        """``[B, P]`` flat gather index for the permutations ``perms [B, n_units]``."""
        if perms.dim() != 2 or perms.shape[1] != self.n_units:
            raise HyperVizError(f"permutations of shape {tuple(perms.shape)}: expected [B, {self.n_units}]")
        out_pos, out_unit, out_stride, in_pos, in_unit, in_stride = self._on(perms.device)
        ext = torch.cat([perms, perms.new_zeros(perms.shape[0], 1)], dim=1)
        base = torch.arange(self.n_params, device=perms.device)
        return base + (ext[:, out_pos] - out_unit) * out_stride + (ext[:, in_pos] - in_unit) * in_stride

    def apply(self, weights: torch.Tensor, perms: torch.Tensor) -> torch.Tensor:
        """Permute ``weights [B, P]`` by ``perms [B, n_units]`` (one gather)."""
        if weights.dim() != 2 or weights.shape[1] != self.n_params:
            raise HyperVizError(f"weights of shape {tuple(weights.shape)}: expected [B, {self.n_params}]")
        return torch.gather(weights, 1, self.index(perms.to(weights.device)))

    def canonical_perms(self, weights: torch.Tensor) -> torch.Tensor:
        """``[B, n_units]`` permutations that sort every hidden layer's units by the norm of their
        incoming weights and bias, largest first. A row norm does not change when the layer
        before is permuted, so one pass over the original weights fixes every layer at once."""
        perms = []
        weight_slots = {s.layer: s for s in self.spec.layout if s.kind == "weight"}
        bias_slots = {s.layer: s for s in self.spec.layout if s.kind == "bias"}
        for layer, n in self.groups:
            w, b = weight_slots[layer], bias_slots[layer]
            rows = weights[:, w.offset : w.stop].reshape(weights.shape[0], n, -1)
            key = rows.pow(2).sum(-1) + weights[:, b.offset : b.stop].pow(2)
            perms.append(key.argsort(dim=1, descending=True, stable=True))
        return torch.cat(perms, 1) if perms else torch.zeros(weights.shape[0], 0, dtype=torch.long, device=weights.device)

    def canonical(self, weights: torch.Tensor) -> torch.Tensor:
        """``weights [B, P]`` in canonical unit order (function-preserving): every member of a
        permutation class maps to the same vector (up to ties in the unit norms)."""
        return self.apply(weights, self.canonical_perms(weights))

    def __call__(self, weights: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``weights [B, P]`` with an independent random permutation applied to every sample."""
        return self.apply(weights, self.draw(weights.shape[0], generator, weights.device))

    permute = __call__


@lru_cache(maxsize=32)
def _cached(spec_json: str) -> Permuter:
    return Permuter(ArchSpec.from_json(spec_json))


def get_permuter(spec: ArchSpec) -> Permuter:
    """A shared :class:`Permuter` for ``spec``, built once per process."""
    return _cached(spec.to_json())


def permutation_index(spec: ArchSpec, perms: torch.Tensor) -> torch.Tensor:
    """``[B, P]`` gather index of the permutations ``perms [B, n_units]`` (see :class:`Permuter`)."""
    return get_permuter(spec).index(perms)


def permute(spec: ArchSpec, weights: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``weights [B, P]`` with an independent random function-preserving permutation per sample."""
    return get_permuter(spec)(weights, generator)


def add_noise(weights: torch.Tensor, sigma: float, multiplicative: bool = False,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """``w + sigma * eps`` or (``multiplicative``) ``w * (1 + sigma * eps)``, ``eps ~ N(0, 1)``; any shape."""
    if sigma == 0:
        return weights
    eps = _randn(tuple(weights.shape), generator, weights.device, weights.dtype)
    return weights * (1 + sigma * eps) if multiplicative else weights + sigma * eps


def random_erase(x: torch.Tensor, p: float = 0.5, scale: tuple[float, float] = (0.02, 0.33),
                 generator: torch.Generator | None = None, value: float = 0.0,
                 ratio: tuple[float, float] = (0.3, 3.3)) -> torch.Tensor:
    """With probability ``p`` per sample, set one random contiguous block to ``value``.

    ``x [B, P]`` (flat weights): a run of ``s * P`` consecutive values, ``s ~ U(scale)``.
    ``x [B, T, S]`` (tokens): a rectangle of about ``s * T * S`` entries, ``h x w`` consecutive
    tokens x token entries, aspect ratio ``h / w`` log-uniform in ``ratio`` (torchvision's
    ``RandomErasing`` on the token matrix, the 2021 "block" mode). Returns a new tensor.
    """
    if x.dim() not in (2, 3):
        raise HyperVizError(f"random erasing expects [B, P] or [B, T, S], got shape {tuple(x.shape)}")
    if not 0 <= scale[0] <= scale[1] <= 1:
        raise HyperVizError(f"erase scale {scale}: expected 0 <= low <= high <= 1")
    B, dev = x.shape[0], x.device
    r = _rand((B, 6), generator, dev)
    apply = r[:, 0] < p
    frac = scale[0] + (scale[1] - scale[0]) * r[:, 1]
    if x.dim() == 2:
        n = x.shape[1]
        length = (frac * n).round().long().clamp(1, n)
        start = (r[:, 2] * (n - length + 1)).long().clamp(max=n - 1)
        pos = torch.arange(n, device=dev)
        block = (pos >= start[:, None]) & (pos < (start + length)[:, None])
    else:
        T, S = x.shape[1], x.shape[2]
        area = frac * T * S
        log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
        aspect = torch.exp(log_lo + (log_hi - log_lo) * r[:, 3])
        h = (area * aspect).sqrt().round().long().clamp(1, T)
        w = (area / aspect).sqrt().round().long().clamp(1, S)
        top = (r[:, 4] * (T - h + 1)).long().clamp(max=T - 1)
        left = (r[:, 5] * (S - w + 1)).long().clamp(max=S - 1)
        rows = torch.arange(T, device=dev)
        cols = torch.arange(S, device=dev)
        in_rows = (rows >= top[:, None]) & (rows < (top + h)[:, None])          # [B, T]
        in_cols = (cols >= left[:, None]) & (cols < (left + w)[:, None])        # [B, S]
        block = in_rows[:, :, None] & in_cols[:, None, :]
    block &= apply.view(B, *([1] * (x.dim() - 1)))
    return x.masked_fill(block, value)
