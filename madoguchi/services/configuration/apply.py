"""``madoguchi apply FILE``: the workspace declared in YAML, made true in the database.

Configuration under version control must be safe to apply again and again: the whole
file is validated first (every error names its exact field), secrets come from
``${ENV_VAR}`` references so the file itself holds none, the changes are computed as a
plan, and the plan is applied in one transaction — an error anywhere changes nothing, and
a second apply of the same file reports "no changes".

Apply creates and updates what the file declares; it never deletes what the file omits
(removing a number that still has conversations is a deliberate act, not a side effect of
a missing line).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select

from madoguchi.domain.timezones import timezone_problem
from madoguchi.security.secrets import SecretBox, token_fingerprint
from madoguchi.services.access.workspaces import get_or_create_workspace
from madoguchi.services.calling.number_settings import CallingSettings
from madoguchi.services.contact_center.queues import QueueError, QueueSpec, upsert_queue
from madoguchi.services.flows.definitions import (
    FlowConfig,
    LoadedFlow,
    apply_flows,
    load_flow_configs,
    read_definition,
)
from madoguchi.services.templates.catalog import (
    TemplateConfig,
    apply_declared_templates,
    template_config_problems,
)
from madoguchi.store.db import Database
from madoguchi.store.models import PhoneNumber, Queue, User, WhatsAppAccount

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_DIGITS = re.compile(r"^[0-9]{5,32}$")


class ConfigError(Exception):
    """A problem with the file, naming the field (``whatsapp.accounts[0].waba_id``)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{where}: {what}" for where, what in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PhoneNumberConfig(_Strict):
    phone_number_id: str = Field(description="Meta's phone number id (digits)")
    display_phone_number: str
    verified_name: str | None = None
    access_token: str = Field(description="${ENV_VAR} reference to a system-user token")
    rate_limit_per_second: int = Field(80, ge=1, le=1000)
    default_queue: str | None = Field(None, description="Queue for new conversations")
    # Meta's calling settings of the number (docs/calling.md); sent to Meta after the
    # database part is applied, and only the fields given (the others stay as Meta has them).
    calling: CallingSettings | None = None

    @field_validator("phone_number_id")
    @classmethod
    def _digits(cls, value: str) -> str:
        if not _DIGITS.match(value):
            raise ValueError("must be Meta's numeric id (digits only), quoted in YAML")
        return value

    @field_validator("access_token")
    @classmethod
    def _env_reference(cls, value: str) -> str:
        match = _ENV_REF.match(value)
        if not match:
            raise ValueError(
                "must be an environment variable reference like ${WHATSAPP_TOKEN}; "
                "tokens are never written in the file"
            )
        return value


class AccountConfig(_Strict):
    waba_id: str
    name: str
    phone_numbers: list[PhoneNumberConfig] = Field(default_factory=list)
    # Submitted to Meta when missing (docs/templates.md); never edited or deleted by apply.
    templates: list[TemplateConfig] = Field(default_factory=list)

    @field_validator("waba_id")
    @classmethod
    def _digits(cls, value: str) -> str:
        if not _DIGITS.match(value):
            raise ValueError("must be Meta's numeric WABA id (digits only), quoted in YAML")
        return value


class WhatsAppConfig(_Strict):
    accounts: list[AccountConfig] = Field(default_factory=list)


class WorkspaceConfig(_Strict):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    name: str
    # Left as it is when omitted, so a zone an admin chose in the web app survives an
    # apply of a file that does not mention it (a new workspace starts in UTC).
    timezone: str | None = Field(None, description="IANA time zone name, e.g. Asia/Tokyo")

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str | None) -> str | None:
        problem = None if value is None else timezone_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class UserConfig(_Strict):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "supervisor", "agent"] = "agent"
    locale: Literal["en", "ja"] = "en"


