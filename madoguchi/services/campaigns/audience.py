"""Add customers to a campaign's audience: from a CSV file, from contacts by tag, or both.

Every customer becomes a contact (found by BSUID or phone, created when new) and one
recipient row per campaign: a second mention of the same contact (another row, another
upload, a tag) is merged and counted. Customers who opted out of marketing are kept as
``opted_out`` recipients when the campaign's template is a marketing one (so the count
is visible), and never sent to.

The work goes in slices of ``SLICE`` rows, each its own short transaction: 100,000 rows
never hold the database (on SQLite: the event loop) long enough to delay a webhook's
acknowledgement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.identity import ObservedIdentity
from madoguchi.services.campaigns.audience_csv import (
    AudienceRow,
    ParsedAudience,
    RowProblem,
    normalize_phone,
)
from madoguchi.services.channel.contacts import resolve_contact
from madoguchi.store.bulk import bulk_insert
from madoguchi.store.db import Database
from madoguchi.store.models import (
    Campaign,
    CampaignRecipient,
    Contact,
    Conversation,
    ConversationTag,
    MarketingPreference,
)

SLICE = 2_000
MAX_PROBLEMS_KEPT = 500


@dataclass(slots=True)
class ImportReport:
    """What one audience import did (kept on the campaign, shown by the API)."""

    rows: int = 0
    added: int = 0
    duplicates: int = 0
    opted_out: int = 0
    invalid: int = 0
    blank_lines: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    duplicate_lines: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "added": self.added,
            "duplicates": self.duplicates,
            "opted_out": self.opted_out,
            "invalid": self.invalid,
            "blank_lines": self.blank_lines,
            "problems": [p.as_dict() for p in self.problems[:MAX_PROBLEMS_KEPT]],
            "problems_truncated": len(self.problems) > MAX_PROBLEMS_KEPT,
            "duplicate_lines": self.duplicate_lines[:100],
        }


async def _contacts_by(
    session: AsyncSession, workspace_id: int, column, values: Sequence[str]
) -> dict[str, int]:
    if not values:
        return {}
    rows = await session.execute(
        select(column, Contact.id).where(Contact.workspace_id == workspace_id, column.in_(values))
    )
    return {value: contact_id for value, contact_id in rows}


async def _resolve_contacts(
    session: AsyncSession, workspace_id: int, rows: Sequence[AudienceRow]
) -> list[int]:
    """The contact of each row (created when new), in the rows' order."""
    out: list[int | None] = [None] * len(rows)
    by_user = await _contacts_by(
        session, workspace_id, Contact.user_id, [r.user_id for r in rows if r.user_id]
    )
    by_phone = await _contacts_by(
        session, workspace_id, Contact.wa_id, [r.wa_id for r in rows if r.wa_id and not r.user_id]
    )
    missing: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        if row.user_id and row.wa_id:
            continue  # both given: the full identity rules (merges, changed numbers)
        found = by_user.get(row.user_id) if row.user_id else by_phone.get(row.wa_id)
        if found is not None:
            out[i] = found
        else:
            missing.append(
                {
                    "workspace_id": workspace_id,
                    "user_id": row.user_id,
                    "wa_id": row.wa_id,
                    "profile_name": row.name,
                }
            )
    if missing:
        await bulk_insert(session, Contact.__table__, missing, skip_conflicts=True)
        by_user.update(
            await _contacts_by(
                session,
                workspace_id,
                Contact.user_id,
                [m["user_id"] for m in missing if m["user_id"]],
            )
        )
        by_phone.update(
            await _contacts_by(
                session, workspace_id, Contact.wa_id, [m["wa_id"] for m in missing if m["wa_id"]]
            )
        )
    for i, row in enumerate(rows):
        if out[i] is not None:
            continue
        if row.user_id and row.wa_id:
            contact, created = await resolve_contact(
                session, workspace_id, ObservedIdentity(user_id=row.user_id, wa_id=row.wa_id)
            )
            if created and row.name:
                contact.profile_name = row.name
            out[i] = contact.id
        else:
            out[i] = by_user.get(row.user_id) if row.user_id else by_phone.get(row.wa_id)
    return out  # type: ignore[return-value]


async def _opted_out(session: AsyncSession, contact_ids: Iterable[int]) -> set[int]:
    ids = list(contact_ids)
    if not ids:
        return set()
    found = await session.scalars(
        select(MarketingPreference.contact_id).where(
            MarketingPreference.contact_id.in_(ids), MarketingPreference.opted_out.is_(True)
        )
    )
    return set(found)


