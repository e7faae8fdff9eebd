"""Connecting WhatsApp numbers from the web app: list, connect, change, remove.

``madoguchi apply`` connects numbers from a file; this module lets an admin do the same in
a browser. A number is only saved once Meta has confirmed, with the token given, that the
token can act for that number (``GET /{phone_number_id}`` on the Graph API): a typo in the
id or a token for another account is caught here, with the field to fix, instead of
failing every send later. Meta's answer also supplies the verified name, quality rating
and status shown in the list.

Tokens are encrypted at rest (:class:`~madoguchi.security.secrets.SecretBox`, like
``apply``), never returned and never put in an error message or a log line.

Removing a number deletes its row, and with it (by foreign key) everything hanging off
it — conversations and their messages included. So a number that has conversations is
refused with a conflict: history is not something a click should erase. A number that
never carried a conversation (a typo, a test number) can be removed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.security.secrets import SecretBox, token_fingerprint
from madoguchi.store.db import Database
from madoguchi.store.models import Conversation, PhoneNumber, Queue, WhatsAppAccount
from madoguchi.whatsapp.errors import (
    AccessTokenInvalid,
    GraphTransportError,
    InvalidParameter,
    MetaApiError,
    PermissionDenied,
    RequestRateLimited,
    TransientError,
)
from madoguchi.whatsapp.graph import GraphClient

RATE_MIN, RATE_MAX, RATE_DEFAULT = 1, 1000, 80
_DIGITS = re.compile(r"^[0-9]{5,32}$")
_INFO_FIELDS = "verified_name,display_phone_number,quality_rating,status"
UPDATABLE = frozenset(
    {"display_phone_number", "access_token", "rate_limit_per_second", "default_queue_id"}
)


class PhoneNumberError(Exception):
    """The request cannot be carried out; ``field`` names what to fix (None: the whole
    request), ``status`` is the HTTP status a web caller should answer."""

    def __init__(self, field: str | None, message: str, *, code: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code
        self.status = status


@dataclass(frozen=True)
class NumberSpec:
    """A number to connect, as an admin typed it."""

    waba_id: str
    phone_number_id: str
    display_phone_number: str
    access_token: str
    account_name: str | None = None  # needed only when the WABA is new to the workspace
    rate_limit_per_second: int = RATE_DEFAULT
    default_queue_id: int | None = None


@dataclass(frozen=True)
class NumberInfo:
    """A number as callers may see it (never its token)."""

    id: int
    phone_number_id: str
    display_phone_number: str
    verified_name: str | None
    status: str
    quality_rating: str | None
    rate_limit_per_second: int
    default_queue_id: int | None
    waba_id: str
    account_name: str


@dataclass(frozen=True)
class MetaNumber:
    """What Meta says about a number."""

    verified_name: str | None
    quality_rating: str | None
    status: str


def _info(number: PhoneNumber, account: WhatsAppAccount) -> NumberInfo:
    return NumberInfo(
        id=number.id,
        phone_number_id=number.phone_number_id,
        display_phone_number=number.display_phone_number,
        verified_name=number.verified_name,
        status=number.status,
        quality_rating=number.quality_rating,
        rate_limit_per_second=number.rate_limit_per_second,
        default_queue_id=number.default_queue_id,
        waba_id=account.waba_id,
        account_name=account.name,
    )


# ----------------------------------------------------------------------------- checks


def meta_id(field: str, value: str, what: str) -> str:
    value = (value or "").strip()
    if not _DIGITS.match(value):
        raise PhoneNumberError(
            field,
            f"{what} is Meta's numeric id (5 to 32 digits, found in WhatsApp Manager), "
            f"not {value!r}",
            code="invalid_id",
        )
    return value


def _display(value: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > 32:
        raise PhoneNumberError(
            "display_phone_number",
            "give the number as customers see it, e.g. +1 555 0123 (1 to 32 characters)",
            code="invalid_display_number",
        )
    return value


def _token(value: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > 4096 or any(c.isspace() for c in value):
        raise PhoneNumberError(
            "access_token",
            "give the system user's access token from Meta Business Manager "
            "(one word, no spaces, at most 4,096 characters)",
            code="invalid_token",
        )
    return value


def _rate(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (RATE_MIN <= value <= RATE_MAX):
        raise PhoneNumberError(
            "rate_limit_per_second",
            f"the rate limit is {value!r} messages per second; it must be a whole number "
            f"from {RATE_MIN} to {RATE_MAX} (the Cloud API's most; {RATE_DEFAULT} is its "
            "default throughput)",
            code="invalid_rate_limit",
        )
    return value


async def check_queue(session: AsyncSession, workspace_id: int, queue_id: int | None) -> None:
    if queue_id is None:
        return
    found = await session.scalar(
        select(Queue.id).where(Queue.id == queue_id, Queue.workspace_id == workspace_id)
    )
    if found is None:
        raise PhoneNumberError(
            "default_queue_id",
            f"there is no queue {queue_id} in this workspace; pick one of its queues or none",
            code="unknown_queue",
        )


async def check_free(
    session: AsyncSession, workspace_id: int, waba_id: str, phone_number_id: str
) -> WhatsAppAccount | None:
    """The workspace's account for ``waba_id`` (None when new); conflicts raise 409."""
    account = await session.scalar(
        select(WhatsAppAccount).where(WhatsAppAccount.waba_id == waba_id)
    )
    if account is not None and account.workspace_id != workspace_id:
        raise PhoneNumberError(
            "waba_id",
            f"WhatsApp Business Account {waba_id} is connected to another workspace; "
            "an account belongs to one workspace only",
            code="waba_taken",
            status=409,
        )
    number = await session.scalar(
        select(PhoneNumber).where(PhoneNumber.phone_number_id == phone_number_id)
    )
    if number is not None and number.workspace_id == workspace_id:
        raise PhoneNumberError(
            "phone_number_id",
            f"phone number {phone_number_id} is already connected to this workspace; "
            "edit it in the list instead of connecting it twice",
            code="number_taken",
            status=409,
        )
    if number is not None:
        raise PhoneNumberError(
            "phone_number_id",
            f"phone number {phone_number_id} is connected to another workspace; "
            "a number belongs to one workspace only",
            code="number_taken",
            status=409,
        )
    return account


