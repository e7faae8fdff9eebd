"""Outbound WhatsApp messages: typed models, WhatsApp's limits, and the Graph request body.

The models mirror Meta's own objects field for field, so an API client sends Madoguchi
exactly what it would send Meta, minus the recipient (which comes from the conversation).
Every limit WhatsApp enforces is checked here, before anything is queued, with a message
that names the field and the limit: an agent learns "20 characters at most" while typing,
not from a 131009 minutes later. Pure functions only; the HTTP call lives in ``graph.py``.

Limits are checked once per message, top-down (``_problems``), so that each one can name
its full path (``interactive.action.buttons[2].reply.title``); leaf models alone check shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Union
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "AudioMessage",
    "ButtonAction",
    "ButtonInteractive",
    "CallPermissionAction",
    "CallPermissionInteractive",
    "CaptionedMedia",
    "Contact",
    "ContactAddress",
    "ContactEmail",
    "ContactName",
    "ContactOrg",
    "ContactPhone",
    "ContactUrl",
    "ContactsMessage",
    "CouponCodeParameter",
    "CtaUrlAction",
    "CtaUrlInteractive",
    "CtaUrlParameters",
    "Currency",
    "CurrencyParameter",
    "DateTime",
    "DateTimeParameter",
    "DocumentHeader",
    "DocumentMedia",
    "DocumentMessage",
    "DocumentParameter",
    "DocumentRef",
    "ImageHeader",
    "ImageMessage",
    "ImageParameter",
    "Interactive",
    "InteractiveBody",
    "InteractiveFooter",
    "InteractiveHeader",
    "InteractiveMessage",
    "LIMITS",
    "ListAction",
    "ListInteractive",
    "ListRow",
    "ListSection",
    "LocationBody",
    "LocationMessage",
    "LocationParameter",
    "LocationRequestAction",
    "LocationRequestInteractive",
    "MediaRef",
    "OutboundMessage",
    "OutboundValidationError",
    "PayloadParameter",
    "ReactionBody",
    "ReactionMessage",
    "Recipient",
    "ReplyButton",
    "ReplyButtonBody",
    "StickerMessage",
    "TemplateBody",
    "TemplateComponent",
    "TemplateLanguage",
    "TemplateMessage",
    "TemplateParameter",
    "TextBody",
    "TextHeader",
    "TextMessage",
    "TextParameter",
    "VideoHeader",
    "VideoMessage",
    "VideoParameter",
    "build_mark_read_body",
    "build_send_body",
    "parse_outbound",
    "pricing_category_hint",
    "render_text",
    "validate_outbound",
]

# WhatsApp's documented limits, in characters or items. Named so that tests and the UI
# (counters under input boxes) read the same numbers the validators enforce.
LIMITS: Mapping[str, int] = {
    "text_body": 4096,
    "caption": 1024,
    "interactive_body": 1024,
    "interactive_header_text": 60,
    "interactive_footer": 60,
    "reply_buttons_max": 3,
    "reply_button_title": 20,
    "reply_button_id": 256,
    "list_button": 20,
    "list_sections_max": 10,
    "list_rows_max": 10,
    "list_row_title": 24,
    "list_row_description": 72,
    "list_row_id": 200,
    "list_section_title": 24,
    "cta_display_text": 20,
    "template_name": 512,
    "template_header_text_parameter": 60,
    "template_coupon_code": 15,
    "biz_opaque_callback_data": 512,
    "reaction_emoji_codepoints": 16,
}

Problem = tuple[str, str]  # (field path, sentence naming the field and the limit)


# --------------------------------------------------------------------------- helpers


def _n(value: int) -> str:
    return f"{value:,}"


def _too_long(value: str | None, field: str, limit: int) -> Iterator[Problem]:
    if value is not None and len(value) > limit:
        count = _n(len(value))
        yield field, f"{field} is {count} characters; WhatsApp allows at most {_n(limit)}"


def _text(value: str | None, field: str, limit: int, *, required: bool = True) -> Iterator[Problem]:
    """Required text must have something besides spaces; optional text may be absent."""
    if value is None:
        if required:
            yield field, f"{field} is required"
        return
    if required and not value.strip():
        yield field, f"{field} must not be empty"
        return
    yield from _too_long(value, field, limit)


def _https(value: str, field: str) -> Iterator[Problem]:
    parts = urlsplit(value)
    if parts.scheme.lower() != "https" or not parts.netloc:
        yield field, f"{field} must be an https:// URL"


def _count(items: list[Any], field: str, low: int, high: int, what: str) -> Iterator[Problem]:
    if not low <= len(items) <= high:
        span = f"at most {high}" if low == 0 else f"{low} to {high}"
        yield field, f"{field} has {len(items)} {what}; WhatsApp allows {span}"


class _Part(BaseModel):
    """A piece of a Meta object: unknown keys are refused so typos never go out silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def _problems(self, at: str) -> Iterator[Problem]:
        return iter(())


