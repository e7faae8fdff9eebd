"""A thin async client for the Graph API endpoints Madoguchi calls, one method per endpoint.

It only speaks HTTP: no retries, no rate limiting, no storage. Those belong to the outbox
sender, which needs to know exactly what happened, so every failure comes out typed:
a :class:`~madoguchi.whatsapp.errors.MetaApiError` family when Meta answered, or
:class:`~madoguchi.whatsapp.errors.GraphTransportError` saying whether Meta may have
received the request. Each phone number has its own token, so tokens are passed per call;
they go in the Authorization header only and are never logged or put in error messages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlsplit

import httpx

from madoguchi.http_transport import exchange, never_sent, pooled_transport
from madoguchi.whatsapp.errors import GraphTransportError, error_from_response
from madoguchi.whatsapp.media_limits import MediaLimitError, too_large_message
from madoguchi.whatsapp.outbound import build_mark_read_body

__all__ = ["GraphClient", "MediaInfo", "SentMessage"]

log = logging.getLogger(__name__)

# Meta's media CDN has refused downloads without a User-Agent; send one everywhere.
_USER_AGENT = "Madoguchi (+https://github.com/madoguchi)"
# A safety stop for paging loops, far beyond any real template count.
_MAX_PAGES = 500
# What onboarding and the health page read of a phone number.
PHONE_NUMBER_FIELDS = (
    "display_phone_number,verified_name,quality_rating,messaging_limit_tier,throughput,"
    "name_status,status,code_verification_status,platform_type"
)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """Meta's receipt for an accepted send; ``wamid`` is what status webhooks will name."""

    wamid: str
    message_status: str | None = None
    wa_id: str | None = None
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class MediaInfo:
    url: str
    mime_type: str | None = None
    sha256: str | None = None
    file_size: int | None = None


def _segment(value: str) -> str:
    if not value:
        raise ValueError("a Graph API id must not be empty")
    return quote(str(value), safe="")


