"""Which journal rows a processor takes: one customer's rows in order, by one process.

In the scaled mode several processes (web processes and ``madoguchi worker``) process
the webhook journal of one PostgreSQL database. A plain ``FOR UPDATE SKIP LOCKED`` claim
keeps two processes off the same *row* but not off the same *customer*: while process A
works on a customer's first message, process B skips that locked row and takes the same
customer's second message, and the two are stored (and answered by the flow) at the same
time, in either order. So every row carries the key of the customer it is about
(``customer_key``: the BSUID, else the phone, set when the delivery is appended), and a
claim works in three steps, all inside the processor's slice transaction:

1. read the oldest pending rows (a window, no locks) and walk them in id order: a row
   that is not due yet (waiting to be retried) blocks its customer's later rows, so
   nothing overtakes it;
2. take a transaction-scoped advisory lock per customer key of the rows wanted
   (``pg_try_advisory_xact_lock``; a key another process holds is skipped, and with it
   every later row of that customer). The keys of the first rows are tried first; when
   other processes hold some of them, the keys of the window's next rows are tried, until
   the claim is full or the window has no customer left: a process finds the customers
   the others are not working on even when those fill the head of the journal. The locks
   end with the slice's commit, after what it stored is visible to the next holder;
3. lock the chosen rows (``FOR UPDATE``) and re-read them: a row another process
   finished meanwhile is gone from ``pending``, and a customer's rows stop at the first
   that is no longer due.

A delivery about several customers (Meta may batch them) carries all their keys, space
separated, and needs every one of them; a delivery about nobody in particular (template
and account events) has no key and is claimed by its row lock alone. SQLite has one
process by construction and keeps the plain claim in id order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import bindparam, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Text

from madoguchi.store.models import WebhookDelivery
from madoguchi.whatsapp.updates import (
    CallEvent,
    InboundMessage,
    MessageStatus,
    UserIdUpdate,
    UserPreferencesUpdate,
)

PENDING = "pending"
# The advisory lock namespace of customer keys (the two-int form keeps them apart from
# any other advisory lock of the database): "MD" for Madoguchi.
LOCK_NAMESPACE = 0x4D44
WINDOW = 64  # at least this many of the oldest pending rows are looked at per claim
WINDOWS = 4  # windows looked at before giving up (all of them held by other processes)

_TRY_LOCKS = text(
    "SELECT k FROM unnest(:keys) AS k WHERE pg_try_advisory_xact_lock(:ns, hashtext(k))"
).bindparams(bindparam("keys", type_=ARRAY(Text)))


# ------------------------------------------------------------------------------ the key


def customer_keys(updates: Iterable[object]) -> list[str]:
    """The customers a delivery's updates are about (BSUID first, else phone), in order."""
    keys: dict[str, None] = {}
    for update in updates:
        for key in _keys_of(update):
            if key:
                keys[key] = None
    return list(keys)


def customer_key(updates: Iterable[object]) -> str | None:
    """The value of ``webhook_deliveries.customer_key`` for a delivery's updates."""
    keys = customer_keys(updates)
    return " ".join(sorted(keys)) if keys else None


def _keys_of(update: object) -> tuple[str | None, ...]:
    if isinstance(update, InboundMessage):
        return (update.sender.key,)
    if isinstance(update, MessageStatus):
        return (update.recipient.key,)
    if isinstance(update, UserPreferencesUpdate):
        return (update.user.key,)
    if isinstance(update, UserIdUpdate):  # the customer under both ids
        return (update.previous_user_id or update.wa_id, update.user_id or update.wa_id)
    if isinstance(update, CallEvent):
        if (update.direction or "").upper() == "BUSINESS_INITIATED":
            return (update.to_user_id or update.to,)
        return (update.from_user_id or update.from_,)
    return ()


# ---------------------------------------------------------------------------- the claim


def _due(row, now: datetime) -> bool:
    return row.next_attempt_at is None or row.next_attempt_at <= now


async def claim_pending(
    session: AsyncSession, *, sqlite: bool, limit: int, now: datetime
) -> Sequence[WebhookDelivery]:
    """Pending, due journal rows for this slice, in id order (see the module docstring).

    On PostgreSQL the rows' customers stay locked to this transaction until it ends."""
    if sqlite:
        return await _claim_in_order(session, limit, now)
    after = 0
    window = max(WINDOW, limit * 4)
    # Customers of the windows already looked at (none of whose rows could be taken):
    # their rows in a later window must wait for those.
    held: set[str] = set()
    for _ in range(WINDOWS):
        head = (
            await session.execute(
                select(
                    WebhookDelivery.id,
                    WebhookDelivery.customer_key,
                    WebhookDelivery.next_attempt_at,
                )
                .where(WebhookDelivery.state == PENDING, WebhookDelivery.id > after)
                .order_by(WebhookDelivery.id)
                .limit(window)
            )
        ).all()
        if not head:
            return []
        rows = await _claim_from(session, head, limit, now, held)
        if rows or len(head) < window:
            return rows
        after = head[-1].id
        held.update(k for row in head if row.customer_key for k in row.customer_key.split(" "))
    return []


