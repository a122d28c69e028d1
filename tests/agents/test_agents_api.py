"""A builder creates, reads, edits and deletes agents through the API; bad specs are refused clearly."""

from __future__ import annotations

from typing import Any

import pytest


async def test_a_name_and_a_prompt_make_an_agent_that_runs_on_local_models(client, owner):
    r = await client.post("/v1/agents", headers=owner.headers, json={"name": "Hello", "system_prompt": "Be kind."})
    assert r.status_code == 201, r.text
    agent = r.json()
    assert agent["id"].startswith("agt_") and agent["name"] == "Hello"
    assert agent["published_version"] is None and agent["has_unpublished_changes"] is True
    spec = agent["spec"]
    assert spec["llm"]["provider"] == "local" and spec["llm"]["model"] == "qwen2.5-0.5b-instruct"
    assert (spec["voice"]["provider"], spec["voice"]["voice_id"]) == ("local", "heart")
    assert (spec["transcriber"]["provider"], spec["transcriber"]["model"]) == ("local", "tiny.en")
    assert spec["first_speaker"] == "agent" and spec["tools"] == [] and spec["recording"] is True
    fetched = await client.get(f"/v1/agents/{agent['id']}", headers=owner.headers)
    assert fetched.status_code == 200 and fetched.json() == agent


async def test_a_full_spec_is_stored_as_sent(client, owner, spec):
    r = await client.post("/v1/agents", headers=owner.headers, json=spec)
    assert r.status_code == 201, r.text
    stored = r.json()["spec"]
    assert stored["llm"]["base_url"] == "http://127.0.0.1:8080/v1"
    # A fallback without a model gets its provider's default model.
    assert stored["llm"]["fallbacks"][0] == {
        "provider": "local",
        "model": "qwen2.5-0.5b-instruct",
        "base_url": None,
        "temperature": None,
        "max_tokens": None,
    }
    assert [t["name"] for t in stored["tools"]] == [
        "end_call",
        "transfer_call",
        "send_dtmf",
        "search_knowledge_base",
        "book_appointment",
    ]
    assert stored["tools"][4]["parameters"] == spec["tools"][4]["parameters"]
    assert stored["turn"] == spec["turn"] and stored["analysis"] == spec["analysis"]
    assert stored["metadata"] == spec["metadata"] and stored["recording"] is False


