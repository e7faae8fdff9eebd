"""The operator's Meta app, as Embedded Signup and the token checks need it.

Embedded Signup runs Meta's JavaScript SDK in the admin's browser with the app id and the
id of the app's Facebook Login for Business configuration; the server then exchanges the
code with the app id and secret. When the Graph API URL is not Meta's (the simulator, in
``make demo`` and the tests), the browser loads the stand-in SDK the simulator serves on
its own origin instead, so the same page runs the whole signup without a Meta account.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from madoguchi.settings import Settings
from madoguchi.whatsapp.errors import GraphTransportError, MetaApiError

META_GRAPH_HOSTS = frozenset({"graph.facebook.com", "graph.beta.facebook.com"})
META_SDK_URL = "https://connect.facebook.net/en_US/sdk.js"
META_DIALOG_ORIGINS = ("https://www.facebook.com", "https://web.facebook.com")


@dataclass(frozen=True)
class MetaApp:
    app_id: str | None
    app_secret: str
    config_id: str | None
    graph_api_url: str
    graph_api_version: str

    @classmethod
    def from_settings(cls, settings: Settings) -> MetaApp:
        return cls(
            app_id=settings.meta_app_id,
            app_secret=settings.app_secret.get_secret_value(),
            config_id=settings.meta_config_id,
            graph_api_url=settings.graph_api_url,
            graph_api_version=settings.graph_api_version,
        )

    @property
    def is_meta(self) -> bool:
        return (urlsplit(self.graph_api_url).hostname or "") in META_GRAPH_HOSTS

    def missing(self) -> list[str]:
        """The settings Embedded Signup still needs, by their environment names."""
        names = []
        if not self.app_id:
            names.append("MADOGUCHI_META_APP_ID")
        if not self.config_id:
            names.append("MADOGUCHI_META_CONFIG_ID")
        return names

    def _sdk(self) -> tuple[str, list[str]]:
        """The SDK's URL and the origins its popup may post from."""
        if self.is_meta:
            return META_SDK_URL, list(META_DIALOG_ORIGINS)
        parts = urlsplit(self.graph_api_url)
        origin = f"{parts.scheme}://{parts.netloc}"
        return f"{origin}/en_US/sdk.js", [origin]

    def script_origins(self) -> tuple[str, ...]:
        """What the page's Content-Security-Policy must let scripts load from (none until
        Embedded Signup is set up)."""
        if self.missing():
            return ()
        parts = urlsplit(self._sdk()[0])
        return (f"{parts.scheme}://{parts.netloc}",)

    def connect_origins(self) -> tuple[str, ...]:
        """What the page's ``connect-src`` must add for the SDK (none until Embedded
        Signup is set up): its own origin, and Meta's login origins it asks for the
        login status."""
        scripts = self.script_origins()
        if not scripts:
            return ()
        return scripts + (tuple(META_DIALOG_ORIGINS) if self.is_meta else ())

    def browser_config(self) -> dict:
        """What the admin page needs to launch Embedded Signup (nothing secret)."""
        sdk_url, origins = self._sdk()
        missing = self.missing()
        return {
            "ready": not missing,
            "missing": missing,
            "app_id": self.app_id,
            "config_id": self.config_id,
            "graph_api_version": self.graph_api_version,
            "sdk_url": sdk_url,
            "dialog_origins": origins,
            "simulated": not self.is_meta,
        }


def in_words(exc: MetaApiError | GraphTransportError, *secrets: str) -> str:
    """Meta's error in words, never with a secret in them."""
    if isinstance(exc, GraphTransportError):
        text = f"the Graph API could not be reached: {exc}"
    else:
        code = f"#{exc.code} " if exc.code is not None else ""
        text = f"{code}{exc.message or exc.title or type(exc).__name__}".strip()
        if exc.details and exc.details not in text:
            text = f"{text}: {exc.details}"
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[secret]")
    return text