class ConfigFile(_Strict):
    workspace: WorkspaceConfig
    users: list[UserConfig] = Field(default_factory=list)
    queues: list[QueueSpec] = Field(default_factory=list)
    whatsapp: WhatsAppConfig = Field(default_factory=WhatsAppConfig)
    # Inline or in files next to this one (docs/flows.md); published when changed.
    flows: list[FlowConfig] = Field(default_factory=list)


@dataclass
class ApplyResult:
    changes: list[str] = field(default_factory=list)
    workspace_id: int | None = None
    # Queues created or changed (settings, members, supervisors): running processes are
    # told (``queue.settings``) so supervisors' sockets are re-scoped live.
    queues_changed: set[int] = field(default_factory=set)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_config(
    text: str, env: dict[str, str] | None = None, *, base_dir: Path | None = None
) -> tuple[ConfigFile, dict[str, str]]:
    """Parse and validate; returns the config and the resolved tokens by field path."""
    env = os.environ if env is None else env
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([("file", f"not valid YAML: {exc}")]) from exc
    if not isinstance(data, dict):
        raise ConfigError([("file", "must be a YAML mapping with a 'workspace' key")])
    try:
        config = ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            [(_path(err["loc"]), err["msg"].removeprefix("Value error, ")) for err in exc.errors()]
        ) from exc

    problems: list[tuple[str, str]] = []
    tokens: dict[str, str] = {}
    seen_numbers: dict[str, str] = {}
    seen_accounts: dict[str, str] = {}
    for a, account in enumerate(config.whatsapp.accounts):
        where = f"whatsapp.accounts[{a}]"
        if account.waba_id in seen_accounts:
            problems.append((f"{where}.waba_id", f"duplicates {seen_accounts[account.waba_id]}"))
        seen_accounts.setdefault(account.waba_id, f"{where}.waba_id")
        for n, number in enumerate(account.phone_numbers):
            nwhere = f"{where}.phone_numbers[{n}]"
            if number.phone_number_id in seen_numbers:
                problems.append(
                    (
                        f"{nwhere}.phone_number_id",
                        f"duplicates {seen_numbers[number.phone_number_id]}",
                    )
                )
            seen_numbers.setdefault(number.phone_number_id, f"{nwhere}.phone_number_id")
            var = _ENV_REF.match(number.access_token).group(1)  # type: ignore[union-attr]
            value = env.get(var)
            if not value:
                problems.append(
                    (f"{nwhere}.access_token", f"environment variable {var} is not set")
                )
            else:
                tokens[number.phone_number_id] = value
    emails: dict[str, int] = {}
    for u, user in enumerate(config.users):
        key = user.email.lower()
        if key in emails:
            problems.append((f"users[{u}].email", f"duplicates users[{emails[key]}].email"))
        emails.setdefault(key, u)
    queue_names: dict[str, int] = {}
    for q, queue in enumerate(config.queues):
        if queue.name in queue_names:
            problems.append(
                (f"queues[{q}].name", f"duplicates queues[{queue_names[queue.name]}].name")
            )
        queue_names.setdefault(queue.name, q)
    for q, queue in enumerate(config.queues):
        for field_name in ("closed_target", "overflow_target"):
            target = getattr(queue, field_name)
            if target is not None and target not in queue_names:
                problems.append(
                    (f"queues[{q}].{field_name}", f"no queue named {target!r} in the file")
                )
    for a, account in enumerate(config.whatsapp.accounts):
        for n, number in enumerate(account.phone_numbers):
            if number.default_queue is not None and number.default_queue not in queue_names:
                problems.append(
                    (
                        f"whatsapp.accounts[{a}].phone_numbers[{n}].default_queue",
                        f"no queue named {number.default_queue!r} in the file",
                    )
                )
    for a, account in enumerate(config.whatsapp.accounts):
        problems.extend(template_config_problems(account.templates, f"whatsapp.accounts[{a}]"))
    problems.extend(load_flow_configs(config.flows, base_dir)[1])
    if problems:
        raise ConfigError(problems)
    return config, tokens


