"""The ``madoguchi`` command: serve, simulator, demo, migrate, token, apply, knowledge,
reports."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import typer
import uvicorn
from rich.console import Console

from madoguchi.gc_tuning import freeze_startup_heap
from madoguchi.settings import Settings, get_settings

app = typer.Typer(
    help="Madoguchi — a self-hosted contact center for WhatsApp.", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens for integrations.", no_args_is_help=True)
app.add_typer(token_app, name="token")
console = Console()
err = Console(stderr=True)

DEMO_PORT = 8000
DEMO_SIM_PORT = 8001
DEMO_TOKEN = "sim-token-demo"
DEMO_CONFIG = """\
workspace:
  slug: demo
  name: Madoguchi Demo
users:
  - {email: admin@demo.test, name: Demo Admin, role: admin}
  - {email: agent@demo.test, name: Demo Agent, role: agent}
queues:
  - {name: Sales, members: [{email: agent@demo.test}]}
  - {name: Support, members: [{email: agent@demo.test}]}
whatsapp:
  accounts:
    - waba_id: "200000000000001"
      name: Demo business
      phone_numbers:
        - phone_number_id: "100000000000001"
          display_phone_number: "+1 555 0100"
          verified_name: Madoguchi Demo
          access_token: ${MADOGUCHI_DEMO_WA_TOKEN}
        - phone_number_id: "100000000000002"
          display_phone_number: "+81 50 5555 0100"
          verified_name: 窓口デモ
          access_token: ${MADOGUCHI_DEMO_WA_TOKEN}
"""


NOT_MIGRATED = "the database is not migrated: run `madoguchi migrate` first"


def _run(coro):
    """Run a command's work; a database that was never migrated is a user's next step to
    take, not a crash: say so in one line instead of a traceback."""
    from madoguchi.store.migrate import is_missing_schema

    try:
        return asyncio.run(coro)
    except Exception as exc:
        if is_missing_schema(exc):
            err.print(f"[red]{NOT_MIGRATED}[/red]")
            raise typer.Exit(1) from None
        raise


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema to the latest version."""
    from madoguchi.store.migrate import upgrade_sync

    settings = get_settings()
    upgrade_sync(settings.database_url)
    console.print("[green]database is up to date[/green]")


@app.command()
def serve(
    host: str = typer.Option(None, help="Bind address (default MADOGUCHI_HOST)"),
    port: int = typer.Option(None, help="Port (default MADOGUCHI_PORT)"),
    workers: bool = typer.Option(
        True, help="Run the workers (timers, routing, sender, media …), not only processing"
    ),
    processes: str = typer.Option(
        None,
        help="auto, 1 or 2: a web process and a processing process (default "
        "MADOGUCHI_PROCESSES; auto is 2 on SQLite). See docs/deployment.md.",
    ),
    dev: bool = typer.Option(False, "--dev", help="Allow the public development secrets"),
) -> None:
    """Run the web app (webhook, REST API) and, in it or a child process, the workers."""
    settings = get_settings()
    _refuse_weak_secrets(settings, dev)
    layout = _layout(settings, processes, workers)
    # Imported once the settings are known good: the web app's imports are most of a
    # start's CPU (about 2.5 of 3.2 s), which a refused setting need not wait for.
    from madoguchi.web.app import create_app

    console.print(f"processes: {layout.describe()}", soft_wrap=True)
    application = create_app(settings, workers=workers, layout=layout)
    freeze_startup_heap()
    uvicorn.run(
        application,
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        access_log=False,
        ws_per_message_deflate=False,  # small JSON frames: compression halves sockets per GB
    )


def _layout(settings: Settings, processes: str | None = None, workers: bool = True):
    """Which process of `serve` runs what (``madoguchi.layout``); a bad setting stops."""
    from madoguchi import layout as layouts
    from madoguchi.store.db import Database

    try:
        return layouts.plan(
            processes=processes or settings.processes,
            sqlite_file=Database.is_sqlite_file(settings.database_url),
            placement=settings.worker_placement,
            workers=workers,
        )
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _refuse_weak_secrets(settings: Settings, dev: bool) -> None:
    from madoguchi.settings import dev_secrets_in_use, weak_secrets

    weak = weak_secrets(settings, dev=dev)
    if weak:
        err.print("[red]" + "\n".join(weak) + "[/red]\nSee docs/configuration.md.")
        raise typer.Exit(2)
    unsafe = dev_secrets_in_use(settings)
    if unsafe and not dev:
        err.print(
            f"[red]{', '.join(unsafe)} still have their public development values.[/red]\n"
            "Set them (see docs/configuration.md), or pass --dev on a machine of your own."
        )
        raise typer.Exit(2)


