"""Queue management: settings, members, disposition codes — shared by the REST API and
``apply`` so a queue is validated the same way wherever it is defined."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.business_hours import BusinessHours, BusinessHoursError
from madoguchi.domain.routing import Method
from madoguchi.store.models import DispositionCode, Queue, QueueMember, QueueSupervisor, User


class QueueError(ValueError):
    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status


class PersonRef(BaseModel):
    """A user of the workspace named by id or e-mail."""

    model_config = ConfigDict(extra="forbid")
    user_id: int | None = None
    email: str | None = None

    @model_validator(mode="after")
    def _one_identity(self) -> PersonRef:
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of user_id, email")
        return self


class MemberSpec(PersonRef):
    priority: int = Field(0, ge=0, le=100, description="Lower is offered first")


class DispositionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[a-z0-9_\-]{1,64}$")
    label: str = Field(min_length=1, max_length=200)


class CsatTexts(BaseModel):
    """Texts of the question in one language; an empty one keeps the default."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    question: str | None = Field(None, max_length=1024)
    button: str | None = Field(None, max_length=20, description="The list's button")
    good: str | None = Field(None, max_length=20)
    okay: str | None = Field(None, max_length=20)
    poor: str | None = Field(None, max_length=20)


class CsatSpec(BaseModel):
    """The customer-satisfaction question sent when an answered conversation closes."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    kind: Literal["list", "buttons"] = Field(
        "list", description="list: five rows 1–5; buttons: Good/Okay/Poor scored 5/3/1"
    )
    language: Literal["auto", "en", "ja"] = Field(
        "auto", description="auto: Japanese for +81 numbers, English otherwise"
    )
    texts: dict[Literal["en", "ja"], CsatTexts] = Field(default_factory=dict)

    def stored(self) -> dict | None:
        texts = {
            lang: {k: v for k, v in t.model_dump().items() if v} for lang, t in self.texts.items()
        }
        texts = {lang: t for lang, t in texts.items() if t}
        if not self.enabled and not texts and self.kind == "list" and self.language == "auto":
            return None
        return {
            "enabled": self.enabled,
            "kind": self.kind,
            "language": self.language,
            **({"texts": texts} if texts else {}),
        }


class QueueSpec(BaseModel):
    """A queue as declared (API body or ``queues:`` entry of the workspace file)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    routing_method: Method = Method.LONGEST_IDLE
    max_per_agent: int = Field(3, ge=1, le=50)
    offer_timeout_seconds: int = Field(30, ge=5, le=3600)
    timezone: str = "UTC"
    hours: dict[str, list[list[str]]] | None = Field(
        None, description='Weekly schedule, e.g. {"mon": [["09:00", "18:00"]]}; null = always open'
    )
    holidays: list[str] = Field(default_factory=list)
    closed_message: str | None = Field(None, max_length=4096)
    closed_target: str | None = Field(None, description="Queue name to use when closed")
    max_wait_seconds: int | None = Field(None, ge=10)
    overflow_target: str | None = Field(None, description="Queue name after max wait")
    auto_close_after_seconds: int | None = Field(None, ge=60)
    members: list[MemberSpec] = Field(default_factory=list)
    service_level_seconds: int = Field(
        60, ge=1, le=86400, description="Answered within this many seconds is in target"
    )
    short_abandon_seconds: int = Field(
        10, ge=0, le=3600, description="Abandons sooner than this are left out of service level"
    )
    supervisors: list[PersonRef] | None = Field(
        None,
        description="Supervisors limited to this queue (and their other listed queues); "
        "null leaves them as they are",
    )
    dispositions: list[DispositionSpec] = Field(default_factory=list)
    csat: CsatSpec = Field(
        default_factory=CsatSpec, description="Customer-satisfaction question at close"
    )

    @field_validator("dispositions")
    @classmethod
    def _unique_codes(cls, value: list[DispositionSpec]) -> list[DispositionSpec]:
        codes = [d.code for d in value]
        if len(codes) != len(set(codes)):
            raise ValueError("disposition codes must be unique")
        return value

    @model_validator(mode="after")
    def _hours(self) -> QueueSpec:
        try:
            BusinessHours.parse(self.timezone, self.hours, self.holidays)
        except BusinessHoursError as exc:
            raise ValueError(str(exc)) from exc
        if self.max_wait_seconds and not self.overflow_target:
            raise ValueError("max_wait_seconds needs an overflow_target")
        return self