# --------------------------------------------------------------------------- media


class MediaRef(_Part):
    """Media by uploaded ``id`` or public ``link``; exactly one."""

    id: str | None = None
    link: str | None = None

    def _problems(self, at: str) -> Iterator[Problem]:
        if self.id is None and self.link is None:
            yield at, f"{at} needs an id (uploaded media) or a link"
        elif self.id is not None and self.link is not None:
            yield at, f"{at} has both id and link; WhatsApp takes exactly one"
        elif self.id is not None and not self.id.strip():
            yield f"{at}.id", f"{at}.id must not be empty"
        elif self.link is not None:
            yield from _https(self.link, f"{at}.link")


class DocumentRef(MediaRef):
    filename: str | None = None


class CaptionedMedia(MediaRef):
    caption: str | None = None

    def _problems(self, at: str) -> Iterator[Problem]:
        yield from super()._problems(at)
        yield from _too_long(self.caption, f"{at}.caption", LIMITS["caption"])


class DocumentMedia(CaptionedMedia):
    filename: str | None = None


# --------------------------------------------------------------------------- message base


class _Message(_Part):
    type: str
    # Meta echoes it in status webhooks; lets an integration tie statuses to its own ids.
    biz_opaque_callback_data: str | None = None

    def _problems(self, at: str) -> Iterator[Problem]:
        yield from _too_long(
            self.biz_opaque_callback_data,
            "biz_opaque_callback_data",
            LIMITS["biz_opaque_callback_data"],
        )

    @model_validator(mode="after")
    def _within_whatsapp_limits(self) -> _Message:
        for field, message in self._problems(""):
            raise PydanticCustomError("whatsapp_limit", message, {"field": field})
        return self


def _no_caption(kind: str, data: Any) -> None:
    media = data.get(kind) if isinstance(data, Mapping) else None
    if isinstance(media, Mapping) and "caption" in media:
        raise PydanticCustomError(
            "whatsapp_limit",
            f"{kind}.caption is not allowed; WhatsApp shows no caption on {kind} messages",
            {"field": f"{kind}.caption"},
        )


# --------------------------------------------------------------------------- text


class TextBody(_Part):
    body: str
    preview_url: bool = False


class TextMessage(_Message):
    type: Literal["text"] = "text"
    text: TextBody

    def _problems(self, at: str) -> Iterator[Problem]:
        yield from super()._problems(at)
        yield from _text(self.text.body, "text.body", LIMITS["text_body"])


# --------------------------------------------------------------------------- media messages


class ImageMessage(_Message):
    type: Literal["image"] = "image"
    image: CaptionedMedia

    def _problems(self, at: str) -> Iterator[Problem]:
        yield from super()._problems(at)
        yield from self.image._problems("image")


class VideoMessage(_Message):
    type: Literal["video"] = "video"
    video: CaptionedMedia

    def _problems(self, at: str) -> Iterator[Problem]:
        yield from super()._problems(at)
        yield from self.video._problems("video")


