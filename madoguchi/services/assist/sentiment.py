"""Sentiment of one customer message, and of a conversation over its latest messages.

English: VADER (``vaderSentiment``), a maintained lexicon and rule analyser made for short
social-media text, close to what customers type on WhatsApp; its lexicon gets a few words
of customer service (late, refund, overcharged) and one rule it lacks: an expected event
that did not happen ("my order still hasn't arrived", "it doesn't work") is a complaint.
VADER reads a message as one run of words, so its negation ("nothing", "no" flip the
next three words) would reach across a full stop: "Still nothing. Terrible, awful
service!" read as "not terrible". Each sentence and clause is scored on its own and their
raw sums added (what VADER itself adds up, before its normalisation), and "super" before a scored
word is an intensifier ("super slow"), not praise.

Japanese: the lexicon of ``ja_lexicon`` over SudachiPy's morphemes, with the rules the
language needs: negation follows the predicate (届きません, 問題ありません), intensifiers
precede it, and after a contrast (〜ですが、…) the second clause counts more.

Both give a score in −1…+1; ±``THRESHOLD`` splits positive, neutral and negative.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from madoguchi.services.assist import ja_lexicon
from madoguchi.services.assist import language as languages
from madoguchi.services.assist.tokens import Morpheme, morphemes

THRESHOLD = 0.15
LABELS = ("negative", "neutral", "positive")

# VADER's scale is −4…+4. Words of service complaints that social media rarely uses.
EN_LEXICON = {
    "late": -1.3,
    "delayed": -1.5,
    "delay": -1.2,
    "overcharged": -2.2,
    "refund": -0.9,
    "cancel": -0.8,
    "cancelled": -0.8,
    "canceled": -0.8,
    "broken": -1.9,
    "damaged": -1.9,
    "faulty": -1.8,
    "defective": -1.9,
    "missing": -1.3,
    "wrong": -1.6,
    "lost": -1.3,
    "unacceptable": -2.5,
    "ridiculous": -2.1,
    "waited": -0.8,
    "slow": -1.4,
    "slower": -1.4,
    "unhelpful": -2.0,
    "nightmare": -2.4,
    "waiting": -0.6,
    "charged": -0.4,
    "scam": -2.8,
    "rude": -2.0,
    "useless": -2.0,
    "annoyed": -2.0,
    "frustrating": -2.1,
    "frustrated": -2.1,
    "disappointed": -2.0,
    "worst": -3.1,
    # Politeness and requests ("please", "I'd like", "accept") are how customers ask,
    # not what they feel.
    "please": 0.0,
    "like": 0.0,
    "accept": 0.0,
    "holidays": 0.0,
    "holiday": 0.0,
    "resolved": 1.5,
    "fixed": 1.2,
    "quick": 1.2,
    "quickly": 1.0,
    "helpful": 2.0,
    "smooth": 1.2,
    "perfect": 2.7,
    "appreciate": 2.0,
    "thanks": 1.6,
    "thank": 1.5,
}
_EXPECTED_EN = (
    r"arriv\w*|receiv\w*|deliver\w*|work\w*|load\w*|connect\w*|respond\w*|answer\w*|"
    r"repl\w*|fix\w*|resolv\w*|show\w* up|come|came|turn\w* on|open\w*|start\w*|"
    r"happen\w*|got|get|log\w* in|sign\w* in|pay|charg\w*"
)
_NOT_HAPPENED = re.compile(
    r"\b(?:not|never|still|yet to|no longer|hasn't|haven't|hadn't|isn't|aren't|wasn't|"
    r"won't|doesn't|didn't|don't|can't|cannot|couldn't)\b(?:\s+\w+){0,3}?\s+"
    rf"(?:{_EXPECTED_EN})\b",
    re.IGNORECASE,
)
_STILL_WAITING = re.compile(
    r"\b(?:still waiting|where is my|where's my|again and again|third time|fed up|"
    r"second time|no one|nobody|charged twice|double charged|still nothing|nothing yet|"
    r"never again|no (?:reply|response|answer|update|news) (?:yet|still|at all)|"
    r"still no (?:reply|response|answer|update|news|sign))\b",
    re.IGNORECASE,
)
# Sentences end at . ! ? ; or a line break, clauses at a comma; VADER's negation stays
# inside one ("Nothing arrived, useless." is not "not useless").
_CLAUSES = re.compile(r"(?<=[.!?;,。！？、，])\s+|\n+")
# A clause opening with a contrast: what came before counts half (VADER's own "but" rule,
# which no longer sees both sides once they are scored apart).
_CONTRAST_EN = re.compile(r"^\W*(?:but|however|though|although|yet)\b", re.IGNORECASE)
_SUPER = re.compile(r"\bsuper\s+(?=(\w+))", re.IGNORECASE)
_ALPHA = 15.0  # VADER's normalisation constant: compound = sum / sqrt(sum² + alpha)

_vader_lock = threading.Lock()
_vader: SentimentIntensityAnalyzer | None = None


@dataclass(frozen=True, slots=True)
class Sentiment:
    label: str  # negative | neutral | positive
    score: float  # −1 … +1
    language: str


def label_of(score: float) -> str:
    if score >= THRESHOLD:
        return "positive"
    if score <= -THRESHOLD:
        return "negative"
    return "neutral"


def analyze(text: str, language: str | None = None) -> Sentiment:
    language = language or languages.detect(text)
    score = _japanese(text) if language == "ja" else _english(text)
    score = round(max(-1.0, min(1.0, score)), 3)
    return Sentiment(label_of(score), score, language)


def _analyzer() -> SentimentIntensityAnalyzer:
    global _vader
    with _vader_lock:
        if _vader is None:
            analyzer = SentimentIntensityAnalyzer()
            analyzer.lexicon.update(EN_LEXICON)
            _vader = analyzer
        return _vader


def _english(text: str) -> float:
    analyzer = _analyzer()
    # "super" + a word VADER scores: an intensifier like "very" (VADER's boosters are
    # module-wide, so the text is rewritten rather than the booster table changed).
    phrased = _SUPER.sub(
        lambda m: "very " if m.group(1).lower() in analyzer.lexicon else m.group(0), text or ""
    )
    raw = 0.0
    for clause in _CLAUSES.split(phrased):
        if clause.strip():
            if _CONTRAST_EN.match(clause):
                raw *= 0.5
            raw += _raw(analyzer.polarity_scores(clause)["compound"])
    score = raw / math.sqrt(raw * raw + _ALPHA)
    complaints = len(_NOT_HAPPENED.findall(text or "")) + len(_STILL_WAITING.findall(text or ""))
    if complaints:
        score = min(score, 0.0) - 0.35 * min(complaints, 2)
    return score


def _raw(compound: float) -> float:
    """VADER's sum of valences behind a compound score (the inverse of its normalising)."""
    compound = max(-0.9999, min(0.9999, compound))
    return compound * math.sqrt(_ALPHA / (1 - compound * compound))