async def _queue_id_by_name(
    session: AsyncSession, workspace_id: int, name: str | None, field: str
) -> int | None:
    if name is None:
        return None
    queue_id = await session.scalar(
        select(Queue.id).where(Queue.workspace_id == workspace_id, Queue.name == name)
    )
    if queue_id is None:
        raise QueueError(field, f"no queue named {name!r}")
    return queue_id


async def _member_ids(
    session: AsyncSession, workspace_id: int, members: list[PersonRef], field: str = "members"
) -> list[tuple[int, int]]:
    out = []
    for i, member in enumerate(members):
        query = select(User).where(User.workspace_id == workspace_id)
        query = (
            query.where(User.id == member.user_id)
            if member.user_id
            else query.where(User.email == member.email.lower())
        )
        user = await session.scalar(query)
        if user is None:
            raise QueueError(
                f"{field}[{i}]", f"no user {member.user_id or member.email} in this workspace"
            )
        if field == "supervisors" and user.role != "supervisor":
            raise QueueError(f"{field}[{i}]", f"{user.email} is {user.role}, not a supervisor")
        out.append((user.id, getattr(member, "priority", 0)))
    if len({uid for uid, _ in out}) != len(out):
        raise QueueError(field, "a user is listed twice")
    return out


def _values(spec: QueueSpec) -> dict:
    return {
        "routing_method": spec.routing_method.value,
        "max_per_agent": spec.max_per_agent,
        "offer_timeout_seconds": spec.offer_timeout_seconds,
        "timezone": spec.timezone,
        "hours": spec.hours,
        "holidays": spec.holidays or None,
        "closed_message": spec.closed_message,
        "max_wait_seconds": spec.max_wait_seconds,
        "auto_close_after_seconds": spec.auto_close_after_seconds,
        "service_level_seconds": spec.service_level_seconds,
        "short_abandon_seconds": spec.short_abandon_seconds,
        "csat": spec.csat.stored(),
    }


async def upsert_queue(
    session: AsyncSession, workspace_id: int, spec: QueueSpec, queue: Queue | None = None
) -> tuple[Queue, list[str]]:
    """Create or update a queue (and its members and dispositions); returns what changed."""
    changes: list[str] = []
    if queue is None:
        queue = await session.scalar(
            select(Queue).where(Queue.workspace_id == workspace_id, Queue.name == spec.name)
        )
    values = _values(spec)
    if queue is None:
        queue = Queue(workspace_id=workspace_id, name=spec.name, **values)
        session.add(queue)
        await session.flush()
        changes.append(f"created queue {spec.name}")
    else:
        if queue.name != spec.name:
            clash = await session.scalar(
                select(Queue.id).where(Queue.workspace_id == workspace_id, Queue.name == spec.name)
            )
            if clash is not None and clash != queue.id:
                raise QueueError("name", f"a queue named {spec.name!r} exists")
            queue.name = spec.name
            changes.append(f"renamed queue {queue.id} to {spec.name}")
        diffs = [k for k, v in values.items() if getattr(queue, k) != v]
        for key in diffs:
            setattr(queue, key, values[key])
        if diffs:
            changes.append(f"updated queue {spec.name}: {', '.join(diffs)}")
    for attr, name, field in (
        ("closed_target_queue_id", spec.closed_target, "closed_target"),
        ("overflow_queue_id", spec.overflow_target, "overflow_target"),
    ):
        target = await _queue_id_by_name(session, workspace_id, name, field)
        if target == queue.id:
            raise QueueError(field, "a queue cannot target itself")
        if getattr(queue, attr) != target:
            setattr(queue, attr, target)
            changes.append(f"updated queue {spec.name}: {field}")

    wanted = dict(await _member_ids(session, workspace_id, spec.members))
    current = {
        m.user_id: m
        for m in await session.scalars(select(QueueMember).where(QueueMember.queue_id == queue.id))
    }
    for user_id, member in current.items():
        if user_id not in wanted:
            await session.delete(member)
            changes.append(f"removed user {user_id} from queue {spec.name}")
        elif member.priority != wanted[user_id]:
            member.priority = wanted[user_id]
            changes.append(f"updated priority of user {user_id} in queue {spec.name}")
    for user_id, priority in wanted.items():
        if user_id not in current:
            session.add(
                QueueMember(
                    workspace_id=workspace_id, queue_id=queue.id, user_id=user_id, priority=priority
                )
            )
            changes.append(f"added user {user_id} to queue {spec.name}")

    if spec.supervisors is not None:
        changes += await _set_supervisors(session, workspace_id, queue, spec)

    codes = {d.code: d.label for d in spec.dispositions}
    existing = {
        d.code: d
        for d in await session.scalars(
            select(DispositionCode).where(DispositionCode.queue_id == queue.id)
        )
    }
    if set(existing) != set(codes) or any(
        existing[c].label != codes[c] for c in codes if c in existing
    ):
        await session.execute(delete(DispositionCode).where(DispositionCode.queue_id == queue.id))
        for code, label in codes.items():
            session.add(
                DispositionCode(
                    workspace_id=workspace_id, queue_id=queue.id, code=code, label=label
                )
            )
        changes.append(f"updated dispositions of queue {spec.name}")
    await session.flush()
    return queue, changes


