"""Meta's request validation and error shapes, as the Cloud API applies them.

Everything here is pure: it checks a request body and raises `GraphError`, which knows
its HTTP status and the Graph error JSON. Checks that need the simulator's state
(recipient, media ids, templates, window, rate) live in `graph_api`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import payloads

# code -> (title, HTTP status). Titles are short descriptions; handle errors by code.
ERRORS: dict[int, tuple[str, int]] = {
    0: ("AuthException", 401),
    1: ("API Unknown", 400),
    2: ("API Service", 503),
    4: ("Application request limit reached", 400),
    33: ("Parameter value is not valid", 400),
    100: ("Invalid parameter", 400),
    190: ("Invalid OAuth access token", 401),
    368: ("Temporarily blocked for policies violations", 400),
    2500: ("Unknown path components", 400),
    80007: ("Rate limit issues", 400),
    130429: ("Rate limit hit", 400),
    131000: ("Something went wrong", 500),
    131005: ("Access denied", 403),
    131008: ("Required parameter is missing", 400),
    131009: ("Parameter value is not valid", 400),
    131016: ("Service unavailable", 503),
    131021: ("Recipient cannot be sender", 400),
    131026: ("Message undeliverable", 400),
    131031: ("Account has been locked", 400),
    131047: ("Re-engagement message", 400),
    131048: ("Spam rate limit hit", 400),
    131049: ("Message not delivered to maintain healthy ecosystem engagement", 400),
    131050: ("User stopped marketing messages", 400),
    131051: ("Unsupported message type", 400),
    131052: ("Media download error", 400),
    131053: ("Media upload error", 400),
    131056: ("(Business Account, Consumer Account) pair rate limit hit", 400),
    131062: ("Business-scoped user ID recipient not allowed", 400),
    132000: ("Number of parameters does not match the expected number of params", 400),
    132001: ("Template name does not exist in the translation", 404),
    132005: ("Translated text too long", 400),
    132007: ("Template format character policy violated", 400),
    132012: ("Parameter format does not match format in the created template", 400),
    132015: ("Template is paused", 400),
    132016: ("Template is disabled", 400),
    133004: ("Server temporarily unavailable", 503),
    133005: ("Two step verification PIN Mismatch", 400),
    133006: ("Phone number needs to be verified before registering", 400),
    133008: ("Too many two step verification PIN guesses for this phone number", 400),
    133009: ("Two step verification PIN was entered too quickly", 400),
    133010: ("Account not registered", 400),
    138000: ("Calling not enabled", 400),
    138002: ("Concurrent calls limit", 400),
    138003: ("Duplicate call", 400),
    138006: ("No approved call permission", 400),
    138100: ("Call not found", 404),
    133015: ("Please wait a few minutes before attempting to register this phone number", 400),
    200: ("Permissions error", 403),
}


def error_title(code: int) -> str:
    return ERRORS.get(code, ("Simulated error", 400))[0]


class GraphError(Exception):
    """A Graph API error: `body()` is Meta's error JSON, `http_status` its status."""

    def __init__(
        self,
        code: int,
        details: str | None = None,
        *,
        http_status: int | None = None,
        title: str | None = None,
        error_subcode: int | None = None,
    ) -> None:
        known_title, known_status = ERRORS.get(code, ("Simulated error", 400))
        self.code = code
        self.title = title or known_title
        self.details = details or self.title
        self.http_status = http_status or known_status
        self.error_subcode = error_subcode
        super().__init__(f"({code}) {self.title}: {self.details}")

    def body(self) -> dict:
        err: dict[str, Any] = {
            "message": f"(#{self.code}) {self.title}",
            "type": "OAuthException",
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details},
        }
        if self.error_subcode is not None:
            err["error_subcode"] = self.error_subcode
        err["fbtrace_id"] = payloads.new_fbtrace_id()
        return {"error": err}

    def webhook_error(self) -> dict:
        """The same error as a webhook `errors[]` item (e.g. on a `failed` status)."""
        return payloads.error(self.code, self.title, details=self.details)


