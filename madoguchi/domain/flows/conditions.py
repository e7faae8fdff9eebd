"""Condition rules: ``variable op value``, evaluated in order; the first that holds wins.

Comparisons of text ignore case unless the rule says otherwise, and compare the
normalised forms (full-width "１" equals "1"). ``equals`` compares numerically when both
sides are numbers ("1.0" equals "1"). Numeric operators are false when either side is not
a number, never an error: a customer's odd answer must not break the flow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from madoguchi.domain.flows import templating
from madoguchi.domain.flows.answers import normalize

OPERATORS = (
    "equals",
    "not_equals",
    "one_of",
    "contains",
    "regex",
    "lt",
    "lte",
    "gt",
    "gte",
    "is_empty",
    "not_empty",
)
UNARY = frozenset({"is_empty", "not_empty"})
NUMERIC = frozenset({"lt", "lte", "gt", "gte"})
LIST_OPERATORS = frozenset({"one_of"})


class _Rule(Protocol):
    variable: str
    op: str
    value: Any
    exit: str
    case_sensitive: bool


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(normalize(str(value)).replace(",", ""))
    except ValueError:
        return None


def _text(value: Any, case_sensitive: bool) -> str:
    out = normalize(templating.as_text(value))
    return out if case_sensitive else out.casefold()


def _same(left: Any, right: Any, case_sensitive: bool) -> bool:
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return a == b
    return _text(left, case_sensitive) == _text(right, case_sensitive)


def holds(rule: _Rule, variables: Mapping[str, Any]) -> bool:
    left = variables.get(rule.variable)
    op = rule.op
    if op == "is_empty":
        return left is None or left == "" or left == [] or left == {}
    if op == "not_empty":
        return not (left is None or left == "" or left == [] or left == {})
    right = rule.value
    if isinstance(right, str) and op != "regex":
        right = templating.render(right, variables)
    elif isinstance(right, list):
        right = [templating.render(v, variables) for v in right]
    if op == "equals":
        return _same(left, right, rule.case_sensitive)
    if op == "not_equals":
        return not _same(left, right, rule.case_sensitive)
    if op == "one_of":
        return any(_same(left, v, rule.case_sensitive) for v in right or [])
    if op == "contains":
        return _text(right, rule.case_sensitive) in _text(left, rule.case_sensitive)
    if op == "regex":
        flags = 0 if rule.case_sensitive else re.IGNORECASE
        try:
            return re.search(str(right), templating.as_text(left), flags) is not None
        except re.error:
            return False
    a, b = _number(left), _number(right)
    if a is None or b is None:
        return False
    return {"lt": a < b, "lte": a <= b, "gt": a > b, "gte": a >= b}[op]


def choose_exit(rules: Sequence[_Rule], variables: Mapping[str, Any]) -> tuple[str, int | None]:
    """(exit, index of the rule that held) — ``("else", None)`` when none did."""
    for i, rule in enumerate(rules):
        if holds(rule, variables):
            return rule.exit, i
    return "else", None