class _JapaneseLexicon:
    """The lexicon in Sudachi's normalised forms: single words and phrases (tuples)."""

    def __init__(self) -> None:
        self.words: dict[tuple[str, ...], float] = {}
        for word, score in ja_lexicon.entries().items():
            key = tuple(m.lemma for m in morphemes(word))
            if key:
                self.words.setdefault(key, score)
        self.longest = max(len(k) for k in self.words)
        self.expected = {m.lemma for w in ja_lexicon.EXPECTED.split() for m in morphemes(w)}
        self.intensifiers = {}
        for word, factor in ja_lexicon.INTENSIFIERS.items():
            for m in morphemes(word)[:1]:
                self.intensifiers[m.lemma] = factor
                self.intensifiers[m.surface] = factor
        self.negators = {m.lemma for w in ja_lexicon.NEGATORS for m in morphemes(w)}
        self.negators |= ja_lexicon.NEGATORS


_ja: _JapaneseLexicon | None = None
_ja_lock = threading.Lock()


def _lexicon() -> _JapaneseLexicon:
    global _ja
    with _ja_lock:
        if _ja is None:
            _ja = _JapaneseLexicon()
        return _ja


def _is_negator(m: Morpheme, lex: _JapaneseLexicon) -> bool:
    return m.pos[0] in ("助動詞", "形容詞") and (m.lemma in lex.negators or m.base in lex.negators)


def _negated(ms: list[Morpheme], start: int, lex: _JapaneseLexicon) -> bool:
    """Whether the predicate ending before ``start`` is negated (within its clause)."""
    for m in ms[start : start + 5]:
        if _is_negator(m, lex):
            return True
        if m.pos[0] == "補助記号" or (m.surface in ja_lexicon.CONTRAST and m.pos[1] != "格助詞"):
            return False
        if m.pos[0] in ("名詞", "副詞") or (m.pos[0] == "動詞" and m.pos[1] == "一般"):
            return False
    return False


def _japanese(text: str) -> float:
    lex = _lexicon()
    ms = morphemes(text or "")
    total = 0.0
    clause_weight = 1.0
    boost = 1.0
    i = 0
    while i < len(ms):
        m = ms[i]
        if m.surface in ja_lexicon.CONTRAST and m.pos[:2] in (
            ("助詞", "接続助詞"),
            ("接続詞", "*"),
        ):
            total *= 0.5  # what came before the contrast counts less
            clause_weight = 1.0
            i += 1
            continue
        factor = lex.intensifiers.get(m.lemma) or lex.intensifiers.get(m.surface)
        if factor and m.pos[0] in ("副詞", "名詞", "形状詞", "接頭辞"):
            boost *= factor
            i += 1
            continue
        hit, span = None, 1
        for size in range(min(lex.longest, len(ms) - i), 0, -1):
            key = tuple(x.lemma for x in ms[i : i + size])
            if key in lex.words:
                hit, span = lex.words[key], size
                break
        if hit is None and m.lemma in lex.expected:
            hit = 0.15
        if hit is not None:
            if _negated(ms, i + span, lex):
                hit = -0.8 if m.lemma in lex.expected else (-0.6 * hit if hit > 0 else 0.4)
            total += hit * boost * clause_weight
            boost = 1.0
        i += span
    exclaims = min(len(re.findall(r"[!！]", text or "")), 3)
    total *= 1 + 0.1 * exclaims
    return total / math.sqrt(total * total + 2.0)


def trend(scores: list[float]) -> Sentiment:
    """The conversation's sentiment from its customer messages' scores, oldest first.

    The latest message weighs most (each older one half the next): a customer who was
    angry and is now thanked reads positive, one who turns angry reads negative at once.
    """
    if not scores:
        return Sentiment("neutral", 0.0, "en")
    recent = scores[-6:]
    weights = [0.5 ** (len(recent) - 1 - k) for k in range(len(recent))]
    value = sum(w * s for w, s in zip(weights, recent, strict=True)) / sum(weights)
    value = round(value, 3)
    return Sentiment(label_of(value), value, "")
