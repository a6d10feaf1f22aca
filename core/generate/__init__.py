"""Stage 4, generation: sampling new weights from a region of the embedding space, evaluating and exporting them."""
