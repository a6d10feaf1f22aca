"""The desktop app: Qt views over the Qt-free state in ``hyperviz.model`` (see hyperviz/ui/main_window.py)."""
