"""Stage 2, the hyper-representation: weight tokens, augmentations, the autoencoder, fitting, embedding.

The workspace file (everything learned about one zoo) lives here too. Reads the zoo stage only.
"""
