"""Calling settings in the workspace file: applied at Meta, and exported from Meta.

A number's ``calling:`` block is checked with the rest of the file (the field is named in
every problem). Meta keeps the settings, so they cannot join the database transaction:
``madoguchi apply`` sends them after the database part is committed, only for the numbers
whose settings at Meta differ from the file (a second apply changes nothing), and says
per number what Meta refused and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from sqlalchemy import select

from madoguchi.security.secrets import SecretBox
from madoguchi.services.calling import number_settings
from madoguchi.services.calling.errors import CallRefused
from madoguchi.services.configuration.apply import ConfigFile
from madoguchi.store.db import Database
from madoguchi.store.models import PhoneNumber, WhatsAppAccount, Workspace
from madoguchi.whatsapp.graph import GraphClient


@dataclass
class CallingApplyResult:
    changes: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


async def apply_calling_settings(
    db: Database,
    graph: GraphClient,
    secrets: SecretBox,
    config: ConfigFile,
    *,
    dry_run: bool = False,
) -> CallingApplyResult:
    """Make Meta's calling settings match the file's ``calling:`` blocks."""
    result = CallingApplyResult()
    async with db.read() as session:
        workspace = await session.scalar(
            select(Workspace).where(Workspace.slug == config.workspace.slug)
        )
    for a, account in enumerate(config.whatsapp.accounts):
        for n, declared in enumerate(account.phone_numbers):
            if declared.calling is None:
                continue
            where = f"whatsapp.accounts[{a}].phone_numbers[{n}].calling"
            label = f"calling settings of phone number {declared.phone_number_id} at Meta"
            number = None
            if workspace is not None:
                async with db.read() as session:
                    number = await session.scalar(
                        select(PhoneNumber).where(
                            PhoneNumber.workspace_id == workspace.id,
                            PhoneNumber.phone_number_id == declared.phone_number_id,
                        )
                    )
            if number is None:  # a dry run of a file whose number is not applied yet
                wanted = ", ".join(declared.calling.model_dump(exclude_none=True))
                result.changes.append(f"updated {label}: {wanted}")
                continue
            try:
                current = await number_settings.read(
                    db, graph, secrets, number.workspace_id, number.id
                )
                changed = number_settings.differences(current, declared.calling)
                if not changed:
                    continue
                if not dry_run:
                    only = declared.calling.model_dump(include=set(changed))
                    await number_settings.write(
                        db,
                        graph,
                        secrets,
                        number.workspace_id,
                        number.id,
                        number_settings.CallingSettings.model_validate(only),
                    )
            except CallRefused as exc:
                result.problems.append((where, exc.message))
                continue
            result.changes.append(f"updated {label}: {', '.join(changed)}")
    return result


class _Dumper(yaml.SafeDumper):
    """Keys in the order given; ids stay quoted strings (YAML would read 0123 as a number)."""


def _str(dumper: yaml.SafeDumper, value: str):
    style = "'" if value.isdigit() else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


async def export_workspace(
    db: Database, graph: GraphClient, secrets: SecretBox, slug: str
) -> tuple[str, list[str]]:
    """A workspace file with the workspace and its WhatsApp numbers, each with its calling
    settings as Meta has them now; and the warnings (a number Meta could not tell about).
    Tokens are written as ``${WA_TOKEN_<phone number id>}`` references, never as values."""
    async with db.read() as session:
        workspace = await session.scalar(select(Workspace).where(Workspace.slug == slug))
        if workspace is None:
            raise LookupError(f"no workspace {slug!r}")
        accounts = list(
            await session.scalars(
                select(WhatsAppAccount)
                .where(WhatsAppAccount.workspace_id == workspace.id)
                .order_by(WhatsAppAccount.id)
            )
        )
        numbers = list(
            await session.scalars(
                select(PhoneNumber)
                .where(PhoneNumber.workspace_id == workspace.id)
                .order_by(PhoneNumber.id)
            )
        )
    warnings: list[str] = []
    out_accounts = []
    for account in accounts:
        out_numbers = []
        for number in (n for n in numbers if n.account_id == account.id):
            entry: dict = {
                "phone_number_id": number.phone_number_id,
                "display_phone_number": number.display_phone_number,
            }
            if number.verified_name:
                entry["verified_name"] = number.verified_name
            entry["access_token"] = "${WA_TOKEN_" + number.phone_number_id + "}"
            entry["rate_limit_per_second"] = number.rate_limit_per_second
            try:
                current = await number_settings.read(db, graph, secrets, workspace.id, number.id)
                entry["calling"] = number_settings.normalized(current)
            except CallRefused as exc:
                warnings.append(
                    f"phone number {number.phone_number_id}: calling settings left out "
                    f"({exc.message})"
                )
            out_numbers.append(entry)
        out_accounts.append(
            {"waba_id": account.waba_id, "name": account.name, "phone_numbers": out_numbers}
        )
    document = {
        "workspace": {"slug": workspace.slug, "name": workspace.name},
        "whatsapp": {"accounts": out_accounts},
    }
    if workspace.timezone:
        document["workspace"]["timezone"] = workspace.timezone
    head = (
        f"# Workspace {workspace.slug}: its WhatsApp numbers and their calling settings at "
        "Meta,\n# exported by `madoguchi export`. Set each WA_TOKEN_… variable before "
        "`madoguchi apply`.\n"
    )
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    return head + text, warnings
