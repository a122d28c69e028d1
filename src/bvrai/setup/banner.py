"""What ``bvrai serve`` prints before it listens: where to go and how to log in."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from bvrai.config import Settings

if TYPE_CHECKING:
    from bvrai.setup.demo import SeedResult


def base_url(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/")


def _rows(console: Console, rows: list[tuple[str, str]]) -> None:
    # Plain aligned lines rather than a table: they stay greppable and copyable in any terminal.
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        console.print(f"  {label.ljust(width)}  {escape(value)}", highlight=False)


def print_urls(console: Console, settings: Settings) -> None:
    url = base_url(settings)
    console.print(f"[bold]BVRAI[/] listening on {escape(settings.host)}:{settings.port}")
    _rows(console, [("API", f"{url}/v1"), ("API docs", f"{url}/docs"), ("Health", f"{url}/healthz")])


def print_demo_login(console: Console, result: SeedResult, settings: Settings) -> None:
    login = result.login
    when = "created now" if result.created else "created on first start"
    console.print(f"[bold]Demo login[/] ({when}; kept in {escape(str(settings.data_dir / 'demo.json'))})")
    if not result.password_valid:
        console.print(
            f"  The demo account {escape(login.email)} exists; its password was changed since: log in with that one."
        )
        return
    _rows(console, [("Email", login.email), ("Password", login.password), ("Organization", login.organization)])
    body = json.dumps({"email": login.email, "password": login.password})
    console.print(
        f"  Get a token: curl -s {base_url(settings)}/v1/auth/login -H 'Content-Type: application/json' -d '{body}'",
        highlight=False,
        markup=False,
    )
