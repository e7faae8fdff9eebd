import hashlib
import hmac

import pytest

from madoguchi.whatsapp.signature import (
    SignatureError,
    SignatureInvalid,
    SignatureMissing,
    sign,
    verify_signature,
)

SECRET = "app-secret-0123456789abcdef"
BODY = b'{"object":"whatsapp_business_account","entry":[]}'


def test_sign_is_hmac_sha256_of_the_body_keyed_with_the_secret():
    expected = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, SECRET) == f"sha256={expected}"


def test_a_correct_signature_verifies():
    verify_signature(BODY, sign(BODY, SECRET), SECRET)


def test_uppercase_hex_and_surrounding_whitespace_are_accepted():
    header = sign(BODY, SECRET)
    verify_signature(BODY, "  sha256=" + header.removeprefix("sha256=").upper() + " ", SECRET)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_header_is_signature_missing(header):
    with pytest.raises(SignatureMissing) as caught:
        verify_signature(BODY, header, SECRET)
    assert isinstance(caught.value, SignatureError)
    assert "missing" in caught.value.reason


def test_one_changed_byte_in_the_body_is_refused():
    header = sign(BODY, SECRET)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_signature(BODY.replace(b"[]", b"[ ]"), header, SECRET)


def test_re_serialised_json_is_refused_because_bytes_differ():
    header = sign(BODY, SECRET)
    with pytest.raises(SignatureInvalid):
        verify_signature(b'{"object": "whatsapp_business_account", "entry": []}', header, SECRET)


def test_signature_under_another_secret_is_refused():
    with pytest.raises(SignatureInvalid):
        verify_signature(BODY, sign(BODY, "another-secret"), SECRET)


@pytest.mark.parametrize(
    "header",
    [
        "abc123",  # no prefix at all
        "sha1=" + "0" * 40,  # the old SHA-1 header format
        "sha256=",  # prefix only
        "sha256=" + "g" * 64,  # not hex
        "sha256=" + "0" * 63,  # too short
        "sha256=" + "0" * 65,  # too long
        "sha256=" + "é" * 64,  # non-ASCII must not reach compare_digest
    ],
)
def test_malformed_header_is_signature_invalid(header):
    with pytest.raises(SignatureInvalid) as caught:
        verify_signature(BODY, header, SECRET)
    assert caught.value.reason == str(caught.value)


def test_an_empty_secret_is_a_configuration_error_not_a_pass():
    with pytest.raises(ValueError, match="secret is empty"):
        verify_signature(BODY, sign(BODY, "x"), "")
    with pytest.raises(ValueError):
        sign(BODY, "")


def test_verification_uses_a_constant_time_comparison(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    verify_signature(BODY, sign(BODY, SECRET), SECRET)
    assert len(calls) == 1
