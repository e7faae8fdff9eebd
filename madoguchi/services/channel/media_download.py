"""Inbound media: fetch the bytes Meta holds for a received media id into our store.

Downloading inside the webhook request would make Meta's acknowledgement wait on a
second round trip to Meta, so the ingest only records a ``pending`` media row; this worker
resolves the media URL with the number's token, downloads within WhatsApp's size limit
for the kind, and marks the row ``stored`` or ``failed``. Pending rows survive a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sqlalchemy import select

from madoguchi.domain.events import Event, MediaStored
from madoguchi.store.models import Media, PhoneNumber
from madoguchi.whatsapp.errors import GraphTransportError, MetaApiError
from madoguchi.whatsapp.media_limits import (
    MediaLimitError,
    check_media,
    max_bytes,
    too_large_message,
)

if TYPE_CHECKING:
    from madoguchi.metrics import Metrics
    from madoguchi.security.secrets import SecretBox
    from madoguchi.store.db import Database
    from madoguchi.store.media_store import LocalMediaStore
    from madoguchi.whatsapp.graph import GraphClient

Publish = Callable[[list[Event]], Awaitable[None]]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
POLL_SECONDS = 5.0
# Woken by every inbound message (most carry no media), the downloader looks once per this
# long under a stream instead of once per message.
GATHER_SECONDS = 0.1


class MediaDownloader:
    def __init__(
        self,
        db: Database,
        graph: GraphClient,
        secrets: SecretBox,
        media_store: LocalMediaStore,
        metrics: Metrics,
        publish: Publish,
        *,
        concurrency: int = 4,
    ) -> None:
        self.db = db
        self.graph = graph
        self.secrets = secrets
        self.media_store = media_store
        self.metrics = metrics
        self.publish = publish
        self.concurrency = concurrency
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                busy = await self.download_pending()
            except Exception:
                log.exception("media download round failed")
                busy = 0
            if busy:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
                await asyncio.sleep(GATHER_SECONDS)

    async def download_pending(self, limit: int = 20) -> int:
        """Download up to ``limit`` pending inbound media; return how many were tried."""
        async with self.db.read() as session:
            rows = (
                (
                    await session.execute(
                        select(Media.id)
                        .where(Media.status == "pending", Media.direction == "inbound")
                        .order_by(Media.id)
                        .limit(limit)
                    )
                )
                .scalars()
                .all()
            )
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(media_id: int) -> None:
            async with semaphore:
                await self.download(media_id)

        await asyncio.gather(*(one(m) for m in rows))
        return len(rows)

    async def download(self, media_id: int) -> str:
        """Download one media row; returns its new status."""
        async with self.db.read() as session:
            media = await session.get(Media, media_id)
            number = await session.get(PhoneNumber, media.phone_number_id)
            token = self.secrets.decrypt(number.access_token_encrypted)
        data: bytes | None = None
        error: str | None = None
        retry = False
        try:
            info = await self.graph.get_media(media.meta_media_id, token)
            limit = max_bytes(media.kind, animated=bool(media.kind == "sticker"))
            if info.file_size and info.file_size > limit:
                raise MediaLimitError(
                    too_large_message(media.kind, info.file_size, limit), size=info.file_size
                )
            data = await self.graph.download_media(info.url, token, limit)
            mime_type = info.mime_type or media.mime_type
            if media.kind != "document":  # customers may send any file as a document
                check_media(
                    media.kind, mime_type or "", len(data), animated=media.kind == "sticker"
                )
        except MediaLimitError as exc:
            data, error = None, f"not stored: {exc}"
        except MetaApiError as exc:
            error, retry = f"Meta refused the media download: {exc.agent_message}", exc.retryable
        except GraphTransportError as exc:
            error, retry = f"could not reach Meta to download the media: {exc}", True

        async with self.db.write() as session:
            media = await session.get(Media, media_id)
            media.attempts += 1
            if data is not None:
                media.storage_key = self.media_store.put(media.workspace_id, data)
                media.file_size = len(data)
                media.mime_type = mime_type
                media.sha256 = media.sha256 or hashlib.sha256(data).hexdigest()
                media.status, media.error = "stored", None
            elif retry and media.attempts < MAX_ATTEMPTS:
                media.error = error
            else:
                media.status, media.error = "failed", error
            status, workspace_id = media.status, media.workspace_id
        self.metrics.media_downloads.labels(status if data is None else "stored").inc()
        if status != "pending":
            await self.publish(
                [MediaStored(workspace_id=workspace_id, media_id=media_id, status=status)]
            )
        return status
