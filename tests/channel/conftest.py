"""Fixtures of the channel tests."""

from __future__ import annotations

import pytest

from madoguchi.store.db import Database
from tests.conftest import _truncate, seed_workspace


@pytest.fixture
async def pg(postgres_database):
    """The worker's PostgreSQL database, emptied and seeded with the test workspace: the
    journal tests play several processes on it (each its own ``Database``)."""
    await _truncate(postgres_database)
    database = Database(postgres_database)
    await seed_workspace(database)
    yield database
    await database.dispose()
