"""Stage 3, analysis: 2-D maps of the embeddings, probes, the s(W) weight-statistics baseline, reports."""
