"""The flow runner's pure core: given a flow, a run's state and what just happened,
say what to do next.

``advance`` takes one event (the run begins, the customer answered, a wait timed out, an
HTTP call came back), walks the widgets from the run's position until the flow has to
wait (a Collect Input asked its question, an HTTP Request is in flight) or stops (Route
To, End, an error), and returns the new state, the actions for the service to carry out
(send a message, wait with a timeout, call an API, route, close) and one step record per
widget it went through. No I/O happens here: the caller stores the state, performs the
actions and feeds the results back as the next event.

Every event carries the sequence number of the wait it answers (``seq``); a late timeout
or HTTP result of a wait the run has already left is ignored. A walk may go through at
most ``Context.budget`` widgets: a flow that loops without waiting (which validation
refuses, but flows can also route to each other) is stopped with an error instead of
spinning.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from madoguchi.domain.business_hours import BusinessHours
from madoguchi.domain.flows import templating
from madoguchi.domain.flows.answers import check_answer
from madoguchi.domain.flows.conditions import choose_exit
from madoguchi.domain.flows.definition import (
    BusinessHoursWidget,
    ClassifyWidget,
    CollectInputWidget,
    ConditionWidget,
    EndWidget,
    FlowDefinition,
    HttpRequestWidget,
    RouteToWidget,
    SendMediaWidget,
    SendTemplateWidget,
    SetVariableWidget,
    StartWidget,
)

MAX_STEPS = 100
ACTIVE = frozenset({"running", "waiting"})


# --------------------------------------------------------------------------- state


@dataclass
class RunState:
    node: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    wait: str | None = None  # "input" | "http"
    seq: int = 0  # numbers the waits; an answer to an older wait is ignored
    retries: int = 0
    status: str = "running"  # running | waiting | routed | handed_off | ended | failed
    error: str | None = None


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Begin:
    variables: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Inbound:
    text: str | None
    type: str = "text"
    reply_id: str | None = None  # the id of a tapped button / list row
    variables: Mapping[str, Any] = field(default_factory=dict)  # message.* of this message


@dataclass(frozen=True, slots=True)
class Timeout:
    seq: int


@dataclass(frozen=True, slots=True)
class HttpResult:
    seq: int
    status: int | None = None
    data: Any = None  # the parsed JSON answer
    error: str | None = None  # timeout, connection error, not JSON…


Event = Begin | Inbound | Timeout | HttpResult


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Send:
    node: str
    message: dict[str, Any]  # a Meta-shaped message object (type + its object)


@dataclass(frozen=True, slots=True)
class WaitForInput:
    node: str
    seq: int
    timeout_seconds: int | None


@dataclass(frozen=True, slots=True)
class CallHttp:
    node: str
    seq: int
    method: str
    url: str
    headers: dict[str, str]
    body: Any
    timeout_seconds: float
    # Write-only headers, still sealed (encrypted): the runner opens them for the request.
    secret_headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RouteToQueue:
    node: str
    queue: str
    priority: int | None = None


@dataclass(frozen=True, slots=True)
class RouteToAgent:
    node: str
    agent: str
    queue: str
    priority: int | None = None


@dataclass(frozen=True, slots=True)
class RouteToFlow:
    node: str
    flow: str


@dataclass(frozen=True, slots=True)
class EndConversation:
    node: str


@dataclass(frozen=True, slots=True)
class Fail:
    node: str | None
    error: str


Action = (
    Send
    | WaitForInput
    | CallHttp
    | RouteToQueue
    | RouteToAgent
    | RouteToFlow
    | EndConversation
    | Fail
)


@dataclass(frozen=True, slots=True)
class StepRecord:
    node: str
    widget: str
    result: str  # the exit taken, or waiting / retry / routed / ended / error
    detail: dict[str, Any] | None = None


@dataclass
class Context:
    now: datetime
    calendars: Mapping[str, BusinessHours] = field(default_factory=dict)  # queue name -> hours
    budget: int = MAX_STEPS
    # (text, {intent: examples}) -> the intent, or None: the Classify widget's classifier
    # (the service gives its offline one; without it every text is "other").
    classify: Callable[[str, Mapping[str, Sequence[str]]], str | None] | None = None


@dataclass
class Advance:
    state: RunState
    actions: list = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    executed: int = 0  # widgets gone through (counts against the budget)

    @property
    def waiting(self) -> bool:
        return self.state.status == "waiting"


# --------------------------------------------------------------------------- messages


def text_message(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body}}


def prompt_message(
    node: CollectInputWidget, variables: Mapping[str, Any], *, retry: bool = False
) -> dict[str, Any]:
    source = node.retry_prompt if retry and node.retry_prompt else node.prompt
    body = templating.render(source, variables)
    if node.input == "buttons":
        buttons = [{"type": "reply", "reply": {"id": c.id, "title": c.title}} for c in node.choices]
        return {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": body},
                "action": {"buttons": buttons},
            },
        }
    if node.input == "list":
        rows = []
        for c in node.choices:
            row = {"id": c.id, "title": c.title}
            if c.description:
                row["description"] = c.description
            rows.append(row)
        return {
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": body},
                "action": {"button": node.list_button, "sections": [{"rows": rows}]},
            },
        }
    return text_message(body)


def media_message(node: SendMediaWidget, variables: Mapping[str, Any]) -> dict[str, Any]:
    def r(value: str | None) -> str | None:
        return templating.render(value, variables) if value else None

    kind = node.kind
    if kind == "text":
        return {"type": "text", "text": {"body": r(node.text), "preview_url": node.preview_url}}
    if kind == "location":
        location = {"latitude": node.latitude, "longitude": node.longitude}
        if node.location_name:
            location["name"] = r(node.location_name)
        if node.address:
            location["address"] = r(node.address)
        return {"type": "location", "location": location}
    media: dict[str, Any] = {"id": node.media_id} if node.media_id else {"link": r(node.media_url)}
    if node.text and kind in ("image", "video", "document"):
        media["caption"] = r(node.text)
    if node.filename and kind == "document":
        media["filename"] = r(node.filename)
    return {"type": kind, kind: media}


def template_message(node: SendTemplateWidget, variables: Mapping[str, Any]) -> dict[str, Any]:
    template: dict[str, Any] = {"name": node.name, "language": {"code": node.language}}
    if node.parameters:
        template["components"] = [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": templating.render(p, variables) or "-"}
                    for p in node.parameters
                ],
            }
        ]
    return {"type": "template", "template": template}


STEP_EXCERPT = 1000  # characters of a mapped value kept in the step log


def excerpt(value: Any) -> Any:
    """A value as the step log keeps it: whole when small, else its first characters."""
    if isinstance(value, str | dict | list):
        text = value if isinstance(value, str) else templating.as_text(value)
        if len(text) > STEP_EXCERPT:
            return text[:STEP_EXCERPT] + f"… ({len(text)} characters)"
    return value


def http_call(node: HttpRequestWidget, variables: Mapping[str, Any], seq: int) -> CallHttp:
    return CallHttp(
        node=node.id,
        seq=seq,
        method=node.method,
        url=templating.render_url(node.url, variables),
        headers={k: templating.render(v, variables) for k, v in node.headers.items()},
        body=templating.render_json(node.body, variables) if node.body is not None else None,
        timeout_seconds=node.timeout_seconds,
        secret_headers={
            k: v for k, v in (node.secret_headers or {}).items() if isinstance(v, str) and v
        },
    )


def _copy_state(state: RunState) -> RunState:
    """A copy the walk may change without touching ``state``. The variables are JSON
    values (they are stored in a JSON column): copied as such, which costs a fraction of
    ``copy.deepcopy`` (its memo and dispatch were ~5 % of a flow activation's CPU);
    anything else in them is deep-copied all the same."""
    return dataclasses.replace(state, variables=_copy_json(state.variables))


_IMMUTABLE = (str, int, float, bool, type(None))


def _copy_json(value: Any) -> Any:
    if isinstance(value, _IMMUTABLE):
        return value
    if type(value) is dict:
        return {k: v if isinstance(v, _IMMUTABLE) else _copy_json(v) for k, v in value.items()}
    if type(value) is list:
        return [v if isinstance(v, _IMMUTABLE) else _copy_json(v) for v in value]
    return copy.deepcopy(value)


# --------------------------------------------------------------------------- the walk


class _Walk:
    def __init__(self, definition: FlowDefinition, state: RunState, context: Context) -> None:
        self.flow = definition
        self.state = state
        self.context = context
        self.out = Advance(state)

    def record(self, node, result: str, detail: dict | None = None) -> None:
        self.out.steps.append(StepRecord(node.id, node.type, result, detail))

    def fail(self, node_id: str | None, error: str, widget: str = "flow") -> None:
        self.state.status = "failed"
        self.state.wait = None
        self.state.error = error
        self.out.actions.append(Fail(node_id, error))
        self.out.steps.append(StepRecord(node_id or "-", widget, "error", {"error": error}))

    def follow(self, node, exit_name: str, detail: dict | None = None) -> None:
        self.record(node, exit_name, detail)
        target = self.flow.target(node.id, exit_name)
        if target is None or self.flow.node(target) is None:
            self.fail(node.id, f"exit {exit_name!r} of {node.id} leads nowhere", node.type)
            return
        self.state.node = target

    def wait_for_input(self, node: CollectInputWidget, *, retry: bool) -> None:
        state = self.state
        self.out.actions.append(Send(node.id, prompt_message(node, state.variables, retry=retry)))
        state.seq += 1
        state.wait = "input"
        state.status = "waiting"
        self.out.actions.append(WaitForInput(node.id, state.seq, node.timeout_seconds))

    # ---- events

    def begin(self, event: Begin) -> None:
        start = self.flow.start()
        if start is None:
            self.fail(None, "the flow has no Start widget")
            return
        self.state.variables = {**self.flow.variables, **event.variables}
        self.state.node = start.id
        self.out.executed += 1
        self.follow(start, "next")

    def current(self, expected: type):
        node = self.flow.node(self.state.node or "")
        if not isinstance(node, expected):
            self.fail(
                self.state.node,
                f"the run waits at {self.state.node!r}, which is not a "
                f"{expected.__name__} in this version",
            )
            return None
        return node

    def inbound(self, event: Inbound) -> None:
        node = self.current(CollectInputWidget)
        if node is None:
            return
        state = self.state
        state.variables.update(event.variables)
        self.out.executed += 1
        answer = check_answer(
            node.answer_kind,
            event.text,
            reply_id=event.reply_id,
            choices=node.choices,
            pattern=node.pattern,
            minimum=node.min,
            maximum=node.max,
            date_formats=node.date_formats,
        )
        state.wait = None
        state.status = "running"
        if answer.ok:
            state.variables[node.variable] = answer.value
            state.retries = 0
            self.follow(node, "success", {"answer": answer.value})
        elif state.retries < node.retries:
            state.retries += 1
            detail = {"answer": event.text, "reason": answer.reason, "attempt": state.retries}
            self.record(node, "retry", detail)
            self.wait_for_input(node, retry=True)
        else:
            state.retries = 0
            self.follow(node, "invalid", {"answer": event.text, "reason": answer.reason})

    def timeout(self) -> None:
        node = self.current(CollectInputWidget)
        if node is None:
            return
        self.out.executed += 1
        self.state.wait = None
        self.state.status = "running"
        self.state.retries = 0
        self.follow(node, "timeout")

    def http_result(self, event: HttpResult) -> None:
        node = self.current(HttpRequestWidget)
        if node is None:
            return
        state = self.state
        self.out.executed += 1
        state.wait = None
        state.status = "running"
        state.variables["http.status"] = event.status
        ok = event.error is None and event.status is not None and 200 <= event.status < 300
        error = event.error or (None if ok else f"HTTP {event.status}")
        if ok and node.map and not isinstance(event.data, dict | list):
            ok, error = False, "the answer is not a JSON object or list"
        state.variables["http.error"] = error
        if ok:
            mapped = {}
            for name, path in node.map.items():
                value = state.variables[name] = templating.lookup(event.data, path)
                mapped[name] = excerpt(value)
            self.follow(node, "success", {"status": event.status, "set": mapped})
        else:
            self.follow(
                node, "failure", {"status": event.status, "error": state.variables["http.error"]}
            )

    # ---- walking until a wait or a stop

    def run(self) -> None:
        state = self.state
        while state.status == "running":
            if self.out.executed >= self.context.budget:
                self.fail(
                    state.node,
                    f"stopped after {self.out.executed} widgets without "
                    "waiting for the customer: the flow loops",
                )
                return
            node = self.flow.node(state.node or "")
            if node is None:
                self.fail(state.node, f"no widget {state.node!r} in this version")
                return
            self.out.executed += 1
            self.step(node)

    def step(self, node) -> None:
        state, out = self.state, self.out
        variables = state.variables
        if isinstance(node, StartWidget):
            self.follow(node, "next")
        elif isinstance(node, SendMediaWidget):
            out.actions.append(Send(node.id, media_message(node, variables)))
            self.follow(node, "next")
        elif isinstance(node, CollectInputWidget):
            state.retries = 0
            self.wait_for_input(node, retry=False)
            self.record(node, "waiting")
        elif isinstance(node, ConditionWidget):
            exit_name, rule = choose_exit(node.rules, variables)
            self.follow(node, exit_name, {"rule": rule})
        elif isinstance(node, ClassifyWidget):
            text = templating.render(node.text, variables).strip()
            examples = {i.name: [e for e in i.examples if e.strip()] for i in node.intents}
            found = (
                self.context.classify(text, examples) if text and self.context.classify else None
            )
            intent = found if found in examples else "other"
            variables[node.variable] = intent
            self.follow(node, intent, {"intent": intent})
        elif isinstance(node, SetVariableWidget):
            values = {}
            for item in node.assignments:
                value = item.value
                if isinstance(value, str):
                    value = templating.render(value, variables)
                values[item.variable] = variables[item.variable] = value
            self.follow(node, "next", {"set": values})
        elif isinstance(node, HttpRequestWidget):
            state.seq += 1
            state.wait = "http"
            state.status = "waiting"
            out.actions.append(http_call(node, variables, state.seq))
        elif isinstance(node, BusinessHoursWidget):
            hours = self.context.calendars.get(node.queue or "")
            if hours is None:
                self.fail(node.id, f"no queue named {node.queue!r}", node.type)
                return
            self.follow(node, "open" if hours.is_open(self.context.now) else "closed")
        elif isinstance(node, SendTemplateWidget):
            out.actions.append(Send(node.id, template_message(node, variables)))
            self.follow(node, "next")
        elif isinstance(node, RouteToWidget):
            if node.target == "flow":
                out.actions.append(RouteToFlow(node.id, node.flow))
                state.status = "handed_off"
                self.record(node, "routed", {"flow": node.flow})
            elif node.target == "agent":
                out.actions.append(RouteToAgent(node.id, node.agent, node.queue, node.priority))
                state.status = "routed"
                self.record(node, "routed", {"agent": node.agent, "queue": node.queue})
            else:
                out.actions.append(RouteToQueue(node.id, node.queue, node.priority))
                state.status = "routed"
                self.record(node, "routed", {"queue": node.queue, "priority": node.priority})
        elif isinstance(node, EndWidget):
            if node.message:
                out.actions.append(
                    Send(node.id, text_message(templating.render(node.message, variables)))
                )
            out.actions.append(EndConversation(node.id))
            state.status = "ended"
            self.record(node, "ended")
        else:  # pragma: no cover - the union is closed
            self.fail(node.id, f"unknown widget type {node.type!r}")


def advance(definition: FlowDefinition, state: RunState, event: Event, context: Context) -> Advance:
    """Feed ``event`` to a run; returns its new state (a copy) and what to do."""
    walk = _Walk(definition, _copy_state(state), context)
    current = walk.state
    if isinstance(event, Begin):
        walk.begin(event)
    elif current.status not in ACTIVE:
        return walk.out
    elif isinstance(event, Inbound):
        if current.wait != "input":
            return walk.out
        walk.inbound(event)
    elif isinstance(event, Timeout):
        if current.wait != "input" or event.seq != current.seq:
            return walk.out
        walk.timeout()
    elif isinstance(event, HttpResult):
        if current.wait != "http" or event.seq != current.seq:
            return walk.out
        walk.http_result(event)
    walk.run()
    return walk.out
