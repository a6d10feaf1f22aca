"""The --where parser: syntax, precedence, literals, round trips and every error."""
import numpy as np
import pytest

from hyperviz.model.selection import (
    And,
    Compare,
    Everything,
    InSet,
    Not,
    Nothing,
    Or,
    Polygon,
    Range,
    Xor,
)
from hyperviz.model.where import WhereError, parse_where

COLUMNS = {"test_acc", "epoch", "activation", "lr", "model_id", "optim::lr"}
ACC, EPOCH = "test_acc", "epoch"


@pytest.mark.parametrize("text, expected", [
    ("test_acc >= 0.85", Compare(ACC, ">=", 0.85)),
    ("test_acc >= 0.85 and epoch >= 20",
     And(Compare(ACC, ">=", 0.85), Compare(EPOCH, ">=", 20))),
    ("0.5 < test_acc", Compare(ACC, ">", 0.5)),                     # value first: flipped
    ("3 == epoch", Compare(EPOCH, "==", 3)),
    ("lr == 1e-3", Compare("lr", "==", 0.001)),
    ("lr < 2.5E+2", Compare("lr", "<", 250.0)),
    ("lr > .5e-1", Compare("lr", ">", 0.05)),
    ("lr != 1.", Compare("lr", "!=", 1.0)),
    ("epoch > -1", Compare(EPOCH, ">", -1)),
    ("epoch > - 1", Compare(EPOCH, ">", -1)),
    ("epoch > +2", Compare(EPOCH, ">", 2)),
    ("lr > -2.5e-3", Compare("lr", ">", -0.0025)),
    ("test_acc < inf", Compare(ACC, "<", float("inf"))),
    ('activation == "relu"', Compare("activation", "==", "relu")),
    ("activation == 'relu'", Compare("activation", "==", "relu")),
    (r'activation == "it\"s"', Compare("activation", "==", 'it"s')),
    (r"activation == 'it\'s'", Compare("activation", "==", "it's")),
    ('activation == "a and b or (c)"', Compare("activation", "==", "a and b or (c)")),
    ("activation != ''", Compare("activation", "!=", "")),
    ("optim::lr <= 0.01", Compare("optim::lr", "<=", 0.01)),
    ("`test_acc` > 0", Compare(ACC, ">", 0)),
    ("0.5 <= test_acc <= 0.9", Range(ACC, 0.5, 0.9)),
    ("0.9 >= test_acc >= 0.5", Range(ACC, 0.5, 0.9)),
    ("0.5 < test_acc <= 0.9", And(Compare(ACC, ">", 0.5), Compare(ACC, "<=", 0.9))),
    ("0.9 > test_acc > 0.5", And(Compare(ACC, ">", 0.5), Compare(ACC, "<", 0.9))),
    ("test_acc in [0.5, 0.9]", Range(ACC, 0.5, 0.9)),
    ("test_acc in [-inf, 0.9]", Range(ACC, None, 0.9)),
    ('activation in ("relu", "gelu")', InSet("activation", ["relu", "gelu"])),
    ("activation in ('relu',)", InSet("activation", ["relu"])),
    ("activation in {'relu', 'tanh'}", InSet("activation", ["relu", "tanh"])),
    ("epoch in (1, 2, 3)", InSet(EPOCH, [1, 2, 3])),
    ("epoch in ()", InSet(EPOCH, [])),
    ("epoch not in (1, 2)", Not(InSet(EPOCH, [1, 2]))),
    ("everything", Everything()),
    ("not nothing", Not(Nothing())),
    ("epoch>1 and(epoch<3)", And(Compare(EPOCH, ">", 1), Compare(EPOCH, "<", 3))),
    ("  epoch  >  1  ", Compare(EPOCH, ">", 1)),
])
def test_parses_conditions_and_literals(text, expected):
    assert parse_where(text, COLUMNS) == expected


def test_integer_and_float_literals_keep_their_type():
    assert type(parse_where("epoch == 3").value) is int
    assert type(parse_where("epoch == 3.0").value) is float
    assert type(parse_where("lr == 1e2").value) is float


a, b, c = Compare("a", ">", 1), Compare("b", ">", 2), Compare("c", ">", 3)


