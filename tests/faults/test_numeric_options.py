"""Every numeric option of every command has a checked range: a value outside it (nan, inf,
negative, huge, too many digits) is exit 2 with one ``error:`` line naming the option, no traceback."""
import argparse

import pytest

from hyperviz.cli import build_parser, main


def _commands(parser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*prefix, name))
    yield prefix, parser


def _numeric_options():
    found = []
    for command, parser in _commands(build_parser()):
        for action in parser._actions:
            if action.option_strings and (action.type is not None or isinstance(action.default, (int, float))) \
                    and not isinstance(action.default, bool) and action.nargs != 0:
                found.append((command, action))
    return found


OPTIONS = _numeric_options()


def test_no_numeric_option_is_unchecked():
    unchecked = [f"{' '.join(c)} {a.option_strings[-1]}" for c, a in OPTIONS
                 if a.type in (int, float) or (a.type is None and isinstance(a.default, (int, float)))]
    assert unchecked == []
    assert len(OPTIONS) >= 30                     # every command's counts, sizes, rates, seeds, ...


def _bad_values(action):
    low, high, low_open = action.type.bounds
    integer = isinstance(low, int) and not isinstance(low, bool) and not isinstance(low, float)
    values = ["nan", "inf", "-inf", "9" * 400, "1e400"]
    values.append(str(low) if low_open else str(low - 1))
    if high is not None:
        values.append(str(high * 10 + 1))
    if integer:
        values += ["1.5", "9" * 5000]
    return values


CASES = [pytest.param(command, action.option_strings[-1], value, id=f"{' '.join(command)} {action.option_strings[-1]} {value[:12]}")
         for command, action in OPTIONS if hasattr(action.type, "bounds") for value in _bad_values(action)]


def test_every_numeric_option_has_bounds():
    assert [f"{' '.join(c)} {a.option_strings[-1]}" for c, a in OPTIONS if not hasattr(a.type, "bounds")] == []


@pytest.mark.parametrize("command, option, value", CASES)
def test_a_value_out_of_range_is_one_line(capsys, command, option, value):
    code = main([*command, f"{option}={value}"])
    _out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert f"argument {option}" in err and "Traceback" not in err and len(err) < 400, err