class AudioMessage(_Message):
    type: Literal["audio"] = "audio"
    audio: MediaRef

    @model_validator(mode="before")
    @classmethod
    def _refuse_caption(cls, data: Any) -> Any:
        _no_caption("audio", data)
        return data

    def _problems(self, at: str) -> Iterator[Problem]:
        yield from super()._problems(at)
        yield from self.audio._problems("audio")


class DocumentMessage(_Message):
    type: Literal["document"] = "document"
    document: DocumentMedia

    def _problems(self, at: str) -> Iterator[Problem]:
        yield from super()._problems(at)
        yield from self.document._problems("document")


class StickerMessage(_Message):
    type: Literal["sticker"] = "sticker"
    sticker: MediaRef

    @model_validator(mode="before")
    @classmethod
    def _refuse_caption(cls, data: Any) -> Any:
        _no_caption("sticker", data)
        return data

    def _problems(self, at: str) -> Iterator[Problem]:
        yield from super()._problems(at)
        yield from self.sticker._problems("sticker")


# --------------------------------------------------------------------------- location


class LocationBody(_Part):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None

    def _problems(self, at: str) -> Iterator[Problem]:
        if not -90 <= self.latitude <= 90:
            yield f"{at}.latitude", f"{at}.latitude must be between -90 and 90"
        if not -180 <= self.longitude <= 180:
            yield f"{at}.longitude", f"{at}.longitude must be between -180 and 180"


class LocationMessage(_Message):
    type: Literal["location"] = "location"
    location: LocationBody

    def _problems(self, at: str) -> Iterator[Problem]:
        yield from super()._problems(at)
        yield from self.location._problems("location")


# --------------------------------------------------------------------------- contacts


class ContactName(_Part):
    formatted_name: str
    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    suffix: str | None = None
    prefix: str | None = None


class ContactPhone(_Part):
    phone: str | None = None
    type: str | None = None
    wa_id: str | None = None


class ContactEmail(_Part):
    email: str | None = None
    type: str | None = None


class ContactUrl(_Part):
    url: str | None = None
    type: str | None = None


class ContactAddress(_Part):
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    country_code: str | None = None
    type: str | None = None


class ContactOrg(_Part):
    company: str | None = None
    department: str | None = None
    title: str | None = None


_BIRTHDAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Contact(_Part):
    name: ContactName
    phones: list[ContactPhone] | None = None
    emails: list[ContactEmail] | None = None
    urls: list[ContactUrl] | None = None
    addresses: list[ContactAddress] | None = None
    org: ContactOrg | None = None
    birthday: str | None = None

    def _problems(self, at: str) -> Iterator[Problem]:
        yield from _text(self.name.formatted_name, f"{at}.name.formatted_name", 10_000)
        if self.birthday is not None and not _BIRTHDAY.match(self.birthday):
            yield f"{at}.birthday", f"{at}.birthday must be written YYYY-MM-DD"


class ContactsMessage(_Message):
    type: Literal["contacts"] = "contacts"
    contacts: list[Contact]

    def _problems(self, at: str) -> Iterator[Problem]:
        yield from super()._problems(at)
        if not self.contacts:
            yield "contacts", "contacts must hold at least one contact"
        for i, contact in enumerate(self.contacts):
            yield from contact._problems(f"contacts[{i}]")


# --------------------------------------------------------------------------- interactive


class TextHeader(_Part):
    type: Literal["text"] = "text"
    text: str


class ImageHeader(_Part):
    type: Literal["image"] = "image"
    image: MediaRef


class VideoHeader(_Part):
    type: Literal["video"] = "video"
    video: MediaRef


class DocumentHeader(_Part):
    type: Literal["document"] = "document"
    document: DocumentRef


InteractiveHeader = Annotated[
    Union[TextHeader, ImageHeader, VideoHeader, DocumentHeader],  # noqa: UP007
    Field(discriminator="type"),
]