def _sync(obj: Any, values: dict[str, Any], label: str, changes: list[str]) -> None:
    diffs = [k for k, v in values.items() if getattr(obj, k) != v]
    for key in diffs:
        setattr(obj, key, values[key])
    if diffs:
        changes.append(f"updated {label}: {', '.join(diffs)}")


def _secret_header_refs(flows: list[LoadedFlow], env) -> list[LoadedFlow]:
    """Flows' secret headers written ``${VAR}`` (like numbers' access tokens) take the
    variable's value, so the file holds no API key."""
    out, problems = [], []
    for i, item in enumerate(flows):
        document = item.definition.to_json()
        changed = False
        for node in document.get("nodes", []):
            for name, value in (node.get("secret_headers") or {}).items():
                ref = _ENV_REF.match(value) if isinstance(value, str) else None
                if ref is None:
                    continue
                if not env.get(ref.group(1)):
                    where = f"flows[{i}].definition.nodes[{node.get('id')}].secret_headers.{name}"
                    problems.append((where, f"environment variable {ref.group(1)} is not set"))
                    continue
                node["secret_headers"][name], changed = env[ref.group(1)], True
        out.append(LoadedFlow(item.config, read_definition(document)) if changed else item)
    if problems:
        raise ConfigError(problems)
    return out


async def apply_config(
    db: Database,
    secrets: SecretBox,
    text: str,
    *,
    env: dict[str, str] | None = None,
    dry_run: bool = False,
    base_dir: Path | None = None,
) -> ApplyResult:
    """``base_dir``: where the file is (flows' ``file:`` paths are relative to it)."""
    config, tokens = load_config(text, env, base_dir=base_dir)
    flows, _ = load_flow_configs(config.flows, base_dir)
    flows = _secret_header_refs(flows, os.environ if env is None else env)
    result = ApplyResult()

    class _DryRun(Exception):
        pass

    try:
        async with db.write() as session:
            workspace, created = await get_or_create_workspace(
                session, config.workspace.slug, config.workspace.name
            )
            declared = {"name": config.workspace.name}
            if config.workspace.timezone is not None:
                declared["timezone"] = config.workspace.timezone
            if created:
                for key, value in declared.items():
                    setattr(workspace, key, value)
                result.changes.append(f"created workspace {workspace.slug}")
            else:
                _sync(workspace, declared, f"workspace {workspace.slug}", result.changes)
            result.workspace_id = workspace.id
            problems: list[tuple[str, str]] = []
            await _apply_users(session, workspace.id, config.users, result, problems)
            queue_ids = await _apply_queues(session, workspace.id, config.queues, result, problems)
            for a, acc in enumerate(config.whatsapp.accounts):
                where = f"whatsapp.accounts[{a}]"
                account = await session.scalar(
                    select(WhatsAppAccount).where(WhatsAppAccount.waba_id == acc.waba_id)
                )
                if account is not None and account.workspace_id != workspace.id:
                    problems.append((f"{where}.waba_id", "belongs to another workspace"))
                    continue
                if account is None:
                    account = WhatsAppAccount(
                        workspace_id=workspace.id, waba_id=acc.waba_id, name=acc.name
                    )
                    session.add(account)
                    await session.flush()
                    result.changes.append(f"created WhatsApp account {acc.waba_id}")
                else:
                    _sync(
                        account,
                        {"name": acc.name},
                        f"WhatsApp account {acc.waba_id}",
                        result.changes,
                    )
                for n, num in enumerate(acc.phone_numbers):
                    nwhere = f"{where}.phone_numbers[{n}]"
                    token = tokens[num.phone_number_id]
                    row = await session.scalar(
                        select(PhoneNumber).where(
                            PhoneNumber.phone_number_id == num.phone_number_id
                        )
                    )
                    if row is not None and row.workspace_id != workspace.id:
                        problems.append(
                            (f"{nwhere}.phone_number_id", "belongs to another workspace")
                        )
                        continue
                    values = {
                        "account_id": account.id,
                        "display_phone_number": num.display_phone_number,
                        "verified_name": num.verified_name,
                        "rate_limit_per_second": num.rate_limit_per_second,
                        "default_queue_id": queue_ids.get(num.default_queue),
                    }
                    label = f"phone number {num.phone_number_id}"
                    if row is None:
                        session.add(
                            PhoneNumber(
                                workspace_id=workspace.id,
                                phone_number_id=num.phone_number_id,
                                access_token_encrypted=secrets.encrypt(token),
                                access_token_fingerprint=token_fingerprint(token),
                                **values,
                            )
                        )
                        result.changes.append(f"created {label}")
                        continue
                    _sync(row, values, label, result.changes)
                    if row.access_token_fingerprint != token_fingerprint(token):
                        row.access_token_encrypted = secrets.encrypt(token)
                        row.access_token_fingerprint = token_fingerprint(token)
                        result.changes.append(f"updated {label}: access_token")
                result.changes.extend(
                    await apply_declared_templates(session, account, acc.templates)
                )
            if not problems:  # flows check queues, users and numbers as applied above
                await apply_flows(session, workspace.id, flows, result.changes, problems, secrets)
            if problems:
                raise ConfigError(problems)
            await session.flush()
            if dry_run:
                raise _DryRun
    except _DryRun:
        result.queues_changed.clear()  # nothing was changed
    return result