class AuthError(GraphError):
    """Invalid or missing access token: 401, code 190, no `error_data` (Graph-level)."""

    def __init__(self, details: str = "Invalid OAuth access token - Cannot parse access token"):
        super().__init__(190, details)

    def body(self) -> dict:
        return {
            "error": {
                "message": self.details,
                "type": "OAuthException",
                "code": 190,
                "fbtrace_id": payloads.new_fbtrace_id(),
            }
        }


def unknown_object(node_id: str, method: str = "get") -> GraphError:
    """What Graph answers for an id that does not exist (or the token cannot see)."""
    return GraphError(
        100,
        f"Unsupported {method} request. Object with ID '{node_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation.",
        error_subcode=33,
    )


# ------------------------------------------------------------------------ helpers


def missing(path: str) -> GraphError:
    return GraphError(131008, f"The parameter {path} is required.")


def invalid(path: str, why: str) -> GraphError:
    return GraphError(131009, f"Param {path} is not valid: {why}")


def too_long(path: str, limit: int) -> GraphError:
    return GraphError(100, f"Param {path} must be at most {limit} characters long.")


def _obj(parent: dict, key: str, path: str, *, required: bool = True) -> dict | None:
    value = parent.get(key)
    if value is None:
        if required:
            raise missing(path)
        return None
    if not isinstance(value, dict):
        raise GraphError(100, f"Param {path} must be a JSON object.")
    return value


def _list(parent: dict, key: str, path: str, *, required: bool = True) -> list | None:
    value = parent.get(key)
    if value is None:
        if required:
            raise missing(path)
        return None
    if not isinstance(value, list):
        raise GraphError(100, f"Param {path} must be an array.")
    return value


def _str(
    parent: dict, key: str, path: str, *, max_len: int | None = None, required: bool = True
) -> str | None:
    value = parent.get(key)
    if value is None or value == "":
        if required:
            raise missing(path)
        return None
    if not isinstance(value, str):
        raise GraphError(100, f"Param {path} must be a string.")
    if max_len is not None and len(value) > max_len:
        raise too_long(path, max_len)
    return value


# ------------------------------------------------------------------- send request

TEXT_MAX = 4096
CAPTION_MAX = 1024
BODY_MAX = 1024
HEADER_MAX = 60
FOOTER_MAX = 60
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
LIST_BUTTON_MAX = 20
LIST_ROW_TITLE_MAX = 24
LIST_ROW_DESCRIPTION_MAX = 72
LIST_ROW_ID_MAX = 200
LIST_SECTION_TITLE_MAX = 24
LIST_ROWS_MAX = 10
LIST_SECTIONS_MAX = 10

MESSAGE_TYPES = (
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "reaction",
    "template",
)
INTERACTIVE_TYPES = (
    "button",
    "list",
    "cta_url",
    "flow",
    "location_request_message",
    "call_permission_request",
    "product",
    "product_list",
    "catalog_message",
)
BSUID_RE = re.compile(r"^[A-Z]{2}(\.ENT)?\.[A-Za-z0-9]{1,128}$")
LINK_RE = re.compile(r"^https://[^\s/$.?#][^\s]*$", re.IGNORECASE)


@dataclass
class SendRequest:
    """A `POST /{phone_number_id}/messages` body that passed Meta's static checks."""

    kind: str  # "message" or "read"
    to: str | None = None  # phone digits
    recipient: str | None = None  # BSUID
    input: str | None = None  # what the caller wrote, echoed in `contacts[].input`
    type: str | None = None
    obj: dict = field(default_factory=dict)
    context_message_id: str | None = None
    biz_opaque_callback_data: str | None = None
    message_id: str | None = None  # mark-as-read
    typing_indicator: bool = False


