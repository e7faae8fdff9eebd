"""Campaigns: prepare 100,000 recipients, send them at the number's rate, and an agent's
reply on the same number meanwhile.

1. Prepare (in this process, on a fresh SQLite file, through the service functions the
   API calls): read a 100,000-row CSV (``parse_audience_csv``), import it (contacts
   created, recipients written: ``audience.import_csv``), take the cost estimate
   (``cost.estimate``, billing's ``estimate_recipients`` in slices, with a rate card).
   Target (issue 20): < 30 s.
2. Send: ``madoguchi serve`` on that file and the simulator (``bench.simapp``) hosting the
   number at 1,000 sends/s (Meta's 130429 beyond), ``TIER_UNLIMITED``. The campaign is
   scheduled through the REST API and sends for ``send_seconds``; every Graph API
   request is read back from the simulator's ``/_sim/sent``: the achieved steady rate,
   the largest count in any 1-s window, the 130429 answers. Then it is stopped through
   the API (and what the sender had claimed goes out). The simulator takes every phone
   as a WhatsApp user's and every customer reads (``unknown_phones_are_customers``,
   ``customers_read``): each send brings back Meta's three statuses (sent, delivered,
   read), grouped several to a webhook delivery as Meta does (``status_batch_seconds``).
   CPU per send is printed for the server and for the simulator (it is Meta here, and
   shares the 2 cores) separately, with the status webhooks the server took meanwhile.
   Then the simulator's webhooks are switched off (``/_bench/webhooks``) and, once the
   server has caught up with what it had taken in (no journaled delivery left to process,
   no delivered message's cost left to settle: ``catch_up``; the time and CPU that took
   are printed), the campaign sends for ``alone_seconds`` more: the CPU per send without
   status webhooks, hence their share (printed only when the two phases' rates are
   comparable: at very different rates the fixed costs, not the statuses, make the
   difference).
3. Agent replies: ``agents`` customers write first (their conversations are open); an
   agent's text is queued through the REST API every ``reply_every`` seconds, rotating
   over them (the pair rate limit is per customer). queue→accepted (POST to the outbox
   row's ``finished_at``) is measured with the number idle (baseline) and while the
   campaign sends. Target: sent within 1 s (p90 < 1 s) while sending.

Each target is printed as a ``target …: measured …: met/NOT met`` line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import procs
from bench.sender import SentLog, _error_code
from bench.stats import fmt_ms, fmt_rate, latency_summary, max_in_window, steady_rate

WABA_ID = "209000000000020"
NUMBER = {
    "phone_number_id": "109000000002000",
    "display_phone_number": "+1 555 0120",
    "token": "bench-token-campaign",
    "env": "BENCH_TOKEN_CAMPAIGN",
    "rate": 1000,
}
TEMPLATE = {
    "name": "order_ready",
    "language": "ja",
    "category": "UTILITY",
    "components": [
        {
            "type": "BODY",
            "text": "{{1}}様、ご注文 {{2}} の準備ができました。",
            "example": {"body_text": [["山田", "A-1"]]},
        }
    ],
}


# Meta groups statuses in its webhook deliveries; the simulator does the same: what one
# number emitted within 50 ms, up to 100 statuses, in one delivery.
STATUS_BATCH_SECONDS = 0.05
STATUS_BATCH_MAX = 100
TARGET_PREPARE_SECONDS = 30.0
TARGET_REPLY_SECONDS = 1.0


@dataclass
class CampaignBenchConfig:
    recipients: int = 100_000
    send_seconds: float = 30.0
    # Then the simulator's webhooks are switched off for this long, counted from when the
    # server has caught up (at least ``settle_seconds``, the statuses already on their way,
    # at most ``catch_up_seconds``): the server's CPU per send without the status
    # webhooks, hence their share.
    alone_seconds: float = 10.0
    settle_seconds: float = 3.0
    catch_up_seconds: float = 60.0
    # MADOGUCHI_WORKER_PLACEMENT for the server (BENCH_CAMPAIGNS_PLACEMENT), e.g.
    # "sender=own": the sender in a process of its own. Empty: the default layout.
    placement: str = field(default_factory=lambda: os.environ.get("BENCH_CAMPAIGNS_PLACEMENT", ""))
    agents: int = 12
    reply_every: float = 0.5
    status_sends: int = 3_000  # the status webhooks alone: 3 statuses of each
    baseline_replies: int = 12


def workspace_yaml() -> str:
    return f"""\
