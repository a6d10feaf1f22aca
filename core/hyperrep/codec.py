"""Between weights and the autoencoder: canonicalise, normalise, tokenise, encode, decode.

Hidden units of a network can be permuted without changing its function, so one model has many
weight vectors. With ``config.canonical`` (the default) every weight vector is first put in a
canonical unit order (each hidden layer's units sorted by the norm of their incoming weights,
core.hyperrep.augment.Permuter.canonical): all members of a permutation class get the same embedding, and
the autoencoder spends its capacity on what differs between models, not on the symmetry.

The autoencoder sees every layer standardised by that layer's mean and std over the training
zoo (the statistics live in the model's ``layer_mean`` / ``layer_std`` buffers). Its plain MSE on
standardised values is therefore the layer-wise normalised reconstruction loss, and layers with
small weights are reconstructed as carefully as large ones.

Shapes: weights ``[n, P]``; tokens ``[n, T, S]``; latents ``[n, T, d_latent]``; embeddings
``[n, L * d_latent]`` (per-layer means of the latents).
"""
from __future__ import annotations

import numpy as np
import torch

from core.hyperrep.augment import get_permuter
from core.hyperrep.autoencoder import HyperRepAE
from core.hyperrep.tokens import get_tokenizer
from core.zoo.arch import ArchSpec


class WeightCodec:
    """Weights <-> standardised tokens for one architecture and one trained autoencoder."""

    def __init__(self, arch: ArchSpec, model: HyperRepAE):
        self.arch = arch
        self.tokenizer = get_tokenizer(arch, model.config.token_size)
        if self.tokenizer.n_tokens != model.config.n_tokens:
            raise ValueError("autoencoder and architecture disagree on the number of tokens")
        layer = self.tokenizer.layer_of_value
        self.permuter = get_permuter(arch) if model.config.canonical else None
        self._mean = model.layer_mean[layer].detach()
        self._std = model.layer_std[layer].detach().clamp_min(1e-4)

    def to_tokens(self, weights: torch.Tensor) -> torch.Tensor:
        """``[n, P]`` raw weights -> ``[n, T, S]`` standardised tokens."""
        if self.permuter is not None:
            weights = self.permuter.canonical(weights)
        mean, std = self._mean.to(weights.device), self._std.to(weights.device)
        return self.tokenizer.tokenize((weights - mean) / std)

    def from_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[n, T, S]`` standardised tokens -> ``[n, P]`` raw weights."""
        mean, std = self._mean.to(tokens.device), self._std.to(tokens.device)
        return self.tokenizer.detokenize(tokens) * std + mean


@torch.no_grad()
def encode_weights(model: HyperRepAE, arch: ArchSpec, weights: np.ndarray | torch.Tensor, device: torch.device,
                   batch: int = 512, pooled: bool = True) -> np.ndarray:
    """Embeddings ``[n, embedding_width]`` (``pooled``) or latents ``[n, T, d_latent]`` of weights ``[n, P]``."""
    model.eval()
    codec = WeightCodec(arch, model)
    weights = torch.as_tensor(np.asarray(weights, dtype=np.float32))
    out = []
    for s in range(0, len(weights), batch):
        tokens = codec.to_tokens(weights[s : s + batch].to(device))
        z = model.encode(tokens)
        out.append((model.embedding(z, tokens) if pooled else z).float().cpu())
    width = (model.embedding_width,) if pooled else (model.config.n_tokens, model.config.d_latent)
    return torch.cat(out).numpy() if out else np.zeros((0, *width), np.float32)


@torch.no_grad()
def decode_latents(model: HyperRepAE, arch: ArchSpec, latents: np.ndarray | torch.Tensor, device: torch.device,
                   batch: int = 512) -> np.ndarray:
    """Weights ``[n, P]`` decoded from latents ``[n, T, d_latent]``."""
    model.eval()
    codec = WeightCodec(arch, model)
    latents = torch.as_tensor(np.asarray(latents, dtype=np.float32))
    out = [codec.from_tokens(model.decode(latents[s : s + batch].to(device))).cpu() for s in range(0, len(latents), batch)]
    return torch.cat(out).numpy() if out else np.zeros((0, arch.n_params), np.float32)
