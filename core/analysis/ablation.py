"""``hyperviz bench probe``: train autoencoder candidates on one zoo and probe each beside s(W).

The question every change to the hyper-representation must answer is whether its embedding
predicts the zoo's properties better than the s(W) weight statistics. This runs that experiment
as a command instead of a memory: each candidate is a named set of fit settings (augmentation,
autoencoder config), fitted into its own workspace in ``out_dir`` (so an interrupted run resumes
where it stopped: finished candidates are not retrained), embedded, and probed with the same
protocol and the same split by model. The result holds, per candidate and property, the test
score and the paired bootstrap interval of hyper-rep minus s(W).
"""
from __future__ import annotations

from pathlib import Path

from core.analysis.report import baseline_differences, probe_summary, probe_workspace
from core.errors import HyperVizError
from core.hyperrep.embed import embed_job
from core.hyperrep.fit import fit_job
from core.hyperrep.workspace import load_workspace
from core.progress import Job, Progress
from core.zoo.store import read_zoo

#: Candidates measured on the default zoo (docs/hyperrep-ablation.md has the table). Each is
#: ``{"augmentation": {...}, "config": {...}}`` passed to :func:`core.hyperrep.fit.fit_job`.
CANDIDATES: dict[str, dict] = {
    "default": {},
    "no-value-profile": {"config": {"value_features": 0}},
    "no-unit-profile": {"config": {"unit_features": 0}},
    "no-value-moments": {"config": {"value_moments": False}},
    "latent-summary-32": {"config": {"latent_components": 32}},
    "all-pooled-latents": {"config": {"latent_components": 0}},
    "latents-only": {"config": {"value_features": 0, "unit_features": 0, "value_moments": False, "latent_components": 0}},
    "stats-head": {"config": {"stats_weight": 0.5}},
    "no-erasing": {"augmentation": {"erase_p": 0.0}},
    "no-erasing-gamma0.5": {"augmentation": {"erase_p": 0.0}, "config": {"gamma": 0.5}},
    "reconstruction-only": {"config": {"gamma": 0.0}},
    "mean-std-pooling": {"config": {"pooling": "mean_std"}},
}


def parse_candidates(names: str | None) -> list[str]:
    """``"a,b"`` -> checked candidate names (all of :data:`CANDIDATES` for None)."""
    if names is None:
        return list(CANDIDATES)
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in CANDIDATES]
    if unknown or not chosen:
        raise HyperVizError(f"candidates {names!r}: expected names from {', '.join(CANDIDATES)}")
    return chosen


def ablation_job(zoo_path: str | Path, out_dir: str | Path, candidates: list[str], preset: str = "default",
                 epochs: int | None = None, device: str = "auto", seed: int = 0) -> Job[dict]:
    """Fit, embed and probe every candidate; returns ``{"candidates": {name: probe summary}}``,
    each summary as ``hyperviz probe --json`` prints it (scores, ``hyperrep_minus_sw``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    zoo = read_zoo(zoo_path)
    results = {}
    for i, name in enumerate(candidates):
        settings = CANDIDATES[name]
        ws_path = out_dir / f"{name}.h5"
        yield Progress(i, len(candidates), f"{name}: fitting")
        yield from fit_job(zoo_path, ws_path, preset=preset, epochs=epochs, device=device, seed=seed,
                           augmentation=settings.get("augmentation"), config=settings.get("config"))
        ws = load_workspace(ws_path)
        if ws.embeddings is None:
            yield from embed_job(ws_path, device=device)
            ws = load_workspace(ws_path)
        yield Progress(i, len(candidates), f"{name}: probing")
        probes = probe_workspace(ws, zoo)
        results[name] = probe_summary(probes, baseline_differences(probes, ws.states))
        results[name]["settings"] = settings
        yield Progress(i + 1, len(candidates), f"{name}: done")
    return {"zoo": str(zoo_path), "preset": preset, "epochs": epochs, "candidates": results}
