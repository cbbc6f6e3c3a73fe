"""Business-rule expressions over item fields and properties (`filter=`, `boost=`, promotions),
parsed by a small recursive-descent grammar into a hashable tree. Never evaluated as code.

    expression := or
    or         := and ("or" and)*
    and        := unary ("and" unary)*
    unary      := "not" unary | "(" expression ")" | test
    test       := FIELD OP value | FIELD ["not"] "in" "(" value ("," value)* ")"
    OP         := = | == | != | < | <= | > | >=
    value      := "text" | 'text' | number | true | false

`category = "shoes"` matches the category and every path below it. Keywords are case-insensitive.
Bounds: at most MAX_LENGTH characters, MAX_DEPTH nested levels, MAX_TESTS tests, MAX_VALUES
values in one list. A bad expression is a ParameterError naming the parameter and the position
(1-based character).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NoReturn, Union

from recsys.errors import ParameterError

MAX_LENGTH = 2000
MAX_DEPTH = 16
MAX_TESTS = 64
MAX_VALUES = 200
MAX_BOOSTS = 8
MAX_FACTOR = 100.0
Value = str | float | bool
TOKEN = re.compile(
    r"""(?P<space>\s+)|(?P<text>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
    r"""|(?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<op>==|!=|<=|>=|=|<|>)"""
    r"""|(?P<punct>[(),:;])|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"""
)
KEYWORDS = {"and", "or", "not", "in", "true", "false"}
ESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str  # = != < <= > >= in
    values: tuple[Value, ...]
    position: int  # of the field, 1-based
    negated: bool = False  # not in


@dataclass(frozen=True)
class Logic:
    op: str  # and | or | not
    parts: tuple[Node, ...]


Node = Union[Comparison, Logic]  # noqa: UP007 (a forward reference, for the dataclasses above)


@dataclass(frozen=True)
class Expression:
    """A parsed expression; equal and hashed by its text (the key of its compiled mask)."""

    text: str
    tree: Node = field(compare=False, repr=False)


@dataclass(frozen=True)
class Boost:
    expression: Expression
    factor: float


@dataclass(frozen=True)
class Boosts:
    text: str
    boosts: tuple[Boost, ...] = field(compare=False, repr=False)


@dataclass(frozen=True)
class Token:
    kind: str  # text number op punct word end
    value: str
    position: int


def parse_filter(text: str, parameter: str = "filter") -> Expression:
    """The expression `text`; ParameterError naming `parameter` and the position."""
    tokens = tokenize(text, parameter)
    parser = Parser(tokens, parameter)
    tree = parser.expression(0)
    parser.expect_end()
    return Expression(text, tree)


def parse_boosts(text: str, parameter: str = "boost") -> Boosts:
    """`expression: factor` pairs separated by ';', e.g. `brand = "acme": 1.5; price < 20: 1.2`."""
    tokens = tokenize(text, parameter)
    parser = Parser(tokens, parameter)
    boosts = []
    while True:
        start = parser.peek().position
        tree = parser.expression(0)
        parser.take("punct", ":")
        factor_token = parser.take("number")
        factor = float(factor_token.value)
        if not 0 <= factor <= MAX_FACTOR:
            parser.fail(factor_token, f"a factor is from 0 to {MAX_FACTOR:g}")
        source = text[start - 1 : factor_token.position - 1].rstrip().rstrip(":").strip()
        boosts.append(Boost(Expression(source, tree), factor))
        if len(boosts) > MAX_BOOSTS:
            parser.fail(factor_token, f"at most {MAX_BOOSTS} boosts")
        if parser.peek().kind == "end":
            return Boosts(text, tuple(boosts))
        parser.take("punct", ";")


def tokenize(text: str, parameter: str) -> list[Token]:
    if not text.strip():
        raise ParameterError(parameter, "is empty")
    if len(text) > MAX_LENGTH:
        raise ParameterError(parameter, f"is {len(text)} characters long; at most {MAX_LENGTH}")
    tokens, at = [], 0
    while at < len(text):
        match = TOKEN.match(text, at)
        if match is None:
            raise ParameterError(parameter, f"position {at + 1}: unexpected {text[at]!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), at + 1))
        at = match.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


class Parser:
    def __init__(self, tokens: list[Token], parameter: str) -> None:
        self.tokens, self.parameter, self.at, self.tests = tokens, parameter, 0, 0

    def peek(self) -> Token:
        return self.tokens[self.at]

    def fail(self, token: Token, message: str) -> NoReturn:
        where = "the end" if token.kind == "end" else f"{token.value!r}"
        raise ParameterError(self.parameter, f"position {token.position} ({where}): {message}")

    def take(self, kind: str, value: str | None = None) -> Token:
        token = self.peek()
        if token.kind != kind or (value is not None and token.value.lower() != value):
            self.fail(token, f"expected {value or kind}")
        self.at += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token.kind == "word" and token.value.lower() == word:
            self.at += 1
            return True
        return False

    def expect_end(self) -> None:
        if self.peek().kind != "end":
            self.fail(self.peek(), "expected and, or, or the end")

    def expression(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            self.fail(self.peek(), f"nested more than {MAX_DEPTH} levels deep")
        parts = [self.conjunction(depth)]
        while self.keyword("or"):
            parts.append(self.conjunction(depth))
        return parts[0] if len(parts) == 1 else Logic("or", tuple(parts))

    def conjunction(self, depth: int) -> Node:
        parts = [self.unary(depth)]
        while self.keyword("and"):
            parts.append(self.unary(depth))
        return parts[0] if len(parts) == 1 else Logic("and", tuple(parts))

    def unary(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            self.fail(self.peek(), f"nested more than {MAX_DEPTH} levels deep")
        if self.keyword("not"):
            return Logic("not", (self.unary(depth + 1),))
        token = self.peek()
        if token.kind == "punct" and token.value == "(":
            self.at += 1
            inner = self.expression(depth + 1)
            self.take("punct", ")")
            return inner
        return self.test()

    def test(self) -> Comparison:
        field = self.peek()
        if field.kind != "word" or field.value.lower() in KEYWORDS:
            self.fail(field, "expected a field name")
        self.at += 1
        self.tests += 1
        if self.tests > MAX_TESTS:
            self.fail(field, f"more than {MAX_TESTS} tests")
        negated = self.keyword("not")
        if negated or self.keyword("in"):
            if negated:
                self.take("word", "in")
            return Comparison(field.value, "in", self.values(), field.position, negated)
        op = self.take("op").value
        return Comparison(field.value, "=" if op == "==" else op, (self.value(),), field.position)

    def values(self) -> tuple[Value, ...]:
        self.take("punct", "(")
        found = [self.value()]
        while self.peek().value == ",":
            self.at += 1
            found.append(self.value())
            if len(found) > MAX_VALUES:
                self.fail(self.peek(), f"more than {MAX_VALUES} values in one list")
        self.take("punct", ")")
        return tuple(found)

    def value(self) -> Value:
        token = self.peek()
        self.at += 1
        if token.kind == "text":
            return ESCAPE.sub(r"\1", token.value[1:-1])
        if token.kind == "number":
            return float(token.value)
        if token.kind == "word" and token.value.lower() in ("true", "false"):
            return token.value.lower() == "true"
        self.at -= 1
        self.fail(token, 'expected a value ("text", a number, true or false)')
