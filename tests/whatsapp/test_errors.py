import json

import pytest

from madoguchi.whatsapp import errors as e
from madoguchi.whatsapp.errors import (
    GraphTransportError,
    MetaApiError,
    error_from_code,
    error_from_response,
    error_from_webhook,
)

CODES: list[tuple[int, type[MetaApiError], bool]] = [
    (130429, e.ThroughputLimitReached, True),
    (131056, e.PairRateLimitReached, True),
    (4, e.RequestRateLimited, True),
    (80007, e.RequestRateLimited, True),
    (131000, e.TransientError, True),
    (131016, e.TransientError, True),
    (133004, e.TransientError, True),
    (131048, e.SpamRateLimited, False),
    (131047, e.ServiceWindowClosed, False),
    (131026, e.Undeliverable, False),
    (131049, e.EngagementLimited, False),
    (131050, e.MarketingOptedOut, False),
    (131051, e.UnsupportedMessageType, False),
    (131052, e.MediaDownloadFailed, False),
    (131053, e.MediaUploadFailed, False),
    (131062, e.RecipientIdNotAllowed, False),
    (132000, e.TemplateError, False),
    (132001, e.TemplateError, False),
    (132005, e.TemplateError, False),
    (132007, e.TemplateError, False),
    (132012, e.TemplateError, False),
    (132015, e.TemplateError, False),
    (132016, e.TemplateError, False),
    (132068, e.TemplateError, False),
    (133010, e.PhoneNumberNotRegistered, False),
    (190, e.AccessTokenInvalid, False),
    (100, e.InvalidParameter, False),
    (131008, e.InvalidParameter, False),
    (131009, e.InvalidParameter, False),
    (368, e.PolicyBlocked, False),
    (10, e.PermissionDenied, False),
    (200, e.PermissionDenied, False),
    (131030, e.UnknownMetaError, False),
    (999999, e.UnknownMetaError, False),
]


def meta_body(code: int, message: str = "Something", **extra: object) -> dict:
    return {
        "error": {
            "message": f"(#{code}) {message}",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": f"details of {code}"},
            "fbtrace_id": "AbCdEf123",
            **extra,
        }
    }


@pytest.mark.parametrize(("code", "family", "retryable"), CODES)
def test_response_maps_to_family(code: int, family: type, retryable: bool) -> None:
    error = error_from_response(400, meta_body(code, error_subcode=2494010))
    assert type(error) is family
    assert error.retryable is retryable
    assert error.code == code
    assert error.subcode == 2494010
    assert error.http_status == 400
    assert error.message == f"(#{code}) Something"
    assert error.title == "Something"
    assert error.details == f"details of {code}"
    assert error.fbtrace_id == "AbCdEf123"
    assert error.error_type == "OAuthException"
    assert error.agent_message
    assert isinstance(error, MetaApiError)


@pytest.mark.parametrize(("code", "family", "retryable"), CODES)
def test_webhook_code_maps_to_same_family(code: int, family: type, retryable: bool) -> None:
    error = error_from_code(code, title="Title", message="Message", details="Details")
    assert type(error) is family
    assert error.retryable is retryable
    assert (error.title, error.message, error.details) == ("Title", "Message", "Details")


@pytest.mark.parametrize("body", [meta_body(131047), json.dumps(meta_body(131047))])
def test_body_may_be_bytes_str_or_dict(body: object) -> None:
    raw = body.encode() if isinstance(body, str) else body
    for candidate in (body, raw):
        assert isinstance(error_from_response(400, candidate), e.ServiceWindowClosed)


def test_code_given_as_string() -> None:
    body = {"error": {"message": "x", "code": "131047"}}
    assert isinstance(error_from_response(400, body), e.ServiceWindowClosed)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_non_json_5xx_is_transient(status: int) -> None:
    error = error_from_response(status, b"<html><body>Bad Gateway</body></html>")
    assert isinstance(error, e.TransientError)
    assert error.retryable
    assert error.code is None
    assert error.http_status == status
    assert "Bad Gateway" in error.message


