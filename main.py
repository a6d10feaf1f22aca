"""Start hyperviz: ``python main.py [WORKSPACE]`` (no argument: the bundled demo).

``python main.py --smoke`` opens the window offscreen, loads the workspace, renders the map once,
prints one JSON line (``time_to_map_s``, ``points``, ...) and exits.
"""
import sys

if __name__ == "__main__":          # required: UMAP fits run in spawned processes that re-import this file
    from hyperviz.app import main

    sys.exit(main())
