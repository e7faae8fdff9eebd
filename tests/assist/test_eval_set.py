"""The labelled evaluation set of ``make bench`` is complete and consistent (its figures
are printed by the benchmark, never asserted here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

from madoguchi.services.assist.sentiment import LABELS

# bench/ is a folder of scripts beside the package, not installed: load the module by path.
_spec = importlib.util.spec_from_file_location(
    "bench_assist", Path(__file__).parents[2] / "bench" / "assist.py"
)
assist = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(assist)


def test_the_set_has_what_the_issue_asks_for():
    for language in ("en", "ja"):
        rows = assist._rows(f"sentiment_{language}.tsv")
        assert len(rows) >= 150
        assert {label for label, _ in rows} == set(LABELS)
        assert len({text for _, text in rows}) == len(rows)  # no duplicates
    articles = assist._articles()
    slugs = {a["slug"] for a in articles}
    assert len(articles) >= 30 and len(slugs) == len(articles)
    questions = assist._rows("questions.tsv")
    assert len(questions) >= 100 and {slug for slug, _ in questions} <= slugs
    conversations = yaml.safe_load((assist.DATA / "conversations.yaml").read_text("utf-8"))
    assert len(conversations) >= 20
    assert all(c["reference"] and c["turns"] for c in conversations)


def test_metrics_on_known_cases():
    three = ["positive", "negative", "neutral"]
    assert assist.macro_f1(three, three) == 1.0
    # A class never predicted nor present scores 0 and pulls the mean down.
    assert assist.macro_f1(three[:2], three[:2]) == 2 / 3
    assert assist.macro_f1(["positive"], ["negative"]) == 0.0
    assert assist.rouge1("refund the order", "refund the order", "en") == 1.0
    assert assist.rouge1("", "refund", "en") == 0.0
