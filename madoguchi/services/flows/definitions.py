"""Flow definitions: drafts, validation, publishing, bindings, export/import, ``apply``.

A flow is edited as a draft (any unfinished state the editor saves), validated, and
published as an immutable numbered version; new conversations start on the published
version and keep the one they started with. Publishing also rewrites the flow's bindings
(which WhatsApp numbers start it) from its Start widget; a number starts at most one
flow. The REST API and the ``apply`` file go through the same functions, so a flow is
checked the same way wherever it comes from.

Validation is the domain's (graph, variables, settings) plus what only the database
knows (queues, agents, flows and numbers that exist) plus WhatsApp's own limits on every
message a widget sends, checked by building that message with sample values.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.flows import (
    DefinitionError,
    FlowDefinition,
    Problem,
    ValidationContext,
    parse_definition,
    validate,
)
from madoguchi.domain.flows import engine as flow_engine
from madoguchi.domain.flows.definition import (
    CollectInputWidget,
    EndWidget,
    SendMediaWidget,
    SendTemplateWidget,
    StartWidget,
)
from madoguchi.security.secrets import SecretBox
from madoguchi.services.flows import secret_headers
from madoguchi.store.models import (
    Flow,
    FlowBinding,
    FlowRun,
    FlowStep,
    FlowVersion,
    PhoneNumber,
    Queue,
    User,
    utcnow,
)
from madoguchi.whatsapp.outbound import OutboundValidationError, validate_outbound

EXPORT_FORMAT = 1
ACTIVE_RUN = ("running", "waiting")
_NAME = re.compile(r"^\S(.{0,98}\S)?$")


class FlowError(Exception):
    """A refused request; ``problems`` lists what blocks a publish (widget + field)."""

    def __init__(
        self,
        message: str,
        status: int = 422,
        problems: list[Problem] | None = None,
        *,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.problems = problems or []
        self.field = field  # the request field to blame, when it is one (forms show it there)

    def detail(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "message": self.message,
            "problems": [p.to_dict() for p in self.problems],
        }
        if self.field:
            out["field"] = self.field
        return out


def read_definition(data: Any) -> FlowDefinition:
    try:
        return parse_definition(data if data is not None else {})
    except DefinitionError as exc:
        raise FlowError("the flow document is not valid", 422, exc.problems) from exc


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise FlowError("a flow name is 1 to 100 characters", 422)
    return name


# --------------------------------------------------------------------------- validation

_SAMPLE_URL = "https://example.com/sample"


def _sampled(text: str | None, url: bool = False) -> str | None:
    """A text as it might read once its variables are filled (each one as "x")."""
    if text is None:
        return None
    if url and text.lstrip().startswith("{{"):
        return _SAMPLE_URL
    return re.sub(r"\{\{[^{}]*\}\}", "x", text)


_FIELD_MAP: list[tuple[str, str]] = [
    (r"^interactive\.action\.buttons\[(\d+)\]\.reply\.(id|title)$", r"choices[\1].\2"),
    (r"^interactive\.action\.buttons.*$", "choices"),
    (
        r"^interactive\.action\.sections\[0\]\.rows\[(\d+)\]\.(id|title|description)$",
        r"choices[\1].\2",
    ),
    (r"^interactive\.action\.sections.*$", "choices"),
    (r"^interactive\.action\.button$", "list_button"),
    (r"^interactive\.body.*$", "prompt"),
    (r"^template\.components\[0\]\.parameters\[(\d+)\].*$", r"parameters[\1]"),
    (r"^template\.name$", "name"),
    (r"^template\.language.*$", "language"),
    (r"^location\.latitude$", "latitude"),
    (r"^location\.longitude$", "longitude"),
    (r"^\w+\.link$", "media_url"),
    (r"^\w+\.id$", "media_id"),
    (r"^\w+\.caption$", "text"),
    (r"^\w+\.filename$", "filename"),
]


def _widget_field(node, path: str) -> str:
    if path == "text.body":
        if isinstance(node, CollectInputWidget):
            return "prompt"
        return "message" if isinstance(node, EndWidget) else "text"
    for pattern, replacement in _FIELD_MAP:
        if re.match(pattern, path):
            return re.sub(pattern, replacement, path)
    return path


def message_problems(definition: FlowDefinition) -> list[Problem]:
    """WhatsApp's limits on every message the flow can send (with sample values)."""
    problems = []
    for node in definition.nodes:
        message = None
        if isinstance(node, SendMediaWidget):
            if any(p for p in node.problems()):
                continue  # its settings are reported already
            sample = node.model_copy(
                update={
                    "text": _sampled(node.text),
                    "media_url": _sampled(node.media_url, url=True),
                    "filename": _sampled(node.filename),
                }
            )
            message = flow_engine.media_message(sample, {})
        elif isinstance(node, CollectInputWidget):
            if not node.prompt:
                continue
            message = flow_engine.prompt_message(
                node.model_copy(update={"prompt": _sampled(node.prompt)}), {}
            )
            if node.retry_prompt:
                retry = node.model_copy(update={"retry_prompt": _sampled(node.retry_prompt)})
                retry_message = flow_engine.prompt_message(retry, {}, retry=True)
                try:
                    validate_outbound(retry_message)
                except OutboundValidationError as exc:
                    field = _widget_field(node, exc.field).replace("prompt", "retry_prompt")
                    problems.append(Problem(node.id, field, exc.message))
        elif isinstance(node, EndWidget) and node.message:
            message = flow_engine.text_message(_sampled(node.message))
        elif isinstance(node, SendTemplateWidget) and node.name:
            sample = node.model_copy(
                update={"parameters": [_sampled(p) or "x" for p in node.parameters]}
            )
            message = flow_engine.template_message(sample, {})
        if message is None:
            continue
        try:
            validate_outbound(message)
        except OutboundValidationError as exc:
            problems.append(Problem(node.id, _widget_field(node, exc.field), exc.message))
    return problems


