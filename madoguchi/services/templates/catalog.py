"""Message templates: submit, sync and delete them at Meta, keep their status current,
and check a template send before it is queued.

Meta is the source of truth for a template's status; this module keeps a local copy
(``message_templates``) so agents can pick and preview templates without a round trip,
and so a send can be refused locally when the template is not approved, or is marketing
to a customer who opted out. The copy is kept current three ways: the answer to our own
create, a sync (``GET /{waba_id}/message_templates``), and the status / quality /
category webhooks, which may arrive before the create's answer (they are applied to the
row found by Meta's id, else by name and language).

Templates are per WhatsApp Business Account, tokens per phone number: the account's
first number's token is used for its templates.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.events import (
    AccountEventReceived,
)
from madoguchi.domain.templates import (
    MissingValues,
    TemplateInvalid,
    TemplateProblem,
    TemplateShape,
    resolve_values,
    template_shape,
    validate_template,
)
from madoguchi.security.secrets import SecretBox
from madoguchi.store.db import Database
from madoguchi.store.models import (
    Base,
    Contact,
    Conversation,
    MessageTemplate,
    PhoneNumber,
    WhatsAppAccount,
)
from madoguchi.whatsapp.errors import GraphTransportError, MetaApiError
from madoguchi.whatsapp.graph import GraphClient
from madoguchi.whatsapp.outbound import TemplateMessage, validate_outbound

log = logging.getLogger(__name__)

LIST_FIELDS = (
    "id,name,language,status,category,components,parameter_format,quality_score,rejected_reason"
)
# Statuses a template can be sent in (FLAGGED: quality warned, not paused yet).
SENDABLE = frozenset({"APPROVED", "FLAGGED"})
TEMPLATE_FIELDS = frozenset(
    {
        "message_template_status_update",
        "message_template_quality_update",
        "template_category_update",
    }
)
# Meta's "already exists in this language" and "template not found" sub-codes.
_EXISTS_SUBCODE = 2388024
_NOT_FOUND_SUBCODE = 2593002


class TemplateServiceError(Exception):
    """A refusal with a stable ``code``, an HTTP ``status`` and, for invalid templates,
    every ``problems`` entry naming its field."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 422,
        problems: list[TemplateProblem] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.problems = problems or []

    def detail(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.problems:
            out["field"] = self.problems[0].field
            out["problems"] = [{"field": p.field, "message": p.message} for p in self.problems]
        return out


def invalid(exc: TemplateInvalid, prefix: str = "") -> TemplateServiceError:
    problems = [TemplateProblem(f"{prefix}{p.field}", f"{prefix}{p.message}") for p in exc.problems]
    return TemplateServiceError("invalid_template", problems[0].message, 422, problems)


def _meta_words(exc: MetaApiError) -> str:
    return exc.details or exc.message or str(exc)


@dataclass
class SyncReport:
    waba_id: str
    created: int = 0
    updated: int = 0
    deleted: int = 0
    submitted: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "waba_id": self.waba_id,
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "submitted": self.submitted,
            "errors": self.errors,
        }


# ----------------------------------------------------------------------------- reading


