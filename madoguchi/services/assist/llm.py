"""The operator's language model: an OpenAI-compatible chat-completions endpoint.

Used only when the operator configured ``MADOGUCHI_LLM_URL`` *and* the workspace opted in
(assist settings). Before anything leaves, phone numbers, e-mail addresses and long digit
runs are masked (``masking``). The host must be on ``MADOGUCHI_LLM_ALLOWED_HOSTS`` (the
loopback names by default), redirects are never followed and no proxy is taken from the
environment, so customer text reaches the named host or nothing. A slow, failing or
malformed answer raises ``ModelUnavailable``; callers fall back to the offline result, so
an agent is never blocked by the model. The API key is sent as a bearer token and never
logged.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from madoguchi.services.assist.masking import mask
from madoguchi.services.assist.summary import LABELS, Facts

log = logging.getLogger(__name__)

MAX_TRANSCRIPT = 12_000
MAX_ANSWER = 4_000


class ModelConfigError(ValueError):
    """The model's settings cannot be used (the message says which and why)."""


class ModelUnavailable(Exception):
    """No usable answer in time: use the offline result."""


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    article_id: int | None  # the knowledge article the answer cites


def endpoint_of(url: str, allowed_hosts: list[str]) -> str:
    """The chat-completions URL for a base URL, refused unless its host is allowed."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelConfigError("MADOGUCHI_LLM_URL must be an http:// or https:// URL")
    if parts.username or parts.password:
        raise ModelConfigError("put the key in MADOGUCHI_LLM_API_KEY, not in the URL")
    allowed = {h.strip().lower().strip("[]") for h in allowed_hosts if h.strip()}
    if parts.hostname.lower() not in allowed:
        raise ModelConfigError(
            f"the model's host {parts.hostname} is not in MADOGUCHI_LLM_ALLOWED_HOSTS: add it "
            "there to let customer text (masked) leave this machine"
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/chat/completions"):
        path += "/chat/completions"
    return parts._replace(path=path, query="", fragment="").geturl()


class ModelClient:
    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None,
        allowed_hosts: list[str],
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint_of(url, allowed_hosts)
        self.model = model
        self.timeout = timeout
        headers = {"User-Agent": "Madoguchi-assist/1"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def chat(self, system: str, user: str, max_tokens: int = 400) -> str:
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": mask(user)},
            ],
            "temperature": 0.2,
            "max_tokens": max_tokens,
        }
        try:
            response = await self._http.post(self.endpoint, json=body)
        except httpx.TimeoutException as exc:
            raise ModelUnavailable(f"no answer within {self.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise ModelUnavailable(f"request failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise ModelUnavailable(f"the model answered HTTP {response.status_code}")
        try:
            text = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ModelUnavailable("the answer is not a chat completion") from exc
        if not isinstance(text, str) or not text.strip():
            raise ModelUnavailable("the answer is empty")
        return text.strip()[:MAX_ANSWER]

    async def summarize(self, facts: Facts, language: str) -> str:
        labels = LABELS[language]
        names = ", ".join(labels[k] for k in ("customer", "wants", "collected", "done", "open"))
        lines = [f"{t.role}: {t.text}" for t in facts.turns]
        if facts.collected:
            lines.append("collected: " + ", ".join(f"{k}={v}" for k, v in facts.collected.items()))
        lines += [f"note: {n}" for n in facts.notes[-3:]]
        transcript = "\n".join(lines)[-MAX_TRANSCRIPT:]
        system = (
            "You summarise customer-service conversations for the next agent. Write in "
            f"{'Japanese' if language == 'ja' else 'English'}, at most six short lines, one per "
            f"heading: {names}. Do not invent facts. Placeholders like [phone] stay as they are."
        )
        return await self.chat(system, transcript)

    async def answer(self, question: str, articles: list[tuple[int, str, str]]) -> Answer:
        """A reply to the customer grounded in ``articles`` (id, title, body), citing one."""
        sources = "\n\n".join(
            f"[{n}] {title}\n{body[:2000]}" for n, (_, title, body) in enumerate(articles, 1)
        )
        system = (
            "You draft a reply for a customer-service agent, who will edit it before sending. "
            "Use only the numbered articles. Answer in the customer's language, briefly and "
            "politely, and end with the number of the article you used, like [1]. If no "
            "article answers the question, say so and cite nothing."
        )
        text = await self.chat(system, f"Articles:\n{sources}\n\nCustomer:\n{question}")
        cited = re.findall(r"\[(\d+)\]", text)
        article_id = None
        if cited and 1 <= int(cited[-1]) <= len(articles):
            article_id = articles[int(cited[-1]) - 1][0]
        return Answer(re.sub(r"\s*\[\d+\]\s*$", "", text).strip() or text, article_id)


def from_settings(settings) -> ModelClient | None:
    """The configured client, or None when no model is configured (offline)."""
    if not settings.llm_url:
        return None
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return ModelClient(
        settings.llm_url,
        settings.llm_model,
        key,
        settings.llm_allowed_hosts,
        settings.llm_timeout_seconds,
    )