async def validation_context(
    session: AsyncSession,
    workspace_id: int,
    flow_name: str | None,
    *,
    also_queues: frozenset[str] = frozenset(),
    also_flows: frozenset[str] = frozenset(),
) -> ValidationContext:
    queues = set(
        (await session.scalars(select(Queue.name).where(Queue.workspace_id == workspace_id))).all()
    )
    agents = set(
        (
            await session.scalars(
                select(User.email).where(
                    User.workspace_id == workspace_id, User.disabled.is_(False)
                )
            )
        ).all()
    )
    flows = set(
        (
            await session.scalars(
                select(Flow.name).where(
                    Flow.workspace_id == workspace_id, Flow.published_version.is_not(None)
                )
            )
        ).all()
    )
    numbers = set(
        (
            await session.scalars(
                select(PhoneNumber.phone_number_id).where(PhoneNumber.workspace_id == workspace_id)
            )
        ).all()
    )
    taken_rows = (
        await session.execute(
            select(PhoneNumber.phone_number_id, Flow.name)
            .join(FlowBinding, FlowBinding.phone_number_id == PhoneNumber.id)
            .join(Flow, Flow.id == FlowBinding.flow_id)
            .where(FlowBinding.workspace_id == workspace_id)
        )
    ).all()
    taken = {number: name for number, name in taken_rows if name != flow_name}
    return ValidationContext(
        queues=frozenset(queues | also_queues),
        agents=frozenset(a.lower() for a in agents),
        flows=frozenset((flows | also_flows) - ({flow_name} if flow_name else set())),
        numbers=frozenset(numbers),
        numbers_taken=taken,
        flow_name=flow_name,
    )


def all_problems(definition: FlowDefinition, context: ValidationContext) -> list[Problem]:
    return validate(definition, context) + message_problems(definition)


async def check(
    session: AsyncSession, workspace_id: int, flow: Flow | None, definition: FlowDefinition
) -> list[Problem]:
    context = await validation_context(session, workspace_id, flow.name if flow else None)
    return all_problems(definition, context)


# --------------------------------------------------------------------------- drafts


async def get_flow(session: AsyncSession, workspace_id: int, flow_id: int) -> Flow:
    flow = await session.scalar(
        select(Flow).where(Flow.id == flow_id, Flow.workspace_id == workspace_id)
    )
    if flow is None:
        raise FlowError(f"flow {flow_id} not found", 404)
    return flow


async def flow_by_name(session: AsyncSession, workspace_id: int, name: str) -> Flow | None:
    return await session.scalar(
        select(Flow).where(Flow.workspace_id == workspace_id, Flow.name == name)
    )