def validate_send(body: Any) -> SendRequest:
    if not isinstance(body, dict):
        raise GraphError(100, "The request body must be a JSON object.")
    product = body.get("messaging_product")
    if product is None:
        raise missing("messaging_product")
    if product != "whatsapp":
        raise GraphError(
            100, f'Param messaging_product must be one of {{WHATSAPP}} - got "{product}".'
        )

    if body.get("status") is not None:
        return _validate_read(body)

    recipient_type = body.get("recipient_type", "individual")
    if recipient_type != "individual":
        raise GraphError(
            100, f'Param recipient_type must be "individual" - got "{recipient_type}".'
        )
    req = SendRequest(kind="message")
    to = body.get("to")
    recipient = body.get("recipient")
    if to not in (None, ""):
        if not isinstance(to, str):
            raise GraphError(100, "Param to must be a string.")
        number = payloads.digits(to)
        if not re.fullmatch(r"\+?[\d\s().-]+", to) or not 5 <= len(number) <= 20:
            raise invalid("to", f'"{to}" is not a valid phone number.')
        req.to, req.input = number, to
    elif recipient not in (None, ""):
        if not isinstance(recipient, str) or not BSUID_RE.match(recipient):
            raise invalid("recipient", f'"{recipient}" is not a valid business-scoped user id.')
        req.recipient, req.input = recipient, recipient
    else:
        raise missing("to")

    msg_type = body.get("type", "text")
    if msg_type not in MESSAGE_TYPES:
        raise GraphError(
            100,
            f"Param type must be one of {{{', '.join(t.upper() for t in MESSAGE_TYPES)}}}"
            f' - got "{msg_type}".',
        )
    req.type = msg_type
    obj = body.get(msg_type)
    if obj is None:
        raise missing(msg_type)
    if msg_type == "contacts":
        _validate_contacts(obj)
        req.obj = {"contacts": obj}
    else:
        if not isinstance(obj, dict):
            raise GraphError(100, f"Param {msg_type} must be a JSON object.")
        VALIDATORS[msg_type](obj, msg_type)
        req.obj = obj

    ctx = body.get("context")
    if ctx is not None:
        if not isinstance(ctx, dict):
            raise GraphError(100, "Param context must be a JSON object.")
        req.context_message_id = _str(ctx, "message_id", "context.message_id")
    opaque = body.get("biz_opaque_callback_data")
    if opaque is not None:
        if not isinstance(opaque, str) or len(opaque) > 512:
            raise GraphError(
                100, "Param biz_opaque_callback_data must be a string of at most 512 characters."
            )
        req.biz_opaque_callback_data = opaque
    return req


def _validate_read(body: dict) -> SendRequest:
    if body["status"] != "read":
        raise GraphError(100, f'Param status must be "read" - got "{body["status"]}".')
    message_id = _str(body, "message_id", "message_id")
    typing = body.get("typing_indicator")
    if typing is not None and (not isinstance(typing, dict) or typing.get("type") != "text"):
        raise GraphError(100, 'Param typing_indicator.type must be "text".')
    return SendRequest(kind="read", message_id=message_id, typing_indicator=typing is not None)


def _validate_text(obj: dict, path: str) -> None:
    _str(obj, "body", f"{path}.body", max_len=TEXT_MAX)
    preview = obj.get("preview_url")
    if preview is not None and not isinstance(preview, bool):
        raise GraphError(100, f"Param {path}.preview_url must be a boolean.")


def _validate_media(obj: dict, kind: str) -> None:
    media_id, link = obj.get("id"), obj.get("link")
    if media_id and link:
        raise GraphError(100, f"Param {kind} must have either id or link, not both.")
    if not media_id and not link:
        raise missing(f"{kind}.id")
    if link is not None and (not isinstance(link, str) or not LINK_RE.match(link)):
        raise invalid(f"{kind}.link", "must be an https URL.")
    if media_id is not None and not isinstance(media_id, str):
        raise GraphError(100, f"Param {kind}.id must be a string.")
    if obj.get("caption") is not None:
        if kind in ("audio", "sticker"):
            raise GraphError(100, f"Param {kind}.caption is not supported for {kind}.")
        _str(obj, "caption", f"{kind}.caption", max_len=CAPTION_MAX, required=False)
    if obj.get("filename") is not None:
        if kind != "document":
            raise GraphError(100, f"Param {kind}.filename is only supported for documents.")
        _str(obj, "filename", f"{kind}.filename", max_len=240, required=False)


def _number(obj: dict, key: str, path: str, lo: float, hi: float) -> None:
    value = obj.get(key)
    if value is None:
        raise missing(path)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise invalid(path, "must be a number.") from None
    if not lo <= number <= hi:
        raise invalid(path, f"must be between {lo} and {hi}.")


