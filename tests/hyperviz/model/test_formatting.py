"""Numbers as the views show them: one format for table values, one for statistics, one for ranges."""
import numpy as np

from hyperviz.model.formatting import format_stat, format_value, range_text


def test_values_statistics_and_ranges():
    assert [format_value(v) for v in (0.5, np.float32(0.125), 0.001234, 12345.0, float("nan"), "relu", 3)] == \
        ["0.5", "0.125", "0.00123", "1.23e+04", "-", "relu", "3"]
    assert [format_stat(v) for v in (0.12345, None, float("nan"))] == ["0.123", "–", "–"]
    assert [range_text(0.6, None), range_text(None, 3.0), range_text(0.2, 0.8)] == ["≥ 0.6", "≤ 3", "0.2 – 0.8"]