@app.command()
def worker(
    workers: bool = typer.Option(
        True, help="Also run timers, routing and (when leading) the sender and the others"
    ),
    dev: bool = typer.Option(False, "--dev", help="Allow the public development secrets"),
) -> None:
    """Process webhooks and run the workers without serving HTTP (scaled mode, PostgreSQL).

    Run any number beside the `serve` processes: each takes journal rows by customer
    (one customer's messages in order, never in two processes at once), timers and
    offers are claimed row by row, and the sender and the other single-instance workers
    run in whichever process holds the leadership. See docs/deployment.md."""
    import signal

    from madoguchi.runtime import Runtime
    from madoguchi.store.db import is_sqlite

    settings = get_settings()
    if is_sqlite(settings.database_url):
        err.print(
            "[red]madoguchi worker needs PostgreSQL (MADOGUCHI_DATABASE_URL): on SQLite "
            "one `madoguchi serve` does all the work.[/red]"
        )
        raise typer.Exit(2)
    _refuse_weak_secrets(settings, dev)

    async def go() -> None:
        runtime = Runtime(settings)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        await runtime.start(workers=workers)
        freeze_startup_heap()
        console.print("[green]worker running[/green]: journal, timers, routing, leadership")
        try:
            await stopping.wait()
        finally:
            await runtime.stop()

    _run(go())


@app.command()
def simulator(
    host: str = "127.0.0.1",
    port: int = DEMO_SIM_PORT,
    webhook_url: str = typer.Option(
        None, help="Where to POST webhooks (default: this machine's Madoguchi)"
    ),
    config_file: Path = typer.Option(None, "--config", help="A JSON SimulatorConfig"),
) -> None:
    """Run the WhatsApp simulator: Meta's Graph API plus the customers' phone page."""
    from madoguchi.simulator.app import run
    from madoguchi.simulator.config import SimulatorConfig

    settings = get_settings()
    data = json.loads(config_file.read_text()) if config_file else {}
    data.setdefault("app_secret", settings.app_secret.get_secret_value())
    data.setdefault("verify_token", settings.verify_token.get_secret_value())
    data.setdefault("public_url", f"http://{host}:{port}")
    data.setdefault(
        "webhook_url", webhook_url or f"http://127.0.0.1:{settings.port}/webhooks/whatsapp"
    )
    run(SimulatorConfig.model_validate(data), host=host, port=port)


@token_app.command("create")
def token_create(
    role: str = typer.Option("admin", help="admin, supervisor or agent"),
    name: str = typer.Option("cli", help="A label to recognise the token by"),
    workspace: str = typer.Option("default", help="Workspace slug (created if missing)"),
) -> None:
    """Create an API token and print it (it is shown only once)."""
    from madoguchi.services.access.tokens import ROLES, create_token
    from madoguchi.services.access.workspaces import get_or_create_workspace
    from madoguchi.store.db import Database

    if role not in ROLES:
        err.print(f"[red]--role must be one of {', '.join(ROLES)}[/red]")
        raise typer.Exit(2)

    async def go() -> str:
        db = Database(get_settings().database_url)
        try:
            async with db.write() as session:
                ws, _ = await get_or_create_workspace(session, workspace)
                return await create_token(session, ws.id, role, name)
        finally:
            await db.dispose()

    typer.echo(_run(go()))


knowledge_app = typer.Typer(help="The knowledge base of suggested answers.", no_args_is_help=True)
app.add_typer(knowledge_app, name="knowledge")