workspace: {{slug: bench, name: Bench}}
whatsapp:
  accounts:
    - waba_id: "{WABA_ID}"
      name: Bench
      phone_numbers:
        - phone_number_id: "{NUMBER["phone_number_id"]}"
          display_phone_number: "{NUMBER["display_phone_number"]}"
          access_token: ${{{NUMBER["env"]}}}
          rate_limit_per_second: {NUMBER["rate"]}
"""


def audience_csv(n: int) -> bytes:
    rows = ["phone,name,order_no"]
    rows += [f"+81 80-{i // 10000:04d}-{i % 10000:04d},客 {i},A-{i}" for i in range(n)]
    return ("\ufeff" + "\n".join(rows) + "\n").encode()


async def prepare(db_url: str, n: int) -> tuple[int, list[str]]:
    """The campaign with its audience; returns its id and the printed lines."""
    from sqlalchemy import select

    from madoguchi.services.access.tokens import Principal
    from madoguchi.services.campaigns import audience, cost
    from madoguchi.services.campaigns import campaigns as service
    from madoguchi.services.campaigns.audience_csv import parse_audience_csv
    from madoguchi.store.db import Database
    from madoguchi.store.models import (
        MessageTemplate,
        RateCard,
        RateCardRate,
        WhatsAppAccount,
        Workspace,
    )

    db = Database(db_url)
    try:
        async with db.write() as session:
            workspace_id = await session.scalar(
                select(Workspace.id).where(Workspace.slug == "bench")
            )
            account_id = await session.scalar(select(WhatsAppAccount.id))
            template = MessageTemplate(
                workspace_id=workspace_id, account_id=account_id, status="APPROVED", **TEMPLATE
            )
            card = RateCard(
                workspace_id=workspace_id,
                name="bench",
                currency="USD",
                effective_from=datetime(2025, 7, 1, tzinfo=UTC),
            )
            session.add_all([template, card])
            await session.flush()
            session.add(
                RateCardRate(rate_card_id=card.id, market="JP", category="utility", micros=8_000)
            )
            campaign = await service.create_campaign(
                session,
                Principal(workspace_id=workspace_id, role="admin"),
                service.CampaignSpec(
                    name="bench",
                    phone_number_id=NUMBER["phone_number_id"],
                    template_id=template.id,
                    values={"1": {"from": "contact.name"}, "2": {"from": "row.order_no"}},
                ),
            )
            campaign.columns = ["order_no"]
        data = audience_csv(n)
        t0, cpu0 = time.perf_counter(), time.process_time()
        parsed = parse_audience_csv(data)
        t1 = time.perf_counter()
        report = await audience.import_csv(db, campaign, parsed, marketing=False)
        t2 = time.perf_counter()
        async with db.write() as session:
            row = await session.get(type(campaign), campaign.id)
            estimate = await cost.estimate(session, row)
            row.cost_estimate = estimate
        t3, cpu = time.perf_counter(), time.process_time() - cpu0
    finally:
        await db.dispose()
    took = t3 - t0
    lines = [
        f"target: {n:,} recipients prepared in < {TARGET_PREPARE_SECONDS:.0f} s: measured "
        f"{took:.1f} s: {_met(took < TARGET_PREPARE_SECONDS)}",
        f"prepare {n:,} recipients (CSV {len(data) / 1e6:.1f} MB, SQLite): {t3 - t0:.1f} s "
        f"(read {t1 - t0:.1f} s, contacts + recipients {t2 - t1:.1f} s, cost estimate "
        f"{t3 - t2:.1f} s) — target < 30 s; CPU {cpu:.1f} s of this process (on a shared "
        f"machine the wall time is this CPU time stretched by the other work)",
        f"   imported {report.added:,}, invalid {report.invalid}, duplicates "
        f"{report.duplicates}; estimate {estimate['total']} {estimate['currency']} for "
        f"{estimate['recipients']:,} messages",
    ]
    return campaign.id, lines


async def status_ingest(db_url: str, sends: int) -> list[str]:
    """The server's work on Meta's status webhooks alone, in this process: ``sends``
    outbound messages Meta accepted, then their three statuses each (sent with pricing,
    delivered, read) journaled as Meta groups them (100 per delivery) and processed by
    the journal's processor (statuses stored, messages moved, events made): the CPU per
    status, without the HTTP, the sender or the feeder around it."""
    from sqlalchemy import func, select

    from madoguchi.services.channel.webhook_journal import (
        DeliveryProcessor,
        Journal,
        ProcessorPolicy,
    )
    from madoguchi.simulator import payloads
    from madoguchi.store.db import Database
    from madoguchi.store.models import Contact, Conversation, Message, PhoneNumber

    db = Database(db_url)
    try:
        async with db.write() as session:
            number = await session.scalar(select(PhoneNumber))
            contact = Contact(workspace_id=number.workspace_id, wa_id="819000000001")
            session.add(contact)
            await session.flush()
            conversation = Conversation(
                workspace_id=number.workspace_id,
                contact_id=contact.id,
                phone_number_id=number.id,
                status="open",
            )
            session.add(conversation)
            await session.flush()
            session.add_all(
                Message(
                    workspace_id=number.workspace_id,
                    conversation_id=conversation.id,
                    wamid=f"wamid.S{i}",
                    direction="outbound",
                    type="template",
                    status="accepted",
                    content={"type": "template"},
                )
                for i in range(sends)
            )
        who = {"wa_id": "819000000001"}
        where = {**NUMBER, "waba_id": WABA_ID}
        pricing = {"billable": True, "pricing_model": "PMP", "category": "utility"}
        journal, bodies, at = Journal(db), [], time.time()
        for start in range(0, sends, STATUS_BATCH_MAX):
            block = range(start, min(start + STATUS_BATCH_MAX, sends))
            for name, extra in (("sent", pricing), ("delivered", None), ("read", None)):
                items = [
                    payloads.status(f"wamid.S{i}", name, who, timestamp=at, pricing_=extra)
                    for i in block
                ]
                bodies.append((json.dumps(payloads.statuses_webhook(where, items)), len(items)))
        for body, count in bodies:
            await journal.append(body.encode(), count)
        await journal.close()
        events: list = []

        async def publish(batch):
            events.extend(batch)

        processor = DeliveryProcessor(db, publish, ProcessorPolicy())
        t0, cpu0 = time.perf_counter(), time.process_time()
        while await processor.process_slice():
            pass
        took, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        async with db.read() as session:
            read = await session.scalar(
                select(func.count()).select_from(Message).where(Message.status == "read")
            )
    finally:
        await db.dispose()
    statuses = 3 * sends
    return [
        f"status webhooks alone (this process, SQLite, the journal's processor): {statuses:,} "
        f"statuses of {sends:,} sends in {len(bodies)} deliveries: CPU {cpu:.2f} s "
        f"({took:.2f} s wall), {cpu / statuses * 1000:.3f} ms per status, "
        f"{cpu / sends * 1000:.2f} ms per send; {read:,} messages read, "
        f"{len(events):,} events"
    ]


class Bench:
    def __init__(self, cfg: CampaignBenchConfig, workdir: Path, say) -> None:
        self.cfg = cfg
        self.workdir = workdir
        self.say = say
        self.db_path = workdir / "madoguchi.db"
        self.db_url = f"sqlite+aiosqlite:///{self.db_path}"
        self.lines: list[str] = []

    def start_servers(self, cleanup: procs.Cleanup) -> None:
        product_port, sim_port = procs.free_port(), procs.free_port()
        sim_config = {
            "webhook_url": f"http://127.0.0.1:{product_port}/webhooks/whatsapp",
            "app_secret": procs.APP_SECRET,
            "verify_token": procs.VERIFY_TOKEN,
            "public_url": f"http://127.0.0.1:{sim_port}",
            "numbers": [
                {
                    "phone_number_id": NUMBER["phone_number_id"],
                    "display_phone_number": NUMBER["display_phone_number"],
                    "waba_id": WABA_ID,
                    "access_token": NUMBER["token"],
                    "rate_per_second": NUMBER["rate"],
                    "messaging_limit_tier": "TIER_UNLIMITED",
                }
            ],
            "templates": [{**TEMPLATE, "waba_id": WABA_ID}],
            "sent_log_size": 100_000,
            "status_delay_seconds": 0.05,
            "unknown_phones_are_customers": True,
            "customers_read": True,
            "status_batch_seconds": STATUS_BATCH_SECONDS,
            "status_batch_max": STATUS_BATCH_MAX,
        }
        config_path = self.workdir / "simulator.json"
        config_path.write_text(json.dumps(sim_config))
        env = procs.base_env()
        env["BENCH_SIM_CONFIG"] = str(config_path)
        sim_args = [
            procs.PYTHON, "-m", "uvicorn", "bench.simapp:app", "--factory", "--host",
            "127.0.0.1", "--port", str(sim_port), "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        self.sim = cleanup.add_proc(
            procs.Proc("simulator", sim_args, env, self.workdir, sim_port, "/_sim/health")
        ).start()
        product = procs.product_proc(
            "madoguchi-campaigns",
            self.db_url,
            self.workdir,
            f"http://127.0.0.1:{sim_port}",
            port=product_port,
        )
        if self.cfg.placement:  # e.g. "sender=own": the layout's option (madoguchi.layout)
            product.env["MADOGUCHI_WORKER_PLACEMENT"] = self.cfg.placement
        # Its first answer can take more than the usual 30 s on a loaded machine (it
        # failed so at load average 15–21, with the 100,000 recipients' database).
        self.product = cleanup.add_proc(product).start(timeout=120)

    def _steps(self, message_ids: list[int]) -> dict[int, tuple]:
        """Each done outbox row's (created_at, claimed_at, finished_at) as epoch seconds
        and its message's wamid: when the reply's row was written (inside its write
        transaction), when the claim that took it began, when its accepted outcome was
        recorded."""
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=30)) as conn:
            rows = conn.execute(
                "SELECT o.message_id, o.created_at, o.claimed_at, o.finished_at, m.wamid"
                " FROM outbox o JOIN messages m ON m.id = o.message_id"
                " WHERE o.state = 'done' AND o.message_id IN "
                f"({','.join('?' * len(message_ids))})",
                message_ids,
            ).fetchall()
        return {
            mid: (*(_epoch(v) for v in (created, claimed, finished)), wamid)
            for mid, created, claimed, finished, wamid in rows
        }

    async def agent_conversations(self, api, sim) -> list[int]:
        for i in range(self.cfg.agents):
            created = await sim.post(
                "/_sim/customers", json={"wa_id": f"8170{i:08d}", "name": f"Agent's {i}"}
            )
            created.raise_for_status()
            wrote = await sim.post(
                f"/_sim/customers/{created.json()['id']}/messages",
                json={"phone_number_id": NUMBER["phone_number_id"], "type": "text", "text": "hi"},
            )
            wrote.raise_for_status()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            page = (await api.get("/api/v1/conversations", params={"limit": 200})).json()
            ids = [c["id"] for c in page if c.get("campaign_id") is None]
            if len(ids) >= self.cfg.agents:
                return ids
            await asyncio.sleep(0.2)
        raise RuntimeError("the agents' customers' conversations did not appear")

    async def replies(self, api, conversations: list[int], count: int, until=None) -> Replies:
        """Queue agent replies every ``reply_every`` s; each one's steps (``Replies``)."""
        sent: list[tuple[int, float, float]] = []  # message id, POST sent, POST answered
        k = 0
        while (until is None and k < count) or (until is not None and not until()):
            t = time.time()
            response = await api.post(
                f"/api/v1/conversations/{conversations[k % len(conversations)]}/messages",
                json={"message": {"type": "text", "text": {"body": f"reply {k}"}}},
            )
            if response.status_code == 202:
                sent.append((response.json()["id"], t, time.time()))
            k += 1
            await asyncio.sleep(self.cfg.reply_every)
        deadline = time.monotonic() + 30
        done: dict[int, tuple] = {}
        while time.monotonic() < deadline:
            done = await asyncio.to_thread(self._steps, [m for m, _, _ in sent])
            if len(done) == len(sent):
                break
            await asyncio.sleep(0.2)
        return Replies([(t, answered, *done[m]) for m, t, answered in sent if m in done])

    async def main(self, campaign_id: int, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(base_url=self.product.url, headers=headers, timeout=60) as api,
            httpx.AsyncClient(base_url=self.sim.url, timeout=60) as sim,
        ):
            conversations = await self.agent_conversations(api, sim)
            idle = await self.replies(api, conversations, self.cfg.baseline_replies)
            log = SentLog(sim)
            await log.poll_once()
            poller = asyncio.create_task(log.run(0.25))
            t_start = time.time()
            cpu0 = self.product.cpu_seconds()
            sim_cpu0 = self.sim.cpu_seconds()
            journal0 = await asyncio.to_thread(self._journal_counts)
            scheduled = await api.post(f"/api/v1/campaigns/{campaign_id}/schedule", json={})
            scheduled.raise_for_status()
            stop_at = time.monotonic() + self.cfg.send_seconds
            busy = await self.replies(
                api, conversations, 0, until=lambda: time.monotonic() > stop_at
            )
            t_stop = time.time()
            cpu = self.product.cpu_seconds() - cpu0
            sim_cpu = self.sim.cpu_seconds() - sim_cpu0
            journal = await asyncio.to_thread(self._journal_counts)
            alone = await self.without_webhooks(sim, t_stop)
            stopped = await api.post(f"/api/v1/campaigns/{campaign_id}/stop")
            stopped.raise_for_status()
            await asyncio.sleep(2)
            await log.stop()
            poller.cancel()
            at_meta = {
                r["response"]["messages"][0]["id"]: r["at"]
                for r in log.records
                if _to_agent_customer(r) and r.get("status_code") == 200
            }
            idle.at_meta = busy.at_meta = at_meta
            detail = (await api.get(f"/api/v1/campaigns/{campaign_id}")).json()
        pnid = NUMBER["phone_number_id"]
        templates = [
            r
            for r in log.records
            if r["phone_number_id"] == pnid
            and r["method"] == "POST"
            and r["path"].endswith("/messages")
            and r["at"] >= t_start
            and r.get("status_code") == 200
            and not _to_agent_customer(r)
        ]
        times = [r["at"] for r in templates if r["at"] <= t_stop]
        a_start, a_end, a_cpu, a_sim, catch_up = alone
        alone_sends = max(sum(1 for r in templates if a_start <= r["at"] <= a_end), 1)
        alone_rate = alone_sends / max(a_end - a_start, 1e-9)
        refused = sum(
            1
            for r in log.records
            if r["phone_number_id"] == pnid and _error_code(r) == 130429 and r["at"] >= t_start
        )
        rate, span = steady_rate(times)
        first = min(times) if times else t_start
        counts = detail["progress"]["counts"]
        wall = max(t_stop - t_start, 1e-9)
        sends = max(len(times), 1)
        window = max_in_window(times)
        limit = NUMBER["rate"]
        deliveries = journal[0] - journal0[0]
        statuses = journal[1] - journal0[1]
        busy_p90 = latency_summary(busy.total)["p90_ms"] / 1000 if busy.total else math.inf
        per_send, alone_per_send = 1000 * cpu / sends, 1000 * a_cpu / alone_sends
        comparable = per_send and 0.5 <= alone_rate / max(len(times) / wall, 1e-9) <= 2
        share = (
            f"≈ {1 - alone_per_send / per_send:.0%}"
            if comparable
            else "not measured: the two rates differ by more than 2×, so fixed costs, not the "
            "statuses, would make the difference"
        )
        layout = self.cfg.placement or "default"
        self.lines += [
            f"server: madoguchi serve, MADOGUCHI_PROCESSES={procs.SERVE_PROCESSES}, worker "
            f"placement {layout} (CPU figures are all its processes together)",
            f"target: sent at the number's {limit:,}/s within its limit: measured steady "
            f"{fmt_rate(rate)}/s over {span:.0f} s, max {window} in any 1 s, {refused} × 130429: "
            f"{_met(rate >= 0.95 * limit and window <= limit and not refused)}",
            f"target: an agent's reply sent within {TARGET_REPLY_SECONDS:.0f} s while the campaign "
            f"sends: measured {_lat(busy.total)}: {_met(busy_p90 < TARGET_REPLY_SECONDS)} (p90)",
            f"send: {len(times):,} Graph API sends accepted in {wall:.0f} s "
            f"(first after {first - t_start:.1f} s); number limit {limit}/s, shared with the "
            f"agents' {len(busy.total)} replies",
            f"   CPU per campaign send: server {1000 * cpu / sends:.2f} ms ({cpu:.1f} s, "
            f"{cpu / wall:.0%} of one core: feeding, sending, recording, the status webhooks, "
            f"the agents' replies), simulator {1000 * sim_cpu / sends:.2f} ms ({sim_cpu:.1f} s, "
            f"{sim_cpu / wall:.0%} of one core: answering the sends, posting the statuses); "
            f"the two together on idle cores: about {sends / max(cpu + sim_cpu, 1e-9):.0f} "
            f"sends/s per core",
            f"   status webhooks taken by the server meanwhile: {deliveries:,} deliveries "
            f"carrying {statuses:,} statuses ({statuses / sends:.1f} per send; the simulator "
            f"groups up to {STATUS_BATCH_MAX} per delivery within {STATUS_BATCH_SECONDS * 1000:.0f}"
            f" ms)",
            f"   then the simulator's webhooks off: the server caught up with what it had "
            f"taken {catch_up}",
            f"   then {a_end - a_start:.0f} s more with the webhooks off: {alone_sends:,} sends "
            f"({alone_rate:.0f}/s), CPU per send: server {alone_per_send:.2f} ms, simulator "
            f"{1000 * a_sim / alone_sends:.2f} ms: the status webhooks' share of the server's "
            f"CPU per send {share}",
            f"   stopped through the API: {counts['stopped']:,} recipients never sent; "
            f"{counts['sent'] + counts['delivered'] + counts['read']:,} sent/delivered/read "
            f"(read {counts['read']:,}), {counts['failed']:,} failed, "
            f"{counts['queued'] + counts['accepted']:,} queued or accepted at the read",
            f"agent reply queue→accepted, number idle (baseline): {_lat(idle.total)}",
            f"   its steps: {idle.steps()}",
            f"agent reply queue→accepted while the campaign sends: {_lat(busy.total)}",
            f"   its steps: {busy.steps()}",
        ]

    async def without_webhooks(self, sim, at: float) -> tuple[float, float, float, float, str]:
        """The campaign goes on with the simulator's webhooks off: (start, end, server
        CPU, simulator CPU) of the measured part, which starts once the server has caught
        up (``catch_up``), and what catching up took (printed).

        Measuring from a fixed delay instead counted the server's catching up (statuses
        journaled but not processed yet, costs to settle) against the sends made meanwhile:
        42.95 ms "per send" and a share of -1226 % in a run where the server was behind."""
        switched = await sim.post("/_bench/webhooks", json={"enabled": False})
        switched.raise_for_status()
        t0, cpu0 = time.time(), self.product.cpu_seconds()
        backlog = await asyncio.to_thread(self._backlog)
        await asyncio.sleep(self.cfg.settle_seconds)
        left = await self.catch_up()
        took, cpu = time.time() - t0, self.product.cpu_seconds() - cpu0
        caught = f"in {took:.1f} s" if not any(left) else f"NOT within {took:.0f} s (left: {left})"
        catch_up = (
            f"{caught}: at the switch {backlog[0]:,} journaled deliveries were waiting to be "
            f"processed and {backlog[1]:,} delivered messages' costs to be settled; server "
            f"CPU meanwhile {cpu:.1f} s"
        )
        start = time.time()
        cpu0, sim0 = self.product.cpu_seconds(), self.sim.cpu_seconds()
        await asyncio.sleep(self.cfg.alone_seconds)
        end = time.time()
        cpu, sim_cpu = self.product.cpu_seconds() - cpu0, self.sim.cpu_seconds() - sim0
        return start, end, cpu, sim_cpu, catch_up

    async def catch_up(self) -> tuple[int, int]:
        """Wait (up to ``catch_up_seconds``) until the server has processed every journaled
        delivery and settled every delivered message's cost; what is left then."""
        deadline = time.monotonic() + self.cfg.catch_up_seconds
        left = await asyncio.to_thread(self._backlog)
        while any(left) and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            left = await asyncio.to_thread(self._backlog)
        return left

    def _backlog(self) -> tuple[int, int]:
        """(journaled deliveries not processed yet, delivered or failed messages whose
        cost is not settled yet) in the server's database."""
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=30)) as conn:
            deliveries = conn.execute(
                "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'"
            ).fetchone()[0]
            costs = conn.execute(
                "SELECT count(*) FROM message_costs c JOIN messages m ON m.id = c.message_id "
                "WHERE c.settled_at IS NULL AND m.status IN ('delivered', 'read', 'failed')"
            ).fetchone()[0]
        return int(deliveries), int(costs)

    def _journal_counts(self) -> tuple[int, int]:
        """Webhook deliveries journaled and statuses recorded so far (server's database)."""
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=30)) as conn:
            deliveries = conn.execute("SELECT max(id) FROM webhook_deliveries").fetchone()[0]
            statuses = conn.execute("SELECT count(*) FROM message_status_events").fetchone()[0]
        return int(deliveries or 0), int(statuses or 0)