def test_5xx_with_unknown_code_is_transient() -> None:
    error = error_from_response(500, meta_body(1, "An unknown error occurred"))
    assert isinstance(error, e.TransientError)
    assert error.code == 1


def test_5xx_with_known_code_keeps_its_family() -> None:
    assert isinstance(error_from_response(500, meta_body(131047)), e.ServiceWindowClosed)


@pytest.mark.parametrize("body", [b"Forbidden", "", None, b"[1, 2]", {"unexpected": True}])
def test_non_json_4xx_is_unknown_with_status(body: object) -> None:
    error = error_from_response(403, body)
    assert type(error) is e.UnknownMetaError
    assert not error.retryable
    assert error.http_status == 403
    assert "403" in error.agent_message


def test_non_json_429_is_rate_limited() -> None:
    error = error_from_response(429, b"slow down")
    assert isinstance(error, e.RequestRateLimited)
    assert error.retryable


def test_webhook_error_object() -> None:
    error = error_from_webhook(
        {
            "code": 131047,
            "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": {"details": "Message failed to send because more than 24 hours..."},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }
    )
    assert isinstance(error, e.ServiceWindowClosed)
    assert error.details.startswith("Message failed")


def test_agent_messages_are_distinct_per_family() -> None:
    messages = {}
    for family in (*e.families(), e.UnknownMetaError):
        code = min(family.error_codes) if family.error_codes else None
        text = family(code).agent_message
        assert text.endswith("."), family
        messages[family] = text
    assert len(set(messages.values())) == len(messages)


def test_window_closed_message_tells_the_agent_what_to_do() -> None:
    assert "template" in error_from_code(131047).agent_message


def test_template_codes_have_specific_messages() -> None:
    texts = {error_from_code(code).agent_message for code in e.TemplateError.error_codes}
    assert len(texts) == len(e.TemplateError.error_codes)
    assert "paused" in error_from_code(132015).agent_message


def test_unknown_error_quotes_meta() -> None:
    error = error_from_code(131030, title="Recipient phone number not in allowed list")
    assert error.agent_message == (
        "WhatsApp refused the message (error 131030: Recipient phone number not in allowed list)."
    )


def test_invalid_parameter_shows_details() -> None:
    error = error_from_code(131009, details="Button title length invalid")
    assert "Button title length invalid" in error.agent_message


def test_retryable_families_suggest_a_delay() -> None:
    for family in e.families():
        if family.retryable:
            assert family.suggested_delay and family.suggested_delay > 0
        else:
            assert family.suggested_delay is None


def test_admin_families() -> None:
    for code in (131048, 133010, 190, 368):
        assert error_from_code(code).alerts_admin
    for code in (131047, 130429, 132001):
        assert not error_from_code(code).alerts_admin


def test_no_code_belongs_to_two_families() -> None:
    seen: dict[int, type] = {}
    for family in e.families():
        for code in family.error_codes:
            assert code not in seen, (code, family, seen.get(code))
            seen[code] = family


def test_str_and_dict() -> None:
    error = error_from_response(400, meta_body(131047, "Re-engagement message"))
    text = str(error)
    assert text.startswith("(#131047) Re-engagement message")
    assert "HTTP 400" in text and "fbtrace_id=AbCdEf123" in text
    record = error.as_dict()
    assert record["family"] == "ServiceWindowClosed"
    assert record["code"] == 131047
    assert record["retryable"] is False
    json.dumps(record)


def test_error_can_be_caught_by_family() -> None:
    with pytest.raises(e.ThroughputLimitReached):
        raise error_from_response(400, meta_body(130429))


def test_transport_error() -> None:
    sure = GraphTransportError("connect refused", ambiguous=False)
    unsure = GraphTransportError("read timeout", ambiguous=True)
    assert sure.retryable and not unsure.retryable
    assert sure.agent_message != unsure.agent_message
    assert not isinstance(sure, MetaApiError)