def _where(url: str) -> str:
    """Host and path only: media URLs carry signed query strings that must not be logged."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}" if parts.netloc else parts.path


class GraphClient:
    def __init__(
        self,
        base_url: str,
        version: str,
        *,
        timeout: float = 15.0,
        http2: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._version = version.strip("/")
        # As many pooled connections as the sender has sends in flight.
        # A short keep-alive expiry: reusing a connection the server is about to close
        # (servers commonly drop idle ones after ~5 s) turns a send ambiguous.
        limits = httpx.Limits(
            max_connections=128, max_keepalive_connections=128, keepalive_expiry=2.0
        )
        if transport is None:
            # HTTP/2 needs httpx's own transport; HTTP/1.1 goes over aiohttp's pool.
            transport = (
                httpx.AsyncHTTPTransport(http2=True, limits=limits)
                if http2
                else pooled_transport(limits)
            )
        self._transport = transport
        self._timeout = httpx.Timeout(timeout)
        self._timeouts = self._timeout.as_dict()  # what each request's extensions carry
        self._api_root = httpx.URL(f"{self._base_url}/{self._version}/")
        self._urls: dict[str, httpx.URL] = {}
        # The client serves what needs its machinery (streamed downloads that follow
        # redirects); JSON calls go to the transport directly (see _json).
        self._http = httpx.AsyncClient(
            timeout=self._timeout,
            transport=transport,
            headers={"User-Agent": _USER_AGENT},
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ messages

    async def send_message(self, phone_number_id: str, token: str, body: dict) -> SentMessage:
        data = await self._json("POST", f"{_segment(phone_number_id)}/messages", token, json=body)
        try:
            message = data["messages"][0]
            wamid = message["id"]
            if not isinstance(wamid, str) or not wamid:
                raise TypeError("empty message id")
        except (KeyError, IndexError, TypeError) as exc:
            # Meta said 2xx, so the message was most likely accepted: resending would duplicate.
            raise GraphTransportError(
                f"POST /{phone_number_id}/messages: 2xx without a message id ({exc})",
                ambiguous=True,
            ) from exc
        contacts = data.get("contacts") or [{}]
        contact = contacts[0] if isinstance(contacts[0], dict) else {}
        return SentMessage(
            wamid=wamid,
            message_status=message.get("message_status"),
            wa_id=contact.get("wa_id"),
            user_id=contact.get("user_id"),
        )

    async def mark_read(
        self, phone_number_id: str, token: str, wamid: str, typing_indicator: bool = False
    ) -> None:
        await self._json(
            "POST",
            f"{_segment(phone_number_id)}/messages",
            token,
            json=build_mark_read_body(wamid, typing_indicator),
        )

    # ------------------------------------------------------------------ media

    async def upload_media(
        self, phone_number_id: str, token: str, data: bytes, mime_type: str, filename: str
    ) -> str:
        result = await self._json(
            "POST",
            f"{_segment(phone_number_id)}/media",
            token,
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, data, mime_type)},
        )
        media_id = result.get("id")
        if not isinstance(media_id, str) or not media_id:
            raise GraphTransportError(
                f"POST /{phone_number_id}/media: 2xx without a media id", ambiguous=True
            )
        return media_id

    async def get_media(self, media_id: str, token: str) -> MediaInfo:
        data = await self._json("GET", _segment(media_id), token)
        url = data.get("url")
        if not isinstance(url, str) or not url:
            raise GraphTransportError(f"GET /{media_id}: 2xx without a url", ambiguous=False)
        size = data.get("file_size")
        return MediaInfo(
            url=url,
            mime_type=data.get("mime_type"),
            sha256=data.get("sha256"),
            file_size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
        )

    async def download_media(self, url: str, token: str, max_bytes: int) -> bytes:
        """Fetch a media URL from :meth:`get_media`, refusing anything past ``max_bytes``.

        Streams so that an oversized file is abandoned after ``max_bytes`` rather than held
        in memory, whatever Content-Length claims.
        """
        if urlsplit(url).scheme == "http" and urlsplit(self._base_url).scheme == "https":
            raise ValueError("refusing to send the access token to a plain-http media URL")
        where = _where(url)
        try:
            async with self._http.stream(
                "GET", url, headers=self._auth(token), follow_redirects=True
            ) as response:
                if response.is_error:
                    await response.aread()
                    raise error_from_response(response.status_code, response.content)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise MediaLimitError(
                        too_large_message("media", int(declared), max_bytes),
                        size=int(declared),
                        limit=max_bytes,
                    )
                buffer = bytearray()
                async for chunk in response.aiter_bytes():
                    buffer += chunk
                    if len(buffer) > max_bytes:
                        raise MediaLimitError(
                            f"media is larger than {max_bytes:,} bytes; download abandoned",
                            size=len(buffer),
                            limit=max_bytes,
                        )
                return bytes(buffer)
        except httpx.RequestError as exc:
            raise _transport_error("GET", where, exc) from exc

    # ------------------------------------------------------------------ templates

    async def list_templates(
        self,
        waba_id: str,
        token: str,
        *,
        fields: str | None = None,
        page_size: int = 100,
    ) -> list[dict]:
        """Every template of the WABA, following Meta's cursor paging to the end."""
        path = f"{_segment(waba_id)}/message_templates"
        params: dict[str, Any] = {"limit": page_size}
        if fields:
            params["fields"] = fields
        templates: list[dict] = []
        seen_after: set[str] = set()
        for _ in range(_MAX_PAGES):
            page = await self._json("GET", path, token, params=params)
            templates.extend(item for item in page.get("data") or [] if isinstance(item, dict))
            paging = page.get("paging") or {}
            if not paging.get("next"):
                break
            after = (paging.get("cursors") or {}).get("after")
            if after and after not in seen_after:
                # Same path on our own base URL (simulator or proxy), Meta's cursor.
                seen_after.add(after)
                params = {**params, "after": after}
            elif not after:
                path, params = paging["next"], {}
            else:
                break
        return templates

    async def create_template(self, waba_id: str, token: str, body: dict) -> dict:
        return await self._json("POST", f"{_segment(waba_id)}/message_templates", token, json=body)

    async def delete_template(
        self, waba_id: str, token: str, name: str, template_id: str | None = None
    ) -> None:
        """Delete by name (every language), or one template when Meta's id is given too."""
        params = {"name": name}
        if template_id:
            params["hsm_id"] = template_id
        await self._json("DELETE", f"{_segment(waba_id)}/message_templates", token, params=params)

    # ------------------------------------------------------------------ calls

    async def call_action(self, phone_number_id: str, token: str, body: dict) -> dict:
        """``POST /{phone_number_id}/calls``: connect, pre_accept, accept, reject, terminate."""
        return await self._json("POST", f"{_segment(phone_number_id)}/calls", token, json=body)

    async def calling_settings(self, phone_number_id: str, token: str) -> dict:
        data = await self._json("GET", f"{_segment(phone_number_id)}/settings", token)
        calling = data.get("calling")
        return calling if isinstance(calling, dict) else {}

    async def set_calling_settings(self, phone_number_id: str, token: str, calling: dict) -> None:
        await self._json(
            "POST", f"{_segment(phone_number_id)}/settings", token, json={"calling": calling}
        )

    # ------------------------------------------------------------------ phone numbers

    async def get_phone_number(
        self, phone_number_id: str, token: str, *, fields: str | None = None
    ) -> dict:
        params = {"fields": fields} if fields else None
        return await self._json("GET", _segment(phone_number_id), token, params=params)

    async def register_number(self, phone_number_id: str, token: str, pin: str) -> None:
        """Register the number for Cloud API use; ``pin`` is its two-step verification
        PIN (set by this call when the number has none yet)."""
        await self._json(
            "POST",
            f"{_segment(phone_number_id)}/register",
            token,
            json={"messaging_product": "whatsapp", "pin": pin},
        )

    async def get_number_settings(self, phone_number_id: str, token: str) -> dict:
        """The number's settings (``calling`` among them)."""
        return await self._json("GET", f"{_segment(phone_number_id)}/settings", token)

    async def get_account(self, waba_id: str, token: str, *, fields: str | None = None) -> dict:
        params = {"fields": fields} if fields else None
        return await self._json("GET", _segment(waba_id), token, params=params)

    # ------------------------------------------------------------------ onboarding

    async def exchange_code(self, app_id: str, app_secret: str, code: str) -> dict:
        """Embedded Signup's code for the business's token (``access_token`` in the answer).

        The app secret goes in the query string, as Meta requires; the client logs paths
        only, never queries."""
        params = {"client_id": app_id, "client_secret": app_secret, "code": code}
        return await self._json("GET", "oauth/access_token", None, params=params)

    async def debug_token(self, input_token: str, app_id: str, app_secret: str) -> dict:
        """What Meta knows of a token (validity, scopes, expiry), asked with the app's
        own token (``app_id|app_secret``)."""
        answer = await self._json(
            "GET",
            "debug_token",
            f"{app_id}|{app_secret}",
            params={"input_token": input_token},
        )
        data = answer.get("data")
        return data if isinstance(data, dict) else {}

    async def subscribe_app(self, waba_id: str, token: str) -> None:
        """Have Meta send the WABA's webhooks to the token's app."""
        await self._json("POST", f"{_segment(waba_id)}/subscribed_apps", token)

    async def unsubscribe_app(self, waba_id: str, token: str) -> None:
        await self._json("DELETE", f"{_segment(waba_id)}/subscribed_apps", token)

    async def subscribed_apps(self, waba_id: str, token: str) -> list[dict]:
        """The apps receiving the WABA's webhooks (``whatsapp_business_api_data`` each)."""
        answer = await self._json("GET", f"{_segment(waba_id)}/subscribed_apps", token)
        return [item for item in answer.get("data") or [] if isinstance(item, dict)]

    # ------------------------------------------------------------------ plumbing

    @staticmethod
    def _auth(token: str | None) -> dict[str, str]:
        if token is None:  # the few calls authenticated otherwise (the code exchange)
            return {}
        if not token:
            raise ValueError("a Graph API access token is required")
        return {"Authorization": f"Bearer {token}"}

    def _url(self, path: str) -> httpx.URL:
        """The URL of an API path (relative to the versioned root) or of an absolute URL."""
        url = self._urls.get(path)
        if url is None:
            url = self._api_root.join(path)
            if len(self._urls) < 4096:
                self._urls[path] = url
        return url

    async def _json(
        self, method: str, path: str, token: str | None, *, params: Any = None, **content: Any
    ) -> dict:
        """One JSON call, straight to the transport (``http_transport.exchange``)."""
        url = self._url(path)
        if params:
            url = url.copy_merge_params(params)
        request = httpx.Request(
            method,
            url,
            headers={"User-Agent": _USER_AGENT, **self._auth(token)},
            extensions={"timeout": self._timeouts},
            **content,
        )
        try:
            response = await exchange(self._transport, request)
        except httpx.RequestError as exc:
            raise _transport_error(method, _where(path), exc) from exc
        log.debug("graph %s %s -> %s", method, _where(path), response.status_code)
        if response.is_error:
            raise error_from_response(response.status_code, response.content)
        try:
            data = response.json()
        except ValueError as exc:
            raise GraphTransportError(
                f"{method} {_where(path)}: HTTP {response.status_code} with a non-JSON body",
                ambiguous=True,
            ) from exc
        if not isinstance(data, dict):
            raise GraphTransportError(
                f"{method} {_where(path)}: HTTP {response.status_code} with a non-object body",
                ambiguous=True,
            )
        return data


def _transport_error(method: str, where: str, exc: httpx.RequestError) -> GraphTransportError:
    ambiguous = not never_sent(exc)
    detail = str(exc) or type(exc).__name__
    return GraphTransportError(
        f"{method} {where}: {type(exc).__name__}: {detail}", ambiguous=ambiguous
    )
