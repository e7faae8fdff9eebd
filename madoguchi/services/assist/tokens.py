"""Words of a text, as retrieval and sentiment need them.

English: lower-cased words, stop words dropped, Snowball-stemmed (PyStemmer), so
"refunds", "refunded" and "refund" meet. Japanese has no spaces: SudachiPy (a
morphological analyser whose dictionary ships as the ``SudachiDict-core`` package, so
nothing is downloaded at run time) splits it into morphemes and gives each its normalised
form (届きません → 届く, ください and 下さい alike); particles, auxiliaries and symbols are
dropped for retrieval.

Sudachi's tokenizer is not safe to share between threads, so each thread gets its own.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import Stemmer
from sudachipy import Dictionary, SplitMode

from madoguchi.services.assist import language as languages

_local = threading.local()
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Short, function-only English words that only add noise to retrieval.
EN_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "doing",
        "have",
        "has",
        "had",
        "having",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "he",
        "she",
        "it",
        "its",
        "they",
        "them",
        "their",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "what",
        "which",
        "who",
        "whom",
        "how",
        "when",
        "where",
        "why",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "not",
        "no",
        "nor",
        "so",
        "than",
        "too",
        "very",
        "just",
        "also",
        "into",
        "about",
        "over",
        "again",
        "out",
        "up",
        "down",
        "off",
        "only",
        "own",
        "same",
        "some",
        "such",
        "any",
        "all",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "s",
        "t",
        "don",
        "now",
        "please",
        "hi",
        "hello",
        "thanks",
        "thank",
    ]
)
# Parts of speech that carry no topic (Sudachi's first POS level).
JA_FUNCTION_POS = frozenset({"助詞", "助動詞", "補助記号", "空白", "記号"})


@dataclass(frozen=True, slots=True)
class Morpheme:
    surface: str
    lemma: str  # Sudachi's normalised form
    base: str  # dictionary form
    pos: tuple[str, ...]


def _sudachi():
    tokenizer = getattr(_local, "sudachi", None)
    if tokenizer is None:
        tokenizer = Dictionary(dict="core").tokenizer(mode=SplitMode.C)
        _local.sudachi = tokenizer
    return tokenizer


def _stemmer() -> Stemmer.Stemmer:
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = Stemmer.Stemmer("english")
        _local.stemmer = stemmer
    return stemmer


def morphemes(text: str) -> list[Morpheme]:
    """Sudachi's analysis of a Japanese text (mode C: compounds kept whole)."""
    if not text:
        return []
    # Sudachi refuses inputs above ~49 KB; a customer message is far below.
    return [
        Morpheme(m.surface(), m.normalized_form(), m.dictionary_form(), tuple(m.part_of_speech()))
        for m in _sudachi().tokenize(text[:12000])
    ]


def english_words(text: str) -> list[str]:
    return _WORD.findall((text or "").lower())


def terms(text: str, language: str | None = None) -> list[str]:
    """The retrieval terms of ``text`` (its language detected when not given).

    A Japanese text's Latin words (product names, "Wi-Fi") are stemmed like English ones.
    """
    language = language or languages.detect(text)
    if language == "ja":
        found: list[str] = []
        for m in morphemes(text):
            if m.pos[0] in JA_FUNCTION_POS or not m.surface.strip():
                continue
            lemma = m.lemma.lower()
            latin = _WORD.findall(lemma)
            if latin and "".join(latin) == re.sub(r"[^a-z0-9']", "", lemma):
                found += _stemmer().stemWords([w for w in latin if w not in EN_STOP])
            else:
                found.append(lemma)
        return found
    words = [w for w in english_words(text) if w not in EN_STOP]
    return _stemmer().stemWords(words)
