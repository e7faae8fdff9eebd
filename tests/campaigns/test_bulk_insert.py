"""The campaigns' bulk INSERT (100,000 recipients): the same rows as the ORM would write,
defaults included, and a unique clash skipped when asked, on both databases."""

from __future__ import annotations

from sqlalchemy import select

from madoguchi.services.campaigns.audience import bulk_insert
from madoguchi.store.db import Database
from madoguchi.store.models import Contact, Workspace
from tests.conftest import seed_workspace


async def test_bulk_insert_fills_defaults_and_skips_unique_clashes(db_url):
    db = Database(db_url)
    try:
        await seed_workspace(db)
        async with db.write() as session:
            workspace_id = await session.scalar(select(Workspace.id))
            session.add(Contact(workspace_id=workspace_id, wa_id="819000000001", profile_name="A"))
        rows = [
            {"workspace_id": workspace_id, "wa_id": f"81900000000{i}", "profile_name": f"客 {i}"}
            for i in range(1, 4)
        ]
        async with db.write() as session:
            await bulk_insert(session, Contact.__table__, rows, skip_conflicts=True)
        async with db.read() as session:
            contacts = (
                await session.scalars(
                    select(Contact)
                    .where(Contact.workspace_id == workspace_id)
                    .order_by(Contact.wa_id)
                )
            ).all()
        assert [(c.wa_id, c.profile_name) for c in contacts] == [
            ("819000000001", "A"),  # already there: kept, the clashing row skipped
            ("819000000002", "客 2"),
            ("819000000003", "客 3"),
        ]
        assert all(c.created_at is not None and c.created_at.tzinfo is not None for c in contacts)
        assert all(c.updated_at is not None for c in contacts)
    finally:
        await db.dispose()
