"""The operator's language model, against a local stand-in server: used only when
configured *and* opted in by the workspace, masked before it leaves, and never blocking —
errors, garbage and timeouts fall back to the offline result. Without it nothing leaves
the machine. On SQLite and PostgreSQL."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from madoguchi.services.assist.llm import ModelConfigError, endpoint_of
from madoguchi.settings import Settings
from tests.assist.conftest import make_cc_with

KEY = "sk-test-very-secret-key"
PHONE = "090-1234-5678"
EMAIL = "rin.tanaka@example.com"
CARD = "4111111111111111"


async def stop(cc) -> None:
    await cc.stack.client.aclose()
    await cc.stack.served.stop()
    await cc.stack.runtime.stop()


async def drain(cc) -> None:
    while await cc.stack.runtime.assist.work_once():
        pass


async def opt_in(cc, enabled: bool = True):
    response = await cc.as_(
        "admin", "PUT", "/api/v1/assist/settings", json={"llm_enabled": enabled}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def hand_over(cc, text: str) -> int:
    """A customer writes; the conversation is offered to Aiko (a summary is due)."""
    await cc.presence("aiko", "available")
    cid = await cc.customer_writes(text)
    await cc.wait_status(cid, "offered", "aiko")
    return cid


@pytest.fixture
async def with_model(db_url, tmp_path, fake_model):
    cc = await make_cc_with(
        db_url,
        tmp_path,
        llm_url=fake_model.url,
        llm_model="local-test",
        llm_api_key=SecretStr(KEY),
        llm_timeout_seconds=1.0,
    )
    yield cc
    await stop(cc)


async def test_nothing_leaves_the_machine_by_default(db_url, tmp_path, fake_model):
    cc = await make_cc_with(db_url, tmp_path)  # no MADOGUCHI_LLM_URL
    try:
        settings = (await cc.as_("admin", "GET", "/api/v1/assist/settings")).json()
        assert settings["llm_configured"] is False and settings["llm_enabled"] is False
        refused = await cc.as_(
            "admin", "PUT", "/api/v1/assist/settings", json={"llm_enabled": True}
        )
        assert refused.status_code == 422
        assert "MADOGUCHI_LLM_URL" in refused.json()["detail"]["message"]
        cid = await hand_over(cc, f"My order is late, call me at {PHONE}")
        await drain(cc)
        view = (await cc.as_("aiko", "GET", f"/api/v1/conversations/{cid}/assist")).json()
        assert view["summary"]["source"] == "offline"
        assert (
            await cc.as_("aiko", "GET", f"/api/v1/conversations/{cid}/suggestions")
        ).status_code == 200
        draft = await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/draft-answer")
        assert draft.status_code == 409
    finally:
        await stop(cc)
    assert fake_model.requests == []


async def test_configured_but_not_opted_in_sends_nothing(with_model, fake_model):
    cc = with_model
    settings = (await cc.as_("admin", "GET", "/api/v1/assist/settings")).json()
    assert settings == {
        "llm_enabled": False,
        "negative_alert_queue_ids": [],
        "llm_configured": True,
        "llm_model": "local-test",
    }
    cid = await hand_over(cc, "Where is my parcel?")
    await drain(cc)
    view = (await cc.as_("aiko", "GET", f"/api/v1/conversations/{cid}/assist")).json()
    assert view["summary"]["source"] == "offline"
    assert (
        await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/draft-answer")
    ).status_code == 409
    assert fake_model.requests == []


async def test_opted_in_summary_comes_from_the_model_masked(with_model, fake_model, caplog):
    cc = with_model
    caplog.set_level(logging.DEBUG)
    await opt_in(cc)
    fake_model.reply = "Customer: Rin\nWants: a late order checked"
    cid = await hand_over(
        cc, f"My order 4521 is late. Call {PHONE} or +81 90 1234 5678, mail {EMAIL}, card {CARD}"
    )
    await drain(cc)
    view = (await cc.as_("aiko", "GET", f"/api/v1/conversations/{cid}/assist")).json()
    assert view["summary"]["source"] == "llm"
    assert view["summary"]["text"] == fake_model.reply
    sent = fake_model.texts()
    assert "order 4521 is late" in sent  # what the model needs stays
    for secret in (PHONE, "1234 5678", EMAIL, CARD):
        assert secret not in sent
    assert "[phone]" in sent and "[email]" in sent and "[number]" in sent
    request = fake_model.requests[0]
    assert request["json"]["model"] == "local-test"
    assert request["headers"]["authorization"] == f"Bearer {KEY}"
    assert KEY not in caplog.text


@pytest.mark.parametrize("mode", ["error", "garbage", "hang"])
async def test_a_failing_or_slow_model_falls_back_to_offline(with_model, fake_model, mode):
    cc = with_model
    await opt_in(cc)
    fake_model.mode = mode
    cid = await hand_over(cc, "My router keeps dropping the connection.")
    await drain(cc)  # returns: a hanging model is given up after llm_timeout_seconds
    assert len(fake_model.requests) == 1
    view = (await cc.as_("aiko", "GET", f"/api/v1/conversations/{cid}/assist")).json()
    assert view["summary"]["source"] == "offline"
    assert "router keeps dropping the connection" in view["summary"]["text"]
    draft = await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/draft-answer")
    assert draft.status_code == 200
    assert draft.json()["answer"] is None and draft.json()["reason"]


async def test_drafted_answer_is_grounded_and_cites_the_article(with_model, fake_model):
    cc = with_model
    await opt_in(cc)
    article = await cc.as_(
        "admin",
        "POST",
        "/api/v1/knowledge",
        json={"title": "Returns", "body": "Return within 30 days for a refund.", "tags": []},
    )
    fake_model.reply = "You can return it within 30 days for a full refund. [1]"
    cid = await hand_over(cc, f"Can I return my shoes? My number is {PHONE}")
    draft = await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/draft-answer")
    assert draft.status_code == 200, draft.text
    body = draft.json()
    assert body["answer"] == "You can return it within 30 days for a full refund."
    assert (body["article_id"], body["article_title"]) == (article.json()["id"], "Returns")
    last = fake_model.requests[-1]["json"]["messages"][-1]["content"]
    assert "[1] Returns" in last and PHONE not in last and "[phone]" in last
    # Chie cannot see this conversation: no draft for her either.
    other = await cc.as_("chie", "POST", f"/api/v1/conversations/{cid}/draft-answer")
    assert other.status_code == 404


async def test_settings_are_for_admins_and_checked(with_model):
    cc = with_model
    for who in ("aiko", "sam"):
        assert (await cc.as_(who, "GET", "/api/v1/assist/settings")).status_code == 403
        put = await cc.as_(who, "PUT", "/api/v1/assist/settings", json={"llm_enabled": True})
        assert put.status_code == 403
    bad = await cc.as_(
        "admin",
        "PUT",
        "/api/v1/assist/settings",
        json={"llm_enabled": False, "negative_alert_queue_ids": [999999]},
    )
    assert bad.status_code == 422
    assert bad.json()["detail"]["field"] == "negative_alert_queue_ids"
    assert (await cc.as_("admin", "PUT", "/api/v1/assist/settings", json={})).status_code == 422


def test_the_models_host_must_be_allowed():
    loopback = Settings(_env_file=None).llm_allowed_hosts
    assert endpoint_of("http://127.0.0.1:8080/v1", loopback) == (
        "http://127.0.0.1:8080/v1/chat/completions"
    )
    assert endpoint_of("http://localhost:1/v1/chat/completions/", loopback).endswith(
        "/v1/chat/completions"
    )
    # Nothing is contacted: the URL is refused before any request exists.
    for url, message in (
        ("https://api.example.com/v1", "not in MADOGUCHI_LLM_ALLOWED_HOSTS"),
        ("ftp://127.0.0.1/v1", "http:// or https://"),
        ("http://user:pw@127.0.0.1/v1", "not in the URL"),
        ("127.0.0.1:8080", "http:// or https://"),
    ):
        with pytest.raises(ModelConfigError, match=message):
            endpoint_of(url, loopback)
    assert endpoint_of("https://api.example.com/v1", ["api.example.com"]).startswith("https://")
    assert "sk-" not in repr(Settings(_env_file=None, llm_api_key=KEY))