def _validate_location(obj: dict, path: str) -> None:
    _number(obj, "latitude", f"{path}.latitude", -90, 90)
    _number(obj, "longitude", f"{path}.longitude", -180, 180)
    _str(obj, "name", f"{path}.name", max_len=1000, required=False)
    _str(obj, "address", f"{path}.address", max_len=1000, required=False)


def _validate_contacts(cards: Any) -> None:
    if not isinstance(cards, list) or not cards:
        raise GraphError(100, "Param contacts must be a non-empty array.")
    for i, card in enumerate(cards):
        if not isinstance(card, dict):
            raise GraphError(100, f"Param contacts[{i}] must be a JSON object.")
        name = _obj(card, "name", f"contacts[{i}].name")
        _str(name, "formatted_name", f"contacts[{i}].name.formatted_name")


def _validate_reaction(obj: dict, path: str) -> None:
    _str(obj, "message_id", f"{path}.message_id")
    emoji = obj.get("emoji")
    if emoji is None:
        raise missing(f"{path}.emoji")
    if not isinstance(emoji, str) or len(emoji) > 16:
        raise invalid(f"{path}.emoji", "must be a single emoji, or empty to remove.")


def _validate_interactive(obj: dict, path: str) -> None:
    itype = _str(obj, "type", f"{path}.type")
    if itype not in INTERACTIVE_TYPES:
        raise GraphError(
            100,
            f'Param {path}.type must be one of {{{", ".join(INTERACTIVE_TYPES)}}} - got "{itype}".',
        )
    action = _obj(obj, "action", f"{path}.action")
    body = _obj(obj, "body", f"{path}.body", required=itype not in ("product",))
    if body is not None:
        _str(body, "text", f"{path}.body.text", max_len=BODY_MAX)
    header = _obj(obj, "header", f"{path}.header", required=False)
    if header is not None:
        htype = _str(header, "type", f"{path}.header.type")
        allowed = (
            ("text",)
            if itype in ("list", "product_list")
            else ("text", "image", "video", "document")
        )
        if htype not in allowed:
            raise GraphError(
                100,
                f"Param {path}.header.type must be one of "
                f'{{{", ".join(allowed)}}} - got "{htype}".',
            )
        if htype == "text":
            _str(header, "text", f"{path}.header.text", max_len=HEADER_MAX)
        else:
            media = _obj(header, htype, f"{path}.header.{htype}")
            _validate_media(media, f"{path}.header.{htype}")
    footer = _obj(obj, "footer", f"{path}.footer", required=False)
    if footer is not None:
        _str(footer, "text", f"{path}.footer.text", max_len=FOOTER_MAX)

    if itype == "button":
        _validate_buttons(action, f"{path}.action")
    elif itype == "list":
        _validate_list(action, f"{path}.action")
    elif itype == "cta_url":
        if action.get("name") != "cta_url":
            raise invalid(f"{path}.action.name", 'must be "cta_url".')
        params = _obj(action, "parameters", f"{path}.action.parameters")
        _str(
            params,
            "display_text",
            f"{path}.action.parameters.display_text",
            max_len=BUTTON_TITLE_MAX,
        )
        url = _str(params, "url", f"{path}.action.parameters.url")
        if not re.match(r"^https?://\S+$", url or ""):
            raise invalid(f"{path}.action.parameters.url", "must be an http(s) URL.")
    elif itype == "flow":
        if action.get("name") != "flow":
            raise invalid(f"{path}.action.name", 'must be "flow".')
        _obj(action, "parameters", f"{path}.action.parameters")
    elif itype == "location_request_message":
        if action.get("name") != "send_location":
            raise invalid(f"{path}.action.name", 'must be "send_location".')
    elif itype == "call_permission_request" and action.get("name") != "call_permission_request":
        raise invalid(f"{path}.action.name", 'must be "call_permission_request".')


