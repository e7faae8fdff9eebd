"""The composition root: builds every adapter and wires the event handlers.

This is the one place that knows which capability listens to which event, so every other
import points down the layers and each capability can be read, tested or removed alone.
The web app, the CLI and the tests all build a ``Runtime`` the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import UTC, datetime

from madoguchi.bus.fanout import FanOut
from madoguchi.bus.inprocess import InProcessBus
from madoguchi.bus.pipe import Link, PipeFanOut
from madoguchi.domain.events import (
    AccountEventReceived,
    ConversationChanged,
    MessageQueued,
    MessageReceived,
    MessageStatusChanged,
)
from madoguchi.domain.lifecycle import TERMINAL
from madoguchi.layout import SINGLE_INSTANCE, WEB, Layout, single
from madoguchi.metrics import Metrics
from madoguchi.security.secrets import SecretBox
from madoguchi.services.assist import llm
from madoguchi.services.assist.assistant import Assistant
from madoguchi.services.assist.worker import AssistWorker
from madoguchi.services.billing.budgets import check_budgets
from madoguchi.services.billing.settlement import CostSettler
from madoguchi.services.calling import permissions as call_permissions
from madoguchi.services.calling.calls import CallDesk
from madoguchi.services.campaigns import limits as campaign_limits
from madoguchi.services.campaigns import progress as campaign_progress
from madoguchi.services.campaigns.sending import CampaignWorker
from madoguchi.services.channel import journal_inbox, marketing_optout, service_window
from madoguchi.services.channel.media_download import MediaDownloader
from madoguchi.services.channel.outbox_sender import Sender
from madoguchi.services.channel.webhook_journal import DeliveryProcessor, Journal
from madoguchi.services.contact_center.dispatcher import RoutingEngine
from madoguchi.services.flows.runner import FlowRunner
from madoguchi.services.onboarding.health import HealthChecker
from madoguchi.services.onboarding.meta_app import MetaApp
from madoguchi.services.onboarding.signup import SignupService
from madoguchi.services.reporting.rollups import RollupWorker
from madoguchi.services.scheduling.timers import TimerWorker
from madoguchi.services.supervision import actions as supervision_actions
from madoguchi.services.supervision.live_wallboard import WallboardFeed
from madoguchi.services.templates import catalog
from madoguchi.settings import Settings
from madoguchi.store.db import Database
from madoguchi.store.leader import Leadership
from madoguchi.store.media_store import LocalMediaStore
from madoguchi.store.pg_bell import JOURNAL, Bell
from madoguchi.whatsapp.graph import GraphClient

log = logging.getLogger(__name__)


async def cancel_all(tasks: list[asyncio.Task]) -> None:
    """Cancel the tasks and wait for them to end. Cancelled again while one still runs:
    Python 3.11's ``asyncio.wait_for`` swallows a cancellation that lands as the awaited
    event fires (gh-86296), and a worker looping around it would never stop (seen as a
    processing process that outlived its parent)."""
    pending = [task for task in tasks if not task.done()]
    while pending:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=0.5)
        pending = [task for task in pending if not task.done()]
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log.error("a worker ended with an error on stop", exc_info=task.exception())


class Runtime:
    def __init__(self, settings: Settings, *, db: Database | None = None) -> None:
        self.settings = settings
        self.db = db or Database(settings.database_url)
        self.metrics = Metrics()
        self.bus = InProcessBus()
        self.fanout = self._make_fanout(settings)
        self.secrets = SecretBox(settings.secret_key.get_secret_value())
        self.media_store = LocalMediaStore(settings.media_dir)
        self.graph = GraphClient(
            settings.graph_api_url,
            settings.graph_api_version,
            timeout=settings.http_timeout_seconds,
        )
        self.meta_app = MetaApp.from_settings(settings)
        self.signups = SignupService(self.db, self.graph, self.secrets, self.meta_app)
        self.health = HealthChecker(
            self.db,
            self.graph,
            self.secrets,
            self.meta_app,
            settings.health_check_interval_seconds,
        )
        self.journal = Journal(self.db, self.metrics)
        self.processor = DeliveryProcessor(
            self.db,
            self.bus.publish,
            acknowledgements_done=self.journal.quiet,
            arrival_rate=self.journal.arrival_rate,
        )
        # Looked up at each call: in the split layout ``wake`` reaches another process.
        self.journal.on_commit = lambda: self.processor.wake()
        self.media = MediaDownloader(
            self.db, self.graph, self.secrets, self.media_store, self.metrics, self.bus.publish
        )
        self.sender = self.new_sender()
        self.timers = TimerWorker(self.db)
        self.routing = RoutingEngine(self.db, self.bus, self.timers)
        self.flows = FlowRunner(
            self.db,
            self.bus,
            self.timers,
            self.routing.kick,
            http_allow=settings.flow_http_allow,
            http_max_bytes=settings.flow_http_max_bytes,
            secrets=self.secrets,
        )
        self.costs = CostSettler(
            self.db, interval=settings.billing_settle_seconds, after=self._check_budgets
        )
        self.rollups = RollupWorker(self.db)
        self.wallboard = WallboardFeed(self.db, interval=settings.wallboard_interval_seconds)
        self.calls = CallDesk(
            self.db,
            self.graph,
            self.secrets,
            self.timers,
            self.bus.publish,
            ring_seconds=settings.call_ring_seconds,
            kick=self.routing.kick,
        )
        # The operator's language model (None: offline); a bad setting stops the start.
        self.assistant = Assistant(self.db, llm.from_settings(settings))
        self.assist = AssistWorker(self.db, self.bus.publish, self.assistant.summary)
        self.campaigns = CampaignWorker(
            self.db,
            settings,
            wake_sender=lambda: self.sender.wake(),
            refresh_tier=lambda number_pk: campaign_limits.refresh_tier(
                self.db, self.graph, self.secrets, number_pk
            ),
        )
        # Scaled mode (PostgreSQL, any number of processes): the workers that must not
        # run twice run in the one process holding the leadership (store.leader).
        self.leadership = None if self.db.sqlite else Leadership(settings.database_url)
        # …and journal rows appended, or left behind, by any process wake every process's
        # processor (LISTEN/NOTIFY), not only after its idle poll.
        self.journal_bell = (
            None if self.db.sqlite else Bell(self.db.url, JOURNAL, lambda: self.processor.wake())
        )
        self._tasks: list[asyncio.Task] = []
        self.layout: Layout = single()
        self.process = WEB
        self.switchboard = None  # processes.Switchboard in the split layout
        self.children = None  # processes.Children: the web process's children
        self._wire()

    async def _check_budgets(self) -> None:
        """After costs settle: budget alerts (80 %, 100 %) to the workspace's staff."""
        alerts = await check_budgets(self.db)
        if alerts:
            await self.bus.publish(alerts)

    def new_sender(self) -> Sender:
        """A sender over this runtime's database and Graph client (tests build a second
        one to play a restarted process)."""
        return Sender(
            self.db,
            self.graph,
            self.secrets,
            self.metrics,
            self.bus.publish,
            backoff_scale=self.settings.sender_backoff_scale,
        )

    def _wire(self) -> None:
        async def wake_media(event: MessageReceived) -> None:
            self.media.wake()

        async def wake_sender(event: MessageQueued) -> None:
            self.sender.wake()

        self.bus.subscribe(MessageReceived, wake_media)
        self.bus.subscribe(MessageQueued, wake_sender)
        # Flows before routing: a new conversation on a number with a flow goes in_flow
        # first, and the routing engine (which routes only `new` ones) leaves it alone.
        self.flows.wire()
        self.routing.wire()
        # Templates (status/quality webhooks), marketing opt-out, the window closed by Meta.
        self._wire_channel_rules()
        self._wire_calling()
        # Assist: sentiment of new messages, summaries at hand-over, off the request path.
        self._wire_assist()
        # Reporting: lifecycle steps and messages counted into the hourly rollups.
        for kind in (ConversationChanged, MessageReceived, MessageQueued):
            self.bus.subscribe(kind, self.rollups.on_event)
        # Realtime: every event reaches the websocket hub of every process.
        self.bus.subscribe(None, self.fanout.publish)
        self.bus.subscribe(ConversationChanged, self._end_monitoring)
        # …and the wallboard of every process (it nudges that process's supervisors).
        self.fanout.add_listener(self.wallboard.notice, self.wallboard.resync)
        # Work published by another process wakes this one's workers (scaled mode: the
        # leader's sender hears of a reply queued by any web process at once).
        self.fanout.add_listener(self._wake_for)

    async def _wake_for(self, event) -> None:
        if isinstance(event, MessageQueued):
            self.sender.wake()
        elif isinstance(event, MessageReceived):
            self.media.wake()
            self.assist.wake()
        elif isinstance(event, ConversationChanged):
            await self.assist.on_conversation_changed(event)

    async def _end_monitoring(self, event: ConversationChanged) -> None:
        """A conversation that ended is monitored no more."""
        if event.status in TERMINAL:
            await supervision_actions.end_monitoring_of_closed(self.db, event.conversation_id)

    def _wire_channel_rules(self) -> None:
        db, settings = self.db, self.settings

        async def account_event(event: AccountEventReceived) -> None:
            if event.field in catalog.TEMPLATE_FIELDS:
                await catalog.apply_template_event(db, event)
            elif event.field == "user_preferences":
                await marketing_optout.on_user_preferences(db, event)

        # Inbound messages arrive in batches (the journal's processor publishes a slice's
        # events together): each of these reads once for the batch.
        async def messages_received(events: list[MessageReceived]) -> None:
            await service_window.on_messages(db, events)
            await marketing_optout.on_messages(
                db, events, settings.opt_out_keywords, settings.opt_in_keywords
            )

        async def status_changed(event: MessageStatusChanged) -> None:
            if event.status in ("delivered", "read", "failed"):
                self.costs.wake()  # billing: settle what Meta says the message cost
            if event.status == "failed":
                await service_window.on_status_changed(db, event)
                await marketing_optout.on_status_changed(db, event)

        self.bus.subscribe(AccountEventReceived, account_event)

        async def campaign_replies(events: list[MessageReceived]) -> None:
            await campaign_progress.on_messages_received(db, events)

        self.bus.subscribe_many(MessageReceived, messages_received)
        self.bus.subscribe_many(MessageReceived, campaign_replies)
        self.bus.subscribe(MessageStatusChanged, status_changed)

    def _wire_calling(self) -> None:
        db = self.db

        async def permission_replies(events: list[MessageReceived]) -> None:
            await call_permissions.on_messages(db, events, datetime.now(UTC))

        self.bus.subscribe(AccountEventReceived, self.calls.on_account_event)
        self.bus.subscribe_many(MessageReceived, permission_replies)

    def _wire_assist(self) -> None:
        async def message_received(event: MessageReceived) -> None:
            self.assist.wake()

        self.bus.subscribe(MessageReceived, message_received)
        # Summary requests (hand-overs) are taken from the realtime fan-out, not the bus:
        # it carries every process's events to every process, so the request reaches the
        # process whose assist worker runs (the leader, or the layout's placement) even
        # when the hand-over happened in another one (``_wake_for``).
        self.bus.subscribe_many(ConversationChanged, self.assist.on_conversations_changed)

    @staticmethod
    def _make_fanout(settings: Settings) -> FanOut:
        if settings.redis_url:
            from madoguchi.bus.redis_fanout import RedisFanOut

            return RedisFanOut(settings.redis_url, settings.redis_channel)
        return PipeFanOut()  # one process: LocalFanOut; split: linked to the others

    def wakeable(self) -> dict:
        """The workers (``layout.WORKERS``) that can be woken, by name."""
        return {
            "journal": self.processor,
            "timers": self.timers,
            "media": self.media,
            "costs": self.costs,
            "assist": self.assist,
            "rollups": self.rollups,
            "sender": self.sender,
            "campaigns": self.campaigns,
        }

    def _spawn(self, coro: Coroutine) -> None:
        self._tasks.append(asyncio.create_task(coro))

    async def start(
        self,
        *,
        workers: bool = True,
        layout: Layout | None = None,
        process: str = WEB,
        parent: Link | None = None,
    ) -> None:
        """Start this process's part of ``layout`` (default: everything here, or only the
        journal's processing with ``workers=False``). The web process of a split layout
        starts its children (``madoguchi.processes``); a child is given its ``parent``."""
        self.layout = layout or single(workers=workers)
        self.process = process
        here = self.layout.here(process)
        # Some process's loop runs the assist worker: only there are summary requests kept.
        self.assist.managed = self.layout.where("assist") is not None
        await self._open_journal(process)
        await self.fanout.start()
        if self.layout.children:
            from madoguchi.processes import Children, Switchboard, adapt_processor

            self.switchboard = Switchboard(self, self.layout, process)
            self.switchboard.route_wakes()
            if process == WEB:
                if self.journal.inbox is None:
                    # The processor gives way while appends wait (they share SQLite's
                    # lock); with the inbox, appends never wait for it.
                    self.journal.on_busy = self.switchboard.journal_busy
            else:
                adapt_processor(self.processor, self.switchboard.acks_quiet)
                # No websockets here: the wallboard is the web process's.
                self.fanout.remove_listener(self.wallboard.notice)
            if parent is not None:
                self.switchboard.attach(WEB, parent)
        # Webhook processing is part of receiving webhooks, not an optional worker; with
        # several processes each claims journal rows by customer (journal_claim).
        if "journal" in here:
            self._spawn(self.processor.run())
            if self.journal_bell is not None:
                self._spawn(self.journal_bell.run())
        # Safe in every process: timers and offers are claimed row by row.
        if "timers" in here:
            self._spawn(self.timers.run())
        if "routing" in here:
            self._spawn(self.routing.run())
            # Beside the routing sweep (safe in every process, like it): flows whose
            # start a crash lost.
            self._spawn(self.flows.run_recovery())
        if any(worker in here for worker in SINGLE_INSTANCE):
            if self.leadership is None:
                for work in self._single_instance_workers():
                    self._spawn(work)
            else:
                self._spawn(self.leadership.run(self._lead))
        if process == WEB and self.layout.children:
            self.children = Children(self.switchboard)
            await self.children.start()

    async def _open_journal(self, process: str) -> None:
        """On a SQLite file: the web process first moves what the journal's inbox still
        holds (a crash, another layout before); with the journal processed in another
        process, appends go to the inbox and the processor moves them
        (``journal_inbox``)."""
        if not self.db.sqlite_write_available:
            return
        elsewhere = self.layout.where("journal") not in (None, WEB)
        if process == WEB:
            moved = await journal_inbox.drain(self.db)
            if moved:
                log.info("%d acknowledged deliveries moved from the journal's inbox", moved)
            if elsewhere:
                inbox = journal_inbox.Inbox(self.db.url)
                inbox.open()
                self.journal.inbox = inbox
        elif "journal" in self.layout.here(process):
            self.db.attach_inbox(journal_inbox.inbox_path(self.db.url))
            self.processor.feed = lambda: journal_inbox.move(self.db)

    def _single_instance_workers(self) -> list[Coroutine]:
        """The workers that run in one process only (see store.leader); the rollups would
        be safe in several (their cursor row is locked) but gain nothing there."""
        here = self.layout.here(self.process)
        works = {
            "media": self.media.run,
            "health": self.health.run,
            "costs": self.costs.run,
            "assist": self.assist.run,
            "rollups": self.rollups.run,
        }
        if self.settings.sender_enabled:
            works |= {"sender": self.sender.run, "campaigns": self.campaigns.run}
        return [run() for worker, run in works.items() if worker in here]

    async def _lead(self) -> None:
        """While this process leads: the single-instance workers; on losing the lead,
        the sender hands back the rows it had not sent yet."""
        tasks = [asyncio.ensure_future(work) for work in self._single_instance_workers()]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.sender.stop()

    async def stop(self) -> None:
        if self.children is not None:
            await self.children.stop()
            self.children = None
        await cancel_all(self._tasks)
        self._tasks.clear()
        await self.sender.stop()  # rows not yet sent go back to pending
        await self.wallboard.stop()
        await self.fanout.stop()
        await self.journal.close()
        await self.graph.aclose()
        await self.flows.aclose()
        if self.assistant.model is not None:
            await self.assistant.model.aclose()
        await self.db.dispose()
