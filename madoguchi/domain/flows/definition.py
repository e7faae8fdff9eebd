"""The flow document: widgets (nodes) with their settings and named exits, and edges
from an exit to the next widget.

A flow is a JSON document, the same in the database, the REST API, export files and the
``apply`` YAML::

    {"variables": {"lang": "en"},
     "nodes": [{"id": "start", "type": "start", "numbers": ["301234567890123"]},
               {"id": "greet", "type": "send_media", "text": "Hi {{contact.name}}!"}, …],
     "edges": [{"from": "start", "exit": "next", "to": "greet"}, …]}

The models accept an unfinished draft (an editor saves work in progress): settings are
optional here and their absence is reported by ``validation.validate`` as a problem that
names the widget and the field, before a version can be published. Only a wrong *type*
(text where a number belongs, an unknown widget type or setting) is refused outright.

References are by name, never by database id, so a flow exported from one installation
imports into another: queues and flows by name, agents by e-mail, WhatsApp numbers by
Meta's phone number id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from madoguchi.domain.flows import templating
from madoguchi.domain.flows.answers import ANSWER_KINDS, check_pattern
from madoguchi.domain.flows.conditions import LIST_OPERATORS, NUMERIC, OPERATORS, UNARY

NODE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
EXIT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$")  # an HTTP token
FieldProblem = tuple[str, str]  # (field path inside the widget, sentence)

# Variables every run has. Namespaces a flow cannot write into (they describe the
# conversation and are refreshed by the runner).
BUILTIN_VARIABLES = frozenset(
    {
        "contact.id",
        "contact.name",
        "contact.wa_id",
        "contact.user_id",
        "contact.username",
        "conversation.id",
        "number.phone_number_id",
        "number.display",
        "message.text",
        "message.type",
        "message.id",
        "referral.source_url",
        "referral.source_id",
        "referral.source_type",
        "referral.headline",
        "referral.body",
        "referral.media_type",
        "referral.ctwa_clid",
        "flow.name",
        "flow.version",
        "http.status",
        "http.error",
    }
)
RESERVED_NAMESPACES = frozenset(name.split(".")[0] for name in BUILTIN_VARIABLES)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that blocks publishing: which widget (None: the flow), which field, why."""

    node: str | None
    field: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        where = f"widget {self.node}" if self.node else "flow"
        return f"{where}: {self.field}: {self.message}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Position(_Model):
    """Where the editor draws the widget; ignored by the runner."""

    x: float = 0
    y: float = 0


class _Widget(_Model):
    id: str = Field(description="Unique in the flow: letters, digits, _ and -")
    label: str | None = Field(None, max_length=200, description="A name for people")
    position: Position | None = None

    waits: ClassVar[bool] = False  # a widget that stops for the customer breaks a loop

    def exits(self) -> list[str]:
        return ["next"]

    def texts(self) -> Iterator[tuple[str, str | None]]:
        """(field, text) of every text that may hold ``{{variables}}``."""
        return iter(())

    def variables_read(self) -> Iterator[tuple[str, str]]:
        """(field, name) of variables named outright (not inside a text)."""
        return iter(())

    def variables_written(self) -> Iterator[tuple[str, str]]:
        return iter(())

    def problems(self) -> Iterator[FieldProblem]:
        return iter(())


def _required(value: Any, field: str, what: str) -> Iterator[FieldProblem]:
    if value is None or (isinstance(value, str | list | dict) and not value):
        yield field, f"{what} is required"


# --------------------------------------------------------------------------- widgets


class StartWidget(_Widget):
    """The entry point. Bound to the WhatsApp numbers whose new conversations it starts."""

    type: Literal["start"]
    numbers: list[str] = Field(
        default_factory=list, description="Meta phone number ids that start this flow"
    )
    callable: bool = Field(
        False,
        description="May also be started by another flow's Route To (then numbers may be empty)",
    )

    def problems(self) -> Iterator[FieldProblem]:
        if not self.numbers and not self.callable:
            yield (
                "numbers",
                "bind the Start to at least one WhatsApp number (or mark the flow callable "
                "from other flows)",
            )
        seen: set[str] = set()
        for i, number in enumerate(self.numbers):
            if not re.fullmatch(r"[0-9]{5,32}", number):
                yield f"numbers[{i}]", f"{number!r} is not a Meta phone number id (digits)"
            if number in seen:
                yield f"numbers[{i}]", f"{number} is listed twice"
            seen.add(number)