def _validate_buttons(action: dict, path: str) -> None:
    buttons = _list(action, "buttons", f"{path}.buttons")
    if not 1 <= len(buttons) <= 3:
        raise GraphError(
            131009, f"Param {path}.buttons must have between 1 and 3 elements, got {len(buttons)}."
        )
    ids: set[str] = set()
    titles: set[str] = set()
    for i, btn in enumerate(buttons):
        bpath = f"{path}.buttons[{i}]"
        if not isinstance(btn, dict):
            raise GraphError(100, f"Param {bpath} must be a JSON object.")
        if btn.get("type", "reply") != "reply":
            raise invalid(f"{bpath}.type", 'must be "reply".')
        reply = _obj(btn, "reply", f"{bpath}.reply")
        bid = _str(reply, "id", f"{bpath}.reply.id", max_len=BUTTON_ID_MAX)
        title = _str(reply, "title", f"{bpath}.reply.title", max_len=BUTTON_TITLE_MAX)
        if bid in ids or title in titles:
            raise invalid(bpath, "button ids and titles must be unique.")
        ids.add(bid)
        titles.add(title)


def _validate_list(action: dict, path: str) -> None:
    _str(action, "button", f"{path}.button", max_len=LIST_BUTTON_MAX)
    sections = _list(action, "sections", f"{path}.sections")
    if not 1 <= len(sections) <= LIST_SECTIONS_MAX:
        raise GraphError(
            131009,
            f"Param {path}.sections must have between 1 and "
            f"{LIST_SECTIONS_MAX} elements, got {len(sections)}.",
        )
    total = 0
    ids: set[str] = set()
    for s, section in enumerate(sections):
        spath = f"{path}.sections[{s}]"
        if not isinstance(section, dict):
            raise GraphError(100, f"Param {spath} must be a JSON object.")
        _str(
            section,
            "title",
            f"{spath}.title",
            max_len=LIST_SECTION_TITLE_MAX,
            required=len(sections) > 1,
        )
        rows = _list(section, "rows", f"{spath}.rows")
        if not rows:
            raise GraphError(131009, f"Param {spath}.rows must not be empty.")
        for r, row in enumerate(rows):
            rpath = f"{spath}.rows[{r}]"
            if not isinstance(row, dict):
                raise GraphError(100, f"Param {rpath} must be a JSON object.")
            rid = _str(row, "id", f"{rpath}.id", max_len=LIST_ROW_ID_MAX)
            _str(row, "title", f"{rpath}.title", max_len=LIST_ROW_TITLE_MAX)
            _str(
                row,
                "description",
                f"{rpath}.description",
                max_len=LIST_ROW_DESCRIPTION_MAX,
                required=False,
            )
            if rid in ids:
                raise invalid(f"{rpath}.id", "row ids must be unique.")
            ids.add(rid)
        total += len(rows)
    if total > LIST_ROWS_MAX:
        raise GraphError(
            131009,
            f"Param {path}.sections must have at most {LIST_ROWS_MAX} rows in total, got {total}.",
        )


TEMPLATE_PARAM_TYPES = (
    "text",
    "currency",
    "date_time",
    "image",
    "document",
    "video",
    "location",
    "payload",
    "coupon_code",
    "action",
)


def _validate_template(obj: dict, path: str) -> None:
    _str(obj, "name", f"{path}.name", max_len=512)
    language = _obj(obj, "language", f"{path}.language")
    _str(language, "code", f"{path}.language.code")
    components = _list(obj, "components", f"{path}.components", required=False) or []
    for c, comp in enumerate(components):
        cpath = f"{path}.components[{c}]"
        if not isinstance(comp, dict):
            raise GraphError(100, f"Param {cpath} must be a JSON object.")
        ctype = str(comp.get("type", "")).lower()
        if ctype not in ("header", "body", "button"):
            raise GraphError(
                100,
                f"Param {cpath}.type must be one of {{header, body, button}}"
                f' - got "{comp.get("type")}".',
            )
        if ctype == "button":
            _str(comp, "sub_type", f"{cpath}.sub_type")
            if comp.get("index") is None:
                raise missing(f"{cpath}.index")
        params = _list(comp, "parameters", f"{cpath}.parameters", required=ctype != "button")
        for p, param in enumerate(params or []):
            ppath = f"{cpath}.parameters[{p}]"
            if not isinstance(param, dict):
                raise GraphError(100, f"Param {ppath} must be a JSON object.")
            ptype = param.get("type")
            if ptype not in TEMPLATE_PARAM_TYPES:
                raise GraphError(
                    100,
                    f"Param {ppath}.type must be one of "
                    f"{{{', '.join(TEMPLATE_PARAM_TYPES)}}} - got "
                    f'"{ptype}".',
                )
            if ptype == "text":
                _str(param, "text", f"{ppath}.text", max_len=32768)
            elif ptype in ("image", "document", "video"):
                _validate_media(_obj(param, ptype, f"{ppath}.{ptype}"), f"{ppath}.{ptype}")
            elif ptype in ("currency", "date_time"):
                _str(
                    _obj(param, ptype, f"{ppath}.{ptype}"),
                    "fallback_value",
                    f"{ppath}.{ptype}.fallback_value",
                )
            elif ptype == "payload":
                _str(param, "payload", f"{ppath}.payload", max_len=1000)