def _header_problems(header: BaseModel | None, at: str) -> Iterator[Problem]:
    if isinstance(header, TextHeader):
        yield from _text(header.text, f"{at}.text", LIMITS["interactive_header_text"])
    elif isinstance(header, ImageHeader):
        yield from header.image._problems(f"{at}.image")
    elif isinstance(header, VideoHeader):
        yield from header.video._problems(f"{at}.video")
    elif isinstance(header, DocumentHeader):
        yield from header.document._problems(f"{at}.document")


class InteractiveBody(_Part):
    text: str


class InteractiveFooter(_Part):
    text: str


class _Interactive(_Part):
    """Fields shared by interactive types; each subclass says which of them it allows."""

    type: str
    body: InteractiveBody | None = None
    footer: InteractiveFooter | None = None
    body_required: ClassVar[bool] = True

    def _problems(self, at: str) -> Iterator[Problem]:
        if self.body is None:
            if self.body_required:
                yield f"{at}.body.text", f"{at}.body.text is required for {self.type} messages"
        else:
            yield from _text(self.body.text, f"{at}.body.text", LIMITS["interactive_body"])
        if self.footer is not None:
            yield from _text(self.footer.text, f"{at}.footer.text", LIMITS["interactive_footer"])
        yield from _header_problems(getattr(self, "header", None), f"{at}.header")


class ReplyButtonBody(_Part):
    id: str
    title: str


class ReplyButton(_Part):
    type: Literal["reply"] = "reply"
    reply: ReplyButtonBody


class ButtonAction(_Part):
    buttons: list[ReplyButton]


class ButtonInteractive(_Interactive):
    type: Literal["button"] = "button"
    header: InteractiveHeader | None = None
    action: ButtonAction

    def _problems(self, at: str) -> Iterator[Problem]:
        yield from super()._problems(at)
        buttons = self.action.buttons
        yield from _count(
            buttons, f"{at}.action.buttons", 1, LIMITS["reply_buttons_max"], "buttons"
        )
        seen_ids: dict[str, int] = {}
        seen_titles: dict[str, int] = {}
        for i, button in enumerate(buttons):
            where = f"{at}.action.buttons[{i}].reply"
            yield from _text(button.reply.id, f"{where}.id", LIMITS["reply_button_id"])
            yield from _text(button.reply.title, f"{where}.title", LIMITS["reply_button_title"])
            if button.reply.id in seen_ids:
                yield (
                    f"{where}.id",
                    (
                        f"{where}.id repeats buttons[{seen_ids[button.reply.id]}]; "
                        "WhatsApp needs a different id on every button"
                    ),
                )
            if button.reply.title in seen_titles:
                yield (
                    f"{where}.title",
                    (
                        f"{where}.title repeats buttons[{seen_titles[button.reply.title]}]; "
                        "WhatsApp needs a different title on every button"
                    ),
                )
            seen_ids.setdefault(button.reply.id, i)
            seen_titles.setdefault(button.reply.title, i)


class ListRow(_Part):
    id: str
    title: str
    description: str | None = None


class ListSection(_Part):
    title: str | None = None
    rows: list[ListRow]


class ListAction(_Part):
    button: str
    sections: list[ListSection]


