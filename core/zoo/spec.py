"""What a zoo is built from: :class:`ZooSpec` (task, architectures, models, epochs, the
hyperparameter grid), its limits, and whether a file already holds the finished build of one.

No torch here: ``zoo build`` with the arguments of a finished zoo reads the file's recorded spec,
says so and returns before torch is imported (about two seconds of the command's start), so
repeating a finished build costs little more than starting Python. Training is in
:mod:`core.zoo.population`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.errors import HyperVizError, shown
from core.jsonfile import read_json_object
from core.zoo.arch import ACTIVATIONS, INITS, ArchSpec, get_arch, parse_arch_list
from core.zoo.store import check_zoo_destination, not_replaced, open_zoo_file

OPTIMIZERS = ("adam", "sgd")

#: The default grid: 4 x 4 x 2 x 2 x 2 x 2 = 256 configurations, each trained with distinct seeds.
DEFAULT_GRID: dict[str, list] = {
    "activation": ["tanh", "relu", "sigmoid", "gelu"],
    "init": ["uniform", "normal", "kaiming_uniform", "kaiming_normal"],
    "optimizer": ["adam", "sgd"],
    "lr": [1e-3, 1e-2],
    "weight_decay": [0.0, 1e-3],
    "dropout": [0.0, 0.3],
}
_ALLOWED = {"activation": ACTIVATIONS, "init": INITS, "optimizer": OPTIMIZERS}

#: The most models one zoo holds (each needs a config in memory while the zoo is built).
MAX_MODELS = 1_000_000
#: The most training epochs per model (one checkpoint is stored per epoch).
MAX_EPOCHS = 10_000
#: The largest training batch and chunk of models trained together.
MAX_BATCH = 1_000_000
#: Seeds are 0 .. MAX_SEED (numpy and torch generators both take them).
MAX_SEED = 2**32 - 1
#: The most bytes of weights one zoo file may hold: 1 TiB.
MAX_ZOO_BYTES = 2**40
#: The chunk size (models trained together) a build takes when none is given, by device type.
#: 128 on a CPU: a model-step costs ~10% less CPU time than in chunks of 64 (the fixed cost of a
#: step is shared by more models), and a 256-model zoo still gives two chunks, one per core.
DEFAULT_CHUNK_SIZES = {"cpu": 128, "cuda": 2048}
#: Defaults of earlier versions (64 on a CPU until 2026-12): a zoo built with one of them without
#: ``--chunk-size`` is finished for the same command now too.
EARLIER_DEFAULT_CHUNK_SIZES = (64,)
#: The command-line option for each spec field, for messages that name what differs.
SPEC_OPTIONS = {"task": "--task", "arch": "--arch", "n_models": "--models", "epochs": "--epochs",
                "batch_size": "--batch-size", "seed": "--seed", "grid": "--grid", "mode": "--mode",
                "chunk_size": "--chunk-size"}


@dataclass(frozen=True)
class ZooSpec:
    """Everything that determines a zoo. ``mode="grid"`` cycles through the grid's product in a
    seeded shuffled order (seeds differ on every model); ``mode="random"`` draws each
    hyperparameter per model."""

    task: str = "digits"
    arch: str = "cnn"
    n_models: int = 512
    epochs: int = 25
    batch_size: int = 32
    seed: int = 0
    grid: dict = field(default_factory=lambda: dict(DEFAULT_GRID))
    mode: str = "grid"
    chunk_size: int = DEFAULT_CHUNK_SIZES["cpu"]   # models trained together; part of the spec (dropout masks are drawn per chunk)

    def __post_init__(self) -> None:
        for name, low, high in (("n_models", 1, MAX_MODELS), ("epochs", 0, MAX_EPOCHS), ("batch_size", 1, MAX_BATCH),
                                ("chunk_size", 1, MAX_BATCH), ("seed", 0, MAX_SEED)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise HyperVizError(f"{SPEC_OPTIONS[name]} {shown(value, 40)}: must be a whole number")
            if not low <= value <= high:
                raise HyperVizError(f"{SPEC_OPTIONS[name]} {value}: must be in {low}..{high}")
        if self.mode not in ("grid", "random"):
            raise HyperVizError(f"grid mode {self.mode!r}: expected grid or random")
        check_grid(self.grid, "grid")
        parse_arch_list(self.arch)

    def to_dict(self) -> dict:
        return asdict(self)

    def arch_names(self) -> list[str]:
        """The architectures of the zoo, in the order ``arch`` names them."""
        return parse_arch_list(self.arch)

    def arch_specs(self) -> tuple[ArchSpec, ...]:
        return tuple(get_arch(name) for name in self.arch_names())

    def arch_spec(self) -> ArchSpec:
        """The one architecture of a zoo of one; a one-line error for several."""
        specs = self.arch_specs()
        if len(specs) > 1:
            raise HyperVizError(f"--arch {self.arch}: this step takes one architecture")
        return specs[0]


def check_grid(grid: dict, source: str) -> None:
    """Validate a hyperparameter grid: every key of :data:`DEFAULT_GRID`, each a non-empty list."""
    if not isinstance(grid, dict):
        raise HyperVizError(f"{source}: must be a JSON object of hyperparameter -> list of values")
    unknown = set(grid) - set(DEFAULT_GRID)
    if unknown:
        raise HyperVizError(f"{source}: unknown hyperparameters {sorted(unknown)} (known: {', '.join(DEFAULT_GRID)})")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise HyperVizError(f"{source}: {key!r} must be a non-empty list")
        allowed = _ALLOWED.get(key)
        bad = [v for v in values if (v not in allowed if allowed else not isinstance(v, (int, float)) or v < 0)]
        if bad:
            raise HyperVizError(f"{source}: {key!r} has invalid values {bad}" + (f" (allowed: {', '.join(allowed)})" if allowed else ""))
    if any(not 0 <= d < 1 for d in grid.get("dropout", [])):
        raise HyperVizError(f"{source}: dropout rates must be in [0, 1)")


def load_grid(path: str | Path) -> dict:
    """Read a grid file (JSON). Missing keys take the default grid's values."""
    path = Path(path)
    data = read_json_object(path, "grid file")
    check_grid(data, str(path))
    return {**DEFAULT_GRID, **data}


