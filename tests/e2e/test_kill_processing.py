"""kill -9 of a processing process in the middle of a sustained stream of webhooks.

Real ``madoguchi serve`` processes receive a stream of signed text messages from many
customers. The layouts: SQLite in two processes (``madoguchi.layout``: the web process
acknowledges, its child processes) with the child killed (the web process starts it
again) or the web process killed (its child dies with it; serve is started again), SQLite
in one process (``--processes 1``), and PostgreSQL with two ``serve`` processes, the
stream spread over both as a load balancer would, one of them killed. Each customer writes
its next message once the previous one was acknowledged (as Meta delivers one user's
messages). The guide's flow is bound to
the number, so every new conversation goes through the flow (welcome, a question, retries,
then the Support queue). While both acknowledged and not yet processed deliveries exist,
a process is killed with SIGKILL (and started again), and the stream goes on. Afterwards:
every acknowledged delivery is stored exactly once, each customer's messages are stored
in the order they were sent, and no conversation is stuck: none still ``new``, every
``in_flow`` one waits in its flow (a ``waiting`` run), none offered to nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from madoguchi.domain.flows.examples import guide_flow
from madoguchi.security.secrets import SecretBox
from madoguchi.services.channel import journal_inbox
from madoguchi.services.configuration.apply import apply_config
from madoguchi.simulator import payloads
from madoguchi.store.db import Database
from madoguchi.store.migrate import upgrade
from madoguchi.store.models import Contact, Conversation, FlowRun, Message, WebhookDelivery
from madoguchi.whatsapp.signature import sign
from tests.conftest import APP_SECRET, SECRET_KEY, VERIFY_TOKEN, _truncate
from tests.helpers import eventually

NUMBER = {"phone_number_id": "309000000000077", "display_phone_number": "+1 555 0177"}
WABA = "209000000000077"
CUSTOMERS = 24
REPO = Path(__file__).resolve().parents[2]


def workspace_file() -> str:
    flow = guide_flow([NUMBER["phone_number_id"]])
    return f"""
workspace: {{slug: acme, name: ACME}}
queues:
  - {{name: Sales}}
  - {{name: Support}}
whatsapp:
  accounts:
    - waba_id: "{WABA}"
      name: ACME
      phone_numbers:
        - phone_number_id: "{NUMBER["phone_number_id"]}"
          display_phone_number: "{NUMBER["display_phone_number"]}"
          access_token: ${{WA_TOKEN}}
flows:
  - name: Guide
    definition: {json.dumps(flow, ensure_ascii=False)}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``madoguchi serve`` as a process of its own, killable with SIGKILL."""

    def __init__(
        self, name: str, db_url: str, workdir: Path, args: tuple[str, ...] = (), **env: str
    ) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{name}.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MADOGUCHI_")}
        self.env.update(
            MADOGUCHI_DATABASE_URL=db_url,
            MADOGUCHI_APP_SECRET=APP_SECRET,
            MADOGUCHI_VERIFY_TOKEN=VERIFY_TOKEN,
            MADOGUCHI_SECRET_KEY=SECRET_KEY,
            MADOGUCHI_MEDIA_DIR=str(workdir / "media"),
            MADOGUCHI_GRAPH_API_URL="http://127.0.0.1:9",
            MADOGUCHI_SENDER_ENABLED="false",  # the flow's replies stay queued
            PYTHONPATH=str(REPO),
        )
        self.env.update(env)
        self.args = args
        self.popen: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "madoguchi.cli",
            "serve",
            "--dev",
            "--port",
            str(self.port),
        ] + list(self.args)

    def launch(self) -> None:
        with open(self.log, "ab") as log:
            self.popen = subprocess.Popen(
                self.command(),
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def start(self) -> None:
        self.launch()

        async def up() -> bool:
            assert self.popen.poll() is None, self.log.read_text()[-3000:]
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(self.url + "/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(up, within=120, interval=0.1)

    def children(self) -> list[int]:
        """The pids of its child processes (the split layout's processing process)."""
        path = Path(f"/proc/{self.popen.pid}/task/{self.popen.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    async def child(self, other_than: int | None = None) -> int:
        """Its one child process (once it runs, and is not ``other_than``)."""

        async def one() -> int | None:
            assert self.popen.poll() is None, self.log.read_text()[-3000:]
            pids = [pid for pid in self.children() if pid != other_than]
            return pids[0] if len(pids) == 1 else None

        return await eventually(one, within=120, interval=0.05)

    def kill(self) -> None:
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


class Stream:
    """Customers writing one message after another; what was acknowledged, in order."""

    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers
        self.acknowledged: dict[str, list[str]] = {}  # wa_id -> wamids in sending order
        self.count = 0
        self.stopping = asyncio.Event()

    async def customer(self, i: int, client: httpx.AsyncClient) -> None:
        who = {"wa_id": f"8199{i:08d}", "user_id": f"JP.{80000000000000 + i}", "name": f"C{i}"}
        seq = 0
        while not self.stopping.is_set():
            wamid = f"wamid.K{i:03d}.{seq:05d}"
            message = payloads.inbound_message(
                who, "text", payloads.text(f"message {seq}"), wamid=wamid
            )
            body = json.dumps(payloads.message_webhook({**NUMBER, "waba_id": WABA}, who, message))
            server = self.servers[(i + seq) % len(self.servers)]  # a load balancer
            try:
                response = await client.post(
                    server.url + "/webhooks/whatsapp",
                    content=body.encode(),
                    headers={
                        "X-Hub-Signature-256": sign(body.encode(), APP_SECRET),
                        "Content-Type": "application/json",
                    },
                )
            except httpx.HTTPError:  # the process is down: Meta retries the same delivery
                await asyncio.sleep(0.05)
                continue
            if response.status_code != 200:
                await asyncio.sleep(0.05)
                continue
            self.acknowledged.setdefault(who["wa_id"], []).append(wamid)
            self.count += 1
            seq += 1

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            await asyncio.gather(*(self.customer(i, client) for i in range(CUSTOMERS)))


async def _dead(pid: int) -> bool:
    return not alive(pid)


async def states(db: Database) -> dict[str, int]:
    """The journal's rows by state; on SQLite, acknowledged deliveries still in the
    split layout's inbox (``journal_inbox``) count as pending. The inbox is read first: a
    row moved into the journal between the two reads is then counted twice, never missed
    (read the other way round, a move in between hid it from both)."""
    inbox = await asyncio.to_thread(journal_inbox.waiting, db.url) if db.sqlite else 0
    async with db.read() as session:
        rows = await session.execute(
            select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)
        )
        counts = dict(rows.all())
    if inbox:
        counts["pending"] = counts.get("pending", 0) + inbox
    return counts


# (database, serve processes, their layout, what is killed)
LAYOUTS = {
    "sqlite-split-kill-processing": ("sqlite", 1, "2", "child"),
    "sqlite-split-kill-web": ("sqlite", 1, "2", "web"),
    "sqlite-single": ("sqlite", 1, "1", "web"),
    "postgres-two-serve": ("postgres", 2, "1", "web"),
}


@pytest.fixture(
    params=[
        pytest.param(name, marks=[pytest.mark.postgres] if LAYOUTS[name][0] == "postgres" else [])
        for name in LAYOUTS
    ]
)
async def product_db(request, tmp_path):
    kind, processes, layout, victim = LAYOUTS[request.param]
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'madoguchi.db'}"
        await upgrade(url)
    else:
        url = request.getfixturevalue("postgres_database")
        await _truncate(url)
    db = Database(url)
    await apply_config(db, SecretBox(SECRET_KEY), workspace_file(), env={"WA_TOKEN": "t"})
    yield url, db, processes, layout, victim
    await db.dispose()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by its parent) is dead too.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


