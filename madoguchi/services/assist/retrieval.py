"""BM25 retrieval (bm25s) over short documents in English and Japanese.

Each document is tokenised in its own language (``tokens.terms``), its title counted
twice and its tags once more, so a question that names an article's subject finds it even
when the body words differ. A query is tokenised in its detected language; documents in
that language are preferred (another language's document is returned only when none
matches).
"""

from __future__ import annotations

from dataclasses import dataclass

import bm25s
import numpy as np

from madoguchi.services.assist import language as languages
from madoguchi.services.assist.tokens import terms


@dataclass(frozen=True, slots=True)
class Entry:
    key: int
    title: str
    body: str
    language: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Hit:
    key: int
    score: float


class Index:
    """An immutable index of ``entries``; build a new one when they change."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        self._bm25: bm25s.BM25 | None = None
        if entries:
            corpus = [
                terms(e.title, e.language) * 2
                + terms(" ".join(e.tags), e.language)
                + terms(e.body, e.language)
                or ["\u2205"]
                for e in entries
            ]
            self._bm25 = bm25s.BM25()
            self._bm25.index(corpus, show_progress=False)

    def search(self, query: str, k: int = 3, language: str | None = None) -> list[Hit]:
        if self._bm25 is None or not query.strip():
            return []
        language = language or languages.detect(query)
        tokens = terms(query, language)
        if not tokens:
            return []
        scores = np.asarray(self._bm25.get_scores(tokens), dtype=float)
        same = np.array([e.language == language for e in self.entries])
        if (scores[same] > 0).any():
            scores = np.where(same, scores, 0.0)
        order = np.argsort(-scores, kind="stable")[:k]
        return [
            Hit(self.entries[i].key, round(float(scores[i]), 4)) for i in order if scores[i] > 0
        ]
