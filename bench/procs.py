"""Real subprocesses for the benchmarks: servers on free ports, databases, cleanup.

Everything binds to 127.0.0.1. Each server is started in its own session (so a Ctrl+C at
the terminal reaches only the benchmark, which then stops them in order) and is stopped
by its own pid: SIGTERM, a grace period, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
_SCRIPT = Path(PYTHON).with_name("madoguchi")
MADOGUCHI = [str(_SCRIPT)] if _SCRIPT.exists() else [PYTHON, "-m", "madoguchi.cli"]

APP_SECRET = "bench-app-secret"
VERIFY_TOKEN = "bench-verify-token"
SECRET_KEY = "bench-secret-key-of-at-least-32-characters"
PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "root", "database": "test"}
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def free_port() -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env() -> dict[str, str]:
    """This environment without any MADOGUCHI_* (a developer's settings must not leak in),
    with the repository on the path so ``python -m bench.…`` works from a temp dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADOGUCHI_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


# ``madoguchi serve``'s processes (``python -m bench --processes``; MADOGUCHI_PROCESSES):
# auto = a web process and a processing process on SQLite, one on PostgreSQL.
SERVE_PROCESSES = "auto"


def product_env(
    database_url: str, workdir: Path, port: int, graph_api_url: str | None = None
) -> dict:
    env = base_env()
    env["MADOGUCHI_PROCESSES"] = SERVE_PROCESSES
    env.update(
        MADOGUCHI_DATABASE_URL=database_url,
        MADOGUCHI_APP_SECRET=APP_SECRET,
        MADOGUCHI_VERIFY_TOKEN=VERIFY_TOKEN,
        MADOGUCHI_SECRET_KEY=SECRET_KEY,
        MADOGUCHI_MEDIA_DIR=str(workdir / "media"),
        MADOGUCHI_HOST="127.0.0.1",
        MADOGUCHI_PORT=str(port),
        MADOGUCHI_GRAPH_API_URL=graph_api_url or "http://127.0.0.1:9",
    )
    return env


def run_cli(args: list[str], env: dict, cwd: Path, timeout: float = 120) -> str:
    """Run ``madoguchi ARGS`` to completion; its stdout, or an error with its output."""
    done = subprocess.run(
        [*MADOGUCHI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"madoguchi {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


def prepare_product(
    database_url: str, workdir: Path, workspace_yaml: str, token_env: dict[str, str], slug: str
) -> str:
    """migrate + apply the workspace file + create an admin token; returns the token."""
    env = product_env(database_url, workdir, 0)
    env.update(token_env)
    path = workdir / "workspace.yaml"
    path.write_text(workspace_yaml)
    run_cli(["migrate"], env, workdir)
    run_cli(["apply", str(path)], env, workdir)
    out = run_cli(
        ["token", "create", "--role", "admin", "--workspace", slug, "--name", "bench"], env, workdir
    )
    return out.strip().splitlines()[-1].strip()


class Proc:
    """One server subprocess, its log file, and its CPU time."""

    def __init__(
        self, name: str, args: list[str], env: dict, cwd: Path, port: int, health_path: str
    ) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.cwd = cwd
        self.url = f"http://127.0.0.1:{port}"
        self.health_url = self.url + health_path
        self.log_path = cwd / f"{name}.log"
        self.popen: subprocess.Popen | None = None

    start_timeout = 30.0

    def ready(self) -> bool:
        """Whether the started process serves: its health URL answers 200."""
        try:
            return httpx.get(self.health_url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self, timeout: float | None = None) -> Proc:
        timeout = self.start_timeout if timeout is None else timeout
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed by the child's exit
        try:
            self.popen = subprocess.Popen(
                self.args,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}"
                )
            if self.ready():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} was not ready in {timeout:.0f} s:\n{self.log_tail()}")

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def cpu_seconds(self) -> float:
        """User + system CPU time so far of the process and its children (``madoguchi
        serve``'s processing process; a child that ended counts once reaped) — Linux
        /proc; NaN elsewhere."""
        if self.popen is None:
            return float("nan")
        total = _tree_cpu(self.popen.pid)
        return total / CLK_TCK if total is not None else float("nan")

    def own_cpu_seconds(self) -> float:
        """User + system CPU time of the process itself (without its children)."""
        if self.popen is None:
            return float("nan")
        try:
            fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_count(self, needle: str) -> int:
        try:
            return self.log_path.read_text(errors="replace").count(needle)
        except OSError:
            return 0

    def stop(self, grace: float = 10.0) -> None:
        popen = self.popen
        if popen is None or popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                popen.kill()
            popen.wait(5)


def _tree_cpu(pid: int) -> int | None:
    """Clock ticks of ``pid`` (with its reaped children) and of its live descendants."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                children += (task / "children").read_text().split()
    except OSError:
        return None
    total = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    for child in children:
        total += _tree_cpu(int(child)) or 0
    return total


class Cleanup:
    """Stops every registered process and runs every callback, last first, even on error."""

    def __init__(self) -> None:
        self._actions: list[tuple[str, object]] = []

    def add_proc(self, proc: Proc) -> Proc:
        self._actions.append(("proc", proc))
        return proc

    def add_callback(self, fn) -> None:
        self._actions.append(("fn", fn))

    def close(self) -> None:
        while self._actions:
            kind, item = self._actions.pop()
            try:
                if kind == "proc":
                    item.stop()  # type: ignore[union-attr]
                else:
                    item()  # type: ignore[operator]
            except Exception as exc:  # keep cleaning up the rest
                print(f"  (cleanup: {type(exc).__name__}: {exc})", file=sys.stderr)

    def __enter__(self) -> Cleanup:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def product_proc(
    name: str,
    database_url: str,
    workdir: Path,
    graph_api_url: str | None = None,
    port: int | None = None,
) -> Proc:
    """``madoguchi serve`` on ``port`` (a free one by default); call ``.start()``."""
    port = port or free_port()
    env = product_env(database_url, workdir, port, graph_api_url)
    args = [*MADOGUCHI, "serve", "--host", "127.0.0.1", "--port", str(port)]
    return Proc(name, args, env, workdir, port, "/healthz")


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat (0, 0 elsewhere).

    The difference of two readings tells how busy all CPUs were in between, ours and
    everybody else's: the machine is shared, so a figure is read together with it.
    """
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def busy_between(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Fraction of all CPUs busy between two ``machine_jiffies()`` readings."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else float("nan")


# ------------------------------------------------------------------------ PostgreSQL


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(**PG_ADMIN, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_pg_database(template: str | None = None) -> tuple[str, str]:
    """A throwaway database (a copy of ``template`` if given: nobody may be connected to
    that one); returns (name, SQLAlchemy URL). Raises when PG is down."""
    import asyncpg

    name = f"bench_{secrets.token_hex(5)}"
    copy = f' TEMPLATE "{template}"' if template else ""
    for attempt in range(50):
        try:
            asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"{copy}'))
            break
        except asyncpg.ObjectInUseError:  # a backend of the template's last user exiting
            if attempt == 49:
                raise
            time.sleep(0.1)
    return name, f"postgresql+asyncpg://root@127.0.0.1:5432/{name}"


def drop_pg_database(name: str) -> None:
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
