"""Each number's health: what Meta says of it, what our own traffic says, and warnings.

A number fails quietly in many ways: its token expires (Embedded Signup's business
tokens do), the app stops receiving the account's webhooks, the number falls out of
registration, its quality drops and its messaging limit with it, sends start failing with
one code. The health page puts them side by side, each with a warning in words when it
needs someone to act ("the access token expires in 5 days", "no webhook for 2 hours while
sends succeed").

A *check* asks Meta (the phone number's fields, ``debug_token`` with the app's token, the
WABA's ``subscribed_apps``, the number's calling settings) and stores the answers on the
number's ``number_health`` row; each question that fails is noted on its own, the others
still count. A *report* reads that row with the number's traffic from our database (last
webhook, last successful send, send errors grouped by Meta code, quality webhooks since
the check) and computes the warnings against the current time, so a warning such as "no
webhook for 2 hours" is true when it is read, not when the check ran. Checks run on
demand and periodically (:class:`HealthChecker`, every
``MADOGUCHI_HEALTH_CHECK_INTERVAL_SECONDS``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select

from madoguchi.security.secrets import SecretBox
from madoguchi.services.channel.numbers import PhoneNumberError
from madoguchi.services.onboarding.meta_app import MetaApp, in_words
from madoguchi.store.db import Database
from madoguchi.store.models import (
    AccountEventRecord,
    Conversation,
    Message,
    MessageStatusEvent,
    NumberHealth,
    OutboxEntry,
    PhoneNumber,
    WhatsAppAccount,
)
from madoguchi.whatsapp.errors import GraphTransportError, MetaApiError, family_for_code
from madoguchi.whatsapp.graph import PHONE_NUMBER_FIELDS, GraphClient

log = logging.getLogger(__name__)

TOKEN_EXPIRY_WARNING = timedelta(days=7)
WEBHOOK_SILENCE = timedelta(hours=2)
ERROR_WINDOW = timedelta(days=7)
NEEDED_SCOPES = ("whatsapp_business_management", "whatsapp_business_messaging")


class HealthError(PhoneNumberError):
    """A number that is not there (or not the caller's workspace's)."""


@dataclass(frozen=True)
class HealthWarning:
    code: str
    level: str  # warning | danger
    message: str


@dataclass
class HealthReport:
    number_id: int
    phone_number_id: str
    display_phone_number: str
    status: str  # ours: connected | disconnected | …
    checked_at: datetime | None
    reached: bool | None
    meta: dict[str, Any] = field(default_factory=dict)
    token: dict[str, Any] = field(default_factory=dict)
    webhooks: dict[str, Any] = field(default_factory=dict)
    calling: dict[str, Any] = field(default_factory=dict)
    traffic: dict[str, Any] = field(default_factory=dict)
    warnings: list[HealthWarning] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- the check


async def check_number(
    db: Database,
    graph: GraphClient,
    secrets: SecretBox,
    app: MetaApp,
    workspace_id: int,
    number_id: int,
    *,
    now: datetime | None = None,
) -> HealthReport:
    """Ask Meta about the number now, store the answers, and report."""
    now = now or datetime.now(UTC)
    async with db.read() as session:
        number, account = await number_and_account(session, workspace_id, number_id)
        token = secrets.decrypt(number.access_token_encrypted)
        phone_number_id, waba_id = number.phone_number_id, account.waba_id
    answers = await _ask_meta(graph, app, token, phone_number_id, waba_id)
    async with db.write() as session:
        number = await session.get(PhoneNumber, number_id)
        row = await session.scalar(select(NumberHealth).where(NumberHealth.number_id == number_id))
        if row is None:
            row = NumberHealth(workspace_id=workspace_id, number_id=number_id)
            session.add(row)
        row.checked_at = now
        row.reached = answers["reached"]
        row.report = answers
        phone = answers["meta"]
        if phone.get("quality_rating"):
            number.quality_rating = str(phone["quality_rating"])[:16]
        if phone.get("verified_name"):
            number.verified_name = str(phone["verified_name"])[:200]
    return await health_report(db, workspace_id, number_id, now=now)


async def _ask_meta(
    graph: GraphClient, app: MetaApp, token: str, phone_number_id: str, waba_id: str
) -> dict[str, Any]:
    secrets = (token, app.app_secret)
    answers: dict[str, Any] = {"meta": {}, "token": {}, "webhooks": {}, "calling": {}}
    reached = False
    try:
        info = await graph.get_phone_number(phone_number_id, token, fields=PHONE_NUMBER_FIELDS)
        throughput = info.get("throughput")
        answers["meta"] = {
            "verified_name": info.get("verified_name"),
            "display_phone_number": info.get("display_phone_number"),
            "quality_rating": info.get("quality_rating"),
            "messaging_limit_tier": info.get("messaging_limit_tier"),
            "throughput_level": throughput.get("level") if isinstance(throughput, dict) else None,
            "name_status": info.get("name_status"),
            "status": info.get("status"),
            "code_verification_status": info.get("code_verification_status"),
        }
        reached = True
    except (MetaApiError, GraphTransportError) as exc:
        answers["meta"] = {"error": in_words(exc, *secrets), "error_code": _code(exc)}
        reached = reached or isinstance(exc, MetaApiError)
    if app.app_id:
        try:
            data = await graph.debug_token(token, app.app_id, app.app_secret)
            error = data.get("error") if isinstance(data.get("error"), dict) else None
            answers["token"] = {
                "checked": True,
                "valid": bool(data.get("is_valid")),
                "type": data.get("type"),
                "scopes": [s for s in data.get("scopes") or [] if isinstance(s, str)],
                "expires_at": _timestamp(data.get("expires_at")),
                "error": (error or {}).get("message"),
            }
            reached = True
        except (MetaApiError, GraphTransportError) as exc:
            answers["token"] = {"checked": False, "error": in_words(exc, *secrets)}
    else:
        answers["token"] = {
            "checked": False,
            "error": "set MADOGUCHI_META_APP_ID to check the token's validity and expiry",
        }
    try:
        apps = await graph.subscribed_apps(waba_id, token)
        ids = [str((a.get("whatsapp_business_api_data") or {}).get("id") or "") for a in apps]
        answers["webhooks"] = {
            "subscribed": (app.app_id in ids) if app.app_id else bool(ids),
            "apps": [i for i in ids if i],
        }
        reached = True
    except (MetaApiError, GraphTransportError) as exc:
        answers["webhooks"] = {"subscribed": None, "error": in_words(exc, *secrets)}
    try:
        calling = (await graph.get_number_settings(phone_number_id, token)).get("calling")
        answers["calling"] = {
            "status": calling.get("status") if isinstance(calling, dict) else None
        }
    except (MetaApiError, GraphTransportError):
        answers["calling"] = {"status": None}  # not offered to this number (or app)
    answers["reached"] = reached
    return answers


def _timestamp(value: Any) -> str | None:
    """Meta's ``expires_at`` (0: never) as an ISO time."""
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(value, UTC).isoformat()
    return None


