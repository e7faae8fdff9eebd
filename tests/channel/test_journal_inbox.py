"""The webhook journal's inbox (SQLite, split layout: ``services.channel.journal_inbox``):
appends commit into a file of their own, the processor moves them into the journal once
each and in order, the web process trims only what moved, ids never go back, and a
process killed with SIGKILL after an append or in the middle of a move loses nothing and
repeats nothing. The end-to-end kill -9 of either process of ``madoguchi serve`` under a
stream is in tests/e2e/test_kill_processing.py."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select

from madoguchi.runtime import Runtime
from madoguchi.services.channel import journal_inbox
from madoguchi.services.channel.journal_claim import customer_key
from madoguchi.services.channel.journal_inbox import Inbox, inbox_path, move, waiting
from madoguchi.services.channel.webhook_journal import DeliveryProcessor, Journal
from madoguchi.store.db import Database
from madoguchi.store.models import Contact, Conversation, Message, WebhookDelivery
from madoguchi.whatsapp.updates import parse_delivery
from tests.conftest import fixture_payload, make_settings, seed_workspace
from tests.helpers import eventually

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def db(tmp_path, sqlite_template):
    path = tmp_path / "madoguchi.db"
    path.write_bytes(sqlite_template.read_bytes())
    database = Database(f"sqlite+aiosqlite:///{path}")
    await seed_workspace(database)
    yield database
    await database.dispose()


def delivery(wamid: str, wa_id: str = "15551230001") -> bytes:
    payload = fixture_payload("message_text.json")
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"][0]["id"] = wamid
    value["messages"][0]["from"] = wa_id
    value["contacts"][0]["wa_id"] = wa_id
    value["contacts"][0].pop("user_id", None)
    value["messages"][0].pop("from_user_id", None)
    return json.dumps(payload).encode()


def key_of(body: bytes) -> str | None:
    return customer_key(parse_delivery(json.loads(body)))


async def journal_rows(db: Database) -> list[WebhookDelivery]:
    async with db.read() as session:
        return list(
            (await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))).all()
        )


async def stored_wamids(db: Database) -> list[tuple[str, str]]:
    async with db.read() as session:
        rows = await session.execute(
            select(Contact.wa_id, Message.wamid)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .join(Contact, Contact.id == Conversation.contact_id)
            .order_by(Message.id)
        )
        return [tuple(row) for row in rows.all()]


def inbox_ids(db: Database) -> list[int]:
    import sqlite3

    with sqlite3.connect(inbox_path(db.url)) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM inbox_deliveries ORDER BY id")]


async def test_appends_move_once_in_order_and_are_processed_in_each_customers_order(db):
    inbox = Inbox(db.url)
    inbox.open()
    journal = Journal(db)
    journal.inbox = inbox
    bodies = [
        delivery("wamid.A1", "15551230001"),
        delivery("wamid.B1", "15551230002"),
        delivery("wamid.A2", "15551230001"),
        delivery("wamid.A3", "15551230001"),
    ]
    ids = await asyncio.gather(*(journal.append(b, 1, key_of(b)) for b in bodies))
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert await journal_rows(db) == []  # acknowledged: in the inbox only
    assert waiting(db.url) == 4

    db.attach_inbox(inbox_path(db.url))
    assert await move(db, limit=3) == 3  # in id order, up to the limit
    assert await move(db) == 1
    assert await move(db) == 0  # each row moves once
    rows = await journal_rows(db)
    assert [r.id for r in rows] == ids
    assert [r.body for r in rows] == bodies
    assert [r.customer_key for r in rows] == [key_of(b) for b in bodies]
    assert {(r.state, r.attempts, r.update_count) for r in rows} == {("pending", 0, 1)}
    assert all(r.received_at is not None for r in rows)
    assert waiting(db.url) == 0

    processor = DeliveryProcessor(db, _ignore)
    processor.feed = lambda: move(db)
    late = delivery("wamid.A4", "15551230001")
    await journal.append(late, 1, key_of(late))  # moved by the processor's own feed
    while await processor.process_slice():
        pass
    stored = await stored_wamids(db)
    assert [w for c, w in stored if c == "15551230001"] == [
        "wamid.A1",
        "wamid.A2",
        "wamid.A3",
        "wamid.A4",
    ]
    assert [w for c, w in stored if c == "15551230002"] == ["wamid.B1"]
    assert {r.state for r in await journal_rows(db)} == {"done"}
    await journal.close()


async def test_trim_deletes_only_moved_rows_and_ids_never_go_back(db):
    # A journal with rows of its own (the one-process layout appended them directly).
    direct = Journal(db)
    first = [await direct.append(delivery(f"wamid.D{i}"), 1) for i in range(2)]
    inbox = Inbox(db.url)
    inbox.open()
    [above] = await inbox.append([(delivery("wamid.I0"), 1, None)], "2026-01-01 00:00:00")
    assert above > max(first)  # above what the journal held when the inbox opened

    db.attach_inbox(inbox_path(db.url))
    assert await move(db) == 1
    more = await inbox.append(
        [(delivery(f"wamid.I{i}"), 1, None) for i in (1, 2)], "2026-01-01 00:00:00"
    )
    assert await inbox.trim() == 1  # the moved row; the two others wait for their move
    assert inbox_ids(db) == more
    assert await move(db) == 2
    assert await inbox.trim() == 1  # everything moved, but the newest row stays …
    assert inbox_ids(db) == [more[-1]]
    inbox.close()

    reopened = Inbox(db.url)  # … so a restart counts on from it
    reopened.open()
    [after] = await reopened.append([(delivery("wamid.I3"), 1, None)], "2026-01-01 00:00:00")
    assert after == more[-1] + 1
    reopened.close()
    assert await move(db) == 1
    assert [r.id for r in await journal_rows(db)] == [*first, above, *more, after]


async def test_a_layout_without_inbox_moves_what_it_holds_before_serving(db, tmp_path):
    """A crash of the split layout's processing (or of both processes) left acknowledged
    rows in the inbox; ``madoguchi serve --processes 1`` starts: they are processed, and
    its own appends go to the journal with ids above them."""
    inbox = Inbox(db.url)
    inbox.open()
    bodies = [delivery(f"wamid.L{i}", f"1555123{i % 2:04d}") for i in range(5)]
    ids = await inbox.append([(b, 1, key_of(b)) for b in bodies], "2026-01-01 00:00:00")
    inbox.close()

    runtime = Runtime(make_settings(db.url, tmp_path))
    await runtime.start(workers=False)  # one process: journal processed here
    try:
        assert runtime.journal.inbox is None
        assert waiting(db.url) == 0  # moved before serving
        own = await runtime.journal.append(delivery("wamid.L5"), 1)
        assert own > max(ids)

        async def all_stored() -> bool:
            return len(await stored_wamids(db)) == 6

        await eventually(all_stored)
    finally:
        await runtime.stop()
    assert sorted(w for _, w in await stored_wamids(db)) == sorted(
        [f"wamid.L{i}" for i in range(6)]
    )


KILLED_AFTER_APPEND = """
import asyncio, os, signal, sys
from madoguchi.services.channel.journal_inbox import Inbox
bodies = [line.encode() for line in sys.stdin.read().splitlines()]
inbox = Inbox(sys.argv[1])
inbox.open()
ids = asyncio.run(inbox.append([(b, 1, None) for b in bodies], "2026-01-01 00:00:00"))
print(",".join(map(str, ids)), flush=True)  # acknowledged
os.kill(os.getpid(), signal.SIGKILL)
"""

KILLED_MID_MOVE = """
import os, signal, sqlite3, sys
from madoguchi.services.channel.journal_inbox import _MOVE
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("ATTACH DATABASE ? AS inbox", (sys.argv[2],))
conn.execute("BEGIN IMMEDIATE")
print(conn.execute(_MOVE, (100,)).rowcount, flush=True)  # moved, not committed
os.kill(os.getpid(), signal.SIGKILL)
"""


def killed(script: str, *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    return done.stdout.strip()


async def test_kill_9_after_appending_and_in_the_middle_of_a_move_loses_and_repeats_nothing(db):
    bodies = [delivery(f"wamid.K{i}", f"1555123{i % 3:04d}").decode() for i in range(6)]
    acknowledged = killed(KILLED_AFTER_APPEND, db.url, stdin="\n".join(bodies))
    ids = [int(i) for i in acknowledged.split(",")]
    assert waiting(db.url) == 6  # committed before the kill

    database_file = db.url.split("///", 1)[1]
    assert killed(KILLED_MID_MOVE, database_file, str(inbox_path(db.url))) == "6"
    assert await journal_rows(db) == []  # the move's transaction died with it
    assert waiting(db.url) == 6

    assert await journal_inbox.drain(db) == 6
    assert await journal_inbox.drain(db) == 0
    assert [r.id for r in await journal_rows(db)] == ids
    processor = DeliveryProcessor(db, _ignore)
    while await processor.process_slice():
        pass
    stored = await stored_wamids(db)
    assert sorted(w for _, w in stored) == sorted(f"wamid.K{i}" for i in range(6))
    for customer in {c for c, _ in stored}:
        mine = [w for c, w in stored if c == customer]
        assert mine == sorted(mine, key=lambda w: int(w.rsplit("K", 1)[1]))
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 6


async def _ignore(events) -> None:
    return None