class ListInteractive(_Interactive):
    type: Literal["list"] = "list"
    header: TextHeader | None = None  # list messages take a text header only
    action: ListAction

    def _problems(self, at: str) -> Iterator[Problem]:
        yield from super()._problems(at)
        action = self.action
        yield from _text(action.button, f"{at}.action.button", LIMITS["list_button"])
        sections = action.sections
        yield from _count(
            sections, f"{at}.action.sections", 1, LIMITS["list_sections_max"], "sections"
        )
        total = sum(len(section.rows) for section in sections)
        if total > LIMITS["list_rows_max"]:
            yield (
                f"{at}.action.sections",
                (
                    f"{at}.action.sections hold {total} rows in total; "
                    f"WhatsApp allows at most {LIMITS['list_rows_max']}"
                ),
            )
        seen_ids: dict[str, str] = {}
        for s, section in enumerate(sections):
            where = f"{at}.action.sections[{s}]"
            if len(sections) > 1 and section.title is None:
                yield (
                    f"{where}.title",
                    (f"{where}.title is required when a list has more than one section"),
                )
            yield from _text(
                section.title,
                f"{where}.title",
                LIMITS["list_section_title"],
                required=len(sections) > 1,
            )
            if not section.rows:
                yield f"{where}.rows", f"{where}.rows must hold at least one row"
            for r, row in enumerate(section.rows):
                row_at = f"{where}.rows[{r}]"
                yield from _text(row.id, f"{row_at}.id", LIMITS["list_row_id"])
                yield from _text(row.title, f"{row_at}.title", LIMITS["list_row_title"])
                yield from _too_long(
                    row.description, f"{row_at}.description", LIMITS["list_row_description"]
                )
                if row.id in seen_ids:
                    yield (
                        f"{row_at}.id",
                        (
                            f"{row_at}.id repeats {seen_ids[row.id]}; "
                            "WhatsApp needs a different id on every row"
                        ),
                    )
                seen_ids.setdefault(row.id, f"sections[{s}].rows[{r}]")


class CtaUrlParameters(_Part):
    display_text: str
    url: str


class CtaUrlAction(_Part):
    name: Literal["cta_url"] = "cta_url"
    parameters: CtaUrlParameters


class CtaUrlInteractive(_Interactive):
    type: Literal["cta_url"] = "cta_url"
    header: InteractiveHeader | None = None
    action: CtaUrlAction

    def _problems(self, at: str) -> Iterator[Problem]:
        yield from super()._problems(at)
        params = self.action.parameters
        where = f"{at}.action.parameters"
        yield from _text(params.display_text, f"{where}.display_text", LIMITS["cta_display_text"])
        yield from _https(params.url, f"{where}.url")


class CallPermissionAction(_Part):
    name: Literal["call_permission_request"] = "call_permission_request"


class CallPermissionInteractive(_Interactive):
    """Asks the customer for permission to call them (WhatsApp Business Calling)."""

    type: Literal["call_permission_request"] = "call_permission_request"
    action: CallPermissionAction = CallPermissionAction()
    body_required = False


class LocationRequestAction(_Part):
    name: Literal["send_location"] = "send_location"


class LocationRequestInteractive(_Interactive):
    type: Literal["location_request_message"] = "location_request_message"
    action: LocationRequestAction = LocationRequestAction()


Interactive = Annotated[
    Union[  # noqa: UP007
        ButtonInteractive,
        ListInteractive,
        CtaUrlInteractive,
        CallPermissionInteractive,
        LocationRequestInteractive,
    ],
    Field(discriminator="type"),
]


class InteractiveMessage(_Message):
    type: Literal["interactive"] = "interactive"
    interactive: Interactive

    def _problems(self, at: str) -> Iterator[Problem]:
        yield from super()._problems(at)
        yield from self.interactive._problems("interactive")


# --------------------------------------------------------------------------- templates


class TextParameter(_Part):
    type: Literal["text"] = "text"
    text: str
    parameter_name: str | None = None


class Currency(_Part):
    fallback_value: str
    code: str
    amount_1000: int


class CurrencyParameter(_Part):
    type: Literal["currency"] = "currency"
    currency: Currency
    parameter_name: str | None = None


class DateTime(_Part):
    fallback_value: str


class DateTimeParameter(_Part):
    type: Literal["date_time"] = "date_time"
    date_time: DateTime
    parameter_name: str | None = None


class ImageParameter(_Part):
    type: Literal["image"] = "image"
    image: MediaRef


class VideoParameter(_Part):
    type: Literal["video"] = "video"
    video: MediaRef


class DocumentParameter(_Part):
    type: Literal["document"] = "document"
    document: DocumentRef


class LocationParameter(_Part):
    type: Literal["location"] = "location"
    location: LocationBody


class PayloadParameter(_Part):
    type: Literal["payload"] = "payload"
    payload: str