@knowledge_app.command("import")
def knowledge_import(
    folder: Path = typer.Argument(..., help="A folder of Markdown files (*.md, searched deeply)"),
    workspace: str = typer.Option(..., help="Workspace slug"),
) -> None:
    """Create or update one article per Markdown file (matched by slug; see docs/assist.md)."""
    from sqlalchemy import select

    from madoguchi.services.assist.knowledge import import_files
    from madoguchi.store.db import Database
    from madoguchi.store.models import Workspace

    if not folder.is_dir():
        err.print(f"[red]{folder} is not a folder[/red]")
        raise typer.Exit(2)
    files = []
    for path in sorted(folder.rglob("*.md")):
        try:
            files.append((path.relative_to(folder).as_posix(), path.read_text("utf-8")))
        except UnicodeDecodeError:
            err.print(f"[red]{path}: not UTF-8 text, skipped[/red]")

    async def go() -> dict | None:
        db = Database(get_settings().database_url)
        try:
            async with db.write() as session:
                ws = await session.scalar(select(Workspace).where(Workspace.slug == workspace))
                if ws is None:
                    return None
                return await import_files(session, ws.id, files, None)
        finally:
            await db.dispose()

    report = _run(go())
    if report is None:
        err.print(f"[red]no workspace {workspace!r}[/red]")
        raise typer.Exit(2)
    for key in ("created", "updated", "unchanged"):
        console.print(f"{key}: {len(report[key])}")
    for error in report["errors"]:
        err.print(f"[red]{error['file']}: {error['message']}[/red]")
    if report["errors"]:
        raise typer.Exit(1)


deliveries_app = typer.Typer(
    help="The webhook journal: what Meta delivered and whether it was processed.",
    no_args_is_help=True,
)
app.add_typer(deliveries_app, name="deliveries")


@deliveries_app.command("list")
def deliveries_list(
    state: str = typer.Option(None, help="pending, done or failed (default: all)"),
    limit: int = typer.Option(20, min=1, max=1000, help="How many, newest first"),
) -> None:
    """Show the newest webhook deliveries with their processing state and last error."""
    from madoguchi.services.channel.webhook_journal import list_deliveries
    from madoguchi.store.db import Database

    async def go():
        db = Database(get_settings().database_url)
        try:
            return await list_deliveries(db, state, limit)
        finally:
            await db.dispose()

    try:
        rows = _run(go())
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if not rows:
        console.print("no deliveries" + (f" in state {state}" if state else ""))
    for row in rows:
        line = (
            f"{row.id}\t{row.state}\t{row.received_at}\tupdates={row.update_count} "
            f"messages={row.messages_stored} attempts={row.attempts}"
        )
        if row.last_error:
            line += f"\terror: {row.last_error}"
        typer.echo(line)


@deliveries_app.command("rejected")
def deliveries_rejected(
    limit: int = typer.Option(20, min=1, max=1000, help="How many, newest first"),
) -> None:
    """Show updates of acknowledged deliveries that did not parse: where, why, raw JSON."""
    from madoguchi.services.channel.webhook_journal import list_rejected
    from madoguchi.store.db import Database

    async def go():
        db = Database(get_settings().database_url)
        try:
            return await list_rejected(db, limit)
        finally:
            await db.dispose()

    rows = _run(go())
    if not rows:
        console.print("no rejected updates")
    for row in rows:
        typer.echo(f"delivery {row.delivery_id}\t{row.path}\t{row.reason}")
        typer.echo(f"\t{row.raw.decode(errors='replace')[:2000]}")


@deliveries_app.command("retry")
def deliveries_retry(
    ids: list[int] = typer.Argument(
        ..., help="Journal ids of failed deliveries or of deliveries with rejected updates"
    ),
) -> None:
    """Process deliveries again once the cause is fixed (a running server does it)."""
    from madoguchi.services.channel.webhook_journal import retry_deliveries
    from madoguchi.store.db import Database

    async def go():
        db = Database(get_settings().database_url)
        try:
            return await retry_deliveries(db, ids)
        finally:
            await db.dispose()

    retried = _run(go())
    skipped = sorted(set(ids) - set(retried))
    if retried:
        console.print(f"back to pending: {', '.join(map(str, retried))}")
    if skipped:
        err.print(
            "[yellow]not failed (or unknown), left as they are: "
            f"{', '.join(map(str, skipped))}[/yellow]"
        )
        raise typer.Exit(1)


reports_app = typer.Typer(
    help="Reporting: the hourly rollups behind the reports.", no_args_is_help=True
)
app.add_typer(reports_app, name="reports")


@reports_app.command("rebuild")
def reports_rebuild() -> None:
    """Empty the report rollups and count the whole lifecycle log and messages again
    (after changing a queue's service-level target, short-abandon threshold or hours)."""
    from madoguchi.services.reporting.rollups import rebuild
    from madoguchi.store.db import Database

    async def go():
        db = Database(get_settings().database_url)
        try:
            return await rebuild(
                db, progress=lambda source, n: err.print(f"{source}: {n} rows", end="\r")
            )
        finally:
            await db.dispose()

    started = time.monotonic()
    rows = _run(go())
    console.print(
        f"rebuilt the report rollups from {rows} rows in {time.monotonic() - started:.1f} s"
    )