def _quality(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("score")
    return str(value).upper() if value else None


def _reason(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if not text or text.upper() == "NONE" else text


async def find_template(
    session: AsyncSession, account_id: int, name: str, language: str
) -> MessageTemplate | None:
    return await session.scalar(
        select(MessageTemplate).where(
            MessageTemplate.account_id == account_id,
            MessageTemplate.name == name,
            MessageTemplate.language == language,
        )
    )


async def get_template(
    session: AsyncSession, workspace_id: int, template_id: int
) -> MessageTemplate | None:
    return await session.scalar(
        select(MessageTemplate).where(
            MessageTemplate.id == template_id, MessageTemplate.workspace_id == workspace_id
        )
    )


async def list_templates(
    session: AsyncSession,
    workspace_id: int,
    *,
    account_id: int | None = None,
    status: str | None = None,
    category: str | None = None,
    name: str | None = None,
) -> list[MessageTemplate]:
    query = (
        select(MessageTemplate)
        .where(MessageTemplate.workspace_id == workspace_id)
        .order_by(MessageTemplate.name, MessageTemplate.language)
    )
    if account_id is not None:
        query = query.where(MessageTemplate.account_id == account_id)
    if status:
        query = query.where(MessageTemplate.status == status.upper())
    if category:
        query = query.where(MessageTemplate.category == category.upper())
    if name:
        query = query.where(MessageTemplate.name.contains(name))
    return list((await session.scalars(query)).all())


async def resolve_account(
    session: AsyncSession,
    workspace_id: int,
    *,
    account_id: int | None = None,
    waba_id: str | None = None,
    phone_number_id: str | None = None,
) -> WhatsAppAccount:
    """The workspace's account named by our id, Meta's WABA id or one of its numbers;
    the only account when the workspace has exactly one."""
    query = select(WhatsAppAccount).where(WhatsAppAccount.workspace_id == workspace_id)
    if account_id is not None:
        query = query.where(WhatsAppAccount.id == account_id)
    elif waba_id:
        query = query.where(WhatsAppAccount.waba_id == waba_id)
    elif phone_number_id:
        query = query.join(PhoneNumber, PhoneNumber.account_id == WhatsAppAccount.id).where(
            PhoneNumber.phone_number_id == phone_number_id
        )
    accounts = list((await session.scalars(query.limit(2))).all())
    if not accounts:
        raise TemplateServiceError("not_found", "no such WhatsApp account in this workspace", 404)
    if len(accounts) > 1:
        raise TemplateServiceError(
            "account_required",
            "this workspace has several WhatsApp accounts: name one with waba_id",
            422,
        )
    return accounts[0]


async def account_token(session: AsyncSession, secrets: SecretBox, account: WhatsAppAccount) -> str:
    number = await session.scalar(
        select(PhoneNumber)
        .where(PhoneNumber.account_id == account.id)
        .order_by(PhoneNumber.id)
        .limit(1)
    )
    if number is None:
        raise TemplateServiceError(
            "no_access_token",
            f"WhatsApp account {account.waba_id} has no phone number, so no access token to "
            "manage its templates with",
            409,
        )
    return secrets.decrypt(number.access_token_encrypted)


# ----------------------------------------------------------------------------- writing


def _apply_remote(row: MessageTemplate, item: Mapping[str, Any], now: datetime) -> bool:
    """Bring a row up to Meta's listing of it; True when anything changed."""
    values: dict[str, Any] = {
        "meta_template_id": str(item["id"]) if item.get("id") is not None else None,
        "category": str(item.get("category") or row.category or "UTILITY").upper(),
        "status": str(item.get("status") or row.status).upper(),
        "components": item.get("components") or row.components or [],
        "parameter_format": str(item.get("parameter_format") or "POSITIONAL").upper(),
        "quality_score": _quality(item.get("quality_score")) or row.quality_score,
        "rejected_reason": _reason(item.get("rejected_reason")),
    }
    if values["status"] != "REJECTED":
        values["rejected_reason"] = None
    elif values["rejected_reason"] is None:
        values["rejected_reason"] = row.rejected_reason
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    if changed:
        row.status_updated_at = now
    row.synced_at = now
    row.last_error = None
    return changed


async def declare_template(
    session: AsyncSession,
    account: WhatsAppAccount,
    template: Mapping[str, Any],
    *,
    source: str,
) -> tuple[MessageTemplate, str | None]:
    """A DRAFT row for a validated template unless one exists; returns it and a change."""
    row = await find_template(session, account.id, template["name"], template["language"])
    label = f"template {template['name']} ({template['language']}) of {account.waba_id}"
    if row is None:
        row = MessageTemplate(
            workspace_id=account.workspace_id,
            account_id=account.id,
            name=template["name"],
            language=template["language"],
            category=template["category"],
            status="DRAFT",
            components=template["components"],
            parameter_format=template["parameter_format"],
            source=source,
        )
        session.add(row)
        await session.flush()
        return row, f"declared {label}"
    if row.status == "DRAFT":
        values = {
            "category": template["category"],
            "components": template["components"],
            "parameter_format": template["parameter_format"],
        }
        diffs = [k for k, v in values.items() if getattr(row, k) != v]
        for key in diffs:
            setattr(row, key, values[key])
        if diffs:
            return row, f"updated {label}: {', '.join(diffs)}"
    return row, None


class TemplateService:
    """Template use cases that talk to Meta (the runtime's Graph client and secrets)."""

    def __init__(self, db: Database, graph: GraphClient, secrets: SecretBox) -> None:
        self.db = db
        self.graph = graph
        self.secrets = secrets

    async def _account(self, workspace_id: int, **selector: Any) -> tuple[WhatsAppAccount, str]:
        async with self.db.read() as session:
            account = await resolve_account(session, workspace_id, **selector)
            return account, await account_token(session, self.secrets, account)

    async def create(
        self, workspace_id: int, draft: Mapping[str, Any], **selector: Any
    ) -> MessageTemplate:
        """Validate, submit to Meta, store; the template is PENDING until Meta's review."""
        try:
            template = validate_template(
                name=draft.get("name"),
                language=draft.get("language"),
                category=draft.get("category"),
                components=draft.get("components"),
                parameter_format=draft.get("parameter_format"),
            )
        except TemplateInvalid as exc:
            raise invalid(exc) from exc
        account, token = await self._account(workspace_id, **selector)
        async with self.db.write() as session:
            row = await find_template(session, account.id, template["name"], template["language"])
            if row is not None and row.status != "DRAFT":
                raise TemplateServiceError(
                    "template_exists",
                    f"template {template['name']} ({template['language']}) already exists "
                    f"(status {row.status}); delete it first or pick another name",
                    409,
                )
            created = row is None
            row, _ = await declare_template(session, account, template, source="api")
            row_id = row.id
        error = await self._submit(account, token, row_id)
        async with self.db.write() as session:
            row = await session.get(MessageTemplate, row_id)
            refused = error is not None and row is not None and row.meta_template_id is None
            if refused and created and error.status != 502:
                await session.delete(row)  # Meta refused it: no template was created
        if refused:
            raise error  # type: ignore[misc]
        return row

    async def _submit(
        self, account: WhatsAppAccount, token: str, row_id: int
    ) -> TemplateServiceError | None:
        """Submit one DRAFT row; returns the refusal instead of raising."""
        async with self.db.read() as session:
            row = await session.get(MessageTemplate, row_id)
            body = {
                "name": row.name,
                "language": row.language,
                "category": row.category,
                "parameter_format": row.parameter_format,
                "components": row.components,
            }
        now = datetime.now(UTC)
        try:
            answer = await self.graph.create_template(account.waba_id, token, body)
        except MetaApiError as exc:
            exists = exc.subcode == _EXISTS_SUBCODE
            error = TemplateServiceError(
                "template_exists_at_meta" if exists else "meta_refused",
                f"WhatsApp refused the template: {_meta_words(exc)}"
                + ("; sync templates to bring it in" if exists else ""),
                409 if exists else 422,
            )
            await self._record_error(row_id, error.message)
            return error
        except GraphTransportError as exc:
            message = (
                "WhatsApp did not confirm the template; it may or may not exist at Meta: sync "
                "templates to find out"
                if exc.ambiguous
                else "WhatsApp could not be reached; try again"
            )
            await self._record_error(row_id, message)
            return TemplateServiceError("meta_unreachable", message, 502)
        async with self.db.write() as session:
            row = await session.get(MessageTemplate, row_id)
            if row is None:
                return None
            row.meta_template_id = str(answer.get("id") or row.meta_template_id or "") or None
            if answer.get("category"):
                row.category = str(answer["category"]).upper()
            if row.status == "DRAFT":  # a webhook may already have told us more
                row.status = str(answer.get("status") or "PENDING").upper()
                row.status_updated_at = now
            row.submitted_at = now
            row.last_error = None
        return None

    async def _record_error(self, row_id: int, message: str) -> None:
        async with self.db.write() as session:
            row = await session.get(MessageTemplate, row_id)
            if row is not None:
                row.last_error = message

    async def sync(self, workspace_id: int, **selector: Any) -> SyncReport:
        """Pull every template of the account from Meta, then submit local drafts."""
        account, token = await self._account(workspace_id, **selector)
        report = SyncReport(account.waba_id)
        try:
            remote = await self.graph.list_templates(account.waba_id, token, fields=LIST_FIELDS)
        except (MetaApiError, GraphTransportError) as exc:
            words = _meta_words(exc) if isinstance(exc, MetaApiError) else str(exc)
            raise TemplateServiceError(
                "meta_refused", f"listing templates at WhatsApp failed: {words}", 502
            ) from exc
        now = datetime.now(UTC)
        async with self.db.write() as session:
            rows = list(
                (
                    await session.scalars(
                        select(MessageTemplate).where(MessageTemplate.account_id == account.id)
                    )
                ).all()
            )
            by_id = {r.meta_template_id: r for r in rows if r.meta_template_id}
            by_key = {(r.name, r.language): r for r in rows}
            seen: set[int] = set()
            for item in remote:
                if not item.get("name") or not item.get("language"):
                    continue
                row = by_id.get(str(item.get("id"))) or by_key.get((item["name"], item["language"]))
                if row is None:
                    row = MessageTemplate(
                        workspace_id=account.workspace_id,
                        account_id=account.id,
                        name=item["name"],
                        language=item["language"],
                        category=str(item.get("category") or "UTILITY").upper(),
                        status="PENDING",
                        components=[],
                        source="meta",
                    )
                    session.add(row)
                    _apply_remote(row, item, now)
                    await session.flush()
                    by_key[(row.name, row.language)] = row
                    report.created += 1
                elif _apply_remote(row, item, now):
                    report.updated += 1
                seen.add(row.id)
            for row in rows:
                if row.id not in seen and row.meta_template_id is not None:
                    await session.delete(row)  # deleted at Meta (WhatsApp Manager)
                    report.deleted += 1
            drafts = [r.id for r in rows if r.id not in seen and r.meta_template_id is None]
        for row_id in drafts:
            error = await self._submit(account, token, row_id)
            if error is None:
                report.submitted += 1
            else:
                report.errors.append(error.message)
        return report

    async def sync_workspace(
        self, workspace_id: int, *, only_with_drafts: bool = False
    ) -> list[SyncReport]:
        async with self.db.read() as session:
            query = select(WhatsAppAccount.id).where(WhatsAppAccount.workspace_id == workspace_id)
            if only_with_drafts:
                query = query.where(
                    WhatsAppAccount.id.in_(
                        select(MessageTemplate.account_id).where(MessageTemplate.status == "DRAFT")
                    )
                )
            account_ids = list((await session.scalars(query.order_by(WhatsAppAccount.id))).all())
        reports = []
        for account_id in account_ids:
            try:
                reports.append(await self.sync(workspace_id, account_id=account_id))
            except TemplateServiceError as exc:
                async with self.db.read() as session:
                    waba = await session.scalar(
                        select(WhatsAppAccount.waba_id).where(WhatsAppAccount.id == account_id)
                    )
                reports.append(SyncReport(waba or str(account_id), errors=[exc.message]))
        return reports

    async def delete(self, workspace_id: int, template_id: int) -> None:
        """Delete one language of a template at Meta (by its id), then here."""
        async with self.db.read() as session:
            row = await get_template(session, workspace_id, template_id)
            if row is None:
                raise TemplateServiceError("not_found", f"template {template_id} not found", 404)
            account = await session.get(WhatsAppAccount, row.account_id)
            name, meta_id = row.name, row.meta_template_id
        if meta_id is not None:
            async with self.db.read() as session:
                token = await account_token(session, self.secrets, account)
            try:
                await self.graph.delete_template(account.waba_id, token, name, meta_id)
            except MetaApiError as exc:
                if exc.subcode != _NOT_FOUND_SUBCODE:
                    raise TemplateServiceError(
                        "meta_refused", f"WhatsApp refused to delete it: {_meta_words(exc)}", 502
                    ) from exc
            except GraphTransportError as exc:
                raise TemplateServiceError(
                    "meta_unreachable", f"WhatsApp could not be reached: {exc}", 502
                ) from exc
        async with self.db.write() as session:
            row = await get_template(session, workspace_id, template_id)
            if row is not None:
                await session.delete(row)


async def submit_declared_templates(
    db: Database, graph: GraphClient, secrets: SecretBox, workspace_slug: str
) -> list[str]:
    """After ``apply``: submit the workspace's DRAFT templates; one line per outcome."""
    from madoguchi.store.models import Workspace

    async with db.read() as session:
        workspace_id = await session.scalar(
            select(Workspace.id).where(Workspace.slug == workspace_slug)
        )
    if workspace_id is None:
        return []
    lines: list[str] = []
    service = TemplateService(db, graph, secrets)
    for report in await service.sync_workspace(workspace_id, only_with_drafts=True):
        if report.submitted:
            lines.append(f"submitted {report.submitted} template(s) of {report.waba_id} to Meta")
        lines.extend(f"template of {report.waba_id} not submitted: {e}" for e in report.errors)
    return lines


# ----------------------------------------------------------------------------- webhooks


async def _row_for_event(
    session: AsyncSession, event: AccountEventReceived
) -> tuple[MessageTemplate | None, str | None, str | None, str | None]:
    value = event.value
    meta_id = value.get("message_template_id")
    meta_id = str(meta_id) if meta_id is not None else None
    name = value.get("message_template_name")
    language = value.get("message_template_language")
    row = None
    if meta_id:
        row = await session.scalar(
            select(MessageTemplate).where(
                MessageTemplate.account_id == event.account_id,
                MessageTemplate.meta_template_id == meta_id,
            )
        )
    if row is None and name and language:
        row = await find_template(session, event.account_id, name, language)
    return row, meta_id, name, language


async def apply_template_event(db: Database, event: AccountEventReceived) -> None:
    """A template's status, quality or category changed at Meta."""
    if event.field not in TEMPLATE_FIELDS:
        return
    value = event.value
    now = datetime.now(UTC)
    for attempt in (1, 2):
        try:
            async with db.write() as session:
                row, meta_id, name, language = await _row_for_event(session, event)
                if row is None:
                    if not (name and language):
                        return
                    # Heard of before our create's answer, or created in WhatsApp Manager.
                    row = MessageTemplate(
                        workspace_id=event.workspace_id,
                        account_id=event.account_id,
                        name=name,
                        language=language,
                        category=str(value.get("message_template_category") or "UTILITY").upper(),
                        status="PENDING",
                        components=[],
                        source="webhook",
                    )
                    session.add(row)
                if meta_id and not row.meta_template_id:
                    row.meta_template_id = meta_id
                _apply_event(row, event.field, value, now)
            return
        except IntegrityError:
            if attempt == 2:
                raise


def _apply_event(
    row: MessageTemplate, field_name: str, value: Mapping[str, Any], now: datetime
) -> None:
    if field_name == "message_template_status_update":
        status = str(value.get("event") or "").upper()
        if not status:
            return
        row.status = "APPROVED" if status == "REINSTATED" else status
        row.status_updated_at = now
        if status == "REJECTED":
            reason = _reason(value.get("reason"))
            info = value.get("rejection_info")
            more = info.get("reason") if isinstance(info, Mapping) else None
            row.rejected_reason = f"{reason}: {more}" if reason and more else reason or more
        elif status in ("APPROVED", "REINSTATED"):
            row.rejected_reason = None
        if value.get("message_template_category"):
            row.category = str(value["message_template_category"]).upper()
    elif field_name == "message_template_quality_update":
        score = _quality(value.get("new_quality_score"))
        if score:
            row.quality_score = score
    elif field_name == "template_category_update":
        category = value.get("new_category") or value.get("correct_category")
        if category:
            row.category = str(category).upper()


# ----------------------------------------------------------------------------- sending


async def flow_variables(session: AsyncSession, conversation_id: int) -> dict[str, Any]:
    """The variables the conversation's flow runs have set (later runs win); ``{}`` when
    no flow has run (or the flow tables are not installed)."""
    table = Base.metadata.tables.get("flow_runs")
    if table is None or "variables" not in table.c or "conversation_id" not in table.c:
        return {}
    rows = await session.execute(
        select(table.c.variables)
        .where(table.c.conversation_id == conversation_id)
        .order_by(table.c.id)
    )
    merged: dict[str, Any] = {}
    for (variables,) in rows:
        if isinstance(variables, Mapping):
            merged.update(variables)
    return merged


def value_context(
    contact: Contact | None,
    conversation: Conversation | None,
    variables: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What ``{"from": …}`` references read: the contact, the conversation, and its flow
    variables (``vars.order_number``)."""
    out: dict[str, Any] = {"contact": {}, "conversation": {}, "vars": dict(variables or {})}
    if contact is not None:
        out["contact"] = {
            "id": contact.id,
            "name": contact.profile_name or contact.username,
            "profile_name": contact.profile_name,
            "username": contact.username,
            "wa_id": contact.wa_id,
            "phone": f"+{contact.wa_id}" if contact.wa_id else None,
            "user_id": contact.user_id,
        }
    if conversation is not None:
        out["conversation"] = {
            "id": conversation.id,
            "status": conversation.status,
            "queue_id": conversation.queue_id,
            "variables": out["vars"],
        }
    return out


def build_template_message(
    row: MessageTemplate,
    values: Mapping[str, Any],
    context: Mapping[str, Any],
    *,
    field_prefix: str = "template.values",
    shape: TemplateShape | None = None,
) -> TemplateMessage:
    """A send of a stored template with its parameters filled from values and context
    (``shape``: the row's ``template_shape``, when the caller sends it many times)."""
    resolved, unresolved = resolve_values(values, context)
    if shape is None:
        shape = template_shape(row.components or [], row.category)
    try:
        components = shape.send_components(resolved)
    except MissingValues as exc:
        keys = sorted(set(exc.keys) | set(unresolved))
        raise TemplateServiceError(
            "missing_values",
            f"{field_prefix}: no value for {', '.join(keys)} of template {row.name}",
            422,
            [TemplateProblem(f"{field_prefix}.{k}", f"no value for {k}") for k in keys],
        ) from exc
    except TemplateInvalid as exc:
        raise invalid(exc, f"{field_prefix}: ") from exc
    message: dict[str, Any] = {"name": row.name, "language": {"code": row.language}}
    if components:
        message["components"] = components
    return validate_outbound({"type": "template", "template": message})  # type: ignore[return-value]


class TemplateConfig(BaseModel):
    """A template declared in the ``apply`` file (Meta's create shape)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    language: str
    category: str
    parameter_format: str | None = None
    components: list[dict[str, Any]] = Field(default_factory=list)

    def validated(self) -> dict[str, Any]:
        return validate_template(
            name=self.name,
            language=self.language,
            category=self.category,
            components=self.components,
            parameter_format=self.parameter_format,
        )


def template_config_problems(templates: list[TemplateConfig], where: str) -> list[tuple[str, str]]:
    """Problems of an account's declared templates, as ``(field path, message)``."""
    problems: list[tuple[str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for t, spec in enumerate(templates):
        at = f"{where}.templates[{t}]"
        key = (spec.name, spec.language)
        if key in seen:
            problems.append((f"{at}.name", f"duplicates {where}.templates[{seen[key]}]"))
        seen.setdefault(key, t)
        try:
            spec.validated()
        except TemplateInvalid as exc:
            problems.extend((f"{at}.{p.field}", p.message) for p in exc.problems)
    return problems


async def apply_declared_templates(
    session: AsyncSession, account: WhatsAppAccount, templates: list[TemplateConfig]
) -> list[str]:
    """``apply``: a DRAFT for each declared template not known yet (submitted afterwards
    by ``madoguchi apply`` or a sync); returns the changes."""
    changes: list[str] = []
    for spec in templates:
        _, change = await declare_template(session, account, spec.validated(), source="apply")
        if change:
            changes.append(change)
    return changes
