"""The ``bvrai`` command: serve the platform, migrate its database, run operator tasks.

A mistake by the user (a missing setting, a taken email, an unreachable database) ends with one
line naming the problem and a non-zero exit, never a traceback: exit code 2 for configuration,
1 for everything else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import httpx
import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bvrai import __version__
from bvrai.app import Role, create_app
from bvrai.config import ConfigurationError, Settings
from bvrai.identity.schemas import SignupIn
from bvrai.kit.crypto import KeyRingError
from bvrai.kit.errors import Problem
from bvrai.kit.heap import freeze_startup_heap
from bvrai.providers.builder import load_implementations
from bvrai.setup import admin, migrate
from bvrai.setup.banner import print_demo_login, print_urls
from bvrai.setup.datadir import ensure_data_dir
from bvrai.setup.demo import seed_demo

app = typer.Typer(
    name="bvrai",
    help="BVRAI: a self-hostable voice-AI agent platform.",
    no_args_is_help=True,
    add_completion=False,
    # Locals of a crashed frame can hold secrets (settings, passwords): never print them.
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
admin_app = typer.Typer(help="Operator tasks: accounts, audit log, key rotation.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
call_app = typer.Typer(help="Calls from the terminal.", no_args_is_help=True)
app.add_typer(call_app, name="call")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

HostOption = Annotated[str | None, typer.Option(help="Interface to listen on [default: BVRAI_HOST, 127.0.0.1]")]
PortOption = Annotated[int | None, typer.Option(help="Port to listen on [default: BVRAI_PORT, 8000]")]


class UserError(Exception):
    """A problem the user can fix; its message says how."""


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]Error:[/] {escape(message)}")
    raise typer.Exit(code)


@contextmanager
def user_errors(settings: Settings | None = None) -> Iterator[None]:
    try:
        yield
    except ConfigurationError as exc:
        fail(str(exc), 2)
    except KeyRingError as exc:
        fail(f"BVRAI_ENCRYPTION_KEYS: {exc}", 2)
    except ValidationError as exc:
        fail(_validation_message(exc))
    except (UserError, Problem) as exc:
        fail(str(exc))
    except DBAPIError as exc:
        where = _safe_url(settings.db_url) if settings else "the database"
        fail(f"database error on {where}: {exc.orig}")
    except OSError as exc:
        if exc.filename is None and settings is not None:
            # No file involved: the network (refused, unknown host), i.e. the database server.
            fail(f"cannot reach the database {_safe_url(settings.db_url)}: {exc}")
        fail(str(exc))


def load_settings(host: str | None = None, port: int | None = None) -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        fail(_validation_message(exc, prefix="BVRAI_"), 2)
    if host is not None:
        settings.host = host
    if port is not None:
        settings.port = port
    if "public_base_url" not in settings.model_fields_set:
        # Links the server hands out (webhooks, docs) must follow a --port given on the command line.
        settings.public_base_url = f"http://{_display_host(settings.host)}:{settings.port}"
    return settings


def _validation_message(exc: ValidationError, prefix: str = "") -> str:
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"])
        parts.append(f"{prefix}{field.upper() if prefix else field}: {error['msg']}")
    return "; ".join(parts)


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _display_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - comparing, not binding
        return "127.0.0.1"  # listening everywhere: the local address is the one that surely works
    return f"[{host}]" if ":" in host else host  # an IPv6 literal in a URL


def prepare(settings: Settings, *, run_migrations: bool) -> None:
    """Data folder, secrets, schema: everything a server process needs before it listens."""
    ensure_data_dir(settings.data_dir)
    settings.require_secrets()
    if run_migrations:
        migrate.upgrade(settings.db_url)
    else:
        require_schema(settings, hint="run `bvrai db upgrade` first, or start with `bvrai api --migrate`")


def require_schema(settings: Settings, hint: str = "run `bvrai db upgrade` first") -> None:
    current = migrate.current(settings.db_url)
    if not current:
        raise UserError(f"the database {_safe_url(settings.db_url)} has no BVRAI schema yet: {hint}")
    if set(current) != set(migrate.heads()):
        err.print(
            f"[yellow]Warning:[/] the database is at revision {', '.join(current)}, this version expects "
            f"{', '.join(migrate.heads())}: run `bvrai db upgrade`."
        )


def run_server(settings: Settings, role: Role) -> None:
    with user_errors(settings):
        application = create_app(settings, role=role)
    if role in ("all", "media"):
        load_implementations()  # what the first call would import, frozen with the rest
        freeze_startup_heap()
    # access_log off: the app logs every request itself, with its request id and route template.
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        server_header=False,
        proxy_headers=True,
        access_log=False,
        # Audio (base64 μ-law or PCM) gains little from per-message deflate and costs CPU both ways on
        # every message: the media WebSockets decline it.
        ws_per_message_deflate=False,
    )


@app.command()
def serve(host: HostOption = None, port: PortOption = None) -> None:
    """Run everything in one process: migrate, seed a demo login once, serve the API."""
    settings = load_settings(host, port)
    seeded = None
    with user_errors(settings):
        prepare(settings, run_migrations=True)
        # Never in production: a demo owner account is a door nobody means to leave open there.
        if settings.seed_demo and settings.env != "production":
            seeded = asyncio.run(seed_demo(settings))
    print_urls(out, settings)
    if seeded is not None:
        print_demo_login(out, seeded, settings)
    if "warm_up_models" not in settings.model_fields_set:
        settings.warm_up_models = True
    run_server(settings, "all")


@app.command()
def api(
    host: HostOption = None,
    port: PortOption = None,
    run_migrations: Annotated[bool, typer.Option("--migrate", help="Upgrade the database schema first.")] = False,
) -> None:
    """Serve the REST API (/v1) alone: no demo data, migrations only with --migrate."""
    settings = load_settings(host, port)
    with user_errors(settings):
        prepare(settings, run_migrations=run_migrations)
    print_urls(out, settings)
    run_server(settings, "api")


@app.command()
def media(host: HostOption = None, port: PortOption = None) -> None:
    """Serve the media plane alone: carrier media streams and browser calls, each running a call session.

    Point BVRAI_PUBLIC_BASE_URL at where carriers reach the media WebSockets; the REST API and carrier
    webhooks are served by `bvrai api`, sharing the same database (and Redis for call limits).
    """
    settings = load_settings(host, port)
    with user_errors(settings):
        prepare(settings, run_migrations=False)
    out.print(f"BVRAI media plane on {settings.host}:{settings.port}")
    run_server(settings, "media")


@app.command()
def worker() -> None:
    """Run background jobs (webhook deliveries, post-call analysis, campaign dialing) until stopped.

    With BVRAI_REDIS_URL set, any number of workers share the work; without it, the worker polls the
    database. Stop with SIGTERM or Ctrl-C.
    """
    from bvrai.app import JOB_MODULES
    from bvrai.kit.jobs_worker import run_worker
    from bvrai.kit.logging import configure_logging

    settings = load_settings()
    with user_errors(settings):
        prepare(settings, run_migrations=False)
    configure_logging(json=settings.env == "production")
    out.print("bvrai worker: running background jobs (Ctrl-C to stop)")
    with user_errors(settings):
        asyncio.run(run_worker(settings, modules=JOB_MODULES))


@app.command()
def version() -> None:
    """Print the installed version."""
    out.print(f"bvrai {__version__}")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Option(help="Target revision.")] = "head") -> None:
    """Upgrade the database schema (BVRAI_DATABASE_URL) to a revision."""
    settings = load_settings()
    with user_errors(settings):
        before = migrate.current(settings.db_url)
        migrate.upgrade(settings.db_url, revision)
        after = migrate.current(settings.db_url)
    out.print(f"Database {escape(_safe_url(settings.db_url))}: {_revs(before)} → {_revs(after)}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's schema revision and whether it is the latest."""
    settings = load_settings()
    with user_errors(settings):
        current = migrate.current(settings.db_url)
    heads = migrate.heads()
    state = "up to date" if set(current) == set(heads) else f"behind {_revs(heads)}: run `bvrai db upgrade`"
    out.print(f"Database {escape(_safe_url(settings.db_url))}: {_revs(current)} ({state})")