@pytest.mark.parametrize("text, expected", [
    ("a > 1 or b > 2 and c > 3", Or(a, And(b, c))),
    ("a > 1 and b > 2 or c > 3", Or(And(a, b), c)),
    ("(a > 1 or b > 2) and c > 3", And(Or(a, b), c)),
    ("not a > 1 and b > 2", And(Not(a), b)),
    ("not (a > 1 and b > 2)", Not(And(a, b))),
    ("not not a > 1", Not(Not(a))),
    ("a > 1 or b > 2 or c > 3", Or(a, b, c)),
    ("a > 1 xor b > 2 and c > 3", Xor(a, And(b, c))),
    ("a > 1 or b > 2 xor c > 3", Or(a, Xor(b, c))),
    ("((a > 1))", a),
    ("a > 1 AND NOT b > 2 Or c > 3", Or(And(a, Not(b)), c)),
    ('(activation == "relu" or activation == \'tanh\') and not epoch < 5',
     And(Or(Compare("activation", "==", "relu"), Compare("activation", "==", "tanh")),
         Not(Compare(EPOCH, "<", 5)))),
])
def test_precedence_is_not_then_and_then_xor_then_or(text, expected):
    assert parse_where(text) == expected


def test_parsed_expression_selects_the_expected_rows():
    table = {
        "test_acc": np.array([0.90, 0.50, np.nan, 0.85, 1.00, 0.10]),
        "epoch": np.array([0, 5, 10, 20, 25, 50]),
        "activation": np.array(["relu", "tanh", "relu", "gelu", "sigmoid", "tanh"]),
    }
    predicate = parse_where('(activation == "relu" or activation == "gelu") and not epoch < 5')
    assert np.flatnonzero(predicate.evaluate(table)).tolist() == [2, 3]
    in_range = parse_where("0.5 <= test_acc <= 0.9").evaluate(table)
    assert np.flatnonzero(in_range).tolist() == [0, 1, 3]


ROUND_TRIPS = [
    Range(ACC, 0.85, 1.0),
    Range("lr", -1e-5, 2.5e10),
    Range(ACC),
    Compare("lr", "==", 1e-3),
    Compare("lr", "<", 1.5e-7),
    Compare(EPOCH, ">", -3),
    Compare("activation", "!=", 'quote " and \\ backslash'),
    Compare("test acc", ">=", 0.5),
    Compare("and", "==", 1),
    InSet("activation", ["relu", "gelu"]),
    InSet(EPOCH, [3]),
    Not(InSet(EPOCH, [1, 2])),
    Range(ACC, 0.5, 0.9) & Compare(EPOCH, ">=", 20),
    (Compare("a", "<", 1) | Compare("b", "<", 2)) & ~(Compare("c", "<", 3) ^ Compare("d", "<", 4)),
    Not(Not(Compare("a", "<", 1))),
    Or(Everything(), Not(Nothing())),
]


@pytest.mark.parametrize("predicate", ROUND_TRIPS, ids=lambda p: p.describe())
def test_describe_reparses_to_an_equal_predicate(predicate):
    assert parse_where(predicate.describe()) == predicate


def test_open_ranges_and_boxes_reparse_to_equivalent_masks():
    rng = np.random.default_rng(0)
    table = {"x": rng.uniform(-1, 2, 200).round(1), "y": rng.uniform(-1, 2, 200).round(1)}
    for predicate in (Range("x", 0.5), Range("x", None, 0.5),
                      Polygon.box("x", "y", 0, 0, 1, 1) | Compare("x", ">", 1.5)):
        reparsed = parse_where(predicate.describe())
        np.testing.assert_array_equal(reparsed.evaluate(table), predicate.evaluate(table))