def _sealed(definition: Any, previous: Any, secrets: SecretBox | None) -> Any:
    """The definition with its secret headers encrypted (see ``secret_headers``)."""
    if not secret_headers.has_secrets(definition):
        return definition
    if secrets is None:
        raise FlowError("secret headers need MADOGUCHI_SECRET_KEY to be stored", 422)
    return secret_headers.seal(definition, previous, secrets)


async def create_flow(
    session: AsyncSession,
    workspace_id: int,
    name: str,
    definition: Any = None,
    description: str | None = None,
    *,
    secrets: SecretBox | None = None,
) -> Flow:
    name = _check_name(name)
    parsed = read_definition(_sealed(definition, None, secrets))
    if await flow_by_name(session, workspace_id, name) is not None:
        raise FlowError(f"a flow named {name!r} exists", 409)
    flow = Flow(
        workspace_id=workspace_id, name=name, description=description, draft=parsed.to_json()
    )
    session.add(flow)
    await session.flush()
    return flow


async def update_draft(
    session: AsyncSession,
    flow: Flow,
    *,
    name: str | None = None,
    description: str | None = None,
    definition: Any = None,
    secrets: SecretBox | None = None,
) -> Flow:
    if name is not None:
        name = _check_name(name)
        clash = await flow_by_name(session, flow.workspace_id, name)
        if clash is not None and clash.id != flow.id:
            raise FlowError(f"a flow named {name!r} exists", 409)
        flow.name = name
    if description is not None:
        flow.description = description or None
    if definition is not None:
        flow.draft = read_definition(_sealed(definition, flow.draft, secrets)).to_json()
    flow.updated_at = utcnow()
    await session.flush()
    return flow


async def delete_flow(session: AsyncSession, flow: Flow) -> None:
    active = await session.scalar(
        select(func.count())
        .select_from(FlowRun)
        .where(FlowRun.flow_id == flow.id, FlowRun.status.in_(ACTIVE_RUN))
    )
    if active:
        raise FlowError(f"{active} conversations are in this flow right now", 409)
    await session.delete(flow)
    await session.flush()


# --------------------------------------------------------------------------- publishing


async def latest_version(session: AsyncSession, flow: Flow) -> FlowVersion | None:
    if flow.published_version is None:
        return None
    return await session.scalar(
        select(FlowVersion).where(
            FlowVersion.flow_id == flow.id, FlowVersion.version == flow.published_version
        )
    )


async def publish(
    session: AsyncSession,
    flow: Flow,
    *,
    user_id: int | None = None,
    context: ValidationContext | None = None,
) -> FlowVersion:
    """Validate the draft and publish it as the next version; rebinds the numbers."""
    definition = read_definition(flow.draft)
    if context is None:
        context = await validation_context(session, flow.workspace_id, flow.name)
    problems = all_problems(definition, context)
    if problems:
        raise FlowError(
            f"flow {flow.name!r} cannot be published: {len(problems)} problems", 422, problems
        )
    number = (
        await session.scalar(
            select(func.max(FlowVersion.version)).where(
                FlowVersion.flow_id == flow.id, FlowVersion.test.is_(False)
            )
        )
        or 0
    ) + 1
    version = FlowVersion(
        workspace_id=flow.workspace_id,
        flow_id=flow.id,
        version=number,
        definition=definition.to_json(),
        published_by_user_id=user_id,
    )
    session.add(version)
    flow.published_version = number
    flow.updated_at = utcnow()
    await session.flush()
    start = definition.start()
    await set_bindings(session, flow, start.numbers if start else [])
    return version


async def published_versions(session: AsyncSession, flow: Flow) -> list[dict[str, Any]]:
    """The published versions, newest first, with who published them and which is live
    (test snapshots are not versions: they are never listed)."""
    rows = (
        await session.execute(
            select(FlowVersion, User.name, User.email)
            .outerjoin(User, User.id == FlowVersion.published_by_user_id)
            .where(FlowVersion.flow_id == flow.id, FlowVersion.test.is_(False))
            .order_by(FlowVersion.version.desc())
        )
    ).all()
    out = []
    for version, name, email in rows:
        item = version_out(version, definition=False)
        item["published_by"] = {"name": name, "email": email} if email else None
        item["live"] = version.version == flow.published_version
        out.append(item)
    return out


