"""``bvrai call simulate``: talk to an agent from the terminal through a simulated caller."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bvrai.voice.simulator import converse


class SimulationError(Exception):
    pass


@dataclass(frozen=True)
class Target:
    base_url: str
    token: str


def demo_token(base_url: str, data_dir: Path) -> str:
    """Log in with the demo account ``bvrai serve`` seeded (its login is kept in the data folder)."""
    path = data_dir / "demo.json"
    if not path.exists():
        raise SimulationError(f"no demo login in {path}; pass --api-key or set BVRAI_API_KEY")
    login = json.loads(path.read_text())
    r = httpx.post(f"{base_url}/v1/auth/login", json={"email": login["email"], "password": login["password"]})
    if r.status_code != 200:
        raise SimulationError(f"demo login refused by {base_url}: {r.json().get('detail', r.text)}")
    return str(r.json()["access_token"])


def checked(r: httpx.Response) -> dict[str, Any]:
    """The JSON of a successful answer; a refusal becomes a message naming the server's reason."""
    if r.is_success:
        body: dict[str, Any] = r.json()
        return body
    try:
        detail = r.json().get("detail", r.text)
    except ValueError:
        detail = r.text
    raise SimulationError(f"{r.request.method} {r.request.url.path} was refused ({r.status_code}): {detail}")


async def pick_agent(http: httpx.AsyncClient, agent_id: str | None) -> str:
    if agent_id:
        return agent_id
    agents = checked(await http.get("/v1/agents")).get("data", [])
    published = [a for a in agents if a.get("published_version")]
    if not published:
        raise SimulationError("no published agent in this organization; pass --agent")
    return str(published[-1]["id"])


async def simulate(target: Target, *, agent_id: str | None, lines: list[str], out: Console) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {target.token}"}
    async with httpx.AsyncClient(base_url=target.base_url, headers=headers, timeout=60) as http:
        agent = await pick_agent(http, agent_id)
        checked(await http.get(f"/v1/agents/{agent}"))
        out.print(f"Calling agent [bold]{agent}[/] at {target.base_url} ...")
        _, call, transcript = await converse(http, agent_id=agent, lines=lines)
    show(out, call, transcript)
    return call


def show(out: Console, call: dict[str, Any], transcript: dict[str, Any]) -> None:
    table = Table(title=f"Call {call['id']} ({call['status']}, {call.get('duration_s')} s)")
    for column in ("at", "who", "said"):
        table.add_column(column)
    for m in transcript["messages"]:
        said = m["content"] + (" [interrupted]" if m["interrupted"] else "")
        table.add_row(f"{m['offset_ms'] / 1000:.1f} s", m["role"], said)
    out.print(table)
    turns = call.get("latency", {}).get("turns", [])
    if turns:
        lat = Table(title="Latency per turn (ms after the caller stopped speaking)")
        for column in ("turn", "transcript", "LLM first token", "TTS first audio", "agent speaks"):
            lat.add_column(column, justify="right")
        for i, t in enumerate(turns, 1):
            lat.add_row(
                str(i),
                *(
                    str(t.get(k, "-"))
                    for k in ("transcript_ms", "llm_first_token_ms", "tts_first_audio_ms", "bot_started_ms")
                ),
            )
        out.print(lat)
        out.print(f"voice-to-voice p50 {call['latency'].get('p50_ms')} ms, p90 {call['latency'].get('p90_ms')} ms")