def _revs(revisions: tuple[str, ...]) -> str:
    return ", ".join(revisions) if revisions else "(empty)"


@admin_app.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(prompt=True, help="Login email.")],
    name: Annotated[str, typer.Option(prompt=True, help="The user's display name.")],
    org_name: Annotated[str, typer.Option(prompt="Organization name", help="Name of the new organization.")],
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="At least 10 characters.")
    ],
) -> None:
    """Create a user who owns a new organization (what a sign-up does)."""
    settings = load_settings()
    with user_errors(settings):
        data = SignupIn(email=email, password=password, name=name, organization_name=org_name)
        require_schema(settings)
        created = asyncio.run(admin.create_user(settings, data))
    table = Table.grid(padding=(0, 2))
    for label, value in (
        ("User", created.user_id),
        ("Email", created.email),
        ("Organization", f"{created.org_name} ({created.org_id})"),
        ("Role", "owner"),
    ):
        table.add_row(label, escape(value))
    out.print("[green]Created[/]")
    out.print(table)


@admin_app.command("verify-audit")
def verify_audit(org_id: Annotated[str, typer.Option(help="The organization whose audit chain to check.")]) -> None:
    """Check an organization's tamper-evident audit log; exit 1 if the chain is broken."""
    settings = load_settings()
    with user_errors(settings):
        require_schema(settings)
        report = asyncio.run(admin.verify_audit(settings, org_id))
    if report.checked == 0:
        out.print(f"No audit entries for {escape(org_id)} (is the organization id right?)")
        return
    if report.valid:
        out.print(f"[green]Valid[/]: {report.checked} entries checked, chain intact")
        return
    table = Table("seq", "entry", "problem", title=f"Audit chain of {escape(org_id)} is broken")
    for problem in report.problems:
        table.add_row(str(problem.seq), problem.id, escape(problem.reason))
    out.print(table)
    raise typer.Exit(1)


