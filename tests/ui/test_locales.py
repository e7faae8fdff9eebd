"""Every text of the web app exists in English and Japanese (no browser needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

FRONTEND = Path(__file__).resolve().parents[2] / "frontend" / "src"


def keys(tree: dict, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in tree.items():
        if isinstance(value, dict):
            out |= keys(value, f"{prefix}{key}.")
        else:
            out.add(prefix + re.sub(r"_(one|other)$", "", key))
    return out


def parts(locale: str) -> dict[str, dict]:
    folder = FRONTEND / "locales" / locale
    files = sorted(folder.glob("*.json"))
    return {f.name: json.loads(f.read_text(encoding="utf-8")) for f in files}


def load(locale: str) -> dict:
    """One language's texts: its files merged as the app merges them (src/i18n.ts)."""
    merged: dict = {}
    for part in parts(locale).values():
        merged.update(part)
    return merged


def test_each_part_exists_in_both_languages_and_no_section_is_defined_twice():
    assert sorted(parts("en")) == sorted(parts("ja"))
    for locale in ("en", "ja"):
        sections = [key for part in parts(locale).values() for key in part]
        assert len(sections) == len(set(sections)), f"a section is in two files of {locale}"


def test_english_and_japanese_have_the_same_keys():
    en, ja = keys(load("en")), keys(load("ja"))
    assert sorted(en - ja) == [], "missing in ja"
    assert sorted(ja - en) == [], "missing in en"


def test_every_literal_key_used_in_the_code_exists():
    en = keys(load("en"))
    used: set[str] = set()
    for source in FRONTEND.rglob("*.tsx"):
        used |= set(re.findall(r'\bt\("([a-zA-Z]+(?:\.[a-zA-Z0-9_]+)+)"', source.read_text()))
    assert sorted(used - en) == []


def test_japanese_texts_are_translated():
    en, ja = load("en"), load("ja")

    def same(a: dict, b: dict, prefix: str = "") -> list[str]:
        out = []
        for key, value in a.items():
            if isinstance(value, dict):
                out += same(value, b.get(key, {}), f"{prefix}{key}.")
            elif value == b.get(key) and re.search(r"[a-z]{4,}", value):
                out.append(prefix + key)
        return out

    untranslated = [k for k in same(en, ja) if not k.startswith("languages.")]
    assert untranslated == []