@dataclass
class Replies:
    """Agent replies, each (POST sent, POST answered, outbox row created, claim began,
    accepted recorded, wamid), and their latencies (seconds), whole and by step: the POST
    answered; its outbox row written (queued: the web process's write, SQLite's lock
    shared with the processing process); from there to the start of the sender's claim
    that took it (the wake-up reaching the sender, its loop's turn); to the request's
    arrival at Meta (the simulator's log: the claim's write, the send window); to its
    accepted outcome recorded (Meta's answer, the outcome's write)."""

    items: list[tuple] = field(default_factory=list)
    at_meta: dict[str, float] = field(default_factory=dict)  # wamid -> arrival at Meta

    @property
    def total(self) -> list[float]:
        return [finished - t for t, _, _, _, finished, _ in self.items]

    def steps(self) -> str:
        def one(values: list[float]) -> str:
            s = latency_summary([v for v in values if not math.isnan(v)])
            return f"{fmt_ms(s['p50_ms'])}/{fmt_ms(s['p90_ms'])}"

        meta = [self.at_meta.get(wamid, math.nan) for *_, wamid in self.items]
        rows = [(*item[:5], at) for item, at in zip(self.items, meta, strict=True)]
        return (
            f"POST answered {one([a - t for t, a, *_ in rows])}, row queued "
            f"{one([c - t for t, _, c, *_ in rows])}, → claim began "
            f"{one([k - c for _, _, c, k, *_ in rows])}, → at Meta "
            f"{one([m - k for _, _, _, k, _, m in rows])}, → accepted recorded "
            f"{one([f - m for _, _, _, _, f, m in rows])} (p50/p90 each)"
        )