async def get_version(session: AsyncSession, flow: Flow, number: int) -> FlowVersion:
    """A published version by its number (404 when there is none)."""
    version = await session.scalar(
        select(FlowVersion).where(
            FlowVersion.flow_id == flow.id,
            FlowVersion.version == number,
            FlowVersion.workspace_id == flow.workspace_id,
            FlowVersion.test.is_(False),
        )
    )
    if version is None:
        raise FlowError(f"flow {flow.name!r} has no version {number}", 404)
    return version


async def restore_version(
    session: AsyncSession, flow: Flow, number: int, *, expected_updated_at: str | None = None
) -> Flow:
    """Copy a published version's document into the draft (nothing is published: the
    admin checks, saves and publishes as usual). ``expected_updated_at`` is the flow's
    ``updated_at`` as the caller last saw it: if the flow changed since (another admin
    saved), the restore is refused rather than silently replacing their work."""
    version = await get_version(session, flow, number)
    if expected_updated_at is not None and expected_updated_at != flow.updated_at.isoformat():
        raise FlowError(
            f"flow {flow.name!r} changed since you loaded it: reload it, then restore", 409
        )
    flow.draft = version.definition
    flow.updated_at = utcnow()
    await session.flush()
    return flow


async def set_bindings(session: AsyncSession, flow: Flow, numbers: list[str]) -> None:
    rows = {
        n.phone_number_id: n
        for n in await session.scalars(
            select(PhoneNumber).where(
                PhoneNumber.workspace_id == flow.workspace_id,
                PhoneNumber.phone_number_id.in_(numbers or ["-"]),
            )
        )
    }
    await session.execute(delete(FlowBinding).where(FlowBinding.flow_id == flow.id))
    await session.flush()
    for number in numbers:
        if number in rows:
            session.add(
                FlowBinding(
                    workspace_id=flow.workspace_id,
                    phone_number_id=rows[number].id,
                    flow_id=flow.id,
                )
            )
    await session.flush()


async def bound_numbers(session: AsyncSession, flow: Flow) -> list[str]:
    return list(
        (
            await session.scalars(
                select(PhoneNumber.phone_number_id)
                .join(FlowBinding, FlowBinding.phone_number_id == PhoneNumber.id)
                .where(FlowBinding.flow_id == flow.id)
                .order_by(PhoneNumber.phone_number_id)
            )
        ).all()
    )


async def unbind(session: AsyncSession, flow: Flow) -> None:
    """Stop starting this flow for new conversations (running ones carry on)."""
    await session.execute(delete(FlowBinding).where(FlowBinding.flow_id == flow.id))
    await session.flush()


# --------------------------------------------------------------------------- documents


async def flow_summary(session: AsyncSession, flow: Flow) -> dict[str, Any]:
    latest = await latest_version(session, flow)
    return {
        "id": flow.id,
        "name": flow.name,
        "description": flow.description,
        "published_version": flow.published_version,
        "draft_differs": latest is None or latest.definition != flow.draft,
        "numbers": await bound_numbers(session, flow),
        "created_at": flow.created_at.isoformat(),
        "updated_at": flow.updated_at.isoformat(),
    }


def version_out(version: FlowVersion, *, definition: bool = True) -> dict[str, Any]:
    out = {
        "version": version.version,
        "published_at": version.published_at.isoformat(),
        "published_by_user_id": version.published_by_user_id,
    }
    if definition:
        out["definition"] = secret_headers.masked(version.definition)
    return out


def export_document(flow: Flow, definition: dict, version: int | None) -> dict[str, Any]:
    """The portable JSON of a flow (draft or a version): names, never database ids."""
    return {
        "madoguchi_flow": EXPORT_FORMAT,
        "name": flow.name,
        "description": flow.description,
        "version": version,
        "definition": secret_headers.masked(definition, export=True),
    }


class FlowDocument(BaseModel):
    """An exported flow, as ``import`` takes it back."""

    model_config = ConfigDict(extra="ignore")
    madoguchi_flow: int = Field(EXPORT_FORMAT, description="Export format version")
    name: str
    description: str | None = None
    definition: dict[str, Any]

    @model_validator(mode="after")
    def _format(self) -> FlowDocument:
        if self.madoguchi_flow != EXPORT_FORMAT:
            raise ValueError(f"export format {self.madoguchi_flow} is not supported")
        return self


