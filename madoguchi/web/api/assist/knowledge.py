"""``/api/v1/knowledge``: the knowledge base. Everyone of the workspace reads and searches
it; admins write it, one article at a time or a folder of Markdown files at once."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Query, Response, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import select

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.assist import documents, knowledge, suggestions
from madoguchi.services.assist.documents import DocumentError
from madoguchi.services.assist.knowledge import KnowledgeError
from madoguchi.services.audit.record import Target, record
from madoguchi.store.models import KnowledgeArticle
from madoguchi.web.deps import admin_only, any_role, get_runtime

router = APIRouter(prefix="/api/v1", tags=["knowledge"])

IMPORT_FILES_MAX = 500
IMPORT_FILE_BYTES = 200_000


class ArticleIn(BaseModel):
    title: str = Field(min_length=1, max_length=documents.TITLE_MAX)
    body: str = Field(min_length=1, max_length=documents.BODY_MAX, description="Markdown")
    language: str | None = Field(None, description="en | ja; detected when left out")
    tags: list[str] = Field(default_factory=list, max_length=documents.TAGS_MAX)
    slug: str | None = Field(None, max_length=documents.SLUG_MAX, description="from the title")


class ArticleOut(BaseModel):
    id: int
    slug: str
    title: str
    body: str
    language: str
    tags: list[str]
    version: int
    created_at: datetime
    updated_at: datetime
    score: float | None = None


class VersionOut(BaseModel):
    version: int
    title: str
    body: str
    language: str
    tags: list[str]
    author_id: int | None
    created_at: datetime


class ImportOut(BaseModel):
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    errors: list[dict]


def _out(row: KnowledgeArticle, score: float | None = None) -> ArticleOut:
    return ArticleOut(
        id=row.id,
        slug=row.slug,
        title=row.title,
        body=row.body,
        language=row.language,
        tags=list(row.tags or []),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        score=score,
    )


def _audited(row: KnowledgeArticle) -> dict:
    """An article as the audit log keeps it (a long body is kept as an excerpt)."""
    return {
        "slug": row.slug,
        "title": row.title,
        "language": row.language,
        "tags": list(row.tags or []),
        "body": row.body,
        "version": row.version,
    }


def _target(row: KnowledgeArticle) -> Target:
    return Target("knowledge_article", row.id, row.title)


def _http(exc: KnowledgeError | DocumentError) -> HTTPException:
    if isinstance(exc, DocumentError):
        return HTTPException(422, {"field": exc.field, "message": exc.message})
    if exc.field is None:
        return HTTPException(exc.status, exc.message)
    return HTTPException(exc.status, {"field": exc.field, "message": exc.message})


async def _article(session, principal: Principal, article_id: int) -> KnowledgeArticle:
    """The workspace's article, or 404."""
    try:
        return await knowledge.get(session, principal.workspace_id, article_id)
    except KnowledgeError as exc:
        raise _http(exc) from exc


def _document(spec: ArticleIn) -> documents.Document:
    try:
        return documents.checked(spec.title, spec.body, spec.language, spec.tags, spec.slug)
    except DocumentError as exc:
        raise _http(exc) from exc


@router.get("/knowledge", response_model=list[ArticleOut])
async def list_articles(
    q: str | None = Query(None, max_length=500, description="search (BM25) instead of list"),
    language: str | None = Query(None, pattern="^(en|ja)$"),
    tag: str | None = Query(None, max_length=64),
    limit: int = Query(50, ge=1, le=200),
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    async with runtime.db.read() as session:
        scores: dict[int, float] = {}
        query = select(KnowledgeArticle).where(
            KnowledgeArticle.workspace_id == principal.workspace_id
        )
        if q and q.strip():
            hits = await suggestions.search_articles(session, principal.workspace_id, q, limit)
            scores = {h.key: h.score for h in hits}
            query = query.where(KnowledgeArticle.id.in_(list(scores)))
        if language:
            query = query.where(KnowledgeArticle.language == language)
        rows = (await session.scalars(query.order_by(KnowledgeArticle.title))).all()
        if tag:
            rows = [r for r in rows if tag.lower() in (r.tags or [])]
        if scores:
            rows = sorted(rows, key=lambda r: -scores[r.id])
        return [_out(r, scores.get(r.id)) for r in rows[:limit]]


@router.post("/knowledge", status_code=201, response_model=ArticleOut)
async def create_article(
    spec: ArticleIn,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    doc = _document(spec)
    async with runtime.db.write() as session:
        try:
            row = await knowledge.create(session, principal.workspace_id, doc, principal.user_id)
        except KnowledgeError as exc:
            raise _http(exc) from exc
        await session.refresh(row)
        await record(session, principal, "knowledge.create", _target(row), None, _audited(row))
        return _out(row)


@router.post("/knowledge/import", response_model=ImportOut)
async def import_articles(
    files: list[UploadFile],
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    """Markdown files (a folder's ``*.md``), each created or updated by its slug."""
    if len(files) > IMPORT_FILES_MAX:
        raise HTTPException(
            422, {"field": "files", "message": f"at most {IMPORT_FILES_MAX} files at once"}
        )
    texts: list[tuple[str, str]] = []
    refused: list[dict] = []
    for upload in files:
        name = upload.filename or "untitled.md"
        data = await upload.read(IMPORT_FILE_BYTES + 1)
        if len(data) > IMPORT_FILE_BYTES:
            refused.append({"file": name, "field": "file", "message": "larger than 200 KB"})
            continue
        try:
            texts.append((name, data.decode("utf-8")))
        except UnicodeDecodeError:
            refused.append({"file": name, "field": "file", "message": "not UTF-8 text"})
    async with runtime.db.write() as session:
        report = await knowledge.import_files(
            session, principal.workspace_id, texts, principal.user_id
        )
        await record(
            session,
            principal,
            "knowledge.import",
            Target("knowledge_article", None, f"{len(files)} file(s)"),
            None,
            {k: report[k] for k in ("created", "updated", "unchanged")}
            | {"errors": len(report["errors"]) + len(refused)},
        )
    report["errors"] = refused + report["errors"]
    return ImportOut(**report)


@router.get("/knowledge/{article_id}", response_model=ArticleOut)
async def get_article(
    article_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    async with runtime.db.read() as session:
        return _out(await _article(session, principal, article_id))


@router.put("/knowledge/{article_id}", response_model=ArticleOut)
async def update_article(
    article_id: int,
    spec: ArticleIn,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    doc = _document(spec)
    async with runtime.db.write() as session:
        row = await _article(session, principal, article_id)
        before = _audited(row)
        try:
            await knowledge.update(session, row, doc, principal.user_id)
        except KnowledgeError as exc:
            raise _http(exc) from exc
        await session.flush()
        await session.refresh(row)
        await record(session, principal, "knowledge.update", _target(row), before, _audited(row))
        return _out(row)


@router.get("/knowledge/{article_id}/versions", response_model=list[VersionOut])
async def article_versions(
    article_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    async with runtime.db.read() as session:
        row = await _article(session, principal, article_id)
        return [
            VersionOut(
                version=v.version,
                title=v.title,
                body=v.body,
                language=v.language,
                tags=list(v.tags or []),
                author_id=v.author_id,
                created_at=v.created_at,
            )
            for v in await knowledge.versions(session, row)
        ]


@router.delete("/knowledge/{article_id}", status_code=204)
async def delete_article(
    article_id: int,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    async with runtime.db.write() as session:
        row = await _article(session, principal, article_id)
        await record(session, principal, "knowledge.delete", _target(row), _audited(row), None)
        await session.delete(row)
    return Response(status_code=204)