MediaKind = Literal["text", "image", "video", "audio", "document", "sticker", "location"]


class SendMediaWidget(_Widget):
    """Sends one message: text, image, video, audio, document, sticker or location."""

    type: Literal["send_media"]
    kind: MediaKind = "text"
    text: str | None = Field(None, description="The text, or the media's caption")
    media_url: str | None = Field(None, description="https:// link to the file")
    media_id: str | None = Field(None, description="A media id uploaded to Meta")
    filename: str | None = None
    preview_url: bool = False
    latitude: float | None = None
    longitude: float | None = None
    location_name: str | None = None
    address: str | None = None

    def texts(self) -> Iterator[tuple[str, str | None]]:
        for name in ("text", "media_url", "filename", "location_name", "address"):
            yield name, getattr(self, name)

    def problems(self) -> Iterator[FieldProblem]:
        if self.kind == "text":
            yield from _required(self.text, "text", "the message text")
        elif self.kind == "location":
            yield from _required(self.latitude, "latitude", "a location's latitude")
            yield from _required(self.longitude, "longitude", "a location's longitude")
        else:
            if not self.media_url and not self.media_id:
                yield "media_url", f"a {self.kind} needs a media_url (https://) or a media_id"
            if self.media_url and self.media_id:
                yield "media_id", "give either media_url or media_id, not both"
            if self.text and self.kind in ("audio", "sticker"):
                yield "text", f"WhatsApp shows no caption on {self.kind} messages"


class Choice(_Model):
    id: str = Field(description="Stored in the variable when chosen")
    title: str = Field(description="Shown on the button or list row")
    description: str | None = Field(None, description="List rows only")
    aliases: list[str] = Field(default_factory=list, description="Other answers that mean it")


class CollectInputWidget(_Widget):
    """Asks a question, waits for the answer, checks it and stores it in a variable."""

    type: Literal["collect_input"]
    waits: ClassVar[bool] = True
    prompt: str | None = None
    input: Literal["text", "buttons", "list"] = Field(
        "text", description="Free text, reply buttons (≤ 3) or a list (≤ 10 rows)"
    )
    choices: list[Choice] = Field(default_factory=list)
    list_button: str = Field("Choose", description="The label of the list's button")
    variable: str | None = Field(None, description="Where the answer is stored")
    validation: Literal["none", "choices", "number", "regex", "email", "date"] | None = Field(
        None, description="Default: choices when there are choices, else none"
    )
    pattern: str | None = Field(None, description="regex validation: the whole answer matches")
    min: float | None = Field(None, description="number validation: lowest allowed")
    max: float | None = Field(None, description="number validation: highest allowed")
    date_formats: list[str] = Field(
        default_factory=list, description="date validation: strptime formats (default ISO …)"
    )
    retries: int = Field(2, ge=0, le=10, description="Re-prompts after an invalid answer")
    retry_prompt: str | None = Field(None, description="Sent instead of the prompt on a retry")
    timeout_seconds: int | None = Field(
        None, ge=1, le=7 * 24 * 3600, description="No reply this long: the timeout exit"
    )

    @property
    def answer_kind(self) -> str:
        if self.validation is not None:
            return self.validation
        return "choices" if self.choices or self.input != "text" else "none"

    def exits(self) -> list[str]:
        out = ["success", "invalid"]
        if self.timeout_seconds:
            out.append("timeout")
        return out

    def texts(self) -> Iterator[tuple[str, str | None]]:
        yield "prompt", self.prompt
        yield "retry_prompt", self.retry_prompt

    def variables_written(self) -> Iterator[tuple[str, str]]:
        if self.variable:
            yield "variable", self.variable

    def problems(self) -> Iterator[FieldProblem]:
        yield from _required(self.prompt, "prompt", "the question (prompt)")
        yield from _required(self.variable, "variable", "the variable to store the answer in")
        kind = self.answer_kind
        assert kind in ANSWER_KINDS
        if kind == "choices" and not self.choices:
            yield "choices", "choices validation needs at least one choice"
        if self.input != "text" and kind != "choices":
            yield "validation", f"{self.input} input answers with a choice: use choices validation"
        if kind == "regex":
            if not self.pattern:
                yield "pattern", "regex validation needs a pattern"
            else:
                error = check_pattern(self.pattern)
                if error:
                    yield "pattern", error
        both = self.min is not None and self.max is not None
        if kind == "number" and both and self.min > self.max:
            yield "min", "min is greater than max"
        ids: dict[str, int] = {}
        for i, choice in enumerate(self.choices):
            if not choice.id.strip():
                yield f"choices[{i}].id", "a choice needs an id"
            if not choice.title.strip():
                yield f"choices[{i}].title", "a choice needs a title"
            if choice.id in ids:
                yield f"choices[{i}].id", f"repeats choices[{ids[choice.id]}].id"
            ids.setdefault(choice.id, i)