async def _apply_users(
    session,
    workspace_id: int,
    users: list[UserConfig],
    result: ApplyResult,
    problems: list[tuple[str, str]],
) -> None:
    """Users are created without a password: they set one with ``madoguchi user set-password``."""
    for u, spec in enumerate(users):
        email = spec.email.lower()
        user = await session.scalar(select(User).where(User.email == email))
        if user is not None and user.workspace_id != workspace_id:
            problems.append((f"users[{u}].email", "belongs to a user of another workspace"))
            continue
        values = {"name": spec.name, "role": spec.role, "locale": spec.locale}
        if user is None:
            session.add(User(workspace_id=workspace_id, email=email, **values))
            result.changes.append(f"created user {email}")
        else:
            _sync(user, values, f"user {email}", result.changes)
    await session.flush()


async def _apply_queues(
    session,
    workspace_id: int,
    queues: list[QueueSpec],
    result: ApplyResult,
    problems: list[tuple[str, str]],
) -> dict[str, int]:
    """Queues in two passes: all of them exist before any targets another."""
    ids: dict[str, int] = {}
    created: set[str] = set()
    for spec in queues:
        queue = await session.scalar(
            select(Queue).where(Queue.workspace_id == workspace_id, Queue.name == spec.name)
        )
        if queue is None:
            bare = spec.model_copy(
                update={
                    "closed_target": None,
                    "overflow_target": None,
                    "max_wait_seconds": None,
                    "members": [],
                    "dispositions": [],
                }
            )
            queue, _ = await upsert_queue(session, workspace_id, bare)
            result.changes.append(f"created queue {spec.name}")
            created.add(spec.name)
        ids[spec.name] = queue.id
    for q, spec in enumerate(queues):
        queue = await session.get(Queue, ids[spec.name])
        try:
            _, changes = await upsert_queue(session, workspace_id, spec, queue)
        except QueueError as exc:
            problems.append((f"queues[{q}].{exc.field}", exc.message))
            continue
        if changes or spec.name in created:
            result.queues_changed.add(queue.id)
        if spec.name in created:  # its settings are part of "created queue …"
            changes = [
                c
                for c in changes
                if not c.startswith(
                    (f"updated queue {spec.name}:", f"updated dispositions of queue {spec.name}")
                )
            ]
        result.changes.extend(changes)
    return ids


def apply_file_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([("file", f"cannot read {path}: {exc.strerror}")]) from exc
