"""Customer satisfaction (CSAT): the question a queue sends when a conversation ends, and
how a customer's reply is read as a score from 1 (poor) to 5 (excellent).

WhatsApp allows at most three reply buttons, so the question comes in two shapes:

- ``list``: one list message with five rows, "5 Excellent" … "1 Very poor" (score = row);
- ``buttons``: three reply buttons, Good / Okay / Poor, scored 5 / 3 / 1 so they sit on
  the same 1–5 scale as the list and both can be averaged together.

Reply ids are ``csat:<score>``; a customer who types a digit 1–5 instead (half- or
full-width, "５" as well as "5") is read the same way. Texts default per language (en,
ja); a queue may replace any of them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

KINDS = ("buttons", "list")
LANGUAGES = ("en", "ja")
REPLY_PREFIX = "csat:"
# A reply is read as an answer if it comes within this long after the question.
ANSWER_HOURS = 24

DEFAULT_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "question": "How satisfied are you with the help you received today?",
        "button": "Rate us",
        "thanks": "",
        "5": "Excellent",
        "4": "Good",
        "3": "Okay",
        "2": "Poor",
        "1": "Very poor",
        "good": "Good",
        "okay": "Okay",
        "poor": "Poor",
    },
    "ja": {
        "question": "本日の対応にどの程度ご満足いただけましたか？",
        "button": "評価する",
        "thanks": "",
        "5": "とても満足",
        "4": "満足",
        "3": "普通",
        "2": "不満",
        "1": "とても不満",
        "good": "良い",
        "okay": "普通",
        "poor": "悪い",
    },
}

BUTTON_SCORES = (("good", 5), ("okay", 3), ("poor", 1))
_DIGIT = re.compile(r"^\s*([1-5])\s*[.)。]?\s*$")


@dataclass(frozen=True)
class CsatSettings:
    enabled: bool = False
    kind: str = "list"  # list | buttons
    language: str = "auto"  # auto (by the customer's country code) | en | ja
    texts: dict[str, dict[str, str]] | None = None  # {"ja": {"question": "…"}, …}

    @classmethod
    def of(cls, raw: dict | None) -> CsatSettings:
        if not raw:
            return cls()
        return cls(
            enabled=bool(raw.get("enabled")),
            kind=raw.get("kind", "list"),
            language=raw.get("language", "auto"),
            texts=raw.get("texts") or None,
        )

    def text(self, language: str, key: str) -> str:
        own = (self.texts or {}).get(language) or {}
        return own.get(key) or DEFAULT_TEXTS[language][key]


def language_for(settings: CsatSettings, wa_id: str | None) -> str:
    """The question's language: the queue's choice, or Japanese for +81 numbers on auto."""
    if settings.language in LANGUAGES:
        return settings.language
    return "ja" if (wa_id or "").startswith("81") else "en"


def question(settings: CsatSettings, language: str) -> dict[str, Any]:
    """The interactive message (Cloud API ``interactive`` object) that asks the question."""
    body = {"text": settings.text(language, "question")}
    if settings.kind == "buttons":
        return {
            "type": "button",
            "body": body,
            "action": {
                "buttons": [
                    {
                        "type": "reply",
                        "reply": {
                            "id": f"{REPLY_PREFIX}{score}",
                            "title": settings.text(language, key)[:20],
                        },
                    }
                    for key, score in BUTTON_SCORES
                ]
            },
        }
    return {
        "type": "list",
        "body": body,
        "action": {
            "button": settings.text(language, "button")[:20],
            "sections": [
                {
                    "rows": [
                        {
                            "id": f"{REPLY_PREFIX}{score}",
                            "title": f"{score} {settings.text(language, str(score))}"[:24],
                        }
                        for score in (5, 4, 3, 2, 1)
                    ]
                }
            ],
        },
    }


def reply_score(message_type: str, content: dict | None) -> int | None:
    """The score of an interactive reply to the question (``csat:N``), else None."""
    if message_type != "interactive" or not content:
        return None
    for kind in ("button_reply", "list_reply"):
        reply = content.get(kind)
        if isinstance(reply, dict):
            reply_id = str(reply.get("id") or "")
            if reply_id.startswith(REPLY_PREFIX):
                digits = reply_id[len(REPLY_PREFIX) :]
                if digits in {"1", "2", "3", "4", "5"}:
                    return int(digits)
    return None


def typed_score(message_type: str, text: str | None) -> int | None:
    """A typed digit 1–5 (half- or full-width, maybe with a trailing dot), else None."""
    if message_type != "text" or not text:
        return None
    match = _DIGIT.match(unicodedata.normalize("NFKC", text))
    return int(match.group(1)) if match else None
