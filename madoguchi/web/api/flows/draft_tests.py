"""``/api/v1/flows/{id}/test``: test a flow's draft from the editor against a real number
(the simulator in demos and tests), without publishing it. Starting and stopping a test
is for admins (it changes what a customer is answered); following it is for whoever may
read flows. The rules are in ``services.flow_tests``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.audit.record import Target, record
from madoguchi.services.flows import definitions, draft_tests
from madoguchi.services.flows.definitions import FlowError
from madoguchi.web.deps import get_runtime, require_role

router = APIRouter(prefix="/api/v1", tags=["flows"])
admin = require_role()
supervisor = require_role("supervisor")


class TestIn(BaseModel):
    phone_number_id: str = Field(
        min_length=1, max_length=64, description="Meta's phone number id of a workspace number"
    )
    customer: str = Field(
        min_length=1,
        max_length=160,
        description="The test customer: a phone in international form, or a WhatsApp user id",
    )


def _http(exc: FlowError) -> HTTPException:
    return HTTPException(exc.status, exc.detail())


@router.post("/flows/{flow_id}/test", status_code=201)
async def start_test(
    flow_id: int,
    body: TestIn,
    principal: Principal = Depends(admin),
    runtime: Runtime = Depends(get_runtime),
):
    """Check the saved draft (422 with ``problems``, as a publish), snapshot it, and for
    30 minutes let that customer's next new conversation on that number run it. Nothing
    is published; every other customer still gets the published version."""
    try:
        async with runtime.db.write() as session:
            flow = await definitions.get_flow(session, principal.workspace_id, flow_id)
            test = await draft_tests.start_test(
                session, flow, body.phone_number_id, body.customer, user_id=principal.user_id
            )
            await record(
                session,
                principal,
                "flow.test_start",
                Target("flow", flow.id, flow.name),
                None,
                {"phone_number_id": body.phone_number_id, "customer": body.customer},
            )
            return await draft_tests.describe(session, test, runtime.settings.graph_api_url)
    except FlowError as exc:
        raise _http(exc) from exc
    except IntegrityError as exc:  # two Tests of one flow at once took the same number
        raise HTTPException(
            409, "another Test of this flow started at the same moment; press Test again"
        ) from exc


@router.get("/flows/{flow_id}/test")
async def get_test(
    flow_id: int,
    test_id: int | None = Query(None, alias="id", description="A test (default: the latest)"),
    principal: Principal = Depends(supervisor),
    runtime: Runtime = Depends(get_runtime),
):
    """The test: ``waiting`` for the customer, ``expired``, or ``running``/``finished``
    with the run (the widget it is at) and its steps (widget, result, time); ``null``
    when the flow was never tested."""
    try:
        async with runtime.db.read() as session:
            flow = await definitions.get_flow(session, principal.workspace_id, flow_id)
            test = await draft_tests.latest_test(session, flow, test_id)
            if test is None:
                return None
            return await draft_tests.describe(session, test, runtime.settings.graph_api_url)
    except FlowError as exc:
        raise _http(exc) from exc


@router.delete("/flows/{flow_id}/test")
async def stop_test(
    flow_id: int,
    principal: Principal = Depends(admin),
    runtime: Runtime = Depends(get_runtime),
):
    """Stop the flow's tests that have not started yet; answers the latest test (or
    ``null``)."""
    try:
        async with runtime.db.write() as session:
            flow = await definitions.get_flow(session, principal.workspace_id, flow_id)
            await draft_tests.stop_tests(session, flow)
            await session.flush()
            await record(session, principal, "flow.test_stop", Target("flow", flow.id, flow.name))
            test = await draft_tests.latest_test(session, flow)
            if test is None:
                return None
            return await draft_tests.describe(session, test, runtime.settings.graph_api_url)
    except FlowError as exc:
        raise _http(exc) from exc