@pytest.mark.parametrize("text, problem, position", [
    ("", "empty expression", 0),
    ("   ", "empty expression", 0),
    ("test_acc >= ", "expected a value after '>='", 11),
    ("test_acc >=", "expected a value after '>='", 11),
    ("test_acc >= 0.5 and", "expected a condition after 'and'", 19),
    ("test_acc >= 0.5 or", "expected a condition after 'or'", 18),
    ("not", "expected a condition after 'not'", 3),
    ("and epoch > 1", "expected a condition, found 'and'", 0),
    ("epoch > 1 and and epoch < 3", "expected a condition, found 'and'", 14),
    ("test_acc", "expected a comparison operator after 'test_acc'", 8),
    ("test_acc 0.5", "expected a comparison operator, found '0.5'", 9),
    ("(epoch > 1", "unclosed '('", 0),
    ("((epoch > 1)", "unclosed '('", 0),
    ("epoch > 1)", "unmatched ')'", 9),
    ("(epoch > 1 epoch", "expected ')' to close the '(' at 0, found 'epoch'", 11),
    ("epoch in (1, 2", "unclosed '('", 9),
    ("()", "expected a condition, found ')'", 1),
    ("test_acc >= 0.5 ; import os", "unexpected character ';'", 16),
    ("__import__('os').system('ls')", "unexpected character '.'", 16),
    ("epoch>1and epoch<3", "malformed number '1a'", 6),
    ("epoch > 1 && epoch < 3", "unexpected character '&' (use 'and')", 10),
    ("epoch > 1 || epoch < 3", "unexpected character '|' (use 'or')", 10),
    ("!epoch", "unexpected character '!' (use 'not' or '!=')", 0),
    ("epoch = 3", "unexpected character '=' (use '==' to compare)", 6),
    ("epoch == 1 epoch", "unexpected 'epoch'; expected 'and', 'or' or the end", 11),
    ("activation == 'relu", "unterminated ' quote", 14),
    ('activation == "relu', 'unterminated " quote', 14),
    ("`test_acc > 1", "unterminated ` quote", 0),
    ("`` > 1", "empty property name", 0),
    ("epoch > 1e", "malformed number '1e'", 8),
    ("epoch > 1.2.3", "malformed number '1.2.'", 8),
    ("epoch > 5x", "malformed number '5x'", 8),
    ("epoch > -", "expected a number after '-'", 9),
    ("epoch > -'a'", "expected a number, found ''a''", 9),
    ("1 < 2", "a comparison needs a property name", 0),
    ("epoch < test_acc", "compare 'epoch' with a value, not with another property", 8),
    ("0 < epoch > 3", "a chained comparison must use < and <=, or > and >=", 10),
    ("0 == epoch == 3", "a chained comparison must use < and <=, or > and >=", 11),
    ("epoch < 1 < 2", "a chained comparison reads: value < property < value", 0),
    ("0 < epoch < 1 < 2", "at most two comparisons can be chained", 14),
    ("'a' < epoch < 'b'", "a chained comparison needs numbers, not text", 4),
    ('activation < "relu"', "'<' cannot compare text; use == or !=", 11),
    ("epoch in 3",
     "expected '(' with a set of values or '[' with a range after 'in', found '3'", 9),
    ("epoch in [1, 2, 3]",
     "an interval [lo, hi] needs exactly two numbers; use (a, b, c) for a set", 9),
    ('activation in ["a", "b"]', "an interval needs numbers, not text", 15),
    ("epoch in (1 2)", "expected ')' to close the '(' at 9, found '2'", 12),
    ("3 in (1, 2)", "expected a comparison operator, found 'in'", 2),
])
def test_errors_quote_the_expression_and_point_at_the_problem(text, problem, position):
    with pytest.raises(WhereError) as info:
        parse_where(text)
    error = info.value
    assert (error.problem, error.position) == (problem, position)
    assert str(error) == f'--where "{text}": {problem} at position {position}'
    assert "\n" not in str(error)
    assert isinstance(error, ValueError)


def test_unknown_property_lists_known_columns_and_suggests_a_fix():
    with pytest.raises(WhereError) as info:
        parse_where("epoch > 1 and tst_acc > 0.5", COLUMNS)
    assert info.value.position == 14
    assert info.value.problem == (
        "unknown property 'tst_acc', did you mean 'test_acc'? "
        "(known: activation, epoch, lr, model_id, optim::lr, test_acc)")
    with pytest.raises(WhereError, match=r"unknown property 'zzz' \(known: epoch\)"):
        parse_where("0 < zzz", ["epoch"])
    assert parse_where("tst_acc > 0.5") == Compare("tst_acc", ">", 0.5)   # no check without columns


def test_the_brief_example_message():
    with pytest.raises(WhereError) as info:
        parse_where("test_acc >= ")
    assert str(info.value) == (
        "--where \"test_acc >= \": expected a value after '>=' at position 11")


def test_absurd_nesting_is_a_where_error_not_a_crash():
    with pytest.raises(WhereError, match="nests too deeply"):
        parse_where("(" * 5000 + "epoch > 1" + ")" * 5000)
    assert parse_where("not " * 50 + "epoch > 1").describe() == "not " * 50 + "epoch > 1"