async def _already_in(session: AsyncSession, campaign_id: int, contact_ids: list[int]) -> set[int]:
    found = await session.scalars(
        select(CampaignRecipient.contact_id).where(
            CampaignRecipient.campaign_id == campaign_id,
            CampaignRecipient.contact_id.in_(contact_ids),
        )
    )
    return set(found)


async def add_rows(
    db: Database,
    campaign: Campaign,
    rows: Sequence[AudienceRow],
    *,
    marketing: bool,
    report: ImportReport,
    source: str = "csv",
) -> None:
    """Add parsed rows to the campaign's audience, a slice per transaction."""
    for start in range(0, len(rows), SLICE):
        part = rows[start : start + SLICE]
        async with db.write() as session:
            contact_ids = await _resolve_contacts(session, campaign.workspace_id, part)
            known = await _already_in(session, campaign.id, contact_ids)
            opted = await _opted_out(session, contact_ids) if marketing else set()
            values: list[dict[str, Any]] = []
            for row, contact_id in zip(part, contact_ids, strict=True):
                if contact_id in known:
                    report.duplicates += 1
                    if len(report.duplicate_lines) < 100 and source == "csv":
                        report.duplicate_lines.append(row.line)
                    continue
                known.add(contact_id)
                out = contact_id in opted
                report.opted_out += out
                report.added += not out
                values.append(
                    {
                        "workspace_id": campaign.workspace_id,
                        "campaign_id": campaign.id,
                        "phone_number_id": campaign.phone_number_id,
                        "contact_id": contact_id,
                        "wa_id": row.wa_id,
                        "user_id": row.user_id,
                        "name": row.name,
                        "country": row.country,
                        "variables": row.variables,
                        "source": f"csv:{row.line}" if source == "csv" else source,
                        "state": "opted_out" if out else "pending",
                        "error": "opted out of marketing messages" if out else None,
                    }
                )
            if values:
                await bulk_insert(
                    session, CampaignRecipient.__table__, values, skip_conflicts=False
                )
        await asyncio.sleep(0)  # let webhooks in between slices


async def import_csv(
    db: Database, campaign: Campaign, parsed: ParsedAudience, *, marketing: bool
) -> ImportReport:
    report = ImportReport(
        rows=len(parsed.rows) + len(parsed.problems) + parsed.duplicates,
        duplicates=parsed.duplicates,
        invalid=len(parsed.problems),
        blank_lines=parsed.blank_lines,
        problems=list(parsed.problems),
        duplicate_lines=list(parsed.duplicate_lines),
    )
    await add_rows(db, campaign, parsed.rows, marketing=marketing, report=report)
    return report


async def contacts_with_tags(
    session: AsyncSession, workspace_id: int, tags: Sequence[str]
) -> list[Contact]:
    """Contacts having a conversation tagged with any of ``tags`` (case as typed)."""
    rows = await session.scalars(
        select(Contact)
        .where(
            Contact.workspace_id == workspace_id,
            Contact.id.in_(
                select(Conversation.contact_id)
                .join(ConversationTag, ConversationTag.conversation_id == Conversation.id)
                .where(
                    Conversation.workspace_id == workspace_id,
                    ConversationTag.tag.in_(list(tags)),
                )
            ),
        )
        .order_by(Contact.id)
    )
    return list(rows)


def _country_of(contact: Contact) -> str | None:
    if contact.user_id:
        return contact.user_id[:2]
    return None


async def import_tags(
    db: Database, campaign: Campaign, tags: Sequence[str], *, marketing: bool
) -> ImportReport:
    async with db.read() as session:
        contacts = await contacts_with_tags(session, campaign.workspace_id, tags)
    rows: list[AudienceRow] = []
    for contact in contacts:
        country = _country_of(contact)
        if contact.wa_id and country is None:
            try:
                country = normalize_phone(contact.wa_id)[1]
            except ValueError:
                country = None
        rows.append(
            AudienceRow(0, contact.wa_id, contact.user_id, contact.profile_name, country, {})
        )
    report = ImportReport(rows=len(rows))
    await add_rows(
        db,
        campaign,
        rows,
        marketing=marketing,
        report=report,
        source=("tags:" + ",".join(tags))[:80],
    )
    return report
