"""One model of an :class:`core.zoo.arch.ArchSpec` in torch: its ``nn.Module``, its flat weight
vector (the Model Zoos layout, :attr:`ArchSpec.layout`) and its initialisation."""
from __future__ import annotations

import math

import torch
from torch import nn

from core.errors import HyperVizError
from core.zoo.arch import ACTIVATIONS, ArchSpec


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise HyperVizError(f"activation {name!r}: expected one of {', '.join(ACTIVATIONS)}")
    return {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}[name]()


def build_module(spec: ArchSpec, activation: str = "relu", dropout: float = 0.0) -> nn.Sequential:
    """A plain ``nn.Sequential`` for one model; its state_dict keys are the :class:`ParamSlot` keys."""
    modules: list[nn.Module] = []
    for layer in spec.layers:
        kind = layer["type"]
        if kind == "conv":
            modules.append(nn.Conv2d(layer["in"], layer["out"], layer["kernel"], padding=layer.get("padding", 0)))
        elif kind == "linear":
            modules.append(nn.Linear(layer["in"], layer["out"]))
        elif kind == "maxpool":
            modules.append(nn.MaxPool2d(layer["size"]))
        elif kind == "act":
            modules.append(make_activation(activation))
        elif kind == "dropout":
            modules.append(nn.Dropout(dropout))
        else:
            modules.append(nn.Flatten())
    return nn.Sequential(*modules)


def state_dict_to_vector(spec: ArchSpec, state: dict[str, torch.Tensor]) -> torch.Tensor:
    """Flat float32 ``[n_params]`` from a state_dict keyed as :func:`build_module` names it."""
    parts = []
    for slot in spec.layout:
        tensor = state.get(slot.key)
        if tensor is None:
            raise HyperVizError(f"state_dict for {spec.name!r} lacks {slot.key!r}")
        if tuple(tensor.shape) != slot.shape:
            raise HyperVizError(f"state_dict for {spec.name!r}: {slot.key!r} has shape {tuple(tensor.shape)}, expected {slot.shape}")
        parts.append(tensor.detach().reshape(-1).to(torch.float32).cpu())
    return torch.cat(parts)


def vector_to_state_dict(spec: ArchSpec, vector: torch.Tensor) -> dict[str, torch.Tensor]:
    """Inverse of :func:`state_dict_to_vector`; ``vector`` is ``[n_params]``."""
    if vector.shape != (spec.n_params,):
        raise HyperVizError(f"weight vector of shape {tuple(vector.shape)} does not fit {spec.name!r} ({spec.n_params} parameters)")
    return {slot.key: vector[slot.offset : slot.stop].reshape(slot.shape).clone() for slot in spec.layout}


def split_params(spec: ArchSpec, flat: torch.Tensor) -> list[torch.Tensor]:
    """Views ``[N, *shape]`` of every parameter tensor, in layout order, of flat ``[N, n_params]``."""
    return [flat[:, slot.offset : slot.stop].reshape(flat.shape[0], *slot.shape) for slot in spec.layout]


def init_vector(spec: ArchSpec, init: str, generator: torch.Generator) -> torch.Tensor:
    """Initial weights ``[n_params]`` for one model; biases start at 0.01 as in the Model Zoos.

    ``init`` is one of ``uniform`` (U(-1/sqrt(fan_in), 1/sqrt(fan_in))), ``normal``
    (N(0, 1/fan_in)), ``kaiming_uniform`` or ``kaiming_normal`` (He, for ReLU gain).
    """
    vec = torch.empty(spec.n_params)
    for slot in spec.layout:
        view = vec[slot.offset : slot.stop]
        if slot.kind == "bias":
            view.fill_(0.01)
            continue
        fan_in = math.prod(slot.shape[1:])
        if init == "uniform":
            bound = 1.0 / math.sqrt(fan_in)
            view.uniform_(-bound, bound, generator=generator)
        elif init == "normal":
            view.normal_(0.0, 1.0 / math.sqrt(fan_in), generator=generator)
        elif init == "kaiming_uniform":
            bound = math.sqrt(6.0 / fan_in)
            view.uniform_(-bound, bound, generator=generator)
        elif init == "kaiming_normal":
            view.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
        else:
            raise HyperVizError(f"init {init!r}: expected uniform, normal, kaiming_uniform or kaiming_normal")
    return vec
