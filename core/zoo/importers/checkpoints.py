"""Reading checkpoint files for the importers: torch (``weights_only=True``) and safetensors
state_dicts, matched to an architecture by the order and shape of their tensors."""
from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import torch

from core.errors import HyperVizError
from core.zoo.arch import ArchSpec, recognise
from core.zoo.modules import state_dict_to_vector

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth")

#: The most bytes one checkpoint may take in memory (its file, or the declared uncompressed size
#: of a zip-format torch file's entries), checked before anything is read or decompressed. The
#: zoo models hyperviz handles have thousands of parameters (kilobytes); 256 MiB is a model of
#: 64M float32 parameters. ``HYPERVIZ_MAX_CHECKPOINT_MB`` in the environment sets another limit.
MAX_CHECKPOINT_BYTES = 256 * 2**20


def checkpoint_limit() -> int:
    """:data:`MAX_CHECKPOINT_BYTES`, or ``HYPERVIZ_MAX_CHECKPOINT_MB`` MiB when that is set to a positive number."""
    import os

    text = os.environ.get("HYPERVIZ_MAX_CHECKPOINT_MB", "").strip()
    try:
        value = float(text)
    except ValueError:
        return MAX_CHECKPOINT_BYTES
    return int(value * 2**20) if value > 0 and value < 2**44 else MAX_CHECKPOINT_BYTES


def check_checkpoint_size(path: Path) -> None:
    """Refuse a checkpoint that would take more than :func:`checkpoint_limit` bytes in memory,
    before it is loaded: the file's size, and for a zip (torch's format since 1.6) the sum of its
    entries' declared uncompressed sizes, so a small deflate-compressed file cannot expand to
    gigabytes. (torch's zip reader extracts each entry into a buffer of its declared size and fails
    when the data does not fit, so the declared sizes bound what is decompressed.)"""
    import zipfile

    limit = checkpoint_limit()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise HyperVizError(f"{path}: cannot be read ({one_line(exc)})") from None
    mib = lambda n: f"{n / 2**20:.1f} MiB"  # noqa: E731
    if size > limit:
        raise HyperVizError(f"{path}: {mib(size)}, more than the {mib(limit)} a checkpoint may take "
                            "(set HYPERVIZ_MAX_CHECKPOINT_MB for larger models)")
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise HyperVizError(f"{path}: not a readable torch checkpoint (damaged zip: {one_line(exc, 80)})") from None
    declared = sum(info.file_size for info in infos)
    if declared > limit:
        raise HyperVizError(f"{path}: its zip entries expand to {mib(declared)}, more than the {mib(limit)} a checkpoint "
                            f"may take; not decompressed (set HYPERVIZ_MAX_CHECKPOINT_MB for larger models)")


_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


_NEEDS_CODE = re.compile(r"GLOBAL|add_safe_globals|allowlisted|reduce for|unrecognized function")


def read_spec(path: Path) -> list[ArchSpec]:
    """The architecture specs in a JSON file: one spec object, or a list of them (a source that
    mixes architectures hyperviz does not know)."""
    if not path.is_file():
        raise HyperVizError(f"{path}: no such architecture spec file")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HyperVizError(f"{path}: invalid JSON ({exc})") from None
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(item, dict) for item in items):
        raise HyperVizError(f"{path}: expected an architecture spec object or a non-empty list of them")
    specs = [ArchSpec.from_dict(item, source=f"{path}[{i}]" if isinstance(data, list) else str(path))
             for i, item in enumerate(items)]
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise HyperVizError(f"{path}: names architecture {next(n for n in names if names.count(n) > 1)!r} twice")
    return specs


def one_line(text: str, limit: int = 160) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def natural_key(key: str) -> tuple:
    """Sort key: numbers as numbers (``2`` < ``10``), a module's weight before its bias."""
    parts = key.split(".")
    out = []
    for i, part in enumerate(parts):
        if i == len(parts) - 1 and part in ("weight", "bias"):
            out.append(((-2, "1" if part == "bias" else "0"),))
        else:
            out.append(tuple((int(c), "") if c.isdigit() else (-1, c) for c in re.split(r"(\d+)", part) if c))
    return tuple(out)


