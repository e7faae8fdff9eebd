"""The knowledge base: articles an admin keeps, every save a new version.

Reads and writes are scoped to one workspace. Saving an article whose title, body,
language and tags are unchanged is not a new version (an import run twice changes
nothing).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.services.assist.documents import Document, DocumentError, parse
from madoguchi.store.models import KnowledgeArticle, KnowledgeArticleVersion


class KnowledgeError(Exception):
    def __init__(self, status: int, field: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message


async def get(session: AsyncSession, workspace_id: int, article_id: int) -> KnowledgeArticle:
    row = await session.scalar(
        select(KnowledgeArticle).where(
            KnowledgeArticle.id == article_id, KnowledgeArticle.workspace_id == workspace_id
        )
    )
    if row is None:
        raise KnowledgeError(404, None, f"article {article_id} not found")
    return row


async def _slug_owner(session: AsyncSession, workspace_id: int, slug: str) -> int | None:
    return await session.scalar(
        select(KnowledgeArticle.id).where(
            KnowledgeArticle.workspace_id == workspace_id, KnowledgeArticle.slug == slug
        )
    )


def _same(row: KnowledgeArticle, doc: Document) -> bool:
    return (row.title, row.body, row.language, list(row.tags or []), row.slug) == (
        doc.title,
        doc.body,
        doc.language,
        doc.tags,
        doc.slug,
    )


def _version_row(row: KnowledgeArticle, author_id: int | None) -> KnowledgeArticleVersion:
    return KnowledgeArticleVersion(
        workspace_id=row.workspace_id,
        article_id=row.id,
        version=row.version,
        title=row.title,
        body=row.body,
        language=row.language,
        tags=list(row.tags or []),
        author_id=author_id,
    )


async def create(
    session: AsyncSession, workspace_id: int, doc: Document, author_id: int | None
) -> KnowledgeArticle:
    if await _slug_owner(session, workspace_id, doc.slug) is not None:
        raise KnowledgeError(409, "slug", f"an article named {doc.slug!r} exists already")
    row = KnowledgeArticle(
        workspace_id=workspace_id,
        slug=doc.slug,
        title=doc.title,
        body=doc.body,
        language=doc.language,
        tags=doc.tags,
        version=1,
    )
    session.add(row)
    await session.flush()
    session.add(_version_row(row, author_id))
    await session.flush()
    return row


async def update(
    session: AsyncSession, row: KnowledgeArticle, doc: Document, author_id: int | None
) -> bool:
    """Save ``doc`` over ``row`` as a new version; False when nothing changed."""
    if _same(row, doc):
        return False
    owner = await _slug_owner(session, row.workspace_id, doc.slug)
    if owner is not None and owner != row.id:
        raise KnowledgeError(409, "slug", f"an article named {doc.slug!r} exists already")
    row.slug, row.title, row.body = doc.slug, doc.title, doc.body
    row.language, row.tags = doc.language, doc.tags
    row.version += 1
    session.add(_version_row(row, author_id))
    await session.flush()
    return True


async def versions(session: AsyncSession, row: KnowledgeArticle) -> list[KnowledgeArticleVersion]:
    return list(
        (
            await session.scalars(
                select(KnowledgeArticleVersion)
                .where(KnowledgeArticleVersion.article_id == row.id)
                .order_by(KnowledgeArticleVersion.version.desc())
            )
        ).all()
    )


async def import_files(
    session: AsyncSession,
    workspace_id: int,
    files: list[tuple[str, str]],
    author_id: int | None,
) -> dict:
    """Create or update one article per Markdown file (matched by slug). A file that is
    wrong is reported and skipped; the others are saved."""
    report: dict = {"created": [], "updated": [], "unchanged": [], "errors": []}
    seen: set[str] = set()
    for filename, text in files:
        try:
            doc = parse(filename, text)
        except DocumentError as exc:
            report["errors"].append({"file": filename, "field": exc.field, "message": exc.message})
            continue
        if doc.slug in seen:
            report["errors"].append(
                {"file": filename, "field": "slug", "message": f"{doc.slug!r} twice in import"}
            )
            continue
        seen.add(doc.slug)
        owner = await _slug_owner(session, workspace_id, doc.slug)
        if owner is None:
            await create(session, workspace_id, doc, author_id)
            report["created"].append(doc.slug)
        elif await update(session, await get(session, workspace_id, owner), doc, author_id):
            report["updated"].append(doc.slug)
        else:
            report["unchanged"].append(doc.slug)
    return report


async def signature(session: AsyncSession, workspace_id: int) -> tuple:
    """Changes whenever any article of the workspace is added, saved or deleted."""
    row = (
        await session.execute(
            select(
                func.count(KnowledgeArticle.id),
                func.max(KnowledgeArticle.updated_at),
                func.sum(KnowledgeArticle.version),
                func.max(KnowledgeArticle.id),
            ).where(KnowledgeArticle.workspace_id == workspace_id)
        )
    ).one()
    return tuple(row)
