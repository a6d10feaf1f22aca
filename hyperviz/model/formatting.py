"""Numbers and values as the views show them to people, in one place so every view agrees.

(Values as written in a selection *expression* are :func:`hyperviz.model.predicates.format_literal`.)
"""
from __future__ import annotations

import math

import numpy as np


def format_value(value) -> str:
    """A table value in a tooltip or a details table: 3 significant digits, trailing zeros dropped, NaN as -."""
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "-"
        return f"{value:.3g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def format_stat(value: float | None) -> str:
    """A statistic (mean, bound): 3 significant digits; missing (None or NaN) as –."""
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g}"


def range_text(lo: float | None, hi: float | None) -> str:
    """A range brush for its plot's title: ``≥ 0.6``, ``≤ 3``, ``0.2 – 0.8``."""
    if lo is None:
        return f"≤ {hi:.3g}"
    if hi is None:
        return f"≥ {lo:.3g}"
    return f"{lo:.3g} – {hi:.3g}"


def round_bound(value: float, span: float) -> float:
    """A brushed bound rounded to what a person can tell apart on a plot ``span`` wide (about 1/1000 of it):
    ``round_bound(0.8332060086924182, 0.98) == 0.833``."""
    if not math.isfinite(value) or not math.isfinite(span) or span <= 0:
        return value
    digits = max(0, 3 - int(math.floor(math.log10(span))) - 1)
    return round(float(value), digits)
