"""``hyperviz demo build``: the small, reproducible demo workspace bundled in ``assets/demo``.

It runs the whole pipeline on CPU in a few minutes: a digits zoo of small CNNs (352 models x 11
checkpoints, epochs 0-10; 53 of them held out, so its probes mean something), the hyper-representation autoencoder, embeddings, a PCA and a UMAP map
(wide neighbourhoods: every model contributes 11 near-identical states, so a small ``n_neighbors``
only links a model's own checkpoints and the map falls apart into islands), one sampling run
from the well-trained models (stars in the map) and a few teaching bookmarks. The workspace and its zoo are written side by side, so the pair can
be moved together (``core.hyperrep.workspace`` finds a moved zoo by its file name beside the workspace).

Everything is seeded and torch runs on one thread, so the same command gives the same files.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from hyperviz.commands.common import add_common, fit_epochs, int_range, print_json, run_job
from hyperviz.commands.common import seed as seed_type

#: Where the bundled demo lives in a source checkout (main.py opens it when given no workspace).
DEMO_DIR = Path(__file__).resolve().parents[2] / "assets" / "demo"
DEMO_WORKSPACE = "demo.h5"
DEMO_ZOO = "demo-zoo.h5"
UMAP_NEIGHBORS = 150
UMAP_MIN_DIST = 0.5
SAMPLE_FROM = 0.9        # sample from the states with test accuracy >= this
SAMPLES = 24

#: Named selections a teacher can open straight away (the format of hyperviz.model.state bookmarks).
DEMO_BOOKMARKS = [
    {"name": "Well trained (test acc >= 0.9)", "colour_by": "test_acc", "projection": "umap",
     "selection": {"type": "range", "column": "test_acc", "lo": 0.9, "hi": None}, "filters": {}},
    {"name": "Initialisations (epoch 0)", "colour_by": "init", "projection": "umap",
     "selection": {"type": "compare", "column": "epoch", "op": "==", "value": 0}, "filters": {}},
    {"name": "Stuck near chance (test acc < 0.3, epoch >= 5)", "colour_by": "activation", "projection": "umap",
     "selection": {"type": "and", "parts": [
         {"type": "range", "column": "test_acc", "lo": None, "hi": 0.3},
         {"type": "range", "column": "epoch", "lo": 5, "hi": None}]}, "filters": {}},
    {"name": "Final epoch, coloured by optimiser", "colour_by": "optimizer", "projection": "umap",
     "selection": {"type": "nothing"}, "filters": {"epoch": [10, 10]}},
]


def build_demo(out: str | Path = DEMO_DIR, models: int = 352, epochs: int = 10, preset: str = "default",
               ae_epochs: int = 10, seed: int = 0, quiet: bool = True) -> dict:
    """Build the demo zoo + workspace in ``out``; returns a JSON-able summary (paths, sizes, seconds)."""
    import torch

    from core.analysis.maps import project_job
    from core.hyperrep.embed import embed_job
    from core.hyperrep.fit import fit_job
    from core.hyperrep.workspace import load_workspace
    from core.zoo.population import build_zoo_job
    from core.zoo.spec import ZooSpec

    torch.set_num_threads(1)          # reproducible, and polite on a shared 2-core machine
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    zoo_path, ws_path = out / DEMO_ZOO, out / DEMO_WORKSPACE
    for stale in (zoo_path, ws_path, zoo_path.with_name(zoo_path.name + ".partial")):
        stale.unlink(missing_ok=True)
    seconds = {}
    t = time.perf_counter()
    spec = ZooSpec(task="digits", arch="cnn", n_models=models, epochs=epochs, seed=seed, chunk_size=64)
    run_job(build_zoo_job(spec, zoo_path, device="cpu"), "demo: zoo", quiet)
    seconds["zoo"] = time.perf_counter() - t
    t = time.perf_counter()
    run_job(fit_job(zoo_path, ws_path, preset=preset, epochs=ae_epochs, device="cpu", seed=seed), "demo: fit", quiet)
    seconds["fit"] = time.perf_counter() - t
    t = time.perf_counter()
    run_job(embed_job(ws_path, device="cpu"), "demo: embed", quiet)
    run_job(project_job(ws_path, method="pca"), "demo: pca", quiet)
    seconds["embed_pca"] = time.perf_counter() - t
    t = time.perf_counter()
    run_job(project_job(ws_path, method="umap", n_neighbors=UMAP_NEIGHBORS, min_dist=UMAP_MIN_DIST, seed=seed),
            "demo: umap", quiet)
    seconds["umap"] = time.perf_counter() - t

    ws = load_workspace(ws_path)
    t = time.perf_counter()
    samples = _sample_well_trained(ws, seed, quiet)
    seconds["sample"] = time.perf_counter() - t
    ws.optimizer = {}                  # only needed to resume training; halves the file
    ws.bookmarks = json.loads(json.dumps(DEMO_BOOKMARKS))
    ws.save()
    history = ws.training["history"][-1]
    return {"workspace": str(ws_path), "zoo": str(zoo_path), "models": models, "checkpoints": epochs + 1,
            "states": int(len(ws.states)), "latent_dim": int(ws.embeddings.shape[1]),
            "val_recon_r2": history.get("val_recon_r2"), "projections": sorted(ws.projections),
            "samples": samples,
            "size_mb": round((zoo_path.stat().st_size + ws_path.stat().st_size) / 2**20, 2),
            "seconds": {k: round(v, 1) for k, v in seconds.items()}}


def _sample_well_trained(ws, seed: int, quiet: bool) -> dict | None:
    """One best-of sampling run from the well-trained states (kept in ``ws.samples``); its summary."""
    try:
        from core.generate.sampling import run_summary, sample_job
    except ImportError:                 # sampling not available: the demo still works without stars
        return None
    zoo = ws.read_zoo()
    acc = zoo.states["test_acc"][ws.states[:, 0], ws.states[:, 1]]
    rows = np.flatnonzero(acc >= SAMPLE_FROM)
    run = run_job(sample_job(ws, rows, "best-of", SAMPLES, seed=seed, device="cpu", zoo=zoo, save=False,
                             description=f"test_acc >= {SAMPLE_FROM}"), "demo: sample", quiet)
    return run_summary(ws, run)


def cmd_demo_build(args) -> int:
    summary = build_demo(args.out, models=args.models, epochs=args.epochs, preset=args.preset,
                         ae_epochs=args.ae_epochs, seed=args.seed, quiet=args.quiet)
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {summary['workspace']} and {summary['zoo']} ({summary['size_mb']} MB): "
              f"{summary['states']} model states, maps {', '.join(summary['projections'])}")
    return 0


def register(sub) -> None:
    from core.zoo.spec import MAX_EPOCHS, MAX_MODELS

    demo = sub.add_parser("demo", help="the bundled demo workspace").add_subparsers(dest="demo_command", required=True)
    p = demo.add_parser("build", help="rebuild the demo zoo + workspace (a few minutes on CPU)")
    p.add_argument("--out", default=str(DEMO_DIR), help="folder for demo.h5 and demo-zoo.h5 (default: assets/demo)")
    p.add_argument("--models", type=int_range(1, MAX_MODELS, "models"), default=352)
    p.add_argument("--epochs", type=int_range(1, MAX_EPOCHS, "epochs"), default=10, help="training epochs per zoo model")
    p.add_argument("--preset", choices=["tiny", "default"], default="default", help="autoencoder size")
    p.add_argument("--ae-epochs", type=fit_epochs, default=10, help="autoencoder training epochs")
    p.add_argument("--seed", type=seed_type, default=0)
    add_common(p)
    p.set_defaults(func=cmd_demo_build)
