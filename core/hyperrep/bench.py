"""``hyperviz bench fit``: autoencoder training and embedding throughput, as a plain dict.

Speed targets are checked by benchmark commands, not by timed unit tests (the machines are shared).
"""
from __future__ import annotations

import time

import torch

from core.device import resolve_device, synchronize
from core.errors import HyperVizError


def bench_fit(device: str = "auto", preset: str = "default", steps: int = 20, batch_size: int | None = None,
              n_embed: int = 4096, arch: str = "cnn") -> dict:
    """Autoencoder training and embedding throughput on synthetic weights of ``arch``.

    Training samples/s counts model states per second (each state gives two augmented views);
    the figure predicts ``hyperviz fit`` time: ``epochs * train_states / samples_per_s``.
    """
    from core.hyperrep.augment import get_permuter
    from core.hyperrep.autoencoder import HyperRepAE, make_config
    from core.hyperrep.codec import WeightCodec, encode_weights
    from core.hyperrep.fit import TRAINING, train_step
    from core.hyperrep.tokens import get_tokenizer
    from core.zoo.arch import get_arch
    from core.zoo.modules import init_vector

    if preset not in TRAINING:
        raise HyperVizError(f"preset {preset!r}: expected one of {', '.join(TRAINING)}")
    if steps < 2:
        raise HyperVizError(f"bench fit: --steps {steps} must be >= 2")
    dev = resolve_device(device)
    spec = get_arch(arch)
    bsz = batch_size or TRAINING[preset]["batch_size"]
    gen = torch.Generator().manual_seed(0)
    weights = torch.stack([init_vector(spec, "kaiming_uniform", gen) for _ in range(max(bsz, n_embed))])
    tokenizer = get_tokenizer(spec)
    model = HyperRepAE(make_config(tokenizer, preset)).attach_tokenizer(tokenizer)
    mean, std = tokenizer.layer_stats(weights)
    model.set_layer_stats(std.float(), mean.float())
    model.to(dev)
    codec, permuter = WeightCodec(spec, model), get_permuter(spec)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = weights[:bsz].to(dev)
    train_step(model, codec, permuter, opt, batch, gen)           # warm-up
    synchronize(dev)
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, codec, permuter, opt, batch, gen)
    synchronize(dev)
    train_s = time.perf_counter() - start
    encode_weights(model, spec, weights[:64], dev)                # warm-up
    synchronize(dev)
    start = time.perf_counter()
    encode_weights(model, spec, weights[:n_embed], dev)
    synchronize(dev)
    embed_s = time.perf_counter() - start
    return {
        "device": str(dev),
        "preset": preset,
        "arch": arch,
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch_size": bsz,
        "torch_threads": torch.get_num_threads(),
        "train_samples_per_s": round(steps * bsz / train_s, 1),
        "embed_samples_per_s": round(n_embed / embed_s, 1),
    }
