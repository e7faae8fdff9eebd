"""The assist tests' stack: the contact-center workspace (agents, a supervisor, queues)."""

from __future__ import annotations

import pytest

from tests.contact_center.test_routing import make_cc


@pytest.fixture
async def cc(db_url, tmp_path):
    c = await make_cc(db_url, tmp_path)
    yield c
    await c.stack.client.aclose()
    await c.stack.served.stop()