@reports_app.command("seed")
def reports_seed(
    conversations: int = typer.Option(10_000, min=1, help="How many conversations to add"),
    days: int = typer.Option(30, min=1, max=730, help="Spread over the last N days"),
    workspace: str = typer.Option("reports-demo", help="Workspace slug (created if missing)"),
    agents: int = typer.Option(
        0, min=0, help="Agents of a new workspace (0: 80 conversations per agent and day)"
    ),
) -> None:
    """Add closed conversations with their lifecycle events and messages (demo, benchmark),
    counted into the rollups as they are written, and the agents' presence with its
    occupancy hours. Run it with no server writing."""
    from madoguchi.services.reporting.seed import seed
    from madoguchi.store.db import Database

    async def go():
        db = Database(get_settings().database_url)
        try:
            return await seed(
                db,
                conversations=conversations,
                days=days,
                slug=workspace,
                agents=agents or None,
                progress=lambda n: err.print(f"{n} conversations", end="\r"),
            )
        finally:
            await db.dispose()

    started = time.monotonic()
    result = _run(go())
    console.print(
        f"workspace {workspace}: {result.conversations} conversations, {result.events} events, "
        f"{result.messages} messages, {result.rollup_rows} rollup upserts, "
        f"{result.occupancy_hours} occupancy hours "
        f"in {time.monotonic() - started:.1f} s"
    )


user_app = typer.Typer(help="People who sign in (admin, supervisor, agent).", no_args_is_help=True)
app.add_typer(user_app, name="user")


def _read_password(password_stdin: bool) -> str | None:
    """The first line of stdin, or asked twice at a terminal; None when neither is possible."""
    import sys

    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if sys.stdin.isatty():
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return None