async def _set_supervisors(
    session: AsyncSession, workspace_id: int, queue: Queue, spec: QueueSpec
) -> list[str]:
    wanted = {
        uid for uid, _ in await _member_ids(session, workspace_id, spec.supervisors, "supervisors")
    }
    current = {
        s.user_id: s
        for s in await session.scalars(
            select(QueueSupervisor).where(QueueSupervisor.queue_id == queue.id)
        )
    }
    for user_id in current.keys() - wanted:
        await session.delete(current[user_id])
    for user_id in wanted - current.keys():
        session.add(QueueSupervisor(workspace_id=workspace_id, queue_id=queue.id, user_id=user_id))
    return [f"updated supervisors of queue {spec.name}"] if wanted != current.keys() else []


async def queue_spec_of(session: AsyncSession, queue: Queue) -> dict:
    """The queue as an API/JSON document (the shape ``QueueSpec`` accepts, plus ids)."""
    names = {
        q.id: q.name
        for q in await session.scalars(
            select(Queue).where(Queue.workspace_id == queue.workspace_id)
        )
    }
    members = (
        await session.execute(
            select(QueueMember.user_id, QueueMember.priority, User.email, User.name)
            .join(User, User.id == QueueMember.user_id)
            .where(QueueMember.queue_id == queue.id)
            .order_by(QueueMember.priority, QueueMember.user_id)
        )
    ).all()
    dispositions = (
        await session.scalars(
            select(DispositionCode)
            .where(DispositionCode.queue_id == queue.id)
            .order_by(DispositionCode.code)
        )
    ).all()
    return {
        "id": queue.id,
        "name": queue.name,
        **_values_out(queue),
        "closed_target": names.get(queue.closed_target_queue_id),
        "overflow_target": names.get(queue.overflow_queue_id),
        "members": [
            {"user_id": m.user_id, "email": m.email, "name": m.name, "priority": m.priority}
            for m in members
        ],
        "dispositions": [{"code": d.code, "label": d.label} for d in dispositions],
        "supervisors": [
            {"user_id": uid, "email": email, "name": name}
            for uid, email, name in (
                await session.execute(
                    select(User.id, User.email, User.name)
                    .join(QueueSupervisor, QueueSupervisor.user_id == User.id)
                    .where(QueueSupervisor.queue_id == queue.id)
                    .order_by(User.id)
                )
            ).all()
        ],
    }


def _values_out(queue: Queue) -> dict:
    return {
        "routing_method": queue.routing_method,
        "max_per_agent": queue.max_per_agent,
        "offer_timeout_seconds": queue.offer_timeout_seconds,
        "timezone": queue.timezone,
        "hours": queue.hours,
        "holidays": queue.holidays or [],
        "closed_message": queue.closed_message,
        "max_wait_seconds": queue.max_wait_seconds,
        "auto_close_after_seconds": queue.auto_close_after_seconds,
        "service_level_seconds": queue.service_level_seconds,
        "short_abandon_seconds": queue.short_abandon_seconds,
        "csat": _csat_out(queue.csat),
    }


def _csat_out(stored: dict | None) -> dict:
    return CsatSpec.model_validate(stored or {}).model_dump(exclude_none=True)