def load_parameters(path: Path) -> list[tuple[str, torch.Tensor]]:
    """The parameter tensors of one checkpoint file, in order (buffers and integer tensors dropped)."""
    check_checkpoint_size(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types for damaged headers
            raise HyperVizError(f"{path}: not a readable safetensors file ({one_line(exc)})") from None
        items = sorted(state.items(), key=lambda kv: natural_key(kv[0]))
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            text = str(exc)
            found = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\n\n|$)", text, re.S)
            reason = one_line(found.group(1) if found else text, 100)
            if _NEEDS_CODE.search(text):
                raise HyperVizError(f"{path}: needs arbitrary unpickling; refusing to run code from a file ({reason})") from None
            raise HyperVizError(f"{path}: not a readable torch checkpoint ({reason})") from None
        except Exception as exc:  # torch raises many types (KeyError, EOFError, RuntimeError) for junk
            raise HyperVizError(f"{path}: not a readable torch checkpoint ({type(exc).__name__}: {one_line(exc, 80)})") from None
        items = list(_state_dict_of(obj, path).items())
    params = [(k, t) for k, t in items
              if isinstance(t, torch.Tensor) and t.is_floating_point() and k.rsplit(".", 1)[-1] not in _BUFFERS]
    if not params:
        raise HyperVizError(f"{path}: holds no floating-point parameter tensors")
    return params


def _state_dict_of(obj, path: Path) -> dict:
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, dict) and any(isinstance(v, torch.Tensor) for v in inner.values()):
                return inner
        if any(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
    raise HyperVizError(f"{path}: holds a {type(obj).__name__}, not a state_dict of tensors")


def _fmt_shapes(shapes: list[tuple[int, ...]]) -> str:
    return "[" + ", ".join("x".join(map(str, s)) or "scalar" for s in shapes) + "]"


class WeightReader:
    """Loads checkpoints into flat vectors. A model's first checkpoint fixes its architecture (the
    known one its shapes match, or one of the ``--arch-spec`` specs); its other checkpoints must
    have the same shapes. Models of different architectures may be mixed: :attr:`archs` lists
    every architecture met, in the order first met, and :meth:`arch_of` names a model's."""

    def __init__(self, specs: list[ArchSpec] | ArchSpec | None):
        self.specs = [specs] if isinstance(specs, ArchSpec) else list(specs or [])
        self._archs: dict[str, ArchSpec] = {}
        self._models: dict[object, tuple[ArchSpec, list[tuple[int, ...]], Path]] = {}

    @property
    def archs(self) -> tuple[ArchSpec, ...]:
        return tuple(self._archs.values())

    def arch_of(self, model) -> str:
        return self._models[model][0].name

    def vector(self, path: Path, owner: Path, model=None) -> np.ndarray:
        """float32 ``[n_params]`` of the checkpoint at ``path`` of model ``model`` (any key; by default
        ``owner``); ``owner`` is named if its shapes match no architecture."""
        model = owner if model is None else model
        params = load_parameters(path)
        shapes = [tuple(t.shape) for _, t in params]
        if model not in self._models:
            arch = self._resolve(shapes, path, owner)
            self._models[model] = (arch, shapes, path)
            self._archs.setdefault(arch.name, arch)
        arch, first_shapes, first = self._models[model]
        if shapes != first_shapes:
            raise HyperVizError(f"{path}: parameter shapes {_fmt_shapes(shapes)} differ from "
                                f"{_fmt_shapes(first_shapes)} in {first} (one model's checkpoints share an architecture)")
        state = {slot.key: t for slot, (_, t) in zip(arch.layout, params)}
        vec = state_dict_to_vector(arch, state).numpy()
        if not np.isfinite(vec).all():
            bad = int((~np.isfinite(vec)).sum())
            raise HyperVizError(f"{path}: {bad} weights are NaN or infinite")
        return vec

    def _resolve(self, shapes: list[tuple[int, ...]], path: Path, owner: Path) -> ArchSpec:
        if self.specs:
            for spec in self.specs:
                if spec.param_shapes() == shapes:
                    return spec
            if len(self.specs) == 1:
                spec = self.specs[0]
                raise HyperVizError(f"{path}: parameter shapes {_fmt_shapes(shapes)} do not match architecture "
                                    f"{spec.name!r} {_fmt_shapes(spec.param_shapes())}")
            raise HyperVizError(f"{path}: parameter shapes {_fmt_shapes(shapes)} match none of the architectures "
                                f"{', '.join(repr(s.name) for s in self.specs)} of the spec file")
        arch = recognise(shapes)
        if arch is None:
            raise HyperVizError(f"{owner}: parameter shapes {_fmt_shapes(shapes)} match no known architecture; "
                                f"pass --arch-spec FILE")
        return arch
