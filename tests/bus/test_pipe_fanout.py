"""The split layout's plumbing without processes: ``PipeFanOut`` over real socket pairs
(events reach the other end and are relayed between children, never echoed back), the
``Switchboard``'s wake-ups routed to the process that runs the worker, and the layout
plan (``MADOGUCHI_PROCESSES``, ``MADOGUCHI_WORKER_PLACEMENT``)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from madoguchi import layout as layouts
from madoguchi.bus.pipe import Link, PipeFanOut
from madoguchi.domain.events import MessageReceived, PresenceChanged
from madoguchi.processes import BUSY, QUIET, Switchboard
from tests.helpers import eventually


class Collect:
    def __init__(self) -> None:
        self.events = []
        self.gaps = []

    async def __call__(self, event) -> None:
        self.events.append(event)

    def gap(self, reason: str) -> None:
        self.gaps.append(reason)


async def linked(name_a: str, name_b: str) -> tuple[Link, Link]:
    one, two = socket.socketpair()
    a, b = Link(one, name_b), Link(two, name_a)
    await a.open()
    await b.open()
    return a, b


class FakeRuntime:
    """What the switchboard uses of a runtime: its fan-out and wakeable workers."""

    def __init__(self) -> None:
        self.fanout = PipeFanOut()
        self.woken: list[str] = []
        self.workers = {name: _Worker(name, self.woken) for name in ("journal", "sender")}

    def wakeable(self) -> dict:
        return self.workers


class _Worker:
    def __init__(self, name: str, woken: list[str]) -> None:
        self.name = name
        self.woken = woken

    def wake(self) -> None:
        self.woken.append(self.name)


EVENT = MessageReceived(
    workspace_id=1, conversation_id=2, message_id=3, contact_id=4, new_conversation=True
)


async def test_an_event_crosses_to_the_web_process_and_on_to_the_other_child_only():
    # web <-> processing, web <-> sender: the web process relays.
    web_to_processing, processing_to_web = await linked("web", "processing")
    web_to_sender, sender_to_web = await linked("web", "sender")
    web, processing, sender = PipeFanOut(), PipeFanOut(), PipeFanOut()
    seen = {name: Collect() for name in ("web", "processing", "sender")}
    for name, fanout in (("web", web), ("processing", processing), ("sender", sender)):
        fanout.add_listener(seen[name], seen[name].gap)

    async def relay(fanout):
        async def handler(link, kind, payload):
            await fanout.receive(link, payload)

        return handler

    web.attach(web_to_processing)
    web.attach(web_to_sender)
    processing.attach(processing_to_web)
    sender.attach(sender_to_web)
    web_to_processing.serve(await relay(web))
    web_to_sender.serve(await relay(web))
    processing_to_web.serve(await relay(processing))
    sender_to_web.serve(await relay(sender))

    await processing.publish(EVENT)

    async def everywhere():
        return all(collect.events for collect in seen.values())

    await eventually(everywhere)
    assert seen["web"].events == [EVENT] and seen["sender"].events == [EVENT]
    assert seen["processing"].events == [EVENT]  # delivered locally once, never echoed

    presence = PresenceChanged(1, user_id=7, status="available")
    await web.publish(presence)

    async def both_children():
        return seen["processing"].events[-1:] == seen["sender"].events[-1:] == [presence]

    await eventually(both_children)
    web.detach(web_to_sender, "the sender process restarted")
    assert seen["web"].gaps == ["the sender process restarted"]
    for link in (web_to_processing, web_to_sender, processing_to_web, sender_to_web):
        await link.close()


async def test_a_closed_link_ends_its_reader_and_sends_nothing():
    a, b = await linked("web", "processing")
    frames = []

    async def handler(link, kind, payload):
        frames.append((kind, payload))

    b.serve(handler)
    assert a.send(b"W", b"journal")
    await eventually(lambda: _true(frames))
    assert frames == [(b"W", b"journal")]
    await a.close()
    await asyncio.wait_for(b.closed.wait(), 60)
    assert not b.send(b"W", b"journal")
    await b.close()


async def _true(value) -> bool:
    return bool(value)


async def test_wakes_go_to_the_process_running_the_worker_through_the_web_process():
    layout = layouts.plan(processes="2", sqlite_file=True, placement="sender=own")
    assert layout.where("journal") == "processing" and layout.where("sender") == "sender"
    web_rt, processing_rt, sender_rt = FakeRuntime(), FakeRuntime(), FakeRuntime()
    web = Switchboard(web_rt, layout, "web")
    processing = Switchboard(processing_rt, layout, "processing")
    sender = Switchboard(sender_rt, layout, "sender")
    for board in (web, processing, sender):
        board.route_wakes()
    a, b = await linked("web", "processing")
    c, d = await linked("web", "sender")
    web.attach("processing", a)
    web.attach("sender", c)
    processing.attach("web", b)
    sender.attach("web", d)

    processing_rt.workers["sender"].wake()  # a reply queued by a flow in processing
    web_rt.workers["journal"].wake()  # a delivery committed in the web process
    await eventually(lambda: _true(sender_rt.woken and processing_rt.woken))
    assert sender_rt.woken == ["sender"] and processing_rt.woken == ["journal"]
    assert web_rt.woken == []

    web.journal_busy(True)
    await eventually(lambda: _true(not processing.acks_quiet.is_set()))
    web.journal_busy(False)
    await asyncio.wait_for(processing.acks_quiet.wait(), 60)
    assert (BUSY, QUIET) == (b"B", b"Q")
    for link in (a, b, c, d):
        await link.close()


def test_the_layout_plan():
    split = layouts.plan(processes="auto", sqlite_file=True)
    assert split.children == ("processing",)
    assert split.here("web") == frozenset()
    assert split.here("processing") == frozenset(layouts.WORKERS)
    assert layouts.plan(processes="auto", sqlite_file=False).children == ()
    assert layouts.plan(processes="1", sqlite_file=True).here("web") == frozenset(layouts.WORKERS)
    moved = layouts.plan(processes=2, sqlite_file=False, placement="assist=web, sender=own")
    assert moved.children == ("processing", "sender")
    assert moved.where("assist") == "web" and moved.where("campaigns") == "processing"
    only = layouts.plan(processes="2", sqlite_file=True, workers=False)
    assert dict(only.places) == {"journal": "processing"}
    assert "web: http; processing: journal" in only.describe()
    for bad in ("sender", "sender=mars", "nobody=web"):
        with pytest.raises(ValueError, match="MADOGUCHI_WORKER_PLACEMENT"):
            layouts.plan(processes="2", sqlite_file=True, placement=bad)
    with pytest.raises(ValueError, match="MADOGUCHI_PROCESSES"):
        layouts.plan(processes="3", sqlite_file=True)