def _with(spec: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    node: Any = spec
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[last] = value
    return spec


@pytest.mark.parametrize(
    ("path", "value", "loc", "says"),
    [
        ("llm.provider", "gpt", "body.llm.provider", "unknown llm provider 'gpt'; known llm providers: anthropic"),
        ("voice.provider", "acme", "body.voice.provider", "known tts providers: elevenlabs, local, openai"),
        ("transcriber.provider", "x", "body.transcriber.provider", "unknown stt provider 'x'"),
        ("llm.temperature", 2.5, "body.llm.temperature", "less than or equal to 2"),
        ("sytem_prompt", "typo", "body.sytem_prompt", "Extra inputs are not permitted"),
        ("llm.temprature", 0.1, "body.llm.temprature", "Extra inputs are not permitted"),
        ("tools.4.parameters", {"type": "string"}, "body.tools.4.http.parameters", '"type": "object"'),
        ("tools.4.parameters", {"type": "object", "properties": []}, "body.tools.4.http.parameters", "properties"),
        ("tools.4.url", "ftp://example.com/x", "body.tools.4.http.url", "http:// or https://"),
        ("tools.4.name", "end_call", "body.tools", "tool names must be unique; repeated: end_call"),
        ("tools.1.destinations.0.number", "555-0123", "body.tools.1.transfer_call.destinations.0.number", "pattern"),
        ("tools.4.headers", {"Authorization": "Bearer x"}, "body.tools.4.http.headers", "credentials vault"),
        ("knowledge_base_ids", ["doc_1"], "body.knowledge_base_ids.0", "pattern"),
        ("analysis.structured_data_schema", {"type": "array"}, "body.analysis.structured_data_schema", "object"),
        ("llm.base_url", "not a url", "body.llm.base_url", "http:// or https://"),
        ("metadata", {str(i): i for i in range(51)}, "body.metadata", "at most 50"),
    ],
)
async def test_an_invalid_spec_is_a_422_naming_the_field(client, owner, spec, path, value, loc, says):
    r = await client.post("/v1/agents", headers=owner.headers, json=_with(spec, path, value))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == 422 and problem["errors"]
    error = next((e for e in problem["errors"] if ".".join(e["loc"]) == loc), None)
    assert error is not None, problem["errors"]
    assert says in error["msg"]


async def test_rules_across_fields_are_checked(client, owner):
    base = {"name": "X", "system_prompt": "p"}
    cases = [
        ({"tools": [{"type": "search_knowledge_base"}]}, "knowledge_base_ids"),
        ({"language": "fr"}, "only understands English"),
        ({"max_duration_s": 60, "silence_timeout_s": 60}, "silence_timeout_s"),
        ({"llm": {"provider": "anthropic", "base_url": "https://x.example"}}, "does not take a base_url"),
    ]
    for extra, says in cases:
        r = await client.post("/v1/agents", headers=owner.headers, json=base | extra)
        assert r.status_code == 422 and says in r.json()["detail"], (extra, r.text)


async def test_an_http_tool_may_name_a_vault_credential_of_the_org_only(client, owner, signup):
    other = await signup("Other")
    r = await client.post(
        "/v1/credentials", headers=other.headers, json={"provider": "crm", "name": "CRM", "secret": "s3cret-token-1"}
    )
    foreign = r.json()["id"]
    r = await client.post(
        "/v1/credentials", headers=owner.headers, json={"provider": "crm", "name": "CRM", "secret": "s3cret-token-2"}
    )
    mine = r.json()["id"]
    tool = {"type": "http", "name": "crm", "description": "Look up", "url": "https://crm.example/api"}
    body = {"name": "X", "system_prompt": "p", "tools": [tool | {"credential_id": foreign}]}
    r = await client.post("/v1/agents", headers=owner.headers, json=body)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "credential_id"
    body["tools"] = [tool | {"credential_id": mine}]
    assert (await client.post("/v1/agents", headers=owner.headers, json=body)).status_code == 201


async def test_patch_merges_top_level_fields_and_revalidates_the_whole_spec(client, owner, new_agent):
    agent = await new_agent(owner)
    url = f"/v1/agents/{agent['id']}"
    r = await client.patch(
        url, headers=owner.headers, json={"name": "Renamed", "llm": {"provider": "openai"}, "first_message": "Hi!"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "Renamed" and body["spec"]["name"] == "Renamed"
    assert body["spec"]["llm"]["model"] == "gpt-4o-mini"  # the new provider's default model
    assert body["spec"]["system_prompt"] == agent["spec"]["system_prompt"]  # untouched
    assert body["updated_at"] >= agent["updated_at"]

    # null resets a field to its default
    r = await client.patch(url, headers=owner.headers, json={"first_message": None})
    assert r.json()["spec"]["first_message"] is None

    # a field valid alone but not with the rest of the draft
    r = await client.patch(url, headers=owner.headers, json={"tools": [{"type": "search_knowledge_base"}]})
    assert r.status_code == 422 and "knowledge_base_ids" in r.json()["detail"]
    r = await client.patch(url, headers=owner.headers, json={"nmae": "typo"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "nmae"]
    r = await client.patch(url, headers=owner.headers, json={"system_prompt": None})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "system_prompt"]
    assert (await client.get(url, headers=owner.headers)).json()["name"] == "Renamed"


async def test_put_replaces_the_draft(client, owner, new_agent, spec):
    agent = await new_agent(owner, spec)
    r = await client.put(f"/v1/agents/{agent['id']}", headers=owner.headers, json={"name": "Y", "system_prompt": "q"})
    assert r.status_code == 200, r.text
    assert r.json()["spec"]["tools"] == [] and r.json()["spec"]["llm"]["provider"] == "local"


async def test_a_deleted_agent_is_gone_from_reads_and_lists(client, owner, new_agent):
    agent = await new_agent(owner)
    kept = await new_agent(owner)
    url = f"/v1/agents/{agent['id']}"
    assert (await client.delete(url, headers=owner.headers)).status_code == 204
    assert (await client.get(url, headers=owner.headers)).status_code == 404
    assert (await client.delete(url, headers=owner.headers)).status_code == 404
    listed = (await client.get("/v1/agents", headers=owner.headers)).json()["data"]
    assert [a["id"] for a in listed] == [kept["id"]]


async def test_pagination_walks_every_agent_once(client, owner, new_agent):
    created = [(await new_agent(owner, {"name": f"A{i}", "system_prompt": "p"}))["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        r = await client.get("/v1/agents", headers=owner.headers, params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["data"]) <= 2
        seen += [a["id"] for a in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == list(reversed(created))


async def test_bad_ids_and_cursors_are_client_errors(client, owner):
    assert (await client.get("/v1/agents/" + "a" * 65, headers=owner.headers)).status_code == 422
    assert (await client.get("/v1/agents/agt_missing", headers=owner.headers)).status_code == 404
    assert (await client.get("/v1/agents", headers=owner.headers, params={"cursor": "!!"})).status_code == 400


async def test_the_openapi_document_describes_the_agent_routes(client):
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    for path in (
        "/v1/agents",
        "/v1/agents/{agent_id}",
        "/v1/agents/{agent_id}/publish",
        "/v1/agents/{agent_id}/rollback",
    ):
        assert path in paths
    assert "422" in paths["/v1/agents"]["post"]["responses"]
    assert "404" in paths["/v1/agents/{agent_id}/versions/{version}"]["get"]["responses"]
    assert "AgentSpec" in schema["components"]["schemas"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "x", "system_prompt": "nul \\u0000 inside", "first_message": "\\u0000"}',
        b'{"name": "a\\u0000b", "system_prompt": "p"}',
        b'{"name": "\\ud800", "system_prompt": "p"}',
        b'{"name": "x", "system_prompt": "lone \\udc00 surrogate", "metadata": {"\\ud800": "\\udfff"}}',
        b'{"name": "x", "system_prompt": "p", "metadata": {"a": NaN}}',
        b'{"name": "x", "system_prompt": "p", "llm": {"temperature": NaN}}',
        b'{"name": "x", "system_prompt": "p", "max_duration_s": 100000000000000000000}',
        b'{"name": "x", "system_prompt": "p", "tools": [{"type": "http", "name": "f", "description": "d",'
        b' "url": "https://e.com", "parameters": {"type": "object", "properties": {"a": {"type": "number",'
        b' "maximum": Infinity}}}}]}',
        b"[]",
        b'"spec"',
    ],
)
async def test_hostile_input_is_stored_or_refused_never_a_server_error(client, owner, body):
    headers = owner.headers | {"content-type": "application/json"}
    r = await client.post("/v1/agents", headers=headers, content=body)
    assert r.status_code in (201, 422), r.text
    if r.status_code == 201:
        assert (await client.get(f"/v1/agents/{r.json()['id']}", headers=owner.headers)).status_code == 200


async def test_rollback_to_an_absurd_version_is_a_422(client, owner, new_agent):
    agent = await new_agent(owner)
    r = await client.post(f"/v1/agents/{agent['id']}/rollback", headers=owner.headers, json={"version": 2**40})
    assert r.status_code == 422
