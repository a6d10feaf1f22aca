"""Architectures as declarative, JSON-serialisable specs.

An :class:`ArchSpec` is a list of layers. From it hyperviz derives everything it needs:

* an ordinary ``nn.Module`` (:func:`core.zoo.modules.build_module`) whose ``state_dict`` holds the weights,
* the flat-vector layout (:attr:`ArchSpec.layout`): per parametric layer the weight, flattened
  output-major as PyTorch stores it, then the bias (the Model Zoos vector format),
* a batched forward of N models at once (:mod:`core.zoo.batched`).

Activation and dropout rate are per-model hyperparameters, not part of the architecture: the spec
has ``{"type": "act"}`` and ``{"type": "dropout"}`` placeholders that the model's activation and
dropout rate fill in. Layer types::

    {"type": "conv", "in": 1, "out": 8, "kernel": 3, "padding": 1}     # stride 1
    {"type": "maxpool", "size": 2}
    {"type": "act"}
    {"type": "dropout"}
    {"type": "flatten"}
    {"type": "linear", "in": 24, "out": 20}

This module needs no torch (the command line reads specs and zoo files before deciding whether to
import it); the modules, flat vectors and initialisations are in :mod:`core.zoo.modules`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property

from core.errors import HyperVizError

ACTIVATIONS = ("tanh", "relu", "sigmoid", "gelu")
INITS = ("uniform", "normal", "kaiming_uniform", "kaiming_normal")
PARAMETRIC = ("conv", "linear")
_LAYER_KEYS = {
    "conv": {"in", "out", "kernel", "padding"},
    "linear": {"in", "out"},
    "maxpool": {"size"},
    "act": set(),
    "dropout": set(),
    "flatten": set(),
}


@dataclass(frozen=True)
class ParamSlot:
    """Where one parameter tensor lives in the flat vector."""

    key: str                 # state_dict key of :func:`build_module`'s module, e.g. "0.weight"
    layer: int               # index among the parametric layers, 0..n_layers-1
    kind: str                # "weight" | "bias"
    shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def stop(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class ArchSpec:
    """A feed-forward classifier: ``input_shape`` ``(C, H, W)`` or ``(F,)``, then ``layers``."""

    name: str
    input_shape: tuple[int, ...]
    layers: tuple[dict, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        object.__setattr__(self, "layers", tuple(dict(layer) for layer in self.layers))
        self._check()

    # ---- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"name": self.name, "input_shape": list(self.input_shape), "layers": [dict(l) for l in self.layers]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict, source: str = "architecture spec") -> ArchSpec:
        try:
            return cls(name=str(data["name"]), input_shape=tuple(data["input_shape"]), layers=tuple(data["layers"]))
        except (KeyError, TypeError) as exc:
            raise HyperVizError(f"{source}: not an architecture spec (needs name, input_shape, layers): {exc}") from None

    @classmethod
    def from_json(cls, text: str, source: str = "architecture spec") -> ArchSpec:
        try:
            return cls.from_dict(json.loads(text), source)
        except json.JSONDecodeError as exc:
            raise HyperVizError(f"{source}: invalid JSON ({exc})") from None

    # ---- derived structure ---------------------------------------------------------------
    def _check(self) -> None:
        shape = self.input_shape
        for i, layer in enumerate(self.layers):
            kind = layer.get("type")
            if kind not in _LAYER_KEYS:
                raise HyperVizError(f"architecture {self.name!r}: layer {i} has unknown type {kind!r}")
            missing = _LAYER_KEYS[kind] - set(layer) - {"padding"}
            if missing:
                raise HyperVizError(f"architecture {self.name!r}: layer {i} ({kind}) lacks {sorted(missing)}")
            shape = _next_shape(shape, layer, f"architecture {self.name!r}: layer {i} ({kind})")
        if len(shape) != 1:
            raise HyperVizError(f"architecture {self.name!r}: output must be a vector of class scores, got shape {shape}")

    @cached_property
    def feature_shapes(self) -> list[tuple[int, ...]]:
        """Shape of the features *entering* each layer, plus the output shape at the end."""
        shapes = [self.input_shape]
        for layer in self.layers:
            shapes.append(_next_shape(shapes[-1], layer, self.name))
        return shapes

    @property
    def n_classes(self) -> int:
        return self.feature_shapes[-1][0]

    @cached_property
    def parametric_layers(self) -> list[int]:
        """Indices into :attr:`layers` of the conv/linear layers, in order."""
        return [i for i, layer in enumerate(self.layers) if layer["type"] in PARAMETRIC]

    @cached_property
    def layout(self) -> list[ParamSlot]:
        """Weight then bias of every parametric layer, in order, with offsets into the flat vector."""
        slots, offset = [], 0
        for n, i in enumerate(self.parametric_layers):
            layer = self.layers[i]
            if layer["type"] == "conv":
                w_shape = (layer["out"], layer["in"], layer["kernel"], layer["kernel"])
            else:
                w_shape = (layer["out"], layer["in"])
            for kind, shape in (("weight", w_shape), ("bias", (layer["out"],))):
                slots.append(ParamSlot(f"{i}.{kind}", n, kind, shape, offset))
                offset += math.prod(shape)
        return slots

    @property
    def n_params(self) -> int:
        return self.layout[-1].stop

    @property
    def n_layers(self) -> int:
        return len(self.parametric_layers)

    def param_shapes(self) -> list[tuple[int, ...]]:
        return [slot.shape for slot in self.layout]


def _next_shape(shape: tuple[int, ...], layer: dict, where: str) -> tuple[int, ...]:
    kind = layer["type"]
    if kind == "conv":
        if len(shape) != 3 or shape[0] != layer["in"]:
            raise HyperVizError(f"{where}: expects {layer['in']} input channels, gets features of shape {shape}")
        k, p = int(layer["kernel"]), int(layer.get("padding", 0))
        h, w = shape[1] + 2 * p - k + 1, shape[2] + 2 * p - k + 1
        if h < 1 or w < 1:
            raise HyperVizError(f"{where}: kernel {k} does not fit features of shape {shape}")
        return (int(layer["out"]), h, w)
    if kind == "maxpool":
        s = int(layer["size"])
        if len(shape) != 3 or shape[1] % s or shape[2] % s:
            raise HyperVizError(f"{where}: pool size {s} does not divide features of shape {shape}")
        return (shape[0], shape[1] // s, shape[2] // s)
    if kind == "flatten":
        return (math.prod(shape),)
    if kind == "linear":
        if len(shape) != 1 or shape[0] != layer["in"]:
            raise HyperVizError(f"{where}: expects {layer['in']} input features, gets shape {shape}")
        return (int(layer["out"]),)
    return shape


# ---- the known families -------------------------------------------------------------------
def _cnn(name: str, channels_in: int, size: int, convs: list[tuple[int, int, int, int, bool]], fcs: list[int]) -> ArchSpec:
    """convs: (in, out, kernel, padding, pool_after); fcs: hidden/out widths after flatten."""
    layers: list[dict] = []
    shape = (channels_in, size, size)
    for c_in, c_out, k, p, pool in convs:
        layers.append({"type": "conv", "in": c_in, "out": c_out, "kernel": k, "padding": p})
        if pool:
            layers.append({"type": "maxpool", "size": 2})
        layers += [{"type": "act"}, {"type": "dropout"}]
    tmp = ArchSpec("_", shape, tuple(layers + [{"type": "flatten"}]))
    width = tmp.feature_shapes[-1][0]
    layers.append({"type": "flatten"})
    for j, out in enumerate(fcs):
        layers.append({"type": "linear", "in": width, "out": out})
        if j < len(fcs) - 1:
            layers += [{"type": "act"}, {"type": "dropout"}]
        width = out
    return ArchSpec(name, shape, tuple(layers))


def _mlp(name: str, n_in: int, widths: list[int]) -> ArchSpec:
    layers: list[dict] = [{"type": "flatten"}]
    width = n_in
    for j, out in enumerate(widths):
        layers.append({"type": "linear", "in": width, "out": out})
        if j < len(widths) - 1:
            layers += [{"type": "act"}, {"type": "dropout"}]
        width = out
    return ArchSpec(name, (1, 8, 8), tuple(layers))


#: The families hyperviz knows by name. ``cnn`` mirrors the Model Zoos CNN-s scaled to 8x8 inputs
#: (1,228 parameters); ``cnn_wide`` (twice the channels, 3,090) and ``cnn_deep`` (a third conv,
#: 1,812) are its siblings for zoos of several architectures, ``cnn_large`` (16 and 32 channels,
#: a 64-wide hidden layer: 13,706, 11x ``cnn``) the model larger than the autoencoder's context;
#: ``mlp`` the second family (1,482); ``modelzoo_cnn`` / ``modelzoo_cnn_rgb`` are the public Model
#: Zoos CNN-s on 28x28 inputs (2,464 / 2,864 parameters), so those zoos import without a spec file.
KNOWN_ARCHS: dict[str, ArchSpec] = {
    "cnn": _cnn("cnn", 1, 8, [(1, 8, 3, 1, True), (8, 6, 3, 1, True)], [20, 10]),
    "cnn_wide": _cnn("cnn_wide", 1, 8, [(1, 16, 3, 1, True), (16, 12, 3, 1, True)], [20, 10]),
    "cnn_deep": _cnn("cnn_deep", 1, 8, [(1, 8, 3, 1, False), (8, 8, 3, 1, True), (8, 6, 3, 1, True)], [20, 10]),
    "cnn_large": _cnn("cnn_large", 1, 8, [(1, 16, 3, 1, True), (16, 32, 3, 1, True)], [64, 10]),
    "mlp": _mlp("mlp", 64, [16, 16, 10]),
    "modelzoo_cnn": _cnn("modelzoo_cnn", 1, 28, [(1, 8, 5, 0, True), (8, 6, 5, 0, True), (6, 4, 2, 0, False)], [20, 10]),
    "modelzoo_cnn_rgb": _cnn("modelzoo_cnn_rgb", 3, 28, [(3, 8, 5, 0, True), (8, 6, 5, 0, True), (6, 4, 2, 0, False)], [20, 10]),
}


def get_arch(name: str) -> ArchSpec:
    try:
        return KNOWN_ARCHS[name]
    except KeyError:
        raise HyperVizError(f"architecture {name!r}: unknown (known: {', '.join(KNOWN_ARCHS)}; or pass a spec file)") from None


def parse_arch_list(text: str, option: str = "--arch") -> list[str]:
    """Known architecture names from a comma-separated list (``"cnn,cnn_wide,mlp"``): each must be
    known and named once; a one-line error naming the value otherwise."""
    names = [part.strip() for part in str(text).split(",")]
    if not names or any(not n for n in names):
        raise HyperVizError(f"{option} {text!r}: expected architecture names separated by commas "
                            f"(known: {', '.join(KNOWN_ARCHS)})")
    for name in names:
        get_arch(name)                            # "architecture 'resnet': unknown (known: ...)"
    twice = [n for n in names if names.count(n) > 1]
    if twice:
        raise HyperVizError(f"{option} {text!r}: names {twice[0]!r} twice")
    return names


def recognise(shapes: list[tuple[int, ...]]) -> ArchSpec | None:
    """The known architecture whose parameter shapes (in order) are ``shapes``, else None."""
    shapes = [tuple(s) for s in shapes]
    for spec in KNOWN_ARCHS.values():
        if spec.param_shapes() == shapes:
            return spec
    return None
