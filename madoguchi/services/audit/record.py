"""Writing audit entries: one function, called in the transaction that makes the change.

``before`` and ``after`` are plain dicts of the object's fields as the API shows them.
When both are given only the fields that changed are kept, so an entry reads as a diff.
Any field whose name says it is a secret (password, token, secret, key, authorization) is
replaced by ``"(set)"`` / ``"(not set)"`` wherever it is nested: a secret never reaches
the log, yet the log still says that it was changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.services.audit.origin import client_address
from madoguchi.store.models import ApiToken, AuditEntry, User, utcnow

SECRET_FIELD = re.compile(
    r"(^|_)(password|passwd|secret|token|api_?key|authorization|credentials?|pin)($|_hash$)",
    re.IGNORECASE,
)
SET, NOT_SET = "(set)", "(not set)"
MAX_TEXT = 2000  # a long text (a template body, a note) is kept as an excerpt


@dataclass(frozen=True, slots=True)
class Target:
    """The object acted on: its kind ("user", "flow", …), id and a readable label."""

    kind: str
    id: Any = None
    label: str | None = None


def redact(value: Any) -> Any:
    """``value`` with every secret-named field replaced by "(set)"/"(not set)"."""
    if isinstance(value, dict):
        return {
            k: ((SET if v else NOT_SET) if SECRET_FIELD.search(str(k)) else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[:MAX_TEXT] + "…"
    return value


def changed_fields(before: dict | None, after: dict | None) -> tuple[dict | None, dict | None]:
    """Only the keys whose values differ (both sides), when both sides are given."""
    if before is None or after is None:
        return before, after
    keys = [k for k in {**before, **after} if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


async def actor_label(session: AsyncSession, actor) -> str:
    if getattr(actor, "user_id", None) is not None:
        email = await session.scalar(select(User.email).where(User.id == actor.user_id))
        if email:
            return email
    if getattr(actor, "token_id", None) is not None:
        name = await session.scalar(select(ApiToken.name).where(ApiToken.id == actor.token_id))
        if name:
            return f"token: {name}"
    return f"({getattr(actor, 'role', 'system')})"


async def record(
    session: AsyncSession,
    actor,
    action: str,
    target: Target | tuple,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry | None:
    """Add one entry for ``actor`` (a ``Principal``: workspace_id, role, user_id,
    token_id) doing ``action`` ("flow.publish") to ``target``. Nothing is written for an
    update that changed nothing. Returns the entry (flushed), or None."""
    if not isinstance(target, Target):
        target = Target(*target)
    before, after = changed_fields(redact(before), redact(after))
    if before is not None and after is not None and not before and not after:
        return None
    entry = AuditEntry(
        workspace_id=actor.workspace_id,
        at=utcnow(),
        actor_user_id=getattr(actor, "user_id", None),
        actor_token_id=getattr(actor, "token_id", None),
        actor_role=getattr(actor, "role", "system"),
        actor_label=(await actor_label(session, actor))[:254],
        client_address=(client_address.get() or None),
        action=action[:64],
        target_type=target.kind[:40],
        target_id=None if target.id is None else str(target.id)[:64],
        target_label=None if target.label is None else str(target.label)[:200],
        before=before,
        after=after,
    )
    session.add(entry)
    await session.flush()
    return entry


async def record_apart(
    db,
    actor,
    action: str,
    target: Target | tuple,
    before: dict | None = None,
    after: dict | None = None,
) -> None:
    """``record`` in a write of its own, for changes a service commits by itself (most
    of them ask Meta between two transactions): the entry follows right after."""
    async with db.write() as session:
        await record(session, actor, action, target, before, after)
