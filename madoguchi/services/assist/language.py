"""Which of the product's two languages a text is in (en or ja).

The desktop and the summaries speak the conversation's language; a message with any kana
or kanji is Japanese (customers mix Latin product names into Japanese, never the other
way round), anything else English.
"""

from __future__ import annotations

import re

LANGUAGES = ("en", "ja")
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")


def detect(text: str) -> str:
    return "ja" if _JAPANESE.search(text or "") else "en"


def of_texts(texts: list[str], default: str = "en") -> str:
    """The language most of ``texts`` are in (ties and no text: ``default``)."""
    counts = {"en": 0, "ja": 0}
    for text in texts:
        if text and text.strip():
            counts[detect(text)] += 1
    if counts["ja"] == counts["en"]:
        return default
    return "ja" if counts["ja"] > counts["en"] else "en"