class CouponCodeParameter(_Part):
    type: Literal["coupon_code"] = "coupon_code"
    coupon_code: str


TemplateParameter = Annotated[
    Union[  # noqa: UP007
        TextParameter,
        CurrencyParameter,
        DateTimeParameter,
        ImageParameter,
        VideoParameter,
        DocumentParameter,
        LocationParameter,
        PayloadParameter,
        CouponCodeParameter,
    ],
    Field(discriminator="type"),
]

# Which parameter types each component takes (Meta refuses the rest with 132012 or 100).
_PARAMETERS_FOR: Mapping[str, frozenset[str]] = {
    "header": frozenset({"text", "image", "video", "document", "location"}),
    "body": frozenset({"text", "currency", "date_time"}),
    "button": frozenset({"text", "payload", "coupon_code"}),
}
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")


class TemplateComponent(_Part):
    type: Literal["header", "body", "button"]
    # quick_reply, url, copy_code, flow, catalog, voice_call…: left open as Meta adds more.
    sub_type: str | None = None
    index: int | str | None = None
    parameters: list[TemplateParameter] = Field(default_factory=list)

    def _problems(self, at: str) -> Iterator[Problem]:
        if self.type == "button":
            if not self.sub_type:
                yield f"{at}.sub_type", f"{at}.sub_type is required on a button component"
            if self.index is None:
                yield f"{at}.index", f"{at}.index is required on a button component"
            elif not str(self.index).isdigit() or int(self.index) > 9:
                yield f"{at}.index", f"{at}.index must be a button position from 0 to 9"
        else:
            if self.sub_type is not None:
                yield f"{at}.sub_type", f"{at}.sub_type is only for button components"
            if self.index is not None:
                yield f"{at}.index", f"{at}.index is only for button components"
        allowed = _PARAMETERS_FOR[self.type]
        for i, param in enumerate(self.parameters):
            where = f"{at}.parameters[{i}]"
            if param.type not in allowed:
                yield (
                    f"{where}.type",
                    (
                        f"{where}.type {param.type} is not allowed in a {self.type} component "
                        f"(allowed: {', '.join(sorted(allowed))})"
                    ),
                )
                continue
            yield from self._parameter_problems(param, where)

    def _parameter_problems(self, param: BaseModel, where: str) -> Iterator[Problem]:
        if isinstance(param, TextParameter):
            if self.type == "header":
                yield from _text(
                    param.text, f"{where}.text", LIMITS["template_header_text_parameter"]
                )
            else:
                yield from _text(param.text, f"{where}.text", 32_768)
        elif isinstance(param, CurrencyParameter):
            if not _CURRENCY_CODE.match(param.currency.code):
                yield (
                    f"{where}.currency.code",
                    (f"{where}.currency.code must be an ISO 4217 code such as USD or JPY"),
                )
            yield from _text(
                param.currency.fallback_value, f"{where}.currency.fallback_value", 10_000
            )
        elif isinstance(param, DateTimeParameter):
            yield from _text(
                param.date_time.fallback_value, f"{where}.date_time.fallback_value", 10_000
            )
        elif isinstance(param, ImageParameter):
            yield from param.image._problems(f"{where}.image")
        elif isinstance(param, VideoParameter):
            yield from param.video._problems(f"{where}.video")
        elif isinstance(param, DocumentParameter):
            yield from param.document._problems(f"{where}.document")
        elif isinstance(param, LocationParameter):
            yield from param.location._problems(f"{where}.location")
        elif isinstance(param, PayloadParameter):
            yield from _text(param.payload, f"{where}.payload", 10_000)
        elif isinstance(param, CouponCodeParameter):
            yield from _text(
                param.coupon_code, f"{where}.coupon_code", LIMITS["template_coupon_code"]
            )


class TemplateLanguage(_Part):
    code: str
    policy: Literal["deterministic"] | None = None


_TEMPLATE_NAME = re.compile(r"^[a-z0-9_]+$")