async def test_kill_9_mid_stream_loses_nothing_repeats_nothing_and_strands_nobody(
    product_db, tmp_path
):
    url, db, processes, layout, kill = product_db
    servers = [
        Server(f"serve-{i}", url, tmp_path, ("--processes", layout)) for i in range(processes)
    ]
    stream = Stream(servers)
    feeding: asyncio.Task | None = None
    try:
        for server in servers:
            await server.start()
        feeding = asyncio.create_task(stream.run())

        async def mid_stream() -> bool:  # some processed, some acknowledged and waiting
            assert not feeding.done(), feeding
            now = await states(db)
            return now.get("done", 0) >= 60 and now.get("pending", 0) >= 5

        victim = servers[-1]
        child = await victim.child() if layout == "2" else None
        assert (child is None) == (layout == "1")
        await eventually(mid_stream, within=300)
        if kill == "child":  # the processing process: the web process starts it again
            os.kill(child, signal.SIGKILL)
            acknowledged_at_kill = stream.count
            await victim.child(other_than=child)
        else:
            victim.kill()
            acknowledged_at_kill = stream.count
            if child is not None:  # it dies with the web process
                await eventually(lambda: _dead(child), within=60)
            await victim.start()

        async def more_after_restart() -> bool:
            assert not feeding.done(), feeding
            return stream.count >= acknowledged_at_kill + 60

        await eventually(more_after_restart, within=300)
        stream.stopping.set()
        await feeding

        async def all_processed() -> bool:
            now = await states(db)
            assert not now.get("failed"), now
            return not now.get("pending")

        await eventually(all_processed, within=300)
    finally:
        stream.stopping.set()
        if feeding is not None:
            with contextlib.suppress(Exception):
                await feeding
        for server in servers:
            server.stop()

    async with db.read() as session:
        stored = (
            await session.execute(
                select(Contact.wa_id, Message.wamid)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .join(Contact, Contact.id == Conversation.contact_id)
                .where(Message.direction == "inbound")
                .order_by(Message.id)
            )
        ).all()
        conversations = (await session.execute(select(Conversation))).scalars().all()
        waiting_runs = set(
            (
                await session.scalars(
                    select(FlowRun.conversation_id).where(FlowRun.status == "waiting")
                )
            ).all()
        )

    wamids = [wamid for _, wamid in stored]
    assert len(wamids) == len(set(wamids)), "a delivery was stored twice"
    by_customer: dict[str, list[str]] = {}
    for wa_id, wamid in stored:
        by_customer.setdefault(wa_id, []).append(wamid)
    for wa_id, sent in stream.acknowledged.items():
        kept = by_customer.get(wa_id, [])
        missing = set(sent) - set(kept)
        assert not missing, f"acknowledged but not stored: {sorted(missing)[:5]}"
        assert kept == sorted(kept), f"{wa_id}: stored out of order"
    assert sum(map(len, stream.acknowledged.values())) > acknowledged_at_kill
    stuck = [
        (c.id, c.status)
        for c in conversations
        if c.status == "new"
        or (c.status == "in_flow" and c.id not in waiting_runs)
        or (c.status == "offered" and c.offered_agent_id is None)
    ]
    assert stuck == []