@admin_app.command("reencrypt-credentials")
def reencrypt_credentials() -> None:
    """Re-encrypt every stored credential under the newest key of BVRAI_ENCRYPTION_KEYS.

    Rotate by appending a key (`old:...,new:...`), restarting, running this, then removing the old key.
    """
    settings = load_settings()
    with user_errors(settings):
        require_schema(settings)
        count, key_id = asyncio.run(admin.reencrypt_credentials(settings))
    out.print(f"Re-encrypted {count} credential(s) under key {escape(key_id)}")


@call_app.command("simulate")
def call_simulate(
    say: Annotated[list[str], typer.Option("--say", help="A line the caller speaks; repeat for each turn.")],
    agent: Annotated[str | None, typer.Option(help="Agent id; default: the newest published agent.")] = None,
    url: Annotated[str | None, typer.Option(help="The server; default: this configuration's public URL.")] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="BVRAI_API_KEY", help="API key or access token; default: the demo login.")
    ] = None,
) -> None:
    """Call an agent with a simulated caller who speaks each --say line, then print the transcript and latency."""
    from bvrai.voice.simulate_command import SimulationError, Target, demo_token, simulate

    settings = load_settings()
    base_url = (url or settings.public_base_url).rstrip("/")
    try:
        token = api_key or demo_token(base_url, settings.data_dir)
        call = asyncio.run(simulate(Target(base_url, token), agent_id=agent, lines=say, out=out))
    except SimulationError as exc:
        fail(str(exc))
    except httpx.HTTPError as exc:
        fail(f"cannot talk to {base_url}: {exc}")
    if call["status"] != "completed":
        fail(f"the call ended as {call['status']}: {call.get('error') or call.get('end_reason')}")


if __name__ == "__main__":
    app()