# ----------------------------------------------------------------------------- Meta


async def verify_with_meta(graph: GraphClient, phone_number_id: str, token: str) -> MetaNumber:
    """Ask Meta about the number with the given token; errors name the field to fix."""
    try:
        data = await graph.get_phone_number(phone_number_id, token, fields=_INFO_FIELDS)
    except (MetaApiError, GraphTransportError) as exc:
        raise _explained(exc, phone_number_id, token) from exc
    status = data.get("status")
    return MetaNumber(
        verified_name=_text(data.get("verified_name"), 200),
        quality_rating=_text(data.get("quality_rating"), 16),
        status=(_text(status, 32) or "connected").lower(),
    )


def _explained(
    exc: MetaApiError | GraphTransportError, phone_number_id: str, token: str
) -> PhoneNumberError:
    """Meta's refusal as the field to fix, in words (never with the token in them)."""
    if isinstance(exc, GraphTransportError):
        return PhoneNumberError(
            None,
            f"the Graph API could not be reached to check the number ({exc}); check the "
            "server's network and MADOGUCHI_GRAPH_API_URL, then try again",
            code="graph_unreachable",
            status=502,
        )
    words = _meta_words(exc, token)
    if isinstance(exc, AccessTokenInvalid | PermissionDenied):
        return PhoneNumberError(
            "access_token",
            f"Meta refused this access token for phone number {phone_number_id} ({words}); "
            "give a system user token with the whatsapp_business_messaging permission on "
            "this number's account",
            code="token_refused",
        )
    if isinstance(exc, InvalidParameter):
        return PhoneNumberError(
            "phone_number_id",
            f"Meta knows no phone number {phone_number_id} that this token can see ({words}); "
            "copy the phone number id from WhatsApp Manager (it is not the phone number "
            "itself)",
            code="number_unknown_to_meta",
        )
    if isinstance(exc, TransientError | RequestRateLimited):
        return PhoneNumberError(
            None,
            f"Meta could not check the number just now ({words}); try again in a minute",
            code="meta_unavailable",
            status=502,
        )
    return PhoneNumberError(
        None,
        f"Meta refused to confirm phone number {phone_number_id} ({words})",
        code="meta_refused",
    )


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _meta_words(exc: MetaApiError, token: str) -> str:
    code = f"#{exc.code} " if exc.code is not None else ""
    words = f"{code}{exc.message or exc.title or type(exc).__name__}".strip()
    return words.replace(token, "[the token]") if token else words


# ----------------------------------------------------------------------------- use cases


async def list_numbers(session: AsyncSession, workspace_id: int) -> list[NumberInfo]:
    rows = (
        await session.execute(
            select(PhoneNumber, WhatsAppAccount)
            .join(WhatsAppAccount, PhoneNumber.account_id == WhatsAppAccount.id)
            .where(
                PhoneNumber.workspace_id == workspace_id,
                WhatsAppAccount.workspace_id == workspace_id,
            )
            .order_by(PhoneNumber.display_phone_number, PhoneNumber.id)
        )
    ).all()
    return [_info(number, account) for number, account in rows]