async def import_document(
    session: AsyncSession,
    workspace_id: int,
    document: FlowDocument,
    *,
    name: str | None = None,
    replace: bool = False,
    secrets: SecretBox | None = None,
) -> tuple[Flow, bool]:
    """Create a flow from an export (or replace the draft of the flow of that name);
    returns the flow and whether it was created. Nothing is published by an import."""
    target = name or document.name
    existing = await flow_by_name(session, workspace_id, _check_name(target))
    if existing is not None:
        if not replace:
            raise FlowError(
                f"a flow named {target!r} exists (import with replace to update its draft)", 409
            )
        await update_draft(
            session,
            existing,
            description=document.description,
            definition=document.definition,
            secrets=secrets,
        )
        return existing, False
    flow = await create_flow(
        session, workspace_id, target, document.definition, document.description, secrets=secrets
    )
    return flow, True


# --------------------------------------------------------------------------- run log


async def run_log(session: AsyncSession, conversation_id: int) -> list[dict[str, Any]]:
    """Every run of a conversation with its steps, oldest first."""
    runs = (
        await session.scalars(
            select(FlowRun).where(FlowRun.conversation_id == conversation_id).order_by(FlowRun.id)
        )
    ).all()
    tests = set(
        (
            await session.scalars(
                select(FlowVersion.id).where(
                    FlowVersion.id.in_({r.version_id for r in runs}), FlowVersion.test.is_(True)
                )
            )
        ).all()
    )
    names = {
        f.id: f.name
        for f in await session.scalars(select(Flow).where(Flow.id.in_({r.flow_id for r in runs})))
    }
    steps = (
        await session.scalars(
            select(FlowStep)
            .where(FlowStep.conversation_id == conversation_id)
            .order_by(FlowStep.id)
        )
    ).all()
    by_run: dict[int, list[dict]] = {}
    for step in steps:
        by_run.setdefault(step.run_id, []).append(
            {
                "node": step.node_id,
                "widget": step.widget,
                "result": step.result,
                "detail": step.detail,
                "at": step.at.isoformat(),
            }
        )
    return [
        {
            "run_id": run.id,
            "flow_id": run.flow_id,
            "flow": names.get(run.flow_id),
            "version": run.version,
            "test": run.version_id in tests,  # a test of a draft (editor's Test)
            "status": run.status,
            "node": run.node_id,
            "waiting_for": run.wait_kind,
            "wait_until": run.wait_until.isoformat() if run.wait_until else None,
            "variables": run.variables,
            "error": run.error,
            "started_at": run.started_at.isoformat(),
            "ended_at": run.ended_at.isoformat() if run.ended_at else None,
            "steps": by_run.get(run.id, []),
        }
        for run in runs
    ]


async def run_variables(session: AsyncSession, conversation_id: int) -> dict[str, Any]:
    """The variables of a conversation's latest run (for templates, the agent desktop)."""
    run = await session.scalar(
        select(FlowRun)
        .where(FlowRun.conversation_id == conversation_id)
        .order_by(FlowRun.id.desc())
        .limit(1)
    )
    return dict(run.variables or {}) if run else {}


async def funnel(session: AsyncSession, flow: Flow) -> list[dict[str, Any]]:
    """Where runs of a flow are or stopped: per version, widget and status, how many
    (runs of test snapshots are left out: they are the admins', not the customers')."""
    rows = (
        await session.execute(
            select(FlowRun.version, FlowRun.node_id, FlowRun.status, func.count())
            .join(FlowVersion, FlowVersion.id == FlowRun.version_id)
            .where(FlowRun.flow_id == flow.id, FlowVersion.test.is_(False))
            .group_by(FlowRun.version, FlowRun.node_id, FlowRun.status)
            .order_by(FlowRun.version, FlowRun.node_id, FlowRun.status)
        )
    ).all()
    return [
        {"version": version, "node": node, "status": status, "runs": count}
        for version, node, status, count in rows
    ]


# --------------------------------------------------------------------------- apply


