"""A knowledge article as a Markdown file: optional YAML front matter, then the body.

    ---
    title: Return policy
    language: en          # en | ja; detected from the text when left out
    tags: [returns, shipping]
    slug: return-policy   # the file's name when left out
    ---
    You can return an item within 30 days …

Without ``title``, the first ``# heading`` is the title (and leaves the body), else the
file's name. A folder of such files is what ``madoguchi knowledge import`` and the admin
page's import read.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import yaml

from madoguchi.services.assist import language as languages

TITLE_MAX = 200
BODY_MAX = 20_000
TAG_MAX = 64
TAGS_MAX = 20
SLUG_MAX = 100
_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.S)
_HEADING = re.compile(r"\A#\s+(.+?)\s*(?:\n|\Z)")


class DocumentError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(slots=True)
class Document:
    title: str
    body: str
    language: str
    tags: list[str] = field(default_factory=list)
    slug: str = ""


def slugify(text: str) -> str:
    """A URL-safe name: ASCII words joined by ``-``; Japanese kept as is (it is Unicode
    in the database and only needs to be unique within the workspace)."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = re.sub(r"\.(md|markdown|txt)$", "", text)
    text = re.sub(r"[\s_/\\]+", "-", text)
    text = re.sub(r"[^\w\-]", "", text)
    return re.sub(r"-{2,}", "-", text).strip("-")[:SLUG_MAX]


def clean_tags(tags) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = [t for t in re.split(r"[,\s]+", tags) if t]
    if not isinstance(tags, list) or not all(isinstance(t, str | int) for t in tags):
        raise DocumentError("tags", "tags must be a list of words")
    cleaned: list[str] = []
    for tag in tags:
        tag = str(tag).strip().lower()
        if not tag:
            continue
        if len(tag) > TAG_MAX:
            raise DocumentError("tags", f"a tag is at most {TAG_MAX} characters: {tag[:20]}…")
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > TAGS_MAX:
        raise DocumentError("tags", f"at most {TAGS_MAX} tags")
    return cleaned


def checked(title: str, body: str, language: str | None, tags, slug: str | None = None) -> Document:
    title = (title or "").strip()
    body = (body or "").strip()
    if not title:
        raise DocumentError("title", "the title is empty")
    if len(title) > TITLE_MAX:
        raise DocumentError("title", f"the title is at most {TITLE_MAX} characters")
    if not body:
        raise DocumentError("body", "the article has no text")
    if len(body) > BODY_MAX:
        raise DocumentError("body", f"an article is at most {BODY_MAX} characters")
    if language not in (None, "", *languages.LANGUAGES):
        raise DocumentError("language", "language must be en or ja")
    language = language or languages.detect(title + "\n" + body)
    slug = slugify(slug or title)
    if not slug:
        raise DocumentError("slug", "the slug is empty: give letters or digits")
    return Document(title, body, language, clean_tags(tags), slug)


def parse(filename: str, text: str) -> Document:
    """One Markdown file → a checked document (``DocumentError`` says what is wrong)."""
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    meta: dict = {}
    match = _FRONT.match(text)
    if match:
        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError as exc:
            raise DocumentError("front matter", f"the front matter is not YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise DocumentError("front matter", "the front matter must be `key: value` lines")
        meta = loaded or {}
        text = text[match.end() :]
    body = text.strip()
    title = meta.get("title")
    if not title:
        heading = _HEADING.match(body)
        if heading:
            title = heading.group(1)
            body = body[heading.end() :].strip()
        else:
            title = re.sub(r"\.(md|markdown|txt)$", "", filename.rsplit("/", 1)[-1])
    slug = meta.get("slug") or filename.rsplit("/", 1)[-1]
    return checked(str(title), body, meta.get("language"), meta.get("tags"), str(slug))