VALIDATORS = {
    "text": _validate_text,
    "image": _validate_media,
    "video": _validate_media,
    "audio": _validate_media,
    "document": _validate_media,
    "sticker": _validate_media,
    "location": _validate_location,
    "reaction": _validate_reaction,
    "interactive": _validate_interactive,
    "template": _validate_template,
}


# ------------------------------------------------------------------------ templates

PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
TEMPLATE_NAME_RE = re.compile(r"^[a-z0-9_]{1,512}$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
TEMPLATE_CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
TEMPLATE_BUTTON_TYPES = (
    "QUICK_REPLY",
    "URL",
    "PHONE_NUMBER",
    "COPY_CODE",
    "OTP",
    "FLOW",
    "CATALOG",
    "MPM",
    "VOICE_CALL",
)


def placeholders(text: str) -> list[str]:
    """The distinct placeholder names of `text`, in order (`{{1}}` gives "1")."""
    seen: list[str] = []
    for name in PLACEHOLDER_RE.findall(text or ""):
        if name not in seen:
            seen.append(name)
    return seen


def _template_error(details: str) -> GraphError:
    return GraphError(100, details, title="Invalid parameter")


def _check_placeholders(text: str, example: Any, path: str) -> None:
    names = placeholders(text)
    if not names:
        return
    if all(n.isdigit() for n in names):
        if sorted(int(n) for n in names) != list(range(1, len(names) + 1)):
            raise _template_error(
                f"{path}: positional parameters must be {{{{1}}}}, {{{{2}}}}, … in sequence."
            )
    elif any(n.isdigit() for n in names):
        raise _template_error(f"{path}: do not mix positional and named parameters.")
    if not example:
        raise _template_error(f"{path}: parameters need sample values in `example`.")


def validate_template_create(body: Any) -> dict:
    """Check a `POST /{waba_id}/message_templates` body; return the template to store."""
    if not isinstance(body, dict):
        raise _template_error("The request body must be a JSON object.")
    name = body.get("name")
    if not name:
        raise missing("name")
    if not isinstance(name, str) or not TEMPLATE_NAME_RE.match(name):
        raise _template_error(
            "Param name must contain only lowercase letters, digits and underscores."
        )
    category = body.get("category")
    if not category:
        raise missing("category")
    if str(category).upper() not in TEMPLATE_CATEGORIES:
        raise _template_error(
            f"Param category must be one of "
            f'{{{", ".join(TEMPLATE_CATEGORIES)}}} - got "{category}".'
        )
    category = str(category).upper()
    language = body.get("language")
    if not language:
        raise missing("language")
    if not isinstance(language, str) or not LANGUAGE_RE.match(language):
        raise _template_error(
            f'Param language must be a language code like en_US or ja - got "{language}".'
        )
    components = body.get("components")
    if not isinstance(components, list) or not components:
        raise missing("components")

    seen: set[str] = set()
    for i, comp in enumerate(components):
        path = f"components[{i}]"
        if not isinstance(comp, dict):
            raise _template_error(f"Param {path} must be a JSON object.")
        ctype = str(comp.get("type", "")).upper()
        if ctype not in ("HEADER", "BODY", "FOOTER", "BUTTONS"):
            raise _template_error(
                f"Param {path}.type must be one of {{HEADER, BODY, FOOTER, "
                f'BUTTONS}} - got "{comp.get("type")}".'
            )
        if ctype in seen:
            raise _template_error(f"Param {path}: only one {ctype} component is allowed.")
        seen.add(ctype)
        if ctype == "HEADER":
            fmt = str(comp.get("format", "")).upper()
            if fmt not in ("TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION"):
                raise _template_error(
                    f"Param {path}.format must be one of "
                    f"{{TEXT, IMAGE, VIDEO, DOCUMENT, LOCATION}}."
                )
            if fmt == "TEXT":
                text = _str(comp, "text", f"{path}.text", max_len=HEADER_MAX)
                if len(placeholders(text)) > 1:
                    raise _template_error(f"{path}.text: a header takes at most one parameter.")
                _check_placeholders(text, comp.get("example"), f"{path}.text")
        elif ctype == "BODY":
            text = comp.get("text")
            if category != "AUTHENTICATION" or text is not None:
                text = _str(comp, "text", f"{path}.text", max_len=BODY_MAX)
                _check_placeholders(text, comp.get("example"), f"{path}.text")
        elif ctype == "FOOTER":
            if category != "AUTHENTICATION" or comp.get("text") is not None:
                _str(comp, "text", f"{path}.text", max_len=FOOTER_MAX)
        else:
            buttons = _list(comp, "buttons", f"{path}.buttons")
            if not 1 <= len(buttons) <= 10:
                raise _template_error(f"Param {path}.buttons must have between 1 and 10 elements.")
            for b, btn in enumerate(buttons):
                bpath = f"{path}.buttons[{b}]"
                if not isinstance(btn, dict):
                    raise _template_error(f"Param {bpath} must be a JSON object.")
                btype = str(btn.get("type", "")).upper()
                if btype not in TEMPLATE_BUTTON_TYPES:
                    raise _template_error(
                        f"Param {bpath}.type must be one of {{{', '.join(TEMPLATE_BUTTON_TYPES)}}}."
                    )
                if btype not in ("OTP", "COPY_CODE", "CATALOG", "MPM"):
                    _str(btn, "text", f"{bpath}.text", max_len=25)
                if btype == "URL":
                    _str(btn, "url", f"{bpath}.url", max_len=2000)
                if btype == "PHONE_NUMBER":
                    _str(btn, "phone_number", f"{bpath}.phone_number", max_len=20)
    if "BODY" not in seen:
        raise missing("components[BODY]")
    return {
        "name": name,
        "language": language,
        "category": category,
        "components": components,
        "parameter_format": str(body.get("parameter_format", "POSITIONAL")).upper(),
    }


# ---------------------------------------------------------------------------- media

MB = 1024 * 1024
MEDIA_LIMITS: dict[str, tuple[tuple[str, ...], int]] = {
    "image": (("image/jpeg", "image/png"), 5 * MB),
    "video": (("video/mp4", "video/3gpp"), 16 * MB),
    "audio": (("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"), 16 * MB),
    "document": (
        (
            "text/plain",
            "application/pdf",
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        100 * MB,
    ),
    "sticker": (("image/webp",), 500 * 1024),
}
STATIC_STICKER_MAX = 100 * 1024


def base_mime(mime_type: str) -> str:
    return (mime_type or "").split(";", 1)[0].strip().lower()


def media_kind(mime_type: str) -> str | None:
    """Which message type a MIME type uploads as (None when Meta would refuse it)."""
    mime = base_mime(mime_type)
    for kind, (types, _limit) in MEDIA_LIMITS.items():
        if mime in types:
            return kind
    return None


def is_animated_webp(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"WEBP" and b"ANIM" in data[12:4096]


def check_upload(mime_type: str, data: bytes) -> str:
    """Meta's MIME and size limits for `POST /{phone_number_id}/media`; returns the kind."""
    kind = media_kind(mime_type)
    if kind is None:
        raise GraphError(
            131053, f'Param file must be a file with one of the supported types; got "{mime_type}".'
        )
    limit = MEDIA_LIMITS[kind][1]
    if kind == "sticker" and not is_animated_webp(data):
        limit = STATIC_STICKER_MAX
    if len(data) > limit:
        raise GraphError(
            131053,
            f"The {kind} file is {len(data)} bytes; the limit for "
            f"{base_mime(mime_type)} is {limit} bytes.",
        )
    if not data:
        raise GraphError(131053, "The uploaded file is empty.")
    return kind


# ---------------------------------------------------------------- template sends

AUTH_BODY_DEFAULT = "{{1}} is your verification code."


def _param_value(param: dict) -> str:
    ptype = param.get("type")
    if ptype == "text":
        return str(param.get("text", ""))
    if ptype in ("currency", "date_time"):
        return str((param.get(ptype) or {}).get("fallback_value", ""))
    if ptype == "payload":
        return str(param.get("payload", ""))
    return str(param.get(ptype, ""))


def _fill(text: str, where: str, params: list[dict], named: bool) -> str:
    names = placeholders(text)
    if len(params) != len(names):
        raise GraphError(
            132000,
            f"{where}: number of localizable_params ({len(params)}) does not match the "
            f"expected number of params ({len(names)})",
        )
    if named:
        values = {str(p.get("parameter_name")): _param_value(p) for p in params}
        absent = [n for n in names if n not in values]
        if absent:
            raise GraphError(132000, f"{where}: missing parameter_name {absent[0]!r}")
    else:
        values = {name: _param_value(p) for name, p in zip(names, params, strict=True)}
    return PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def render_template(template: Any, sent_components: list[dict]) -> dict:
    """Check a template send's parameters against the stored template (`template` has
    `components`, `category`, `parameter_format`) and return what the phone shows:
    `{header?, body, footer?, buttons[]}`. Raises 132000 / 132005 / 132012."""
    named = template.parameter_format == "NAMED"
    sent: dict[str, dict] = {}
    button_params: dict[int, dict] = {}
    for comp in sent_components:
        ctype = str(comp.get("type", "")).lower()
        if ctype == "button":
            try:
                button_params[int(comp.get("index"))] = comp
            except (TypeError, ValueError):
                raise invalid("template.components.index", "must be a number.") from None
        else:
            sent[ctype] = comp
    stored = {str(c.get("type", "")).upper(): c for c in template.components}
    rendered: dict[str, Any] = {}

    header = stored.get("HEADER")
    header_params = (sent.get("header") or {}).get("parameters") or []
    if header:
        fmt = str(header.get("format", "TEXT")).upper()
        if fmt == "TEXT":
            rendered["header"] = {
                "type": "text",
                "text": _fill(header.get("text", ""), "header", header_params, named),
            }
        else:
            kind = fmt.lower()
            if len(header_params) != 1 or header_params[0].get("type") != kind:
                raise GraphError(132012, f"header: expected one {kind} parameter.")
            rendered["header"] = {"type": kind, kind: header_params[0].get(kind)}
    elif header_params:
        raise GraphError(132000, "header: the template has no header, but parameters were given.")

    body = stored.get("BODY") or {}
    body_text = body.get("text") or (
        AUTH_BODY_DEFAULT if template.category == "AUTHENTICATION" else ""
    )
    text = _fill(body_text, "body", (sent.get("body") or {}).get("parameters") or [], named)
    if len(text) > BODY_MAX:
        raise GraphError(
            132005,
            f"body: the text with parameters is {len(text)} characters; "
            f"at most {BODY_MAX} are allowed.",
        )
    rendered["body"] = text
    footer = stored.get("FOOTER")
    if footer and footer.get("text"):
        rendered["footer"] = footer["text"]

    buttons = []
    for i, btn in enumerate((stored.get("BUTTONS") or {}).get("buttons") or []):
        btype = str(btn.get("type", "")).upper()
        params = (button_params.get(i) or {}).get("parameters") or []
        item: dict[str, Any] = {"type": btype, "text": btn.get("text", "")}
        if btype == "QUICK_REPLY":
            payload = next((p.get("payload") for p in params if p.get("type") == "payload"), None)
            item["payload"] = payload or btn.get("text", "")
        elif btype == "URL":
            url = btn.get("url", "")
            if placeholders(url):
                if not params:
                    raise GraphError(
                        132000, f"button {i}: the URL takes a parameter, none was given."
                    )
                url = PLACEHOLDER_RE.sub(lambda _m, p=params[0]: _param_value(p), url)
            item["url"] = url
        elif btype == "PHONE_NUMBER":
            item["phone_number"] = btn.get("phone_number")
        buttons.append(item)
    rendered["buttons"] = buttons
    return rendered
