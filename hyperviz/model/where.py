"""Parse a ``--where`` filter expression into a selection predicate.

Grammar (weakest binding first; keywords are case-insensitive)::

    expression := xor_expr ("or" xor_expr)*
    xor_expr   := and_expr ("xor" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" expression ")" | "everything" | "nothing" | condition
    condition  := property op value | value op property | value op property op value
                | property ["not"] "in" ("(" values ")" | "[" number "," number "]")

``op`` is one of ``< <= > >= == !=``. A chained ``lo <= x <= hi`` becomes a ``Range``;
``x in [lo, hi]`` is the same closed interval, while ``x in ("relu", "gelu")`` is a set.
Values are numbers (``3``, ``-0.5``, ``1e-3``, ``inf``) or text in single or double quotes.
A property name is a plain identifier (``test_acc``, ``optim::lr``) or any text in backticks.

The text is tokenised and parsed by hand; nothing is ever evaluated as Python.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from hyperviz.model.predicates import (
    PLAIN_NAME,
    RESERVED_WORDS,
    And,
    Compare,
    Everything,
    InSet,
    Not,
    Nothing,
    Or,
    Predicate,
    Range,
    SelectionError,
    Value,
    Xor,
)


class WhereError(ValueError):
    """A ``--where`` expression that cannot be parsed; ``position`` is a 0-based index."""

    def __init__(self, text: str, problem: str, position: int) -> None:
        super().__init__(f'--where "{text}": {problem} at position {position}')
        self.text, self.problem, self.position = text, problem, position


# --- tokens -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Token:
    kind: str           # number, string, name, kw, op, eof, or the punctuation: ( ) [ ] { } , - +
    text: str           # the source text (keywords lower-cased)
    value: Value | None
    pos: int            # 0-based start index in the expression
    end: int            # index just past the token


_TOKEN_RE = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>""" + PLAIN_NAME + r""")
  | (?P<backticked>`[^`]*`)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op><=|>=|==|!=|<|>)
  | (?P<punct>[()\[\]{},+-])
""", re.VERBOSE)
_HINTS = {"&": " (use 'and')", "|": " (use 'or')", "^": " (use 'xor')", "~": " (use 'not')",
          "!": " (use 'not' or '!=')", "=": " (use '==' to compare)"}
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)