class Rule(_Model):
    variable: str
    op: str = Field("equals", description=", ".join(OPERATORS))
    value: str | float | list[str] | None = None
    exit: str
    case_sensitive: bool = False


class ConditionWidget(_Widget):
    """Ordered rules over variables; the first that holds picks the exit, else ``else``."""

    type: Literal["condition"]
    rules: list[Rule] = Field(default_factory=list)

    def exits(self) -> list[str]:
        out: list[str] = []
        for rule in self.rules:
            if rule.exit not in out:
                out.append(rule.exit)
        return [*out, "else"]

    def texts(self) -> Iterator[tuple[str, str | None]]:
        for i, rule in enumerate(self.rules):
            if isinstance(rule.value, str) and rule.op != "regex":
                yield f"rules[{i}].value", rule.value
            elif isinstance(rule.value, list):
                for j, item in enumerate(rule.value):
                    yield f"rules[{i}].value[{j}]", item

    def variables_read(self) -> Iterator[tuple[str, str]]:
        for i, rule in enumerate(self.rules):
            yield f"rules[{i}].variable", rule.variable

    def problems(self) -> Iterator[FieldProblem]:
        if not self.rules:
            yield "rules", "a Condition needs at least one rule"
        for i, rule in enumerate(self.rules):
            at = f"rules[{i}]"
            if rule.op not in OPERATORS:
                yield f"{at}.op", f"unknown operator {rule.op!r} (use {', '.join(OPERATORS)})"
                continue
            if not EXIT_NAME.match(rule.exit):
                yield f"{at}.exit", "an exit name is letters, digits, _ and - (≤ 64)"
            if rule.exit == "else":
                yield f"{at}.exit", "'else' is the exit taken when no rule holds"
            if rule.op in UNARY:
                continue
            if rule.value is None:
                yield f"{at}.value", f"{rule.op} needs a value"
            elif rule.op in LIST_OPERATORS and not isinstance(rule.value, list):
                yield f"{at}.value", f"{rule.op} needs a list of values"
            elif rule.op not in LIST_OPERATORS and isinstance(rule.value, list):
                yield f"{at}.value", f"{rule.op} compares with one value, not a list"
            elif rule.op in NUMERIC and not _numeric_or_reference(rule.value):
                yield f"{at}.value", f"{rule.op} compares numbers: {rule.value!r} is not one"
            elif rule.op == "regex":
                error = check_pattern(str(rule.value))
                if error:
                    yield f"{at}.value", error


def _numeric_or_reference(value: Any) -> bool:
    if isinstance(value, int | float):
        return True
    if templating.references(str(value)):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True


class Assignment(_Model):
    variable: str
    value: str | float | bool | None = Field(
        None, description="Text may use {{variables}}; numbers and booleans are kept as such"
    )


class SetVariableWidget(_Widget):
    type: Literal["set_variable"]
    assignments: list[Assignment] = Field(default_factory=list)

    def texts(self) -> Iterator[tuple[str, str | None]]:
        for i, item in enumerate(self.assignments):
            if isinstance(item.value, str):
                yield f"assignments[{i}].value", item.value

    def variables_written(self) -> Iterator[tuple[str, str]]:
        for i, item in enumerate(self.assignments):
            yield f"assignments[{i}].variable", item.variable

    def problems(self) -> Iterator[FieldProblem]:
        if not self.assignments:
            yield "assignments", "set at least one variable"


