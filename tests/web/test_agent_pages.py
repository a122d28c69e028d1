"""Building an agent in the editor: every group of the spec, inline validation, publishing,
versions with a diff, rollback; what a viewer and another organization get."""

from __future__ import annotations

import re
from typing import Any

from tests.web.conftest import WebUser


def editor_values(page: str) -> dict[str, str]:
    """The form as the browser would send it back unchanged (inputs, selects, text areas, checkboxes)."""
    values: dict[str, str] = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page):
        if 'type="checkbox"' not in name:
            values[name] = value
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        values[name] = body
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', body)
        values[name] = chosen.group(1) if chosen else ""
    for name in re.findall(r'<input[^>]*name="([^"]+)"[^>]*type="checkbox"[^>]*checked', page):
        values[name] = "true"
    values.pop("csrf_token", None)
    import html

    return {k: html.unescape(v) for k, v in values.items()}


RECEPTIONIST = {
    "name": "Receptionist",
    "system_prompt": "You answer calls for {{company}}.",
    "first_message": "Hello, Bella Pizza!",
}


async def create(user: WebUser, **fields: str) -> str:
    form = editor_values((await user.get("/app/agents/new")).text)
    form.update(RECEPTIONIST)
    form.update(fields)
    r = await user.post("/app/agents/new", form)
    assert r.status_code == 303, r.text[:2000]
    return r.headers["location"].split("/")[3].split("?")[0]


async def test_the_editor_shows_every_group_of_the_spec_with_its_defaults(web_owner: WebUser) -> None:
    page = (await web_owner.get("/app/agents/new")).text
    for legend in ("Behaviour", "Model", "Voice", "Transcriber", "Tools", "Knowledge", "Analysis"):
        assert f"<legend>{legend}</legend>" in page
    values = editor_values(page)
    assert values["llm.provider"] == "local" and values["llm.temperature"] == "0.7"
    assert values["max_duration_s"] == "1800" and values["turn.smart_turn"] == "true"
    for name in ("tools", "knowledge_base_ids", "analysis.structured_data_schema", "voice.fallbacks", "metadata"):
        assert name in values


async def test_a_new_agent_is_created_from_the_editor_and_published(web_owner: WebUser) -> None:
    agent_id = await create(
        web_owner,
        **{
            "llm.temperature": "0.3",
            "end_call_phrases": "Goodbye!\nSee you soon.",
            "tools": '[{"type": "end_call", "message": "Bye"}]',
            "analysis.success_rubric": "The caller got the opening hours.",
            "recording": "false",
        },
    )
    page = await web_owner.get(f"/app/agents/{agent_id}?notice=created")
    assert "Agent created" in page.text and "never published" in page.text
    api = await web_owner.api()
    spec = (await api.get(f"/v1/agents/{agent_id}")).json()["spec"]
    assert spec["llm"]["temperature"] == 0.3 and spec["end_call_phrases"] == ["Goodbye!", "See you soon."]
    assert spec["tools"][0]["type"] == "end_call" and spec["recording"] is False
    assert spec["analysis"]["success_rubric"] == "The caller got the opening hours."

    r = await web_owner.post(f"/app/agents/{agent_id}/publish")
    assert r.status_code == 303
    page = await web_owner.get(r.headers["location"])
    assert "v1 published" in page.text and "Talk to this agent" in page.text
    await api.aclose()


async def test_mistakes_are_shown_next_to_the_field_and_nothing_is_saved(web_owner: WebUser) -> None:
    form = editor_values((await web_owner.get("/app/agents/new")).text)
    form.update(RECEPTIONIST)
    form.update({"llm.temperature": "5", "tools": "[{not json", "metadata": ""})
    r = await web_owner.post("/app/agents/new", form)
    assert r.status_code == 422
    assert "not valid JSON" in r.text.split('id="f-tools-error"')[1].split("</p>")[0]
    error = r.text.split('id="f-llm-temperature-error"')[1].split("</p>")[0]  # both mistakes at once
    assert "less than or equal to 2" in error
    assert 'value="5"' in r.text  # the typed value is kept for correcting
    form["llm.temperature"] = "0.5"
    form["silence_timeout_s"] = "900"
    form["max_duration_s"] = "600"
    r = await web_owner.post("/app/agents/new", form)
    assert r.status_code == 422  # a rule across fields: shown at the top of the form
    assert 'id="form-error">silence_timeout_s must be shorter than max_duration_s' in r.text
    listing = await web_owner.get("/app/agents")
    assert "No agents yet" in listing.text


