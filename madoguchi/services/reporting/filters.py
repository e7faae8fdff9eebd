"""Filters that name a queue, an agent or a number: the named one must be the workspace's.

A report or the wallboard filtered by an id the workspace does not have answered 200 with
zeros (or an empty list), so a mistyped or stale id read as a quiet day. Such a filter is
refused instead, as any other bad parameter (422 with the field and a sentence). An id of
another workspace is refused the same way, as if it did not exist. A queue the workspace
has but a limited supervisor does not supervise is not refused: their scope narrows the
figures, as it does without a filter."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.store.models import PhoneNumber, Queue, User

_WHAT = (
    ("queue_id", Queue, "queue"),
    ("agent_id", User, "agent"),
    ("number_id", PhoneNumber, "number"),
)


async def unknown_filter(
    session: AsyncSession, workspace_id: int, **ids: int | None
) -> tuple[str, str] | None:
    """(field, message) for the first of ``queue_id``, ``agent_id``, ``number_id`` given
    that is not the workspace's; None when every one given is."""
    for field, model, what in _WHAT:
        wanted = ids.get(field)
        if wanted is None:
            continue
        found = await session.scalar(
            select(model.id).where(model.id == wanted, model.workspace_id == workspace_id)
        )
        if found is None:
            return field, f"this workspace has no {what} with id {wanted}"
    return None