class HttpRequestWidget(_Widget):
    """Calls an external API (order lookup, CRM…) and maps its JSON answer to variables."""

    type: Literal["http_request"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    secret_headers: dict[str, Any] | None = Field(
        None,
        description='Write-only headers (API keys): name -> value to set, "" for none, '
        '{"set": …} or null to keep the stored one; read back as {"set": true|false}, '
        "stored encrypted, never exported, no {{variables}}",
    )
    body: Any = Field(None, description="JSON sent as the body; strings may use {{variables}}")
    timeout_seconds: float = Field(10.0, gt=0, le=30)
    map: dict[str, str] = Field(
        default_factory=dict,
        description='variable -> path in the JSON answer ("order.status", "items[0].id")',
    )

    def exits(self) -> list[str]:
        return ["success", "failure"]

    def texts(self) -> Iterator[tuple[str, str | None]]:
        yield "url", self.url
        for name, value in self.headers.items():
            yield f"headers.{name}", value
        yield from templating.json_strings(self.body, "body")

    def variables_written(self) -> Iterator[tuple[str, str]]:
        for name in self.map:
            yield f"map.{name}", name

    def problems(self) -> Iterator[FieldProblem]:
        yield from _required(self.url, "url", "the URL")
        if self.url and not re.match(r"^(https?://|\{\{)", self.url.strip()):
            yield "url", "the URL must start with http:// or https://"
        plain = {name.lower() for name in self.headers}
        for name, value in (self.secret_headers or {}).items():
            field = f"secret_headers.{name}"
            if not HEADER_NAME.match(name):
                yield field, "a header name is letters, digits and -, without spaces"
            elif name.lower() in plain:
                yield field, "this header is also an ordinary header: keep one of them"
            elif not (value is None or isinstance(value, str | dict)):
                yield field, "a secret header's value is text"


class BusinessHoursWidget(_Widget):
    """Takes ``open`` or ``closed`` by the named queue's calendar at this moment."""

    type: Literal["business_hours"]
    queue: str | None = Field(None, description="Whose hours and holidays to use")

    def exits(self) -> list[str]:
        return ["open", "closed"]

    def problems(self) -> Iterator[FieldProblem]:
        yield from _required(self.queue, "queue", "the queue whose hours to check")


class Intent(_Model):
    name: str = Field(description="The intent, and the exit taken for it")
    examples: list[str] = Field(
        default_factory=list, description="Customer messages that mean it (en or ja)"
    )


MAX_EXAMPLES = 200


class ClassifyWidget(_Widget):
    """Names the intent of a text (the customer's message by default) by the examples
    given for each intent and takes that intent's exit, ``other`` when none matches. The
    intent is also stored in a variable, for routing and reports."""

    type: Literal["classify"]
    text: str = Field("{{message.text}}", description="What to classify (placeholders work)")
    variable: str = Field("intent", description="Where the intent's name is stored")
    intents: list[Intent] = Field(default_factory=list)

    def exits(self) -> list[str]:
        out: list[str] = []
        for intent in self.intents:
            if intent.name not in out:
                out.append(intent.name)
        return [*out, "other"]

    def texts(self) -> Iterator[tuple[str, str | None]]:
        yield "text", self.text

    def variables_written(self) -> Iterator[tuple[str, str]]:
        yield "variable", self.variable

    def problems(self) -> Iterator[FieldProblem]:
        yield from _required(self.text, "text", "the text to classify")
        yield from _required(self.variable, "variable", "the variable to store the intent in")
        if not self.intents:
            yield "intents", "a Classify needs at least one intent with examples"
        seen: set[str] = set()
        total = 0
        for i, intent in enumerate(self.intents):
            at = f"intents[{i}]"
            if not EXIT_NAME.match(intent.name):
                yield f"{at}.name", "an intent name is letters, digits, _ and - (≤ 64)"
            elif intent.name == "other":
                yield f"{at}.name", "'other' is the exit taken when no intent matches"
            elif intent.name in seen:
                yield f"{at}.name", f"the intent {intent.name!r} is named twice"
            seen.add(intent.name)
            examples = [e for e in intent.examples if e.strip()]
            if not examples:
                yield f"{at}.examples", "give at least one example message"
            total += len(examples)
        if total > MAX_EXAMPLES:
            yield "intents", f"at most {MAX_EXAMPLES} examples in all"


class SendTemplateWidget(_Widget):
    """Sends an approved message template (body parameters may use {{variables}})."""

    type: Literal["send_template"]
    name: str | None = None
    language: str = "en_US"
    parameters: list[str] = Field(default_factory=list, description="Body {{1}}, {{2}}…")

    def texts(self) -> Iterator[tuple[str, str | None]]:
        for i, value in enumerate(self.parameters):
            yield f"parameters[{i}]", value

    def problems(self) -> Iterator[FieldProblem]:
        yield from _required(self.name, "name", "the template name")
        if self.name and not TEMPLATE_NAME.match(self.name):
            yield "name", "a template name holds only lowercase letters, digits and underscores"
        if not self.language.strip():
            yield "language", "the template language is required"


class RouteToWidget(_Widget):
    """Hands the conversation to a queue (with a priority), an agent, or another flow."""

    type: Literal["route_to"]
    target: Literal["queue", "agent", "flow"] = "queue"
    queue: str | None = Field(
        None, description="Queue name (for an agent: where it waits when the agent cannot take it)"
    )
    priority: int | None = Field(None, ge=0, le=100, description="Higher is offered first")
    agent: str | None = Field(None, description="The agent's e-mail")
    flow: str | None = Field(None, description="The name of the flow to continue in")

    def exits(self) -> list[str]:
        return []

    def problems(self) -> Iterator[FieldProblem]:
        if self.target in ("queue", "agent"):
            yield from _required(self.queue, "queue", "the queue")
        if self.target == "agent":
            yield from _required(self.agent, "agent", "the agent's e-mail")
        if self.target == "flow":
            yield from _required(self.flow, "flow", "the flow to continue in")


class EndWidget(_Widget):
    """Closes the conversation, after an optional goodbye message."""

    type: Literal["end"]
    message: str | None = None

    def exits(self) -> list[str]:
        return []

    def texts(self) -> Iterator[tuple[str, str | None]]:
        yield "message", self.message


Widget = Annotated[
    Union[  # noqa: UP007
        StartWidget,
        SendMediaWidget,
        CollectInputWidget,
        ConditionWidget,
        ClassifyWidget,
        SetVariableWidget,
        HttpRequestWidget,
        BusinessHoursWidget,
        SendTemplateWidget,
        RouteToWidget,
        EndWidget,
    ],
    Field(discriminator="type"),
]
WIDGET_TYPES = (
    "start",
    "send_media",
    "collect_input",
    "condition",
    "classify",
    "set_variable",
    "http_request",
    "business_hours",
    "send_template",
    "route_to",
    "end",
)


class Edge(_Model):
    source: str = Field(alias="from", description="The widget the exit belongs to")
    exit: str
    to: str


class FlowDefinition(_Model):
    variables: dict[str, str | float | bool | None] = Field(
        default_factory=dict, description="Flow variables and their initial values"
    )
    nodes: list[Widget] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)

    def node(self, node_id: str) -> _Widget | None:
        return self._index().get(node_id)

    def start(self) -> StartWidget | None:
        return next((n for n in self.nodes if isinstance(n, StartWidget)), None)

    def target(self, node_id: str, exit_name: str) -> str | None:
        return self._edges().get((node_id, exit_name))

    def _index(self) -> dict[str, _Widget]:
        cached = self.__dict__.get("_node_index")
        if cached is None:
            cached = {n.id: n for n in self.nodes}
            self.__dict__["_node_index"] = cached
        return cached

    def _edges(self) -> dict[tuple[str, str], str]:
        cached = self.__dict__.get("_edge_index")
        if cached is None:
            cached = {}
            for edge in self.edges:
                cached.setdefault((edge.source, edge.exit), edge.to)
            self.__dict__["_edge_index"] = cached
        return cached

    def to_json(self) -> dict[str, Any]:
        """The canonical document (what is stored, exported and compared)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class DefinitionError(ValueError):
    """The document is not a flow (wrong types, unknown widget or setting)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def parse_definition(data: Any) -> FlowDefinition:
    """Read a flow document; a shape error names the widget (by id) and the field."""
    if isinstance(data, FlowDefinition):
        return data
    try:
        return FlowDefinition.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(_shape_problems(exc, data)) from exc


def _shape_problems(exc: ValidationError, data: Any) -> list[Problem]:
    problems = []
    nodes = data.get("nodes") if isinstance(data, dict) else None
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        node_id = None
        if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
            raw = nodes[loc[1]] if isinstance(nodes, list) and loc[1] < len(nodes) else None
            node_id = raw.get("id") if isinstance(raw, dict) else None
            if node_id is None:
                node_id = f"nodes[{loc[1]}]"
            loc = loc[2:]
            if loc and isinstance(raw, dict) and loc[0] == raw.get("type"):
                loc = loc[1:]  # pydantic's union tag
            if error["type"] == "union_tag_invalid":
                message = f"unknown widget type (use {', '.join(WIDGET_TYPES)})"
                loc = ["type"]
            elif error["type"] == "union_tag_not_found":
                message = f"a widget needs a type ({', '.join(WIDGET_TYPES)})"
                loc = ["type"]
        field = ""
        for part in loc:
            field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
        problems.append(Problem(node_id, field or "definition", message))
    return problems