class FlowConfig(BaseModel):
    """A flow in the workspace file: inline (``definition``) or in a JSON/YAML ``file``
    (a flow document or an export), relative to the workspace file."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    description: str | None = None
    file: str | None = None
    definition: dict[str, Any] | None = None
    bind: list[str] | None = Field(
        None, description="Meta phone number ids; replaces the Start widget's numbers"
    )
    publish: bool = Field(True, description="Publish when the draft differs from the live one")

    @model_validator(mode="after")
    def _one_source(self) -> FlowConfig:
        if (self.file is None) == (self.definition is None):
            raise ValueError("give exactly one of file, definition")
        return self


@dataclass
class LoadedFlow:
    config: FlowConfig
    definition: FlowDefinition


def load_flow_configs(
    flows: list[FlowConfig], base_dir: Path | None
) -> tuple[list[LoadedFlow], list[tuple[str, str]]]:
    """Read every flow of the file (files, shapes, bind); problems as (path, message)."""
    import yaml

    loaded: list[LoadedFlow] = []
    problems: list[tuple[str, str]] = []
    names: dict[str, int] = {}
    for i, config in enumerate(flows):
        where = f"flows[{i}]"
        if config.name in names:
            problems.append((f"{where}.name", f"duplicates flows[{names[config.name]}].name"))
        names.setdefault(config.name, i)
        data: Any = config.definition
        source = f"{where}.definition"
        if config.file is not None:
            path = Path(config.file)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            source = f"{where}.file"
            try:
                text = path.read_text(encoding="utf-8")
                data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            except OSError as exc:
                problems.append((source, f"cannot read {path}: {exc.strerror}"))
                continue
            except (ValueError, yaml.YAMLError) as exc:
                problems.append((source, f"{path} is not valid JSON/YAML: {exc}"))
                continue
            if isinstance(data, dict) and "madoguchi_flow" in data:
                data = data.get("definition")  # an export file
        try:
            definition = parse_definition(data)
        except DefinitionError as exc:
            problems.extend(
                (
                    f"{source}.nodes[{p.node}].{p.field}" if p.node else f"{source}.{p.field}",
                    p.message,
                )
                for p in exc.problems
            )
            continue
        if config.bind is not None:
            start = definition.start()
            if start is None:
                problems.append((f"{where}.bind", "the flow has no Start widget to bind"))
                continue
            nodes = [
                n.model_copy(update={"numbers": list(config.bind)})
                if isinstance(n, StartWidget)
                else n
                for n in definition.nodes
            ]
            definition = definition.model_copy(update={"nodes": nodes})
            definition = parse_definition(definition.to_json())
        loaded.append(LoadedFlow(config, definition))
    return loaded, problems


async def apply_flows(
    session: AsyncSession,
    workspace_id: int,
    loaded: list[LoadedFlow],
    changes: list[str],
    problems: list[tuple[str, str]],
    secrets: SecretBox | None = None,
) -> None:
    """Make the file's flows true: drafts updated, changed flows published (all checked
    together, so flows of the file may route to each other)."""
    in_file = frozenset(item.config.name for item in loaded if item.config.publish)
    to_publish: list[tuple[int, Flow]] = []
    for i, item in enumerate(loaded):
        config, document = item.config, item.definition.to_json()
        flow = await flow_by_name(session, workspace_id, config.name)
        if flow is None:
            flow = await create_flow(
                session, workspace_id, config.name, document, config.description, secrets=secrets
            )
            document = flow.draft
            changes.append(f"created flow {config.name}")
        else:
            document = _sealed(document, flow.draft, secrets)
            diffs = []
            if flow.draft != document:
                flow.draft = document
                diffs.append("draft")
            if flow.description != config.description:
                flow.description = config.description
                diffs.append("description")
            if diffs:
                flow.updated_at = utcnow()
                changes.append(f"updated flow {config.name}: {', '.join(diffs)}")
        if config.publish:
            latest = await latest_version(session, flow)
            if latest is None or latest.definition != document:
                to_publish.append((i, flow))
    await session.flush()
    for i, flow in to_publish:
        context = await validation_context(session, workspace_id, flow.name, also_flows=in_file)
        try:
            version = await publish(session, flow, context=context)
        except FlowError as exc:
            for p in exc.problems:
                node = f"nodes[{p.node}]." if p.node else ""
                problems.append((f"flows[{i}].definition.{node}{p.field}", p.message))
            continue
        changes.append(f"published flow {flow.name} version {version.version}")