# ---- a finished build ---------------------------------------------------------------------
def recorded_spec(path: str | Path) -> dict | None:
    """The zoo spec a complete zoo file at ``path`` was built from; None for anything else (an
    imported zoo, an incomplete or damaged zoo, another kind of file)."""
    try:
        with open_zoo_file(path) as f:
            source = json.loads(f["meta/source"][()])
    except (HyperVizError, OSError, KeyError, ValueError, TypeError):
        return None
    spec = source.get("zoo_spec") if isinstance(source, dict) else None
    return spec if isinstance(spec, dict) else None


def spec_differences(spec: ZooSpec, recorded: dict) -> list[str]:
    """What differs between ``spec`` and a recorded spec, as options: ``["--models 16, not 32"]``
    (this spec's value first, the recorded one after "not")."""
    mine = json.loads(json.dumps(spec.to_dict()))
    out = []
    for key in sorted(set(mine) | set(recorded), key=lambda k: list(SPEC_OPTIONS).index(k) if k in SPEC_OPTIONS else 99):
        if mine.get(key) != recorded.get(key):
            option = SPEC_OPTIONS.get(key, key)
            out.append(f"{option}: another hyperparameter grid" if key == "grid"
                       else f"{option} {shown(mine.get(key), 40)}, not {shown(recorded.get(key), 40)}")
    return out


def finished_build(spec: ZooSpec, out: str | Path, overwrite: bool = False) -> bool:
    """True when ``out`` already holds the complete zoo of exactly ``spec`` (there is nothing to do).

    False when nothing is at ``out``, or (with ``overwrite``) something else is: the build goes
    ahead and replaces it once the new zoo is complete. Without ``overwrite`` anything else at
    ``out`` (a zoo built from other arguments, an imported zoo, a workspace, any other file) is
    a one-line :class:`HyperVizError` that names what is there; a folder is refused always.
    """
    out = Path(out)
    what = check_zoo_destination(out, overwrite=True)          # a folder is refused here
    if what is None:
        return False
    recorded = recorded_spec(out) if what == "a hyperviz zoo" else None
    if recorded is not None and recorded == json.loads(json.dumps(spec.to_dict())):
        return True
    if overwrite:
        return False
    if recorded is not None:
        what = f"a zoo built with other arguments ({'; '.join(spec_differences(spec, recorded))})"
    elif what == "a hyperviz zoo":
        what = "a zoo without a build spec of its own (imported, incomplete or damaged)"
    raise not_replaced(out, what)


def already_built(fields: dict, out: str | Path, chunk_size: int | None = None) -> bool:
    """True when ``out`` holds the complete zoo of the spec ``fields`` (every :class:`ZooSpec`
    field but ``chunk_size``) and ``chunk_size``; with ``chunk_size`` None, the default chunk
    size of either device (or an earlier version's default).

    A chunk size nobody chose is not an argument that differs: a zoo built on a GPU without
    ``--chunk-size`` is finished for the same command on a CPU machine too. Nothing here needs
    torch, so the command line answers before importing it.
    """
    chunks = [chunk_size] if chunk_size else dict.fromkeys([*DEFAULT_CHUNK_SIZES.values(), *EARLIER_DEFAULT_CHUNK_SIZES])
    return any(finished_build(ZooSpec(**fields, chunk_size=chunk), out, overwrite=True) for chunk in chunks)
