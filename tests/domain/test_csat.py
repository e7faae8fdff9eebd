"""The CSAT question's shapes and how replies are read as scores (no I/O)."""

from __future__ import annotations

import pytest

from madoguchi.domain import csat
from madoguchi.whatsapp.outbound import validate_outbound


@pytest.mark.parametrize("kind", csat.KINDS)
@pytest.mark.parametrize("language", csat.LANGUAGES)
def test_every_question_is_a_valid_interactive_message(kind, language):
    settings = csat.CsatSettings(enabled=True, kind=kind)
    message = csat.question(settings, language)
    validate_outbound({"type": "interactive", "interactive": message})
    ids = (
        [b["reply"]["id"] for b in message["action"]["buttons"]]
        if kind == "buttons"
        else [r["id"] for r in message["action"]["sections"][0]["rows"]]
    )
    assert ids == (
        ["csat:5", "csat:3", "csat:1"]
        if kind == "buttons"
        else [f"csat:{s}" for s in (5, 4, 3, 2, 1)]
    )


def test_texts_per_language_with_defaults():
    settings = csat.CsatSettings.of({"enabled": True, "texts": {"ja": {"question": "いかが？"}}})
    assert csat.question(settings, "ja")["body"]["text"] == "いかが？"
    assert csat.question(settings, "en")["body"]["text"] == csat.DEFAULT_TEXTS["en"]["question"]
    assert csat.language_for(settings, "819012345678") == "ja"
    assert csat.language_for(settings, "15550001") == "en"
    assert csat.language_for(csat.CsatSettings(language="ja"), "15550001") == "ja"


@pytest.mark.parametrize(
    ("content", "score"),
    [
        ({"type": "list_reply", "list_reply": {"id": "csat:4", "title": "4 Good"}}, 4),
        ({"type": "button_reply", "button_reply": {"id": "csat:1", "title": "Poor"}}, 1),
        ({"type": "button_reply", "button_reply": {"id": "sales", "title": "Sales"}}, None),
        ({"type": "list_reply", "list_reply": {"id": "csat:9", "title": "?"}}, None),
    ],
)
def test_a_tapped_reply_is_read_by_its_id(content, score):
    assert csat.reply_score("interactive", content) == score


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("5", 5),
        (" 3 ", 3),
        ("４", 4),
        ("2.", 2),
        ("1。", 1),
        ("6", None),
        ("15", None),
        ("ok", None),
    ],
)
def test_a_typed_digit_is_tolerated(text, score):
    assert csat.typed_score("text", text) == score
