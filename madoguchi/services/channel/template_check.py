"""May this template go to this customer now? Checked before a template is queued.

Only approved templates are sent, marketing ones never to a customer who opted out, and
authentication ones only to a customer whose phone is known. Templates not synced from
Meta pass (Meta decides).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.services.channel import marketing_optout
from madoguchi.services.templates.catalog import SENDABLE, find_template
from madoguchi.store.models import Contact, PhoneNumber
from madoguchi.whatsapp.outbound import TemplateBody


async def template_send_check(
    session: AsyncSession, phone_number_pk: int, contact: Contact, template: TemplateBody
) -> tuple[str | None, tuple[str, str, int] | None]:
    """The template's category (None when not known here) and a refusal, if any, as
    ``(code, message, http status)`` for ``OutboundRefused``.

    Unknown templates pass (Meta decides): sync templates to have them checked here.
    """
    account_id = await session.scalar(
        select(PhoneNumber.account_id).where(PhoneNumber.id == phone_number_pk)
    )
    row = await find_template(session, account_id, template.name, template.language.code)
    if row is None:
        return None, None
    label = f"template {row.name} ({row.language})"
    if row.status not in SENDABLE:
        reason = f": {row.rejected_reason}" if row.rejected_reason else ""
        return row.category, (
            "template_not_approved",
            f"{label} is {row.status}{reason}; only approved templates can be sent",
            409,
        )
    if row.category == "MARKETING" and await marketing_optout.is_opted_out(session, contact.id):
        return row.category, (
            "opted_out",
            "This customer has opted out of marketing messages, so marketing templates "
            "cannot be sent to them (a utility template, or their reply, still can).",
            409,
        )
    if row.category == "AUTHENTICATION" and not contact.wa_id:
        return row.category, (
            "authentication_needs_phone",
            "Authentication templates cannot be sent to a customer known only by their "
            "user id (BSUID); WhatsApp needs their phone number.",
            422,
        )
    return row.category, None