async def test_versions_can_be_compared_and_rolled_back(web_owner: WebUser) -> None:
    agent_id = await create(web_owner)
    await web_owner.post(f"/app/agents/{agent_id}/publish")
    form = editor_values((await web_owner.get(f"/app/agents/{agent_id}")).text)
    form["first_message"] = "Good evening, Bella Pizza!"
    r = await web_owner.post(f"/app/agents/{agent_id}", form)
    assert r.status_code == 303 and "saved" in r.headers["location"]
    page = await web_owner.get(f"/app/agents/{agent_id}")
    assert "unpublished changes" in page.text
    await web_owner.post(f"/app/agents/{agent_id}/publish")

    versions = await web_owner.get(f"/app/agents/{agent_id}/versions")
    assert "Roll back to v1" in versions.text and "v2" in versions.text
    diff = await web_owner.get(f"/app/agents/{agent_id}/diff?a=1&b=2", headers={"HX-Request": "true"})
    assert '<span class="del">-  &#34;first_message&#34;: &#34;Hello, Bella Pizza!&#34;,</span>' in diff.text
    assert '<span class="add">+  &#34;first_message&#34;: &#34;Good evening, Bella Pizza!&#34;,</span>' in diff.text
    same = await web_owner.get(f"/app/agents/{agent_id}/diff?a=2&b=draft")
    assert "No differences" in same.text
    bad = await web_owner.get(f"/app/agents/{agent_id}/diff?a=x&b=99", headers={"HX-Request": "true"})
    assert bad.status_code == 400 and "choose a version" in bad.text

    r = await web_owner.post(f"/app/agents/{agent_id}/rollback", {"version": "1"})
    assert r.status_code == 303
    page = await web_owner.get(r.headers["location"])
    assert "Rolled back" in page.text and "Hello, Bella Pizza!" in page.text and "v1 published" in page.text


async def test_a_viewer_sees_agents_without_any_edit_control(web_owner: WebUser, web_clients: Any, client: Any) -> None:
    agent_id = await create(web_owner)
    api = await web_owner.api()
    invite = (await api.post("/v1/invitations", json={"email": "viewer@example.com", "role": "viewer"})).json()
    await client.post("/v1/invitations/accept", json={"token": invite["token"], "password": "viewer password"})
    await api.aclose()
    viewer = WebUser(web_clients(), "viewer@example.com", "viewer password")
    await viewer.get("/app/login")
    assert (await viewer.post("/app/login", {"email": viewer.email, "password": viewer.password})).status_code == 303

    listing = await viewer.get("/app/agents")
    assert "Receptionist" in listing.text and "New agent" not in listing.text
    page = await viewer.get(f"/app/agents/{agent_id}")
    assert "read-only access" in page.text
    for control in ("Save draft", ">Publish<", "Delete agent"):
        assert control not in page.text
    assert page.text.count("<fieldset disabled>") == 7
    assert (await viewer.get("/app/agents/new")).status_code == 403
    assert (await viewer.post(f"/app/agents/{agent_id}/publish")).status_code == 403
    assert "API keys" not in (await viewer.get("/app/calls")).text.split("</nav>")[0]


async def test_another_organizations_agent_is_not_found(web_owner: WebUser, web_signup: Any) -> None:
    agent_id = await create(web_owner)
    intruder: WebUser = await web_signup("Initech")
    for url in (f"/app/agents/{agent_id}", f"/app/agents/{agent_id}/versions", f"/app/agents/{agent_id}/talk"):
        r = await intruder.get(url)
        assert r.status_code == 404 and "Receptionist" not in r.text
    r = await intruder.post(f"/app/agents/{agent_id}/publish")
    assert r.status_code == 404
    r = await intruder.post(f"/app/agents/{agent_id}/web-call")
    assert r.status_code == 404
