"""The campaigns' bulk INSERT (100,000 recipients): the same rows as the ORM would write,
defaults included, and a unique clash skipped when asked, on both databases."""

from __future__ import annotations

from sqlalchemy import select

from madoguchi.store.bulk import bulk_insert
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


async def test_insert_returning_ids_and_bulk_update_by_id(db_url):
    from madoguchi.store.bulk import bulk_update, insert_returning_ids

    db = Database(db_url)
    try:
        await seed_workspace(db)
        async with db.write() as session:
            workspace_id = await session.scalar(select(Workspace.id))
            session.add(Contact(workspace_id=workspace_id, wa_id="819100000000"))
        rows = [{"workspace_id": workspace_id, "wa_id": f"81910000000{i}"} for i in range(1, 4)]
        async with db.write() as session:
            ids = await insert_returning_ids(session, Contact.__table__, rows)
            await bulk_update(
                session,
                Contact.__table__,
                [{"id": i, "profile_name": f"名 {n}"} for n, i in enumerate(ids)],
            )
        async with db.read() as session:
            found = dict(
                (
                    await session.execute(
                        select(Contact.id, Contact.wa_id).where(Contact.id.in_(ids))
                    )
                ).all()
            )
            names = dict(
                (
                    await session.execute(
                        select(Contact.wa_id, Contact.profile_name).where(
                            Contact.workspace_id == workspace_id
                        )
                    )
                ).all()
            )
        # Each returned id is the row inserted from the same position.
        assert [found[i] for i in ids] == [r["wa_id"] for r in rows]
        assert names == {
            "819100000000": None,
            "819100000001": "名 0",
            "819100000002": "名 1",
            "819100000003": "名 2",
        }
    finally:
        await db.dispose()