class TemplateBody(_Part):
    name: str
    language: TemplateLanguage
    components: list[TemplateComponent] | None = None

    def _problems(self, at: str) -> Iterator[Problem]:
        yield from _text(self.name, f"{at}.name", LIMITS["template_name"])
        if self.name and not _TEMPLATE_NAME.match(self.name):
            yield (
                f"{at}.name",
                (f"{at}.name may hold only lowercase letters, digits and underscores"),
            )
        if not self.language.code.strip():
            yield f"{at}.language.code", f"{at}.language.code must not be empty"
        seen: dict[str, int] = {}
        for i, component in enumerate(self.components or []):
            where = f"{at}.components[{i}]"
            key = component.type if component.type != "button" else f"button {component.index}"
            if key in seen:
                yield where, f"{where} repeats components[{seen[key]}] ({key})"
            seen.setdefault(key, i)
            yield from component._problems(where)


class TemplateMessage(_Message):
    type: Literal["template"] = "template"
    template: TemplateBody

    def _problems(self, at: str) -> Iterator[Problem]:
        yield from super()._problems(at)
        yield from self.template._problems("template")


# --------------------------------------------------------------------------- reaction


class ReactionBody(_Part):
    message_id: str
    emoji: str = ""  # empty removes an earlier reaction


class ReactionMessage(_Message):
    type: Literal["reaction"] = "reaction"
    reaction: ReactionBody

    def _problems(self, at: str) -> Iterator[Problem]:
        yield from super()._problems(at)
        yield from _text(self.reaction.message_id, "reaction.message_id", 10_000)
        emoji = self.reaction.emoji
        # A guard, not a full emoji grammar: one grapheme may be a long ZWJ/flag sequence.
        too_long = len(emoji) > LIMITS["reaction_emoji_codepoints"]
        if too_long or any(ch.isspace() or ch.isalpha() for ch in emoji):
            yield "reaction.emoji", "reaction.emoji must be a single emoji (or empty to remove)"


# --------------------------------------------------------------------------- the union

OutboundMessage = Annotated[
    Union[  # noqa: UP007
        TextMessage,
        ImageMessage,
        VideoMessage,
        AudioMessage,
        DocumentMessage,
        StickerMessage,
        LocationMessage,
        ContactsMessage,
        InteractiveMessage,
        TemplateMessage,
        ReactionMessage,
    ],
    Field(discriminator="type"),
]

_ADAPTER: TypeAdapter[OutboundMessage] = TypeAdapter(OutboundMessage)


def parse_outbound(data: Mapping[str, Any]) -> OutboundMessage:
    """Validate a Meta-shaped message object; raises pydantic's ``ValidationError``."""
    return _ADAPTER.validate_python(data)


class OutboundValidationError(ValueError):
    """The first thing wrong with an outbound message, as a field path and a sentence."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def validate_outbound(data: Mapping[str, Any]) -> OutboundMessage:
    try:
        return parse_outbound(data)
    except ValidationError as exc:
        raise _first_problem(exc, data) from exc


def _first_problem(exc: ValidationError, data: Any) -> OutboundValidationError:
    error = exc.errors(include_url=False)[0]
    ctx = error.get("ctx") or {}
    if error["type"] == "whatsapp_limit" and "field" in ctx:
        return OutboundValidationError(str(ctx["field"]), error["msg"])
    if error["type"] in {"union_tag_not_found", "union_tag_invalid"}:
        field = _format_path(_strip_tags(error["loc"], data) + ("type",))
        if error["type"] == "union_tag_not_found":
            return OutboundValidationError(field, f"{field} is required")
        return OutboundValidationError(
            field, f"{field} must be one of {ctx.get('expected_tags', '')}".rstrip()
        )
    field = _format_path(_strip_tags(error["loc"], data)) or "message"
    return OutboundValidationError(field, f"{field}: {error['msg']}")


def _strip_tags(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop the union tags pydantic puts in ``loc`` (``('text', 'text', 'body')``).

    The input is walked alongside. A tag can only be the first step taken inside an object,
    and only when it equals that object's ``type`` and is not a key the rest of the path
    goes into.
    """
    path: list[Any] = []
    cur = data
    arrived = True
    for i, part in enumerate(loc):
        nxt = loc[i + 1] if i + 1 < len(loc) else None
        if (
            arrived
            and isinstance(cur, Mapping)
            and part == cur.get("type")
            and _is_tag(cur, part, nxt)
        ):
            arrived = False
            continue
        path.append(part)
        arrived = True
        if isinstance(cur, Mapping) and isinstance(part, str):
            cur = cur.get(part)
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            cur = cur[part]
        else:
            cur = None
    return tuple(path)