def _tokenize(text: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            char = text[pos]
            if char in "\"'`":
                raise WhereError(text, f"unterminated {char} quote", pos)
            raise WhereError(text, f"unexpected character {char!r}{_HINTS.get(char, '')}", pos)
        kind, source, end = match.lastgroup, match.group(), match.end()
        if kind == "number":
            if end < len(text) and (text[end].isalnum() or text[end] in "_."):
                raise WhereError(text, f"malformed number '{source}{text[end]}'", pos)
            number = float(source) if any(c in source for c in ".eE") else int(source)
            tokens.append(_Token("number", source, number, pos, end))
        elif kind == "name" and source.lower() in RESERVED_WORDS:
            word = source.lower()
            tokens.append(_Token("kw", word, float("inf") if word == "inf" else None, pos, end))
        elif kind in ("name", "backticked"):
            name = source.strip("`")
            if not name:
                raise WhereError(text, "empty property name", pos)
            tokens.append(_Token("name", source, name, pos, end))
        elif kind == "string":
            tokens.append(_Token("string", source, _ESCAPE_RE.sub(r"\1", source[1:-1]), pos, end))
        elif kind != "space":
            tokens.append(_Token(kind if kind == "op" else source, source, None, pos, end))
        pos = end
    tokens.append(_Token("eof", "", None, len(text.rstrip()), len(text.rstrip())))
    return tokens


# --- parser -------------------------------------------------------------------------------------

_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_CLOSING = {"(": ")", "[": "]", "{": "}"}


class _Parser:
    """Recursive descent over the token list; each method consumes one grammar rule."""

    def __init__(self, text: str, columns: Iterable[str] | None) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.columns = None if columns is None else sorted(set(columns))

    def error(self, problem: str, pos: int) -> WhereError:
        return WhereError(self.text, problem, pos)

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return token

    def at(self, kind: str, text: str | None = None, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind == kind and (text is None or token.text == text)

    def expected(self, what: str) -> WhereError:
        """Error for a missing ``what`` at the current token, naming the token before it."""
        token = self.peek()
        if token.kind == "eof":
            before = self.tokens[self.i - 1] if self.i > 0 else None
            after = f" after '{before.text}'" if before else ""
            return self.error(f"expected {what}{after}", token.pos)
        return self.error(f"expected {what}, found '{token.text}'", token.pos)

    def parse(self) -> Predicate:
        if self.at("eof"):
            raise self.error("empty expression", 0)
        try:
            predicate = self.binary("or")
        except RecursionError:
            raise self.error("expression nests too deeply", self.peek().pos) from None
        if not self.at("eof"):
            token = self.peek()
            if token.kind == ")":
                raise self.error("unmatched ')'", token.pos)
            raise self.error(f"unexpected '{token.text}'; expected 'and', 'or' or the end",
                             token.pos)
        return predicate

    def binary(self, word: str) -> Predicate:
        """One precedence level: or -> xor -> and -> not."""
        lower, combinator = {"or": ("xor", Or), "xor": ("and", Xor), "and": (None, And)}[word]
        operand = (lambda: self.binary(lower)) if lower else self.negation
        parts = [operand()]
        while self.at("kw", word):
            self.take()
            parts.append(operand())
        return parts[0] if len(parts) == 1 else combinator(*parts)

    def negation(self) -> Predicate:
        if self.at("kw", "not"):
            self.take()
            return Not(self.negation())
        if self.at("("):
            opening = self.take()
            inner = self.binary("or")
            self.close(opening)
            return inner
        if self.at("kw", "everything") or self.at("kw", "nothing"):
            return Everything() if self.take().text == "everything" else Nothing()
        if self.at("name") or self.at_value():
            return self.condition()
        raise self.expected("a condition")

    def close(self, opening: _Token) -> None:
        closing = _CLOSING[opening.text]
        if self.at(closing):
            self.take()
        elif self.at("eof"):
            raise self.error(f"unclosed '{opening.text}'", opening.pos)
        else:
            raise self.expected(f"'{closing}' to close the '{opening.text}' at {opening.pos}")

    def at_value(self) -> bool:
        return (self.at("number") or self.at("string") or self.at("kw", "inf")
                or self.at("-") or self.at("+"))

    def value(self) -> tuple[Value, _Token]:
        """A literal, with its first token (for error positions)."""
        first = self.peek()
        if self.at("-") or self.at("+"):
            self.take()
            if not (self.at("number") or self.at("kw", "inf")):
                raise self.expected("a number")
            number = self.take().value
            return (-number if first.text == "-" else number), first
        if self.at("number") or self.at("string") or self.at("kw", "inf"):
            return self.take().value, first
        raise self.expected("a value")

    def property_name(self) -> tuple[str, _Token]:
        token = self.take()
        name = str(token.value)
        if self.columns is not None and name not in self.columns:
            close = difflib.get_close_matches(name, self.columns, n=1)
            hint = f", did you mean '{close[0]}'?" if close else ""
            known = ", ".join(self.columns) or "none"
            raise self.error(f"unknown property '{name}'{hint} (known: {known})", token.pos)
        return name, token

    def operand(self) -> tuple[str, Value | str, _Token]:
        if self.at("name"):
            return ("name", *self.property_name())
        return ("value", *self.value())

    def condition(self) -> Predicate:
        first = self.operand()
        if first[0] == "name" and (self.at("kw", "in") or
                                   (self.at("kw", "not") and self.at("kw", "in", ahead=1))):
            return self.membership(str(first[1]), first[2])
        operands, ops = [first], []
        while self.at("op"):
            ops.append(self.take())
            if self.at("eof"):
                raise self.expected("a value")
            operands.append(self.operand())
        if not ops:
            raise self.expected("a comparison operator")
        if len(ops) > 2:
            raise self.error("at most two comparisons can be chained", ops[2].pos)
        kinds = [kind for kind, _, _ in operands]
        try:
            if len(ops) == 1:
                return self.comparison(operands, ops[0])
            if kinds != ["value", "name", "value"]:
                raise self.error("a chained comparison reads: value < property < value",
                                 operands[0][2].pos)
            return self.chain(operands, ops)
        except SelectionError as exc:
            raise self.error(str(exc), ops[0].pos) from None

    def comparison(self, operands: list, op: _Token) -> Predicate:
        (kind_a, a, token_a), (kind_b, b, token_b) = operands
        if kind_a == "name" and kind_b == "value":
            return Compare(str(a), op.text, b)
        if kind_a == "value" and kind_b == "name":
            return Compare(str(b), _FLIPPED[op.text], a)
        if kind_a == "name":
            raise self.error(f"compare '{a}' with a value, not with another property", token_b.pos)
        raise self.error("a comparison needs a property name", token_a.pos)

    def chain(self, operands: list, ops: list[_Token]) -> Predicate:
        (_, left, _), (_, name, _), (_, right, _) = operands
        first, second = ops[0].text, ops[1].text
        if {first, second} <= {"<", "<="}:
            lo, hi, lo_op, hi_op = left, right, _FLIPPED[first], second
        elif {first, second} <= {">", ">="}:
            lo, hi, lo_op, hi_op = right, left, second, _FLIPPED[first]
        else:
            raise self.error("a chained comparison must use < and <=, or > and >=", ops[1].pos)
        if isinstance(lo, str) or isinstance(hi, str):
            raise self.error("a chained comparison needs numbers, not text", ops[0].pos)
        if lo_op == ">=" and hi_op == "<=":
            return Range(str(name), lo, hi)
        return And(Compare(str(name), lo_op, lo), Compare(str(name), hi_op, hi))

    def membership(self, name: str, name_token: _Token) -> Predicate:
        negated = self.at("kw", "not")
        if negated:
            self.take()
        self.take()                                                  # 'in'
        if not (self.at("(") or self.at("[") or self.at("{")):
            raise self.expected("'(' with a set of values or '[' with a range after 'in'")
        opening = self.take()
        values: list[tuple[Value, _Token]] = []
        while not self.at(_CLOSING[opening.text]) and not self.at("eof"):
            values.append(self.value())
            if not self.at(","):
                break
            self.take()
        self.close(opening)
        try:
            if opening.text == "[":
                predicate = self.interval(name, values, opening)
            else:
                predicate = InSet(name, [value for value, _ in values])
        except SelectionError as exc:
            raise self.error(str(exc), opening.pos) from None
        return Not(predicate) if negated else predicate

    def interval(self, name: str, values: list, opening: _Token) -> Predicate:
        if len(values) != 2:
            raise self.error("an interval [lo, hi] needs exactly two numbers; "
                             "use (a, b, c) for a set", opening.pos)
        for bound, token in values:
            if isinstance(bound, str):
                raise self.error("an interval needs numbers, not text", token.pos)
        (lo, _), (hi, _) = values
        return Range(name, lo, hi)


def parse_where(text: str, columns: Iterable[str] | None = None) -> Predicate:
    """Parse a filter expression such as ``test_acc >= 0.85 and epoch >= 20`` into a predicate.

    ``columns``, when given, are the known property names; any other name is an error.
    Raises ``WhereError`` (a ValueError) with a one-line message quoting the expression and
    naming the 0-based position of the problem.
    """
    return _Parser(text, columns).parse()
