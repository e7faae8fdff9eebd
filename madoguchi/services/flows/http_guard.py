"""The flow HTTP Request must not be a way into the server's own network.

Flow authors are workspace admins, who are not necessarily the operator: by default a
flow may not reach loopback, private, link-local (cloud metadata at 169.254.169.254),
unique-local, multicast or otherwise non-public addresses. The check is made on the
addresses actually connected to — by the resolver of the flows' HTTP client — so a
name that resolves to such an address is refused too (redirects are never followed).
The operator lists exceptions for internal APIs in ``MADOGUCHI_FLOW_HTTP_ALLOW`` (host
names or CIDRs).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

import httpx
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver

SETTING = "MADOGUCHI_FLOW_HTTP_ALLOW"
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")


class HttpGuardRefused(OSError):
    """The destination is not allowed; the message says why (shown in ``http.error``)."""


@dataclass(frozen=True)
class AllowList:
    hosts: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, entries: list[str] | tuple[str, ...]) -> AllowList:
        hosts, networks = set(), []
        for entry in entries:
            entry = entry.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: str) -> bool:
        if host.lower().rstrip(".") in self.hosts:
            return True
        ip = _ip(address)
        return ip is not None and any(ip in net for net in self.networks)


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(value.strip("[]").split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def refusal(address: str) -> str | None:
    """Why ``address`` may not be reached by default, or None for a public address."""
    ip = _ip(address)
    if ip is None:
        return "not an IP address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if isinstance(ip, ipaddress.IPv6Address) and ip in _UNIQUE_LOCAL:
        return "a unique-local address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a reserved (non-public) address"
    return None


def check_address(host: str, address: str, allow: AllowList) -> None:
    if allow.allows(host, address):
        return
    reason = refusal(address)
    if reason:
        shown = host if host == address else f"{host} ({address})"
        raise HttpGuardRefused(
            f"{shown} is {reason}: flows may not call it unless the operator lists it in {SETTING}"
        )


def check_url(url: str, allow: AllowList) -> None:
    """Refuse what can be refused before connecting: the scheme, and an IP-literal host
    (which no resolver sees)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise HttpGuardRefused(f"the URL is not valid: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise HttpGuardRefused(f"only http and https URLs may be called, not {parsed.scheme!r}")
    if not parsed.host:
        raise HttpGuardRefused("the URL names no host")
    if _ip(parsed.host) is not None:
        check_address(parsed.host, parsed.host, allow)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, keeping only the addresses the guard allows."""

    def __init__(self, allow: AllowList) -> None:
        self.allow = allow
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[dict[str, Any]]:
        found = await self._inner.resolve(host, port, family)
        kept, refused = [], None
        for info in found:
            try:
                check_address(host, info["host"], self.allow)
            except HttpGuardRefused as exc:
                refused = exc
            else:
                kept.append(info)
        if not kept:
            raise refused or HttpGuardRefused(f"{host} resolves to no address")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def refusal_in(exc: BaseException) -> HttpGuardRefused | None:
    """The guard's refusal somewhere in ``exc``'s causes (aiohttp wraps resolver errors)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, HttpGuardRefused):
            return current
        stack.extend([current.__cause__, current.__context__, getattr(current, "os_error", None)])
    return None
