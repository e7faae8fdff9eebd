"""The offline analysers on their own: language, tokens, sentiment rules, summaries."""

from __future__ import annotations

from madoguchi.services.assist import language
from madoguchi.services.assist.sentiment import analyze, trend
from madoguchi.services.assist.summary import Facts, Turn, summarize
from madoguchi.services.assist.tokens import terms


def test_language_and_terms():
    assert language.detect("Where is my order?") == "en"
    assert language.detect("iPhoneの画面が割れました") == "ja"
    assert language.detect("") == "en"
    assert terms("Refunds were refunded", "en") == ["refund", "refund"]
    # Japanese: normalised forms, particles and auxiliaries gone, Latin words stemmed.
    assert terms("商品が届きませんでした", "ja") == ["商品", "届く"]
    assert "wi" in terms("Wi-Fiに繋がりません", "ja")


def test_sentiment_rules_both_languages():
    cases = {
        "My order still hasn't arrived": "negative",
        "The app doesn't work at all": "negative",
        "Thank you, that fixed it!": "positive",
        "What are your opening hours?": "neutral",
        "注文した商品がまだ届きません": "negative",
        "問題ありません": "positive",  # a negated negative word
        "悪くないです": "positive",
        "対応は丁寧でしたが、まだ直りません": "negative",  # after a contrast
        "営業時間を教えてください": "neutral",
        "本当にありがとうございました！": "positive",
    }
    for text, label in cases.items():
        assert analyze(text).label == label, (text, analyze(text))


def test_sentiment_of_odd_inputs_is_neutral_not_an_error():
    for text in ("", "   ", "😀" * 5, "x" * 100_000, "。。。", "12345"):
        result = analyze(text)
        assert -1.0 <= result.score <= 1.0
    assert analyze("").label == "neutral"
    assert analyze("あ" * 100_000).language == "ja"  # long input is cut, not refused


def test_trend_weighs_the_latest_message_most():
    assert trend([]).label == "neutral"
    assert trend([-0.8, -0.6, 0.9]).label == "positive"
    assert trend([0.9, 0.8, -0.9]).label == "negative"


def test_summary_sections_and_what_is_left_open():
    facts = Facts(
        contact_name="Rin",
        turns=[
            Turn("customer", "Hello."),
            Turn("customer", "I want to change the delivery address of order 42."),
            Turn("bot", "Please tell us your order number."),
            Turn("customer", "It is 42. The new address is in Osaka."),
            Turn("agent", "I changed the delivery address of order 42 to Osaka."),
        ],
        collected={"order": "42"},
        transfers=1,
        notes=["customer moved"],
        disposition="solved",
        status="closed",
    )
    summary = summarize(facts)
    assert summary.customer == "Rin"
    assert summary.wants[0] == "I want to change the delivery address of order 42."
    assert summary.collected == {"order": "42"}
    assert "transferred ×1" in summary.done and "disposition: solved" in summary.done
    assert summary.open == []
    assert "Open: nothing open" in summary.text

    # A question after the agent's reply is what is still open; thanks are not.
    facts.status = "active"
    facts.turns.append(Turn("customer", "Thanks! And when will it arrive?"))
    assert summarize(facts).open == [
        "last customer message unanswered: Thanks! And when will it arrive?"
    ]
    facts.turns[-1] = Turn("customer", "Great, thank you!")
    assert summarize(facts).open == []

    empty = summarize(Facts())
    assert empty.wants == [] and empty.customer == "—" and empty.language == "en"


def test_negative_words_and_intensifiers_read_as_a_customer_means_them():
    """Known phrases a person reads as plainly negative (or positive): negation does not
    reach across a sentence ("Still nothing. Terrible…" is not "not terrible"), complaints
    said without a sentiment word count, and an intensifier makes a word stronger, never
    turns it around ("super slow")."""
    cases = {
        "Still nothing. Terrible, awful service!": "negative",
        "Nothing works. Terrible!": "negative",
        "No reply. Awful.": "negative",
        "Not good. Terrible.": "negative",
        "Nothing arrived, useless.": "negative",
        "Still nothing.": "negative",
        "Never again.": "negative",
        "So slow": "negative",
        "Super slow delivery": "negative",
        "Extremely disappointed": "negative",
        "Nothing to worry about, all good": "positive",
        "Not bad at all": "positive",
        "No problem, thanks!": "positive",
        "Super, thanks!": "positive",
        "全然ダメ": "negative",
        "ダメです": "negative",
        "もう無理": "negative",
        "使い物にならない": "negative",
        "マジで最悪": "negative",
        "超遅い": "negative",
        "まだ何も来ない。最悪！": "negative",
        "問題ありません": "positive",
        "超助かりました！": "positive",
    }
    wrong = {t: analyze(t) for t, label in cases.items() if analyze(t).label != label}
    assert not wrong
    # An intensifier moves the score further the same way.
    for plain, strong in (
        ("Terrible service", "Really terrible service"),
        ("Slow delivery", "Super slow delivery"),
        ("遅い", "超遅い"),
        ("最悪", "マジで最悪"),
        ("遅いです", "極めて遅いです"),
    ):
        assert analyze(strong).score < analyze(plain).score < 0, (plain, strong)
    assert analyze("超助かりました").score > analyze("助かりました").score > 0
