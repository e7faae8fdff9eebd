"""The offline summary: built from the conversation's structure, then ranked sentences.

What it can do: name the customer, quote what they asked for (their first request and the
sentences that carry the conversation's most repeated topic words), list what the flow
collected, what was done (transfers, the agent's replies, notes, the disposition) and
what is still open (a customer question or message no one answered yet), in the
conversation's language. What it cannot do: paraphrase, merge two messages into one
sentence, or understand what an agent's reply meant — it quotes; a language model
(``llm``) writes prose when the workspace connects one.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from madoguchi.services.assist import language as languages
from madoguchi.services.assist.tokens import terms

MAX_QUOTE = 160
_SENTENCE = re.compile(r"(?<=[.!?。！？\n])\s*")

LABELS = {
    "en": {
        "customer": "Customer",
        "wants": "Wants",
        "collected": "Collected",
        "done": "Done",
        "open": "Open",
        "transferred": "transferred",
        "replies": "agent replies: {n}",
        "bot": "automatic replies: {n}",
        "note": "note: {text}",
        "disposition": "disposition: {code}",
        "unanswered": "last customer message unanswered: {text}",
        "nothing_open": "nothing open",
        "sentiment": "Sentiment",
    },
    "ja": {
        "customer": "お客様",
        "wants": "ご用件",
        "collected": "フローで収集",
        "done": "対応",
        "open": "未解決",
        "transferred": "転送",
        "replies": "担当者の返信 {n} 件",
        "bot": "自動返信 {n} 件",
        "note": "メモ: {text}",
        "disposition": "処理結果: {code}",
        "unanswered": "未回答のお客様メッセージ: {text}",
        "nothing_open": "なし",
        "sentiment": "感情",
    },
}


@dataclass(slots=True)
class Turn:
    role: str  # customer | agent | bot
    text: str
    at: datetime | None = None


@dataclass(slots=True)
class Facts:
    """What the store knows of one conversation, in order."""

    contact_name: str | None = None
    turns: list[Turn] = field(default_factory=list)
    collected: dict[str, str] = field(default_factory=dict)
    transfers: int = 0
    notes: list[str] = field(default_factory=list)
    disposition: str | None = None
    status: str = "active"


@dataclass(slots=True)
class Summary:
    language: str
    customer: str
    wants: list[str]
    collected: dict[str, str]
    done: list[str]
    open: list[str]

    @property
    def text(self) -> str:
        labels = LABELS[self.language]
        lines = [f"{labels['customer']}: {self.customer}"]
        if self.wants:
            lines.append(f"{labels['wants']}: " + " / ".join(self.wants))
        if self.collected:
            pairs = ", ".join(f"{k}={v}" for k, v in self.collected.items())
            lines.append(f"{labels['collected']}: {pairs}")
        if self.done:
            lines.append(f"{labels['done']}: " + "; ".join(self.done))
        lines.append(f"{labels['open']}: " + ("; ".join(self.open) or labels["nothing_open"]))
        return "\n".join(lines)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text or "") if s and s.strip()]


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTE else text[: MAX_QUOTE - 1] + "…"


def rank(candidates: list[str], language: str, limit: int) -> list[str]:
    """The ``limit`` sentences that carry the most of the text's repeated topic words
    (term frequency over the whole set, a sentence's score its terms' mean), first ones
    winning ties; returned in their original order."""
    bags = [terms(s, language) for s in candidates]
    frequency = Counter(t for bag in bags for t in set(bag))
    scored = []
    for index, bag in enumerate(bags):
        if not bag:
            continue
        score = sum(frequency[t] for t in set(bag)) / (len(set(bag)) ** 0.5)
        scored.append((-score, index))
    chosen = sorted(index for _, index in sorted(scored)[:limit])
    return [candidates[i] for i in chosen]


def _is_open(text: str, language: str) -> bool:
    """A last customer message still needs an answer unless it only thanks or agrees
    ("Great, thanks!", "お願いします")."""
    from madoguchi.services.assist.sentiment import analyze

    if re.search(r"[?？]", text):
        return True
    return analyze(text, language).label != "positive" and len(terms(text, language)) >= 2


def summarize(facts: Facts, language: str | None = None) -> Summary:
    customer_texts = [t.text for t in facts.turns if t.role == "customer" and t.text]
    language = language or languages.of_texts(customer_texts)
    labels = LABELS[language]

    last_reply = max(
        (i for i, t in enumerate(facts.turns) if t.role in ("agent", "bot")), default=-1
    )
    # Before anyone replied, the whole request is what the customer wants (not "open").
    unanswered = [
        t.text
        for t in facts.turns[last_reply + 1 :]
        if last_reply >= 0 and t.role == "customer" and _is_open(t.text, language)
    ]
    open_items: list[str] = []
    if unanswered and facts.status not in ("closed", "abandoned"):
        open_items.append(labels["unanswered"].format(text=_quote(unanswered[-1])))

    # What the customer asked: not greetings, not bare answers to the flow's questions
    # (those are under "collected"), not what is listed as open.
    answers = {terms_key(v, language) for v in facts.collected.values()}
    customer_sentences = [
        s
        for text in customer_texts
        if text not in unanswered
        for s in sentences(text)
        if len(terms(s, language)) >= 2 and terms_key(s, language) not in answers
    ]
    wants: list[str] = []
    if customer_sentences:
        # The first request states the reason for contact; the best-ranked others add
        # what the conversation turned out to be about.
        wants.append(customer_sentences[0])
        others = customer_sentences[1:]
        wants += [s for s in rank(others, language, 2) if s not in wants]
    elif customer_texts:
        wants.append(customer_texts[0])
    wants = [_quote(s) for s in wants[:3]]

    done: list[str] = []
    if facts.transfers:
        done.append(f"{labels['transferred']} ×{facts.transfers}")
    bot = sum(1 for t in facts.turns if t.role == "bot")
    agent = sum(1 for t in facts.turns if t.role == "agent")
    if bot:
        done.append(labels["bot"].format(n=bot))
    if agent:
        done.append(labels["replies"].format(n=agent))
        agent_sentences = [s for t in facts.turns if t.role == "agent" for s in sentences(t.text)]
        done += [_quote(s) for s in rank(agent_sentences, language, 2)]
    done += [labels["note"].format(text=_quote(n)) for n in facts.notes[-2:]]
    if facts.disposition:
        done.append(labels["disposition"].format(code=facts.disposition))

    return Summary(
        language=language,
        customer=facts.contact_name or "—",
        wants=wants,
        collected={k: _quote(str(v)) for k, v in facts.collected.items()},
        done=done,
        open=open_items,
    )


def terms_key(text: str, language: str) -> tuple[str, ...]:
    """A sentence's terms without the filler around an answer ("5512です" → 5512)."""
    return tuple(t for t in terms(text, language) if t not in ("です", "だ", "is", "it"))
