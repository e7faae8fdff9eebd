"""Realtime fan-out between the processes of one ``madoguchi serve`` (no extra server).

``madoguchi serve`` on SQLite runs as a web process (HTTP, websockets, the webhook
journal's appends) and one or more child processes (journal processing and the workers,
see ``madoguchi.processes``), joined by a local socket pair each. ``Link`` is one end of
such a socket: small frames, each a kind byte, a length and a payload. ``PipeFanOut`` is
the fan-out of a process on those links: an event published here reaches this process's
listeners at once and every linked process; an event arriving from a link reaches this
process's listeners and every *other* link (the web process relays between children, so
an event published in a child reaches the websockets of the web process and the
listeners of every other child). Without links it is the one-process ``LocalFanOut``.

With Redis configured every process uses ``RedisFanOut`` instead and the links carry only
the control frames (wake-ups, the journal's busy/quiet state).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
from collections.abc import Awaitable, Callable

from madoguchi.bus.fanout import LocalFanOut
from madoguchi.domain.events import Event, event_from_dict

log = logging.getLogger(__name__)

HEADER = struct.Struct("!cI")  # kind (one byte), payload length
EVENT = b"E"
MAX_FRAME = 16 * 1024 * 1024
# A linked process that stops reading must not grow this one's memory without bound:
# past this many bytes waiting in the socket's buffer, events to it are dropped (counted,
# and its listeners told of a gap when it reconnects).
MAX_BUFFERED = 32 * 1024 * 1024
# Frames sent within this long leave in one write: one ``send`` system call per frame
# (and a wake-up of the process at the other end, which runs at a higher priority than
# a processing child and so took its CPU at once) was ~10 % of a processing child's
# samples when a flow batch published its few events per customer.
FLUSH_SECONDS = 0.002

FrameHandler = Callable[["Link", bytes, bytes], Awaitable[None]]


class Link:
    """One end of a socket pair between two processes of one server."""

    def __init__(self, sock: socket.socket, name: str) -> None:
        self.sock = sock
        self.name = name
        self.dropped = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task | None = None
        self._pending: list[bytes] = []  # frames waiting for the next flush, in order
        self._pending_bytes = 0
        self._flush_handle: asyncio.TimerHandle | None = None
        self.closed = asyncio.Event()

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_unix_connection(sock=self.sock)

    async def read_frame(self) -> tuple[bytes, bytes]:
        """The next frame (kind, payload); ``asyncio.IncompleteReadError`` at the end."""
        kind, size = HEADER.unpack(await self._reader.readexactly(HEADER.size))
        if size > MAX_FRAME:
            raise ValueError(f"frame of {size} bytes from {self.name}")
        payload = await self._reader.readexactly(size) if size else b""
        return kind, payload

    def serve(self, handler: FrameHandler) -> None:
        """Hand every frame from now on to ``handler``; ``closed`` is set at the end."""
        self._task = asyncio.create_task(self._read_loop(handler), name=f"link-{self.name}")

    async def _read_loop(self, handler: FrameHandler) -> None:
        try:
            while True:
                kind, payload = await self.read_frame()
                try:
                    await handler(self, kind, payload)
                except Exception:
                    log.exception("frame %r from %s failed", kind, self.name)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError) as exc:
            if not isinstance(exc, asyncio.IncompleteReadError):
                log.warning("link to %s broken: %s", self.name, exc)
        finally:
            self.closed.set()

    def send(self, kind: bytes, payload: bytes = b"") -> bool:
        """Queue one frame (never blocks; written with the others of the next
        ``FLUSH_SECONDS``, in order); False if the link is closed or backed up."""
        writer = self._writer
        if writer is None or self.closed.is_set() or writer.is_closing():
            return False
        if (
            kind == EVENT
            and writer.transport.get_write_buffer_size() + self._pending_bytes > MAX_BUFFERED
        ):
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("%s is not reading: %d events to it dropped", self.name, self.dropped)
            return False
        frame = HEADER.pack(kind, len(payload)) + payload
        self._pending.append(frame)
        self._pending_bytes += len(frame)
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)
        return True

    def flush(self) -> None:
        """Write the queued frames now (one write)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        frames, self._pending, self._pending_bytes = self._pending, [], 0
        writer = self._writer
        if frames and writer is not None and not writer.is_closing():
            writer.write(b"".join(frames))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writer is not None:
            self.flush()
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        else:
            self.sock.close()
        self.closed.set()


class PipeFanOut(LocalFanOut):
    """``LocalFanOut`` plus the links to this server's other processes."""

    def __init__(self) -> None:
        super().__init__()
        self._links: list[Link] = []

    def attach(self, link: Link) -> None:
        self._links.append(link)

    def detach(self, link: Link, gap: str | None = None) -> None:
        """Forget a link; ``gap``: events may have been missed (a child restarted), the
        listeners re-read state."""
        if link in self._links:
            self._links.remove(link)
        if gap:
            self._notify_gap(gap)

    async def publish(self, event: Event) -> None:
        await self._deliver_local(event)
        if self._links:
            self._send(_encode(event), None)

    async def receive(self, link: Link, payload: bytes) -> None:
        """An event published in the process at the other end of ``link``."""
        try:
            event = event_from_dict(json.loads(payload))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("an event from %s could not be read: %s", link.name, exc)
            return
        await self._deliver_local(event)
        self._send(payload, link)

    def _send(self, payload: bytes, origin: Link | None) -> None:
        for link in self._links:
            if link is not origin:
                link.send(EVENT, payload)


def _encode(event: Event) -> bytes:
    return json.dumps(event.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()