def _epoch(value: str | None) -> float:
    if value is None:
        return math.nan
    at = datetime.fromisoformat(value)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def _to_agent_customer(record: dict) -> bool:
    """A send to one of the agents' customers (their phones start 8170)."""
    with contextlib.suppress(KeyError, IndexError, TypeError):
        return str(record["response"]["contacts"][0]["input"]).startswith("8170")
    return False


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _lat(values: list[float]) -> str:
    s = latency_summary(values)
    return (
        f"p50 {fmt_ms(s['p50_ms'])}, p90 {fmt_ms(s['p90_ms'])}, max {fmt_ms(s['max_ms'])} "
        f"(n={s['n']})"
    )


def run(cfg: CampaignBenchConfig, workdir: Path, cleanup: procs.Cleanup) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    bench = Bench(cfg, workdir, print)
    token = procs.prepare_product(
        bench.db_url, workdir, workspace_yaml(), {NUMBER["env"]: NUMBER["token"]}, "bench"
    )
    campaign_id, lines = asyncio.run(prepare(bench.db_url, cfg.recipients))
    bench.lines += lines
    status_dir = workdir / "statuses"
    status_dir.mkdir(exist_ok=True)
    status_db = f"sqlite+aiosqlite:///{status_dir / 'madoguchi.db'}"
    procs.prepare_product(
        status_db, status_dir, workspace_yaml(), {NUMBER["env"]: NUMBER["token"]}, "bench"
    )
    bench.lines += asyncio.run(status_ingest(status_db, cfg.status_sends))
    bench.start_servers(cleanup)
    try:
        asyncio.run(bench.main(campaign_id, token))
    finally:
        tracebacks = bench.product.log_count("Traceback")
        if tracebacks:
            bench.lines.append(
                f"   product log: {tracebacks} tracebacks ({bench.product.log_path})"
            )
    return bench.lines