async def _claim_in_order(session: AsyncSession, limit: int, now: datetime):
    """One process (SQLite): due rows in id order, but none of a customer whose earlier
    row waits for its retry."""
    query = (
        select(WebhookDelivery)
        .where(
            WebhookDelivery.state == PENDING,
            or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now),
        )
        .order_by(WebhookDelivery.id)
        .limit(limit)
    )
    rows = (await session.scalars(query)).all()
    if not rows:
        return rows
    waiting = (
        await session.scalars(
            select(WebhookDelivery.customer_key).where(
                WebhookDelivery.state == PENDING,
                WebhookDelivery.id < rows[-1].id,
                WebhookDelivery.next_attempt_at > now,
                WebhookDelivery.customer_key.is_not(None),
            )
        )
    ).all()
    if not waiting:
        return rows
    held = {key for keys in waiting for key in keys.split(" ")}
    return [row for row in rows if not held.intersection(keys_of_row(row))]


def keys_of_row(row) -> list[str]:
    """The customer keys of a journal row (none for a delivery about nobody)."""
    return row.customer_key.split(" ") if row.customer_key else []


def plan(
    head: Sequence, limit: int, now: datetime, held: set[str] | None = None
) -> tuple[list, list[str]]:
    """From the window (id order): the rows worth trying and the keys they need.

    A customer's rows are wanted only up to the first that is not due (nor are those of
    the ``held`` customers, whose earlier rows could not be taken); rows without a key
    are wanted as they are (their row lock is enough)."""
    blocked: set[str] = set(held or ())
    wanted: list = []
    keys: dict[str, None] = {}
    for row in head:
        if len(wanted) >= limit:
            break
        if row.customer_key is None:
            if _due(row, now):
                wanted.append(row)
            continue
        row_keys = row.customer_key.split(" ")
        if not _due(row, now) or blocked.intersection(row_keys):
            blocked.update(row_keys)
            continue
        wanted.append(row)
        keys.update(dict.fromkeys(row_keys))
    return wanted, list(keys)


def granted(wanted: Sequence, locked: set[str]) -> list[int]:
    """The wanted rows whose every key this transaction holds, in order: once a row of a
    customer cannot be taken, none of that customer's later rows is."""
    blocked: set[str] = set()
    ids: list[int] = []
    for row in wanted:
        if row.customer_key is None:
            ids.append(row.id)
            continue
        row_keys = row.customer_key.split(" ")
        if blocked.intersection(row_keys) or not locked.issuperset(row_keys):
            blocked.update(row_keys)
            continue
        ids.append(row.id)
    return ids


def next_keys(wanted: Sequence, locked: set[str], refused: set[str], room: int) -> list[str]:
    """The keys to try next: those of the first ``room`` wanted rows that are not granted
    yet and whose customers no other process was found holding."""
    keys: dict[str, None] = {}
    rows = 0
    for row in wanted:
        if rows >= room:
            break
        if row.customer_key is None:
            continue
        row_keys = row.customer_key.split(" ")
        if refused.intersection(row_keys) or locked.issuperset(row_keys):
            continue
        keys.update(dict.fromkeys(k for k in row_keys if k not in locked))
        rows += 1
    return list(keys)


async def _claim_from(
    session: AsyncSession, head: Sequence, limit: int, now: datetime, held: set[str]
):
    wanted, _ = plan(head, len(head), now, held)
    if not wanted:
        return []
    locked: set[str] = set()
    refused: set[str] = set()  # held by another process
    while True:
        ids = granted(wanted, locked)[:limit]
        keys = next_keys(wanted, locked, refused, limit - len(ids))
        if not keys:
            break
        result = await session.execute(_TRY_LOCKS, {"keys": keys, "ns": LOCK_NAMESPACE})
        got = set(result.scalars())
        locked |= got
        refused.update(k for k in keys if k not in got)
    if not ids:
        return []
    rows = (
        await session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids), WebhookDelivery.state == PENDING)
            .order_by(WebhookDelivery.id)
            .with_for_update(skip_locked=True)
        )
    ).all()
    # Re-read under the locks: a row failed by another process meanwhile (now waiting to
    # be retried) still holds back its customer's later rows.
    blocked: set[str] = set()
    claimed = []
    for row in rows:
        row_keys = row.customer_key.split(" ") if row.customer_key else []
        if blocked.intersection(row_keys) or not _due(row, now):
            blocked.update(row_keys)
            continue
        claimed.append(row)
    return claimed