async def connect_number(
    db: Database, secrets: SecretBox, graph: GraphClient, workspace_id: int, spec: NumberSpec
) -> NumberInfo:
    """Check the request, have Meta confirm the number, then save it (all or nothing).

    Meta is asked outside any transaction: a slow Graph API must not hold the database's
    write lock (SQLite has one). The conflicts are checked again when saving.
    """
    waba_id = meta_id("waba_id", spec.waba_id, "the WhatsApp Business Account id")
    phone_number_id = meta_id("phone_number_id", spec.phone_number_id, "the phone number id")
    display = _display(spec.display_phone_number)
    token = _token(spec.access_token)
    rate = _rate(spec.rate_limit_per_second)
    account_name = (spec.account_name or "").strip()
    if len(account_name) > 200:
        raise PhoneNumberError(
            "account_name", "the account name has at most 200 characters", code="invalid_name"
        )
    async with db.read() as session:
        account = await check_free(session, workspace_id, waba_id, phone_number_id)
        if account is None and not account_name:
            raise PhoneNumberError(
                "account_name",
                f"WhatsApp Business Account {waba_id} is new to this workspace: give it a "
                "name (e.g. the business's name)",
                code="account_name_required",
            )
        await check_queue(session, workspace_id, spec.default_queue_id)

    meta = await verify_with_meta(graph, phone_number_id, token)

    try:
        async with db.write() as session:
            account = await check_free(session, workspace_id, waba_id, phone_number_id)
            await check_queue(session, workspace_id, spec.default_queue_id)
            if account is None:
                account = WhatsAppAccount(
                    workspace_id=workspace_id, waba_id=waba_id, name=account_name
                )
                session.add(account)
                await session.flush()
            number = PhoneNumber(
                workspace_id=workspace_id,
                account_id=account.id,
                phone_number_id=phone_number_id,
                display_phone_number=display,
                access_token_encrypted=secrets.encrypt(token),
                access_token_fingerprint=token_fingerprint(token),
                rate_limit_per_second=rate,
                default_queue_id=spec.default_queue_id,
                verified_name=meta.verified_name,
                quality_rating=meta.quality_rating,
                status=meta.status,
            )
            session.add(number)
            await session.flush()
            return _info(number, account)
    except IntegrityError as exc:  # a concurrent connect of the same number or WABA won
        raise PhoneNumberError(
            "phone_number_id",
            f"phone number {phone_number_id} (or its account) was connected by someone "
            "else a moment ago; reload the list",
            code="number_taken",
            status=409,
        ) from exc


async def _own(session: AsyncSession, workspace_id: int, number_id: int) -> PhoneNumber:
    number = await session.scalar(
        select(PhoneNumber).where(
            PhoneNumber.id == number_id, PhoneNumber.workspace_id == workspace_id
        )
    )
    if number is None:
        raise PhoneNumberError(
            None, f"phone number {number_id} not found", code="not_found", status=404
        )
    return number


async def update_number(
    db: Database,
    secrets: SecretBox,
    graph: GraphClient,
    workspace_id: int,
    number_id: int,
    changes: Mapping[str, Any],
) -> NumberInfo:
    """Change the keys of :data:`UPDATABLE` present in ``changes`` (``default_queue_id``
    None clears it). A new token is confirmed with Meta before it replaces the old one."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise PhoneNumberError(
            sorted(unknown)[0],
            f"cannot be changed here; changeable: {', '.join(sorted(UPDATABLE))}",
            code="not_changeable",
        )
    values: dict[str, Any] = {}
    if "display_phone_number" in changes:
        values["display_phone_number"] = _display(changes["display_phone_number"])
    if "rate_limit_per_second" in changes:
        values["rate_limit_per_second"] = _rate(changes["rate_limit_per_second"])
    token = _token(changes["access_token"]) if "access_token" in changes else None
    async with db.read() as session:
        number = await _own(session, workspace_id, number_id)
        if "default_queue_id" in changes:
            await check_queue(session, workspace_id, changes["default_queue_id"])
            values["default_queue_id"] = changes["default_queue_id"]
        phone_number_id = number.phone_number_id

    if token is not None:
        meta = await verify_with_meta(graph, phone_number_id, token)
        values.update(
            access_token_encrypted=secrets.encrypt(token),
            access_token_fingerprint=token_fingerprint(token),
            verified_name=meta.verified_name,
            quality_rating=meta.quality_rating,
            status=meta.status,
        )

    async with db.write() as session:
        number = await _own(session, workspace_id, number_id)
        if "default_queue_id" in values:
            await check_queue(session, workspace_id, values["default_queue_id"])
        for key, value in values.items():
            setattr(number, key, value)
        await session.flush()
        account = await session.get(WhatsAppAccount, number.account_id)
        return _info(number, account)


async def remove_number(db: Database, workspace_id: int, number_id: int) -> None:
    """Remove a number that never carried a conversation (see the module's docstring).

    Its WhatsApp account stays (templates belong to it); a flow bound to the number loses
    that binding.
    """
    async with db.write() as session:
        number = await _own(session, workspace_id, number_id)
        used = await session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.phone_number_id == number.id)
        )
        if used:
            raise PhoneNumberError(
                None,
                f"{number.display_phone_number} has {used} conversation"
                f"{'s' if used != 1 else ''}: removing it would delete them and their "
                "messages, so it stays connected. To stop using it, give it a new token or "
                "unsubscribe the app from its account in Meta Business Manager",
                code="number_in_use",
                status=409,
            )
        await session.delete(number)
