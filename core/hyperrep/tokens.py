"""Weight tokens: flat weight vectors <-> sequences of fixed-size tokens (SANE's tokenisation).

For every parametric layer the weight is viewed as rows (``c_out x rest``: one row per output
neuron or conv kernel, flattened as PyTorch stores it) with the bias appended as a last column.
Each row is cut into chunks of ``token_size`` values; the last chunk of a row is zero-padded and
``mask`` marks the real values. Tokens are ordered layer by layer, row by row, chunk by chunk.
Every token carries a position ``(global token index, layer index, row index)``; chunks of the same
row share the row index and differ in the global index.

With ``token_size=None`` the token size is the longest row of the architecture, so every row is
exactly one token: one token per output neuron / kernel, the 2021/2022 form.

Everything is precomputed as index tensors once per ``(spec, token_size)``::

    tok = Tokenizer(get_arch("cnn"))          # token_size = 73, n_tokens = 44
    tokens = tok.tokenize(weights)            # [B, 1228] -> [B, 44, 73]   (one gather)
    weights = tok.detokenize(tokens)          # [B, 44, 73] -> [B, 1228]   (one gather, exact)
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

from core.errors import HyperVizError
from core.zoo.arch import ArchSpec


class Tokenizer:
    """Index maps between the flat layout of ``spec`` and ``[T, token_size]`` tokens.

    Attributes (all on the CPU; :meth:`tokenize` / :meth:`detokenize` follow the input's device):

    * ``token_size`` (S), ``n_tokens`` (T), ``n_params`` (P), ``n_layers``, ``max_row_length``
    * ``mask``            ``[T, S]`` bool   - True where a token holds a real value
    * ``positions``       ``[T, 3]`` long   - (global token index, layer index, row index)
    * ``layer_of_token``  ``[T]`` long      - parametric-layer index of every token
    * ``row_of_token``    ``[T]`` long      - row (output unit) of every token within its layer
    * ``chunk_of_token``  ``[T]`` long      - which chunk of its row the token is
    * ``layer_of_value``  ``[P]`` long      - parametric-layer index of every value of the flat vector
    * ``source_index``    ``[T, S]`` long   - flat index each token entry comes from, ``P`` for padding
    * ``value_slot``      ``[P]`` long      - where each flat value lands in the ``T * S`` token entries
    * ``group_of_entry``  ``[T, S]`` long   - ``2 * layer + (1 if a bias else 0)`` of every token entry,
      ``2 * n_layers`` for padding (the value groups of s(W): each layer's weights, each layer's biases)
    """

    def __init__(self, spec: ArchSpec, token_size: int | None = None) -> None:
        self.spec = spec
        slots = spec.layout
        weights = [s for s in slots if s.kind == "weight"]
        biases = {s.layer: s for s in slots if s.kind == "bias"}
        row_lengths = [w.size // w.shape[0] + (1 if w.layer in biases else 0) for w in weights]
        self.max_row_length = max(row_lengths)
        if token_size is None:
            token_size = self.max_row_length
        token_size = int(token_size)
        if token_size < 1:
            raise HyperVizError(f"token size {token_size}: must be a positive integer")
        self.token_size = S = token_size
        self.n_params = P = spec.n_params
        self.n_layers = len(weights)

        sources, layers, rows, chunks = [], [], [], []
        for w, row_len in zip(weights, row_lengths):
            c_out = w.shape[0]
            n_w = w.size // c_out                                       # weight values per row
            n_chunks = math.ceil(row_len / S)
            col = torch.arange(n_chunks * S)                            # position within the padded row
            row = torch.arange(c_out)[:, None]
            src = torch.full((c_out, n_chunks * S), P, dtype=torch.long)
            in_w = col < n_w
            src[:, in_w] = w.offset + row * n_w + col[in_w]
            if w.layer in biases:
                src[:, n_w] = biases[w.layer].offset + row[:, 0]
            sources.append(src.reshape(c_out * n_chunks, S))
            layers.append(torch.full((c_out * n_chunks,), w.layer, dtype=torch.long))
            rows.append(torch.arange(c_out).repeat_interleave(n_chunks))
            chunks.append(torch.arange(n_chunks).repeat(c_out))

        self.source_index = torch.cat(sources)                          # [T, S]
        self.n_tokens = T = self.source_index.shape[0]
        self.mask = self.source_index < P
        self.layer_of_token = torch.cat(layers)
        self.row_of_token = torch.cat(rows)
        self.chunk_of_token = torch.cat(chunks)
        self.positions = torch.stack([torch.arange(T), self.layer_of_token, self.row_of_token], dim=1)

        entries = self.source_index.reshape(-1)
        real = torch.nonzero(entries < P).squeeze(1)
        self.value_slot = torch.empty(P, dtype=torch.long)
        self.value_slot[entries[real]] = real
        if real.numel() != P or torch.unique(entries[real]).numel() != P:   # pragma: no cover - layout bug guard
            raise HyperVizError(f"architecture {spec.name!r}: layout does not tokenise one-to-one")
        self.layer_of_value = torch.empty(P, dtype=torch.long)
        group_of_value = torch.empty(P + 1, dtype=torch.long)
        group_of_value[P] = 2 * self.n_layers
        for s in slots:
            self.layer_of_value[s.offset : s.stop] = s.layer
            group_of_value[s.offset : s.stop] = 2 * s.layer + (1 if s.kind == "bias" else 0)
        self.group_of_entry = group_of_value[self.source_index]
        self._device_cache: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def __repr__(self) -> str:
        return f"Tokenizer({self.spec.name!r}, token_size={self.token_size}, n_tokens={self.n_tokens})"

    @property
    def max_positions(self) -> tuple[int, int, int]:
        """Number of distinct values of each position component: (tokens, layers, rows)."""
        return (self.n_tokens, self.n_layers, int(self.row_of_token.max()) + 1)

    def _indices(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._device_cache:
            self._device_cache[device] = (self.source_index.to(device), self.value_slot.to(device))
        return self._device_cache[device]

    # ---- the two maps ------------------------------------------------------------------------
    def tokenize(self, weights: torch.Tensor) -> torch.Tensor:
        """``[..., P]`` flat weights -> ``[..., T, S]`` tokens, padding entries exactly 0."""
        if weights.shape[-1] != self.n_params:
            raise HyperVizError(
                f"weights with {weights.shape[-1]} values per model do not fit {self.spec.name!r} ({self.n_params} parameters)"
            )
        src, _ = self._indices(weights.device)
        return F.pad(weights, (0, 1))[..., src]

    def detokenize(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[..., T, S]`` tokens -> ``[..., P]`` flat weights (padding entries are ignored)."""
        if tuple(tokens.shape[-2:]) != (self.n_tokens, self.token_size):
            raise HyperVizError(
                f"tokens of shape {tuple(tokens.shape)} do not fit {self.spec.name!r} "
                f"({self.n_tokens} tokens of size {self.token_size})"
            )
        _, slot = self._indices(tokens.device)
        return tokens.reshape(*tokens.shape[:-2], self.n_tokens * self.token_size)[..., slot]

    # ---- zoo statistics for layer-wise loss normalisation --------------------------------------
    def layer_stats(self, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-layer mean and std ``[n_layers]`` (float32) of all values (weights and bias) of each
        parametric layer, pooled over every model in ``weights`` ``[..., P]`` (the training zoo)."""
        flat = weights.reshape(-1, self.n_params).to(torch.float64)
        n = flat.shape[0]
        if n == 0:
            raise HyperVizError("layer statistics need at least one model")
        idx = self.layer_of_value.to(flat.device)
        count = torch.zeros(self.n_layers, dtype=torch.float64, device=flat.device).index_add_(
            0, idx, torch.ones_like(idx, dtype=torch.float64)) * n
        total = torch.zeros_like(count).index_add_(0, idx, flat.sum(0))
        mean = total / count
        centred_sq = ((flat - mean[idx]) ** 2).sum(0)
        var = torch.zeros_like(count).index_add_(0, idx, centred_sq) / count
        return mean.float(), var.sqrt().float()

    def layer_std(self, weights: torch.Tensor) -> torch.Tensor:
        """Per-layer std ``[n_layers]`` over the zoo ``weights`` ``[..., P]`` (see :meth:`layer_stats`)."""
        return self.layer_stats(weights)[1]


@lru_cache(maxsize=32)
def _cached(spec_json: str, token_size: int | None) -> Tokenizer:
    return Tokenizer(ArchSpec.from_json(spec_json), token_size)


def get_tokenizer(spec: ArchSpec, token_size: int | None = None) -> Tokenizer:
    """A shared :class:`Tokenizer` for ``(spec, token_size)``, built once per process."""
    return _cached(spec.to_json(), token_size)
