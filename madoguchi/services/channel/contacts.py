"""Finding and updating the contact behind a WhatsApp identity.

The rules are in ``domain.identity``; this module applies them to stored rows, including
the two cases the rules leave to storage: a phone-only contact that turns out to be the
same person as a BSUID contact (merged into one), and a phone that now belongs to a
different BSUID (moved to the new contact, the old one keeps its history).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.identity import (
    KnownIdentity,
    ObservedIdentity,
    choose_contact,
    merge_identity,
)
from madoguchi.store.models import Contact, Conversation

IDENTITY_FIELDS = ("user_id", "wa_id", "username", "profile_name", "parent_user_id")


async def _by(
    session: AsyncSession, workspace_id: int, column, value: str | None
) -> Contact | None:
    if not value:
        return None
    return await session.scalar(
        select(Contact).where(Contact.workspace_id == workspace_id, column == value)
    )


async def _merge_into(session: AsyncSession, keep: Contact, gone: Contact) -> None:
    await session.execute(
        update(Conversation).where(Conversation.contact_id == gone.id).values(contact_id=keep.id)
    )
    for attr in ("username", "profile_name"):
        if getattr(keep, attr) is None:
            setattr(keep, attr, getattr(gone, attr))
    await session.delete(gone)
    await session.flush()


async def resolve_contact(
    session: AsyncSession, workspace_id: int, seen: ObservedIdentity
) -> tuple[Contact, bool]:
    """The contact for ``seen`` (created when new), and whether it was created."""
    by_user_id = await _by(session, workspace_id, Contact.user_id, seen.user_id)
    by_wa_id = await _by(session, workspace_id, Contact.wa_id, seen.wa_id)

    if by_wa_id is not None and by_wa_id is not by_user_id and seen.user_id:
        if by_wa_id.user_id is None and by_user_id is not None:
            # First seen by phone, later by BSUID under another row: one person.
            await _merge_into(session, by_user_id, by_wa_id)
            by_wa_id = None
        elif by_wa_id.user_id is not None and by_wa_id.user_id != seen.user_id:
            # The phone now belongs to another BSUID (a number changed hands).
            by_wa_id.wa_id = None
            await session.flush()
            by_wa_id = None

    contact = choose_contact(by_user_id, by_wa_id)
    if contact is None:
        contact = Contact(
            workspace_id=workspace_id, **{f: getattr(seen, f) for f in IDENTITY_FIELDS}
        )
        session.add(contact)
        await session.flush()
        return contact, True

    known = KnownIdentity(**{f: getattr(contact, f) for f in IDENTITY_FIELDS})
    if merge_identity(known, seen):
        for f in IDENTITY_FIELDS:
            setattr(contact, f, getattr(known, f))
        await session.flush()
    return contact, False


async def apply_identity_change(
    session: AsyncSession, contact: Contact, new_wa_id: str | None, new_user_id: str | None
) -> None:
    """Apply a ``user_changed_number`` / ``user_changed_user_id`` system message.

    The contact keeps its history and takes the new phone and/or BSUID; a row that held
    the new value before (a recycled number, an earlier stray contact) gives it up.
    """
    for column, value in ((Contact.wa_id, new_wa_id), (Contact.user_id, new_user_id)):
        if not value or getattr(contact, column.key) == value:
            continue
        holder = await _by(session, contact.workspace_id, column, value)
        if holder is not None and holder.id != contact.id:
            setattr(holder, column.key, None)
            await session.flush()
        setattr(contact, column.key, value)
        await session.flush()
