"""``== assist``: the offline assist's quality on the labelled set in bench/data/assist.

Sentiment accuracy and macro-F1 per language (150 English, 150 Japanese customer
messages, three classes; baseline: always "neutral"), knowledge retrieval recall@3 (30
articles, 100 questions; baseline: the same BM25 with bm25s's own default tokenizer, no
stemming and no Japanese morphology), summary ROUGE-1 F1 against reference summaries (20
conversations; baseline: the first two messages, "lead-2"), and the time per message or
query. Everything runs in this process, offline.
"""

from __future__ import annotations

import time
from pathlib import Path

import bm25s
import yaml

from madoguchi.services.assist.retrieval import Entry, Index
from madoguchi.services.assist.sentiment import LABELS, analyze
from madoguchi.services.assist.summary import Facts, Turn, summarize
from madoguchi.services.assist.tokens import terms

DATA = Path(__file__).parent / "data" / "assist"
TARGET_ACCURACY = 0.80
TARGET_RECALL = 0.85


def _rows(name: str) -> list[list[str]]:
    lines = (DATA / name).read_text("utf-8").splitlines()
    return [line.split("\t", 1) for line in lines if line.strip() and not line.startswith("#")]


def macro_f1(gold: list[str], predicted: list[str]) -> float:
    scores = []
    for label in LABELS:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p == label)
        fp = sum(1 for g, p in zip(gold, predicted, strict=True) if p == label and g != label)
        fn = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0)
    return sum(scores) / len(scores)


def _met(value: float, target: float) -> str:
    return "met" if value >= target else "NOT met"


def sentiment_lines() -> list[str]:
    lines = []
    for language in ("en", "ja"):
        rows = _rows(f"sentiment_{language}.tsv")
        gold = [label for label, _ in rows]
        analyze(rows[0][1], language)  # load the analysers before timing
        started = time.perf_counter()
        predicted = [analyze(text, language).label for _, text in rows]
        per_message = (time.perf_counter() - started) / len(rows) * 1000
        accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(rows)
        baseline = sum(g == "neutral" for g in gold) / len(rows)
        lines.append(
            f"sentiment {language}: accuracy {accuracy:.3f}, macro-F1 "
            f"{macro_f1(gold, predicted):.3f} on {len(rows)} messages (target ≥ "
            f"{TARGET_ACCURACY:.2f}: {_met(accuracy, TARGET_ACCURACY)}); baseline always-neutral "
            f"{baseline:.3f}; {per_message:.2f} ms per message"
        )
    return lines


def _articles() -> list[dict]:
    return yaml.safe_load((DATA / "knowledge.yaml").read_text("utf-8"))


def retrieval_lines() -> list[str]:
    articles = _articles()
    keys = {a["slug"]: i for i, a in enumerate(articles)}
    questions = [(keys[slug], q) for slug, q in _rows("questions.tsv")]
    entries = [
        Entry(i, a["title"], a["body"], a["language"], tuple(a.get("tags") or ()))
        for i, a in enumerate(articles)
    ]
    index = Index(entries)
    started = time.perf_counter()
    ours = [[h.key for h in index.search(q, 3)] for _, q in questions]
    per_query = (time.perf_counter() - started) / len(questions) * 1000

    corpus = [
        f"{a['title']} {a['title']} {' '.join(a.get('tags') or [])} {a['body']}" for a in articles
    ]
    plain = bm25s.BM25()
    plain.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False)
    tokens = bm25s.tokenize([q for _, q in questions], stopwords="en", show_progress=False)
    docs, _ = plain.retrieve(tokens, k=3, show_progress=False)
    baseline = [list(map(int, row)) for row in docs]

    def recall(found: list[list[int]], language: str | None = None) -> float:
        pairs = [
            (gold, hits)
            for (gold, _), hits in zip(questions, found, strict=True)
            if language is None or articles[gold]["language"] == language
        ]
        return sum(gold in hits for gold, hits in pairs) / len(pairs)

    r_ours, r_base = recall(ours), recall(baseline)
    return [
        f"retrieval recall@3: {r_ours:.3f} (en {recall(ours, 'en'):.3f}, ja "
        f"{recall(ours, 'ja'):.3f}) on {len(questions)} questions over {len(articles)} "
        f"articles (target ≥ {TARGET_RECALL:.2f}: {_met(r_ours, TARGET_RECALL)}); baseline "
        f"bm25s default tokenizer {r_base:.3f} (en {recall(baseline, 'en'):.3f}, ja "
        f"{recall(baseline, 'ja'):.3f}) = {r_ours / r_base if r_base else float('inf'):.2f}×"
        f"; {per_query:.2f} ms per query",
    ]


def rouge1(candidate: str, reference: str, language: str) -> float:
    cand, ref = terms(candidate, language), terms(reference, language)
    if not cand or not ref:
        return 0.0
    remaining = list(ref)
    overlap = 0
    for token in cand:
        if token in remaining:
            remaining.remove(token)
            overlap += 1
    precision, recall = overlap / len(cand), overlap / len(ref)
    return 2 * precision * recall / (precision + recall) if overlap else 0.0


def summary_lines() -> list[str]:
    conversations = yaml.safe_load((DATA / "conversations.yaml").read_text("utf-8"))
    ours: dict[str, list[float]] = {"en": [], "ja": []}
    lead: dict[str, list[float]] = {"en": [], "ja": []}
    started = time.perf_counter()
    for conv in conversations:
        facts = Facts(
            contact_name=conv["contact"],
            turns=[Turn(role, text) for role, text in conv["turns"]],
            collected={str(k): str(v) for k, v in (conv.get("collected") or {}).items()},
        )
        summary = summarize(facts)
        language = conv["language"]
        ours[language].append(rouge1(summary.text, conv["reference"], language))
        first_two = " ".join(text for _, text in conv["turns"][:2])
        lead[language].append(rouge1(first_two, conv["reference"], language))
    per_conversation = (time.perf_counter() - started) / len(conversations) * 1000

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    return [
        f"summary ROUGE-1 F1 {language}: {mean(ours[language]):.3f} vs baseline lead-2 "
        f"{mean(lead[language]):.3f} on {len(ours[language])} conversations"
        for language in ("en", "ja")
    ] + [f"summary time: {per_conversation:.2f} ms per conversation"]


def run(cleanup=None) -> list[str]:
    return sentiment_lines() + retrieval_lines() + summary_lines()


if __name__ == "__main__":
    for line in run():
        print(line)