def _code(exc: Exception) -> int | None:
    return exc.code if isinstance(exc, MetaApiError) else None


# ----------------------------------------------------------------------------- the report


async def number_and_account(
    session, workspace_id: int, number_id: int
) -> tuple[PhoneNumber, WhatsAppAccount]:
    row = (
        await session.execute(
            select(PhoneNumber, WhatsAppAccount)
            .join(WhatsAppAccount, PhoneNumber.account_id == WhatsAppAccount.id)
            .where(PhoneNumber.id == number_id, PhoneNumber.workspace_id == workspace_id)
        )
    ).first()
    if row is None:
        raise HealthError(None, f"phone number {number_id} not found", code="not_found", status=404)
    return row[0], row[1]


async def health_report(
    db: Database, workspace_id: int, number_id: int, *, now: datetime | None = None
) -> HealthReport:
    """The last check's answers, the number's traffic, and the warnings as of ``now``."""
    now = now or datetime.now(UTC)
    async with db.read() as session:
        number, account = await number_and_account(session, workspace_id, number_id)
        stored = await session.scalar(
            select(NumberHealth).where(NumberHealth.number_id == number_id)
        )
        traffic = await _traffic(session, number, account, now)
    answers = stored.report if stored is not None else {}
    report = HealthReport(
        number_id=number.id,
        phone_number_id=number.phone_number_id,
        display_phone_number=number.display_phone_number,
        status=number.status,
        checked_at=stored.checked_at if stored is not None else None,
        reached=stored.reached if stored is not None else None,
        meta=dict(answers.get("meta") or {}),
        token=dict(answers.get("token") or {}),
        webhooks=dict(answers.get("webhooks") or {}),
        calling=dict(answers.get("calling") or {}),
        traffic=traffic,
    )
    quality_event = traffic.get("quality_event")
    if quality_event and quality_event.get("current_limit"):
        checked = report.checked_at
        if checked is None or quality_event["at"] > checked.isoformat():
            report.meta["messaging_limit_tier"] = quality_event["current_limit"]
    report.warnings = warnings_for(report, now)
    return report