def _is_tag(cur: Mapping[str, Any], part: str, nxt: Any) -> bool:
    if part not in cur:
        return True
    if nxt is None:
        return False
    if nxt == part:
        return True
    inner = cur[part]
    if isinstance(inner, Mapping) and nxt in inner:
        return False
    return not (isinstance(inner, list) and isinstance(nxt, int))


def _format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# --------------------------------------------------------------------------- request bodies


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a message goes to: the phone when known, else the business-scoped user id."""

    wa_id: str | None = None
    user_id: str | None = None


def build_send_body(
    message: OutboundMessage | Mapping[str, Any],
    recipient: Recipient,
    reply_to_wamid: str | None = None,
) -> dict[str, Any]:
    """The JSON for ``POST /{phone_number_id}/messages``.

    ``to`` wins over ``recipient`` at Meta, so only one is ever sent: the phone when the
    contact has one (older app versions only understand phones), else the BSUID.
    """
    if isinstance(message, Mapping):
        message = validate_outbound(message)
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    if recipient.wa_id:
        body["to"] = recipient.wa_id
    elif recipient.user_id:
        body["recipient"] = recipient.user_id
    else:
        raise ValueError("the recipient has neither a phone (wa_id) nor a user id (BSUID)")
    # A reaction already names the message it is about; Meta refuses a context with it.
    if reply_to_wamid and message.type != "reaction":
        body["context"] = {"message_id": reply_to_wamid}
    dumped = message.model_dump(mode="json", exclude_none=True)
    body["type"] = message.type
    body[message.type] = dumped[message.type]
    if message.biz_opaque_callback_data is not None:
        body["biz_opaque_callback_data"] = message.biz_opaque_callback_data
    return body


def build_mark_read_body(wamid: str, typing_indicator: bool = False) -> dict[str, Any]:
    """Blue ticks for ``wamid``; the typing bubble shows until we reply or ~25 s pass."""
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": wamid,
    }
    if typing_indicator:
        body["typing_indicator"] = {"type": "text"}
    return body


# --------------------------------------------------------------------------- summaries


def render_text(message: OutboundMessage) -> str | None:
    """The text to store and list for a sent message (search, previews, transcripts)."""
    if isinstance(message, TextMessage):
        return message.text.body
    if isinstance(message, ImageMessage | VideoMessage):
        media = message.image if isinstance(message, ImageMessage) else message.video
        return media.caption or None
    if isinstance(message, DocumentMessage):
        return message.document.caption or message.document.filename or None
    if isinstance(message, AudioMessage | StickerMessage):
        return None
    if isinstance(message, LocationMessage):
        return message.location.name or message.location.address or None
    if isinstance(message, ContactsMessage):
        names = [contact.name.formatted_name for contact in message.contacts]
        return ", ".join(names) or None
    if isinstance(message, InteractiveMessage):
        body = message.interactive.body
        return body.text if body is not None else None
    if isinstance(message, TemplateMessage):
        return f"[template {message.template.name}]"
    if isinstance(message, ReactionMessage):
        return message.reaction.emoji or None
    return None


def pricing_category_hint(message: OutboundMessage) -> Literal["service"] | None:
    """Free-form messages are service messages; a template's category is Meta's to say."""
    return None if isinstance(message, TemplateMessage) else "service"
