"""The names and limits the sampling options take: the methods (:mod:`core.generate.sampling`
draws them), the most samples one run draws, and the bandwidth rules.

No torch here: the command line's parser offers and checks these before it knows whether the
command will need torch (``zoo build`` on a finished zoo never does).
"""

METHODS = ("kde", "best-of", "reconstruct", "noise", "random", "zoo-best")
MAX_SAMPLES = 100_000
BANDWIDTH_RULES = ("scott", "silverman")
