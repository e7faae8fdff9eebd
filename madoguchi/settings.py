"""Runtime settings, read once from ``MADOGUCHI_*`` environment variables (and ``.env``).

Everything that differs between a laptop demo and a production cluster lives here so that
the code never reads ``os.environ`` itself and every knob is documented in one place
(``docs/configuration.md``).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MADOGUCHI_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{DEFAULT_DATA_DIR / 'madoguchi.db'}",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///file.db or postgresql+asyncpg://…",
    )
    graph_api_url: str = Field(
        default="https://graph.facebook.com",
        description="Base URL of Meta's Graph API (or of the simulator).",
    )
    graph_api_version: str = Field(default="v26.0", description="Graph API version in paths.")
    app_secret: SecretStr = Field(
        default=SecretStr("dev-app-secret"),
        description="Meta app secret: the HMAC key of X-Hub-Signature-256.",
    )
    meta_app_id: str | None = Field(
        default=None,
        description="Meta app id: needed by Embedded Signup (Connect with Meta) and to check "
        "tokens on the numbers' health page.",
    )
    meta_config_id: str | None = Field(
        default=None,
        description="Id of the app's Facebook Login for Business configuration for WhatsApp "
        "Embedded Signup (Connect with Meta).",
    )
    health_check_interval_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="How often every number's health is checked with Meta (0: only on demand).",
    )
    verify_token: SecretStr = Field(
        default=SecretStr("dev-verify-token"),
        description="Token Meta echoes in the webhook verification handshake.",
    )
    secret_key: SecretStr = Field(
        default=SecretStr("dev-secret-key-change-me"),
        description="Key from which the at-rest encryption key for access tokens is derived.",
    )
    media_dir: Path = Field(
        default=DEFAULT_DATA_DIR / "media", description="Where downloaded media is stored."
    )
    redis_url: str | None = Field(default=None, description="Enables Redis pub/sub fan-out.")
    redis_channel: str = Field(
        default="madoguchi",
        description="Prefix of the Redis pub/sub channels (deployments sharing a Redis differ).",
    )
    ws_send_queue: int = Field(
        default=256,
        description="Frames buffered per websocket before a slow client is disconnected.",
    )
    ws_heartbeat_seconds: float = Field(
        default=25.0, description="A websocket idle this long gets a ping frame (0: never)."
    )
    scope_check_seconds: float = Field(
        default=5.0,
        ge=0,
        description="Connected supervisors' queues are re-read this often, so a change made "
        "outside this process's fan-out (madoguchi apply without Redis) applies live (0: never).",
    )
    wallboard_interval_seconds: float = Field(
        default=0.5,
        gt=0,
        le=2,
        description="Supervisors' wallboards are told of changes at most this often.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    processes: str = Field(
        default="auto",
        pattern=r"^(auto|1|2)$",
        description="`madoguchi serve`'s processes: 2 = a web process (HTTP, websockets, "
        "webhook acknowledgements) and a processing process (journal processing and the "
        "workers) on the same database; 1 = everything in one process; auto = 2 on a SQLite "
        "file, 1 on PostgreSQL (which scales with `madoguchi worker`). See docs/deployment.md.",
    )
    worker_placement: str = Field(
        default="",
        description="With 2 processes, where a worker runs instead of the processing "
        "process: comma-separated <worker>=<web|processing|own> (own: a process of its "
        "own), e.g. `sender=own`. Workers: journal, timers, routing, media, health, costs, "
        "assist, rollups, sender, campaigns.",
    )
    sender_enabled: bool = Field(
        default=True, description="Run the outbox sender (in the process the layout gives it)."
    )
    sender_backoff_scale: float = Field(
        default=1.0,
        description="Multiplies every retry delay of the sender (tests and demos shorten it).",
    )
    http_timeout_seconds: float = 15.0
    opt_out_keywords: list[str] = Field(
        default=["STOP", "STOP ALL", "UNSUBSCRIBE", "OPT OUT", "OPTOUT", "配信停止", "ストップ"],
        description="A customer message that is exactly one of these (any case, full-width "
        "or not, trailing punctuation ignored) opts them out of marketing templates. JSON list.",
    )
    opt_in_keywords: list[str] = Field(
        default=["START", "UNSTOP", "SUBSCRIBE", "配信再開", "スタート"],
        description="A customer message that is exactly one of these opts them back in.",
    )
    billing_settle_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Message costs are settled from Meta's pricing when statuses arrive, and "
        "at least this often.",
    )
    outbound_route_back_hours: float = Field(
        default=72.0,
        ge=0,
        description="After an outbound template, a customer reply within this many hours goes "
        "back to the agent (or queue) who sent it instead of through the number's flow.",
    )
    call_ring_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a customer's call rings the agents before it is rejected and "
        "recorded as missed.",
    )
    call_permission_template: str | None = Field(
        default=None,
        description="Name of the approved template (body only, MARKETING or UTILITY) that asks "
        "for call permission when the customer service window is closed; without it, a "
        "permission request needs an open window.",
    )
    call_permission_template_language: str = Field(
        default="en", description="Language code of the call-permission template."
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The address customers' browsers reach this server at (video links).",
    )
    video_link_minutes: int = Field(
        default=30, gt=0, le=24 * 60, description="How long a video link stays valid."
    )
    ice_servers: list[dict] = Field(
        default=[],
        description="STUN/TURN servers for browsers' WebRTC, as RTCIceServer objects "
        '(JSON list, e.g. [{"urls": "stun:stun.example.org:3478"}]); none are needed '
        "when agents and customers share a network.",
    )
    campaign_messaging_limit: str = Field(
        default="TIER_1K",
        description="A number's messaging limit tier (unique customers per 24 h: TIER_250, "
        "TIER_1K, TIER_10K, TIER_100K, TIER_UNLIMITED) until Meta has told us its own; "
        "campaigns never start conversations with more customers than that in 24 h.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, /metrics answers only to Authorization: Bearer <token>; "
        "unset, it answers only to this machine (127.0.0.1, ::1).",
    )
    max_request_bytes: int = Field(
        default=1024 * 1024,
        ge=64 * 1024,
        description="The largest request body of an API route (the webhook takes 3 MiB, the "
        "media upload WhatsApp's largest file); a larger one is refused with 413 unread.",
    )
    flow_http_allow: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Hosts or CIDRs a flow's HTTP Request may reach although they are "
        "loopback, private, link-local, unique-local or multicast (internal APIs). JSON list "
        'or comma-separated, e.g. ["crm.internal", "10.20.0.0/16"].',
    )
    flow_http_max_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="The largest answer a flow's HTTP Request reads; a larger one fails.",
    )

    @field_validator("campaign_messaging_limit")
    @classmethod
    def _tier(cls, value: str) -> str:
        name = value.strip().upper()
        if not re.fullmatch(r"TIER_(\d+[KM]?|UNLIMITED)", name):
            raise ValueError(
                f"{value!r} is not a messaging limit tier (TIER_250, TIER_1K, TIER_10K, "
                "TIER_100K or TIER_UNLIMITED)"
            )
        return name

    @field_validator("flow_http_allow", mode="before")
    @classmethod
    def _comma_separated(cls, value):
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    # Assist's optional language model (docs/assist.md). Unset: everything stays offline.
    llm_url: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible API (…/v1: llama.cpp, vLLM, Ollama, a "
        "cloud service). Used only for workspaces that opt in.",
    )
    llm_model: str = Field(default="", description="The model name sent with each request.")
    llm_api_key: SecretStr | None = Field(
        default=None, description="Sent as `Authorization: Bearer …`; never logged."
    )
    llm_allowed_hosts: list[str] = Field(
        default=["127.0.0.1", "localhost", "::1"],
        description="Hosts the model may be reached at (JSON list). A remote service must be "
        "named here as well as in MADOGUCHI_LLM_URL: customer text leaves the machine only "
        "when the operator says so twice.",
    )
    llm_timeout_seconds: float = Field(
        default=20.0, gt=0, description="A model slower than this is skipped (offline result)."
    )


MIN_SECRET_KEY_LENGTH = 32


def weak_secrets(settings: Settings, *, dev: bool = False) -> list[str]:
    """Secrets ``madoguchi serve`` refuses: empty ones (an empty verify token would let
    the webhook handshake pass with an empty token) always, and a short secret key
    unless ``dev`` (``--dev``: a machine of your own)."""
    problems = []
    for name in ("app_secret", "verify_token", "secret_key"):
        if not getattr(settings, name).get_secret_value().strip():
            problems.append(f"MADOGUCHI_{name.upper()} is empty")
    key = settings.secret_key.get_secret_value()
    if (
        key.strip()
        and not dev
        and key != DEV_SECRETS["secret_key"]
        and len(key) < MIN_SECRET_KEY_LENGTH
    ):
        problems.append(
            f"MADOGUCHI_SECRET_KEY is {len(key)} characters: use at least "
            f"{MIN_SECRET_KEY_LENGTH} random ones (e.g. `openssl rand -base64 48`)"
        )
    return problems


DEV_SECRETS = {
    "app_secret": "dev-app-secret",
    "verify_token": "dev-verify-token",
    "secret_key": "dev-secret-key-change-me",
}


def dev_secrets_in_use(settings: Settings) -> list[str]:
    """The secret settings still at their public development defaults."""
    return [
        f"MADOGUCHI_{name.upper()}"
        for name, default in DEV_SECRETS.items()
        if getattr(settings, name).get_secret_value() == default
    ]


@lru_cache
def get_settings() -> Settings:
    return Settings()
