"""A small evaluator for GitHub Actions expressions (`${{ ... }}`), for workflow tests.

It covers the subset our workflows use: literals, context paths (`inputs.dry-run`,
`github.event.pull_request.number`), `!`, `==`, `!=`, `&&`, `||`, parentheses, and the
functions `contains` and `fromJSON`. Semantics follow GitHub's documentation: `&&` and `||`
return one of their operands; false, 0, -0, '', null and NaN are falsy; `==` compares strings
case-insensitively and otherwise coerces both sides to numbers; a result renders as text
with null as '' and booleans as 'true'/'false'. Anything outside the subset raises, so a
workflow that starts using more of the language fails its test instead of passing silently.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<op>==|!=|&&|\|\||!|\(|\)|,|\[|\]|\.)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)


class ExpressionError(ValueError):
    pass


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Path:
    parts: tuple[str, ...]


@dataclass(frozen=True)
class Not:
    operand: Any


@dataclass(frozen=True)
class Binary:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ExpressionError(f"cannot read {text[position:]!r} in {text!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ExpressionError(f"expected {value or 'more'} in {self.text!r}")
        self.index += 1
        return token

    def parse(self) -> Any:
        node = self.or_()
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()} in {self.text!r}")
        return node

    def or_(self) -> Any:
        node = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            node = Binary("||", node, self.and_())
        return node

    def and_(self) -> Any:
        node = self.equality()
        while self.peek() == ("op", "&&"):
            self.take()
            node = Binary("&&", node, self.equality())
        return node

    def equality(self) -> Any:
        node = self.unary()
        while self.peek() in (("op", "=="), ("op", "!=")):
            op = self.take()[1]
            node = Binary(op, node, self.unary())
        return node

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return Not(self.unary())
        return self.primary()

    def primary(self) -> Any:
        kind, value = self.take()
        if kind == "string":
            return Literal(value[1:-1].replace("''", "'"))
        if kind == "number":
            return Literal(float(value))
        if (kind, value) == ("op", "("):
            node = self.or_()
            self.take(")")
            return node
        if kind != "name":
            raise ExpressionError(f"unexpected {value!r} in {self.text!r}")
        if value in ("true", "false"):
            return Literal(value == "true")
        if value == "null":
            return Literal(None)
        if self.peek() == ("op", "("):
            self.take()
            args = []
            while self.peek() != ("op", ")"):
                args.append(self.or_())
                if self.peek() == ("op", ","):
                    self.take()
            self.take(")")
            return Call(value.lower(), tuple(args))
        parts = [value]
        while self.peek() in (("op", "."), ("op", "[")):
            if self.take()[1] == ".":
                parts.append(self.take()[1])
            else:
                key = self.primary()
                if not isinstance(key, Literal):
                    raise ExpressionError(f"only literal indexes are supported: {self.text!r}")
                parts.append(str(key.value))
                self.take("]")
        return Path(tuple(parts))


def parse(text: str) -> Any:
    return _Parser(text).parse()


def truthy(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, float | int) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return True


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip()) if value.strip() else 0.0
        except ValueError:
            return math.nan
    return math.nan


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()
    if type(left) is type(right) and not isinstance(left, int | float | bool | str | type(None)):
        return left is right
    return _number(left) == _number(right)


def evaluate(node: Any, contexts: Mapping[str, Any]) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Path):
        value: Any = contexts
        for part in node.parts:
            value = value.get(part) if isinstance(value, Mapping) else None
        return value
    if isinstance(node, Not):
        return not truthy(evaluate(node.operand, contexts))
    if isinstance(node, Binary):
        left = evaluate(node.left, contexts)
        if node.op == "&&":
            return evaluate(node.right, contexts) if truthy(left) else left
        if node.op == "||":
            return left if truthy(left) else evaluate(node.right, contexts)
        right = evaluate(node.right, contexts)
        return _equal(left, right) if node.op == "==" else not _equal(left, right)
    if isinstance(node, Call):
        args = [evaluate(a, contexts) for a in node.args]
        if node.name == "fromjson":
            return json.loads(args[0])
        if node.name == "contains":
            haystack, needle = args
            if isinstance(haystack, list):
                return any(_equal(item, needle) for item in haystack)
            return str(needle).lower() in str(haystack).lower()
        raise ExpressionError(f"function {node.name}() is not supported")
    raise ExpressionError(f"cannot evaluate {node!r}")


def render(value: Any) -> str:
    """A value as GitHub substitutes it into a string (env values, `with:` inputs)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def substitute(template: str, contexts: Mapping[str, Any]) -> str:
    """A YAML string with its `${{ }}` expressions evaluated and rendered."""
    return EXPRESSION.sub(lambda m: render(evaluate(parse(m.group(1)), contexts)), template)


def pseudo_ternaries(node: Any) -> list[Binary]:
    """Every `a && b || c` in an expression tree (b is what it yields when a holds)."""
    found: list[Binary] = []
    if isinstance(node, Binary):
        if node.op == "||" and isinstance(node.left, Binary) and node.left.op == "&&":
            found.append(node)
        found += pseudo_ternaries(node.left) + pseudo_ternaries(node.right)
    elif isinstance(node, Not):
        found += pseudo_ternaries(node.operand)
    elif isinstance(node, Call):
        for arg in node.args:
            found += pseudo_ternaries(arg)
    return found
