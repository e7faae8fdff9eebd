"""The migrations build exactly the schema the models declare, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from madoguchi.store.models import Base


async def test_migrated_schema_matches_the_models(db_url):
    engine = create_async_engine(db_url)
    async with engine.connect() as connection:

        def diff(sync_connection):
            context = MigrationContext.configure(sync_connection, opts={"compare_type": False})
            return compare_metadata(context, Base.metadata)

        differences = await connection.run_sync(diff)
    await engine.dispose()
    assert differences == []
