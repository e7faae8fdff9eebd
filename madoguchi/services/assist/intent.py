"""Intent by examples, offline: the Classify widget's classifier.

Each intent is given a few example messages; a text gets the intent of the example it
matches best (BM25 over the examples, the same tokenisers as the knowledge base, so a
Japanese message meets Japanese examples by their lemmas). A text that shares no word
with any example is no intent (the widget's ``other`` exit). Indexes are cached by the
examples, so a flow's widget builds its index once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from madoguchi.services.assist.language import detect
from madoguchi.services.assist.retrieval import Entry, Index


@lru_cache(maxsize=128)
def _index(examples: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[Index, tuple[str, ...]]:
    names: list[str] = []
    entries: list[Entry] = []
    for name, texts in examples:
        for text in texts:
            entries.append(Entry(len(names), "", text, detect(text)))
            names.append(name)
    return Index(entries), tuple(names)


def classify(text: str, intents: Mapping[str, Sequence[str]]) -> str | None:
    frozen = tuple((name, tuple(examples)) for name, examples in intents.items())
    index, names = _index(frozen)
    hits = index.search(text, k=1)
    return names[hits[0].key] if hits else None
