"""Checking a customer's answer to a Collect Input, and turning it into the stored value.

People answer in many ways: "1", "1️⃣", "１" (full width), " Sales ", or by tapping a
button. Text is NFKC-normalised (full-width digits and letters become ASCII), keycap
emoji lose their keycap, and spaces at the ends are dropped, before any check.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

ANSWER_KINDS = ("none", "choices", "number", "regex", "email", "date")
DEFAULT_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%d.%m.%Y", "%Y年%m月%d日")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d+)?|\.\d+)$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


class _Choice(Protocol):
    id: str
    title: str
    aliases: list[str]


@dataclass(frozen=True, slots=True)
class Answer:
    ok: bool
    value: Any = None
    reason: str | None = None  # why it was refused (recorded on the step)


def normalize(text: str | None) -> str:
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\u20e3", "").replace("\ufe0f", "")  # 1️⃣ → 1
    return " ".join(text.split())


def check_pattern(pattern: str) -> str | None:
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"not a valid regular expression: {exc}"
    return None


def check_answer(
    kind: str,
    text: str | None,
    *,
    reply_id: str | None = None,
    choices: Sequence[_Choice] = (),
    pattern: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    date_formats: Sequence[str] = (),
) -> Answer:
    """Validate one answer. ``reply_id`` is the id of a tapped button or list row."""
    if kind == "choices":
        return _choice(text, reply_id, choices)
    cleaned = normalize(text)
    if not cleaned:
        return Answer(False, reason="empty answer")
    if kind == "none":
        return Answer(True, cleaned)
    if kind == "number":
        return _number(cleaned, minimum, maximum)
    if kind == "regex":
        if pattern and re.fullmatch(pattern, cleaned):
            return Answer(True, cleaned)
        return Answer(False, reason="does not match the expected format")
    if kind == "email":
        if _EMAIL.match(cleaned):
            local, _, domain = cleaned.rpartition("@")
            return Answer(True, f"{local}@{domain.lower()}")
        return Answer(False, reason="not an e-mail address")
    if kind == "date":
        for fmt in date_formats or DEFAULT_DATE_FORMATS:
            try:
                return Answer(True, datetime.strptime(cleaned, fmt).date().isoformat())
            except ValueError:
                continue
        return Answer(False, reason="not a date")
    raise ValueError(f"unknown answer kind {kind!r}")


def _choice(text: str | None, reply_id: str | None, choices: Sequence[_Choice]) -> Answer:
    if reply_id is not None:
        for choice in choices:
            if choice.id == reply_id:
                return Answer(True, choice.id)
    cleaned = normalize(text).casefold()
    if not cleaned:
        return Answer(False, reason="empty answer")
    for choice in choices:
        names = (choice.id, choice.title, *choice.aliases)
        if any(normalize(name).casefold() == cleaned for name in names):
            return Answer(True, choice.id)
    # "2" for the second choice, when no choice is itself called "2".
    if cleaned.isdigit() and 1 <= int(cleaned) <= len(choices):
        return Answer(True, choices[int(cleaned) - 1].id)
    return Answer(False, reason="not one of the choices")


def _number(cleaned: str, minimum: float | None, maximum: float | None) -> Answer:
    raw = cleaned.replace(" ", "")
    if _THOUSANDS.match(raw):
        raw = raw.replace(",", "")
    if not _NUMBER.match(raw):
        return Answer(False, reason="not a number")
    value: float | int = float(raw)
    if value.is_integer() and "." not in raw:
        value = int(value)
    if minimum is not None and value < minimum:
        return Answer(False, reason=f"less than {minimum:g}")
    if maximum is not None and value > maximum:
        return Answer(False, reason=f"more than {maximum:g}")
    return Answer(True, value)