async def _traffic(session, number: PhoneNumber, account: WhatsAppAccount, now: datetime) -> dict:
    conversations = select(Conversation.id).where(Conversation.phone_number_id == number.id)
    last_inbound = await session.scalar(
        select(func.max(Message.created_at)).where(
            Message.conversation_id.in_(conversations), Message.direction == "inbound"
        )
    )
    # Statuses as webhooks brought them (a message's own status also moves on our sends).
    last_status = await session.scalar(
        select(func.max(MessageStatusEvent.created_at)).where(
            MessageStatusEvent.message_id.in_(
                select(Message.id).where(
                    Message.conversation_id.in_(conversations), Message.direction == "outbound"
                )
            )
        )
    )
    last_send = await session.scalar(
        select(func.max(OutboxEntry.finished_at)).where(
            OutboxEntry.phone_number_id == number.id, OutboxEntry.state == "done"
        )
    )
    since = now - ERROR_WINDOW
    rows = (
        await session.execute(
            select(
                Message.error_code,
                func.count(),
                func.max(Message.error_message),
                func.max(Message.created_at),
            )
            .join(OutboxEntry, OutboxEntry.message_id == Message.id)
            .where(
                OutboxEntry.phone_number_id == number.id,
                OutboxEntry.created_at >= since,
                or_(Message.error_code.is_not(None), Message.status == "failed"),
            )
            .group_by(Message.error_code)
            .order_by(func.count().desc())
        )
    ).all()
    errors = [
        {
            "code": code,
            "count": count,
            "message": message,
            "last_at": _iso(last),
            "needs_admin": family_for_code(code).alerts_admin if code is not None else False,
        }
        for code, count, message, last in rows
    ]
    webhook = max((t for t in (last_inbound, last_status) if t is not None), default=None)
    return {
        "last_webhook_at": _iso(webhook),
        "last_inbound_at": _iso(last_inbound),
        "last_send_at": _iso(last_send),
        "errors": errors,
        "errors_since": since.isoformat(),
        "quality_event": await _quality_event(session, number, account),
    }


async def _quality_event(session, number: PhoneNumber, account: WhatsAppAccount) -> dict | None:
    """The newest ``phone_number_quality_update`` webhook for this number."""
    digits = "".join(c for c in number.display_phone_number if c.isdigit())
    records = (
        await session.scalars(
            select(AccountEventRecord)
            .where(
                AccountEventRecord.account_id == account.id,
                AccountEventRecord.field == "phone_number_quality_update",
            )
            .order_by(AccountEventRecord.id.desc())
            .limit(50)
        )
    ).all()
    for record in records:
        value = record.value or {}
        shown = "".join(c for c in str(value.get("display_phone_number") or "") if c.isdigit())
        if shown == digits:
            return {
                "event": value.get("event"),
                "current_limit": value.get("current_limit"),
                "old_limit": value.get("old_limit"),
                "at": record.created_at.isoformat(),
            }
    return None


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# ----------------------------------------------------------------------------- warnings