@user_app.command("create")
def user_create(
    email: str = typer.Option(..., help="Sign-in e-mail (unique across workspaces)"),
    name: str = typer.Option(..., help="Display name"),
    role: str = typer.Option(..., help="admin, supervisor or agent"),
    workspace: str = typer.Option("default", help="Workspace slug (created if missing)"),
    locale: str = typer.Option("en", help="en or ja"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin"
    ),
) -> None:
    """Create a user; asks for the password twice when run at a terminal."""
    from madoguchi.services.access.users import UserError, create_user, new_password
    from madoguchi.services.access.workspaces import get_or_create_workspace
    from madoguchi.store.db import Database

    password = _read_password(password_stdin)

    async def go():
        hashed = await new_password(password) if password is not None else None
        db = Database(get_settings().database_url)
        try:
            async with db.write() as session:
                ws, _ = await get_or_create_workspace(session, workspace)
                user = await create_user(
                    session,
                    ws.id,
                    email=email,
                    name=name,
                    role=role,
                    locale=locale,
                    password=hashed,
                )
                return user.id, user.email
        finally:
            await db.dispose()

    try:
        user_id, normalized = _run(go())
    except UserError as exc:
        err.print(f"[red]{exc.field}: {exc.message}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"created {role} {normalized} (user {user_id}) in workspace {workspace}")
    if password is None:
        err.print(
            "[yellow]no password set: the user cannot sign in until "
            f"`madoguchi user set-password --email {normalized}`[/yellow]"
        )


@user_app.command("set-password")
def user_set_password(
    email: str = typer.Option(..., help="The user's e-mail"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin"
    ),
) -> None:
    """Set a user's password (signs them out everywhere); asks twice at a terminal."""
    from madoguchi.services.access.users import (
        UserError,
        find_user_by_email,
        new_password,
        set_password,
    )
    from madoguchi.store.db import Database

    password = _read_password(password_stdin)
    if password is None:
        err.print("[red]no password given: use --password-stdin or run at a terminal[/red]")
        raise typer.Exit(2)
    try:
        hashed = _run(new_password(password))
    except UserError as exc:
        err.print(f"[red]{exc.field}: {exc.message}[/red]")
        raise typer.Exit(1) from exc

    async def go() -> bool:
        db = Database(get_settings().database_url)
        try:
            async with db.write() as session:
                user = await find_user_by_email(session, email)
                if user is None:
                    return False
                await set_password(session, user, hashed)
                return True
        finally:
            await db.dispose()

    if not _run(go()):
        err.print(f"[red]no user with the e-mail {email}[/red]")
        raise typer.Exit(1)
    console.print(f"password set for {email.strip().lower()}; their sessions were ended")


@app.command()
def apply(
    file: Path = typer.Argument(..., help="The workspace YAML file"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the changes without making them"),
) -> None:
    """Make the database match a workspace file (idempotent; all or nothing)."""
    from madoguchi.security.secrets import SecretBox
    from madoguchi.services.configuration.apply import ConfigError, apply_config, apply_file_text
    from madoguchi.store.db import Database

    settings = get_settings()
    base_dir = file.resolve().parent  # flows' `file:` paths are relative to the file

    async def go():
        db = Database(settings.database_url)
        box = SecretBox(settings.secret_key.get_secret_value())
        try:
            text = apply_file_text(file)
            result = await apply_config(db, box, text, dry_run=dry_run, base_dir=base_dir)
            await _announce_queues(settings, result)
            if not dry_run:  # declared templates Meta does not have yet: submit them
                result.changes.extend(await _submit_templates(settings, db, box, text, base_dir))
            calling = await _apply_calling(settings, db, box, text, base_dir, dry_run)
            result.changes.extend(calling.changes)
            return result, calling.problems
        finally:
            await db.dispose()

    try:
        result, meta_problems = _run(go())
    except ConfigError as exc:
        err.print(f"[red]{file}: nothing was changed[/red]")
        for where, what in exc.problems:
            err.print(f"  {where}: {what}")
        raise typer.Exit(1) from exc
    if not result.changed and not meta_problems:
        console.print("no changes: the database already matches the file")
        return
    for change in result.changes:
        console.print(("would be " if dry_run else "") + change)
    if meta_problems:
        err.print(
            f"[red]{file}: Meta refused some calling settings "
            "(the rest of the file was applied; apply again once fixed)[/red]"
        )
        for where, what in meta_problems:
            err.print(f"  {where}: {what}")
        raise typer.Exit(1)


async def _announce_queues(settings: Settings, result) -> None:
    """Queues the file changed: with Redis, running processes hear ``queue.settings`` at
    once (supervisors' sockets re-scoped, as after the API's change); without it each
    process notices within ``MADOGUCHI_SCOPE_CHECK_SECONDS`` (its hub re-reads them)."""
    if not result.queues_changed or not settings.redis_url:
        return
    from madoguchi.bus.redis_fanout import publish_once
    from madoguchi.domain.events import QueueSettingsChanged

    events = [
        QueueSettingsChanged(result.workspace_id, queue_id=queue_id)
        for queue_id in sorted(result.queues_changed)
    ]
    try:
        await publish_once(settings.redis_url, settings.redis_channel, events)
    except Exception as exc:  # the change is made; processes notice it on their own
        err.print(f"[yellow]running processes not told at once (Redis: {exc})[/yellow]")


async def _apply_calling(settings: Settings, db, box, text: str, base_dir, dry_run: bool):
    """The numbers' ``calling:`` blocks, sent to Meta where Meta has them otherwise."""
    from madoguchi.services.configuration.apply import load_config
    from madoguchi.services.configuration.calling import apply_calling_settings
    from madoguchi.whatsapp.graph import GraphClient

    config = load_config(text, base_dir=base_dir)[0]
    async with GraphClient(
        settings.graph_api_url, settings.graph_api_version, timeout=settings.http_timeout_seconds
    ) as graph:
        return await apply_calling_settings(db, graph, box, config, dry_run=dry_run)


@app.command()
def export(
    workspace: str = typer.Option(..., help="Workspace slug"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here (default: stdout)"),
) -> None:
    """Write a workspace file with the workspace's WhatsApp numbers and their calling
    settings as Meta has them (tokens as ${WA_TOKEN_<id>} references)."""
    from madoguchi.security.secrets import SecretBox
    from madoguchi.services.configuration.calling import export_workspace
    from madoguchi.store.db import Database
    from madoguchi.whatsapp.graph import GraphClient

    settings = get_settings()

    async def go():
        db = Database(settings.database_url)
        box = SecretBox(settings.secret_key.get_secret_value())
        try:
            async with GraphClient(
                settings.graph_api_url,
                settings.graph_api_version,
                timeout=settings.http_timeout_seconds,
            ) as graph:
                return await export_workspace(db, graph, box, workspace)
        finally:
            await db.dispose()

    try:
        text, warnings = _run(go())
    except LookupError as exc:
        err.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(1) from exc
    for warning in warnings:
        err.print(f"[yellow]{warning}[/yellow]")
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")


async def _submit_templates(
    settings: Settings, db, box, text: str, base_dir: Path | None = None
) -> list[str]:
    from madoguchi.services.configuration.apply import load_config
    from madoguchi.services.templates.catalog import submit_declared_templates
    from madoguchi.whatsapp.graph import GraphClient

    slug = load_config(text, base_dir=base_dir)[0].workspace.slug
    async with GraphClient(
        settings.graph_api_url, settings.graph_api_version, timeout=settings.http_timeout_seconds
    ) as graph:
        return await submit_declared_templates(db, graph, box, slug)


@app.command()
def demo(
    port: int = DEMO_PORT,
    simulator_port: int = DEMO_SIM_PORT,
) -> None:
    """Run Madoguchi with the simulator on SQLite, seeded so you can chat right away."""
    import os

    from madoguchi.security.secrets import SecretBox
    from madoguchi.services.access.tokens import create_token
    from madoguchi.services.access.workspaces import get_or_create_workspace
    from madoguchi.services.configuration import demo_seed as demo_seed
    from madoguchi.services.configuration.apply import apply_config
    from madoguchi.simulator.app import create_app as create_simulator
    from madoguchi.simulator.config import DEMO_NUMBER, SimulatorConfig
    from madoguchi.store.db import Database
    from madoguchi.store.migrate import upgrade
    from madoguchi.web.app import create_app

    base = get_settings()
    settings = Settings(
        **{
            **base.model_dump(),
            "graph_api_url": f"http://127.0.0.1:{simulator_port}",
            "port": port,
            # The simulator plays Meta, app included: Connect with Meta works out of the box.
            "meta_app_id": SimulatorConfig().app_id,
            "meta_config_id": SimulatorConfig().signup_config_id,
        }
    )
    sim_config = SimulatorConfig(
        webhook_url=f"http://127.0.0.1:{port}/webhooks/whatsapp",
        app_secret=settings.app_secret.get_secret_value(),
        verify_token=settings.verify_token.get_secret_value(),
        public_url=f"http://127.0.0.1:{simulator_port}",
        numbers=[DEMO_NUMBER, demo_seed.SIM_NUMBER_JA],
    )
    layout = _layout(settings)
    people: list[tuple[str, str, str]] = []

    async def seed() -> str:
        await upgrade(settings.database_url)
        db = Database(settings.database_url)
        try:
            await apply_config(
                db,
                SecretBox(settings.secret_key.get_secret_value()),
                DEMO_CONFIG + demo_seed.flows_yaml(),
                env={**os.environ, "MADOGUCHI_DEMO_WA_TOKEN": DEMO_TOKEN},
            )
            people.extend(await demo_seed.set_passwords(db))
            async with db.write() as session:
                ws, _ = await get_or_create_workspace(session, "demo")
                return await create_token(session, ws.id, "admin", "demo")
        finally:
            await db.dispose()

    async def main() -> None:
        token = await seed()
        servers = [
            uvicorn.Server(
                uvicorn.Config(
                    create_simulator(sim_config), port=simulator_port, log_level="warning"
                )
            ),
            uvicorn.Server(
                uvicorn.Config(
                    create_app(settings, layout=layout),
                    port=port,
                    log_level="warning",
                    ws_per_message_deflate=False,
                )
            ),
        ]
        console.print(
            "\n[bold]Madoguchi demo is running[/bold]\n"
            f"  Customer phone (simulator): http://127.0.0.1:{simulator_port}/\n"
            f"  Madoguchi web app:          http://127.0.0.1:{port}/\n"
            f"  Madoguchi API docs:         http://127.0.0.1:{port}/docs\n"
            f"  Admin API token:            {token}\n"
            f"  Processes:                  {layout.describe()}\n"
            + "".join(
                f"  Sign in ({role}):{' ' * (18 - len(role))}{email} / {password}\n"
                for email, role, password in people
            )
            + "  Flows: the guide's flow in English on +1 555 0100, in Japanese on "
            "+81 50 5555 0100\n"
            f"  Try: curl -H 'Authorization: Bearer {token}' http://127.0.0.1:{port}/api/v1/conversations\n"
            "  Press Ctrl+C to stop.\n",
            soft_wrap=True,
        )
        await asyncio.gather(*(s.serve() for s in servers))

    _run(main())


if __name__ == "__main__":
    app()
