"""hyperviz's compute core: torch, numpy, h5py, scikit-learn, umap; never Qt, never the app.

One package per stage of the data flow, each importing only the stages before it (checked by
import-linter, see pyproject.toml):

    zoo       -> hyperrep           -> analysis                -> generate
    (build,     (tokens, autoencoder, (maps, probes, s(W),       (sample, evaluate,
     store)      fit, embed)           reports)                   export)

Beside them, the shared basics every stage uses: ``errors``, ``device``, ``progress``, ``jsonfile``.
"""