def warnings_for(report: HealthReport, now: datetime) -> list[HealthWarning]:
    """What needs someone to act, most urgent first."""
    found: list[HealthWarning] = []

    def add(code: str, level: str, message: str) -> None:
        found.append(HealthWarning(code, level, message))

    if report.status == "disconnected":
        add("disconnected", "warning", "this number is disconnected: nothing is sent from it")
    if report.checked_at is None:
        add("never_checked", "warning", "not checked with Meta yet: run a check")
    meta, token, hooks = report.meta, report.token, report.webhooks
    if meta.get("error"):
        add("meta_unreachable", "danger", f"Meta did not answer about this number: {meta['error']}")
    status = str(meta.get("status") or "").upper()
    if status and status != "CONNECTED":
        add(
            "not_connected",
            "danger",
            f"Meta says the number is {status}, not CONNECTED: it cannot send (register it "
            "again with Connect with Meta, or check WhatsApp Manager)",
        )
    if token.get("checked") and not token.get("valid"):
        add(
            "token_invalid",
            "danger",
            f"Meta says the access token is no longer valid ({token.get('error') or 'invalid'}): "
            "reconnect the number with Connect with Meta or give it a new token",
        )
    expires = _parse(token.get("expires_at"))
    if token.get("valid") and expires is not None:
        left = expires - now
        if left <= TOKEN_EXPIRY_WARNING:
            days = max(0, left.days)
            when = "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
            add(
                "token_expiring",
                "danger" if days <= 1 else "warning",
                f"the access token expires {when} ({expires:%Y-%m-%d %H:%M} UTC): reconnect "
                "the number with Connect with Meta before then",
            )
    missing = [s for s in NEEDED_SCOPES if token.get("valid") and s not in token.get("scopes", [])]
    if missing:
        add("token_scopes", "warning", f"the token lacks {', '.join(missing)}")
    if hooks.get("subscribed") is False:
        add(
            "webhooks_unsubscribed",
            "danger",
            "Meta does not send this account's webhooks to the app: customers' messages and "
            "delivery statuses will not arrive (reconnect the number to subscribe again)",
        )
    quality = str(meta.get("quality_rating") or "").upper()
    if quality in ("YELLOW", "RED"):
        add(
            "quality",
            "danger" if quality == "RED" else "warning",
            f"quality rating {quality}: customers are blocking or reporting this number; "
            "its messaging limit may drop",
        )
    name = str(meta.get("name_status") or "").upper()
    if name and name not in ("APPROVED", "AVAILABLE_WITHOUT_REVIEW"):
        add("name_status", "warning", f"the display name's review status is {name}")
    traffic = report.traffic
    last_send, last_hook = (
        _parse(traffic.get("last_send_at")),
        _parse(traffic.get("last_webhook_at")),
    )
    if (
        report.status != "disconnected"
        and last_send is not None
        and now - last_send <= WEBHOOK_SILENCE
        and (last_hook is None or now - last_hook > WEBHOOK_SILENCE)
    ):
        add(
            "webhook_silence",
            "danger",
            "no webhook for 2 hours while sends succeed: delivery statuses and replies are not "
            "reaching Madoguchi (check the webhook URL and subscription in the Meta app)",
        )
    for error in traffic.get("errors", []):
        if error.get("needs_admin"):
            add(
                f"send_error_{error['code']}",
                "danger",
                f"{error['count']} send{'s' if error['count'] != 1 else ''} failed with Meta "
                f"error {error['code']} in the last 7 days ({error.get('message') or ''})".rstrip(
                    " ()"
                )
                + ": an administrator must act",
            )
    order = {"danger": 0, "warning": 1}
    return sorted(found, key=lambda w: order.get(w.level, 2))


# ----------------------------------------------------------------------------- periodic


class HealthChecker:
    """Checks every connected number whose last check is older than the interval."""

    def __init__(
        self, db: Database, graph: GraphClient, secrets: SecretBox, app: MetaApp, interval: float
    ) -> None:
        self.db = db
        self.graph = graph
        self.secrets = secrets
        self.app = app
        self.interval = interval

    async def check_due(self, now: datetime | None = None) -> int:
        """One pass: check the numbers that are due; returns how many were checked."""
        now = now or datetime.now(UTC)
        due_before = now - timedelta(seconds=self.interval)
        async with self.db.read() as session:
            rows = (
                await session.execute(
                    select(PhoneNumber.workspace_id, PhoneNumber.id)
                    .outerjoin(NumberHealth, NumberHealth.number_id == PhoneNumber.id)
                    .where(
                        PhoneNumber.status != "disconnected",
                        or_(NumberHealth.id.is_(None), NumberHealth.checked_at < due_before),
                    )
                    .order_by(PhoneNumber.id)
                )
            ).all()
        for workspace_id, number_id in rows:
            try:
                await check_number(
                    self.db, self.graph, self.secrets, self.app, workspace_id, number_id, now=now
                )
            except HealthError:
                continue  # removed meanwhile
        return len(rows)

    async def run(self) -> None:
        if self.interval <= 0:
            return
        while True:
            # First a pause: a process that just started has other work, and a restart
            # loop must not turn into a stream of calls to Meta.
            await asyncio.sleep(min(self.interval, 300.0))
            try:
                await self.check_due()
            except Exception:  # a bad pass must not end the periodic checks
                log.exception("number health checks failed; next pass later")
