"""Finding calls and understanding one: filters, the transcript against the recording, the latency
waterfall, tool calls and events; the overview's figures; another organization sees none of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from bvrai.kit.db import utcnow
from tests.web.conftest import WebUser
from tests.web.seed import add_call


async def setup_agent(user: WebUser) -> tuple[str, str]:
    api = await user.api()
    agent = (await api.post("/v1/agents", json={"name": "Receptionist", "system_prompt": "Be brief."})).json()
    me = (await api.get("/v1/me")).json()
    await api.aclose()
    return me["organization_id"], agent["id"]


async def test_a_new_org_sees_how_to_make_its_first_call(web_owner: WebUser) -> None:
    calls = await web_owner.get("/app/calls")
    assert "No calls yet" in calls.text and "Go to your agents" in calls.text
    overview = await web_owner.get("/app")
    assert "Welcome to BVRAI" in overview.text and "Create an agent" in overview.text


async def test_calls_are_filtered_by_agent_status_direction_end_reason_and_date(
    app: FastAPI, web_owner: WebUser
) -> None:
    org_id, agent_id = await setup_agent(web_owner)
    now = utcnow()
    done = await add_call(app, org_id=org_id, agent_id=agent_id)
    failed = await add_call(app, org_id=org_id, agent_id=agent_id, status="failed", end_reason="setup-failed")
    old = await add_call(
        app, org_id=org_id, agent_id=agent_id, direction="inbound", created_at=now - timedelta(days=10)
    )

    async def shown(query: str) -> set[str]:
        page = (await web_owner.get(f"/app/calls?{query}")).text
        return {c for c in (done, failed, old) if c in page}

    assert await shown("") == {done, failed, old}
    assert await shown("status=failed") == {failed}
    assert await shown("end_reason=setup-failed") == {failed}
    assert await shown("direction=inbound") == {old}
    assert await shown(f"agent_id={agent_id}&direction=web") == {done, failed}
    day = (now - timedelta(days=10)).date().isoformat()
    assert await shown(f"date_from={day}&date_to={day}") == {old}
    assert await shown("status=unknown-thing") == {done, failed, old}  # ignored, and said so:
    assert "unknown status" in (await web_owner.get("/app/calls?status=unknown-thing")).text
    bad = await web_owner.get("/app/calls?date_from=yesterday")
    assert bad.status_code == 200 and "use a date like" in bad.text
    empty = await web_owner.get("/app/calls?direction=outbound")
    assert "No calls match these filters" in empty.text
    fragment = await web_owner.get(
        "/app/calls?status=failed", headers={"HX-Request": "true", "HX-Target": "call-results"}
    )
    assert "<html" not in fragment.text and failed in fragment.text


async def test_a_call_page_lines_the_transcript_up_with_the_recording_and_shows_the_waterfall(
    app: FastAPI, web_owner: WebUser
) -> None:
    org_id, agent_id = await setup_agent(web_owner)
    call_id = await add_call(app, org_id=org_id, agent_id=agent_id, recording=True)
    page = (await web_owner.get(f"/app/calls/{call_id}")).text
    assert f'src="/app/calls/{call_id}/recording"' in page
    assert 'data-seek-ms="2400"' in page and "What time do you open today?" in page
    assert page.count('class="seg ') == 8  # two turns, four stages each
    assert "Turn 2: speech to text 400 ms, LLM 500 ms, TTS 80 ms, playback 60 ms" in page
    assert "check_hours" in page and "call.ended" in page
    assert "900 ms / 1,012 ms" in page
    audio = await web_owner.get(f"/app/calls/{call_id}/recording")
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    assert audio.content[:4] == b"RIFF"


async def test_a_call_without_recording_or_turns_says_so(app: FastAPI, web_owner: WebUser) -> None:
    org_id, agent_id = await setup_agent(web_owner)
    call_id = await add_call(app, org_id=org_id, agent_id=agent_id, latency={})
    page = (await web_owner.get(f"/app/calls/{call_id}")).text
    assert "No recording" in page and "No completed turns" in page
    assert (await web_owner.get(f"/app/calls/{call_id}/recording")).status_code == 404


async def test_the_overview_counts_calls_minutes_success_and_latency(app: FastAPI, web_owner: WebUser) -> None:
    org_id, agent_id = await setup_agent(web_owner)
    for _ in range(3):
        await add_call(app, org_id=org_id, agent_id=agent_id, duration_s=60)
    await add_call(app, org_id=org_id, agent_id=agent_id, status="failed", duration_s=30)
    await add_call(app, org_id=org_id, agent_id=agent_id, created_at=utcnow() - timedelta(days=40))
    page = (await web_owner.get("/app")).text
    assert 'id="kpi-calls">4<' in page
    assert ">3.5<" in page  # minutes
    assert ">75%<" in page
    assert ">900 ms<" in page
    assert 'id="chart-latency"' in page and "overview-data" in page
    assert 'id="kpi-calls">5<' in (await web_owner.get("/app?days=90")).text


async def test_another_organizations_calls_stay_invisible(app: FastAPI, web_owner: WebUser, web_signup: Any) -> None:
    org_id, agent_id = await setup_agent(web_owner)
    call_id = await add_call(app, org_id=org_id, agent_id=agent_id, recording=True)
    intruder: WebUser = await web_signup("Initech")
    assert call_id not in (await intruder.get("/app/calls")).text
    assert call_id not in (await intruder.get(f"/app/calls?agent_id={agent_id}")).text
    for url in (f"/app/calls/{call_id}", f"/app/calls/{call_id}/recording"):
        assert (await intruder.get(url)).status_code == 404
    assert 'id="kpi-calls">0<' in (await intruder.get("/app")).text
