"""``python -m hyperviz`` runs the command line, like the ``hyperviz`` console script."""
import sys

from hyperviz.cli import main

sys.exit(main())
