"""Helpers for the agent stories: a full spec, and people and keys with different rights."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

MINIMAL = {"name": "Receptionist", "system_prompt": "You answer calls for {{company}}. Be brief."}


def full_spec() -> dict[str, Any]:
    """Every field of the spec set away from its default."""
    return {
        "name": "Dental front desk",
        "first_speaker": "agent",
        "first_message": "Hi {{caller_name}}, this is Smile Dental. How can I help?",
        "system_prompt": "You book appointments for {{clinic}}. Today is {{ today }}.",
        "language": "en-US",
        "llm": {
            "provider": "openai",
            "model": "gpt-4o",
            "temperature": 0.3,
            "max_tokens": 200,
            "base_url": "http://127.0.0.1:8080/v1",
            "fallbacks": [{"provider": "local"}, {"provider": "anthropic", "model": "claude-haiku-4-5"}],
        },
        "voice": {
            "provider": "elevenlabs",
            "voice_id": "voice123",
            "speed": 1.1,
            "fallbacks": [{"provider": "local", "voice_id": "heart"}],
        },
        "transcriber": {"provider": "deepgram", "model": "nova-3", "language": "en-US"},
        "turn": {"vad_stop_secs": 0.3, "smart_turn": False, "interruptions": True, "min_interruption_words": 2},
        "tools": [
            {"type": "end_call", "message": "Goodbye!"},
            {
                "type": "transfer_call",
                "destinations": [{"number": "+14155550123", "description": "billing questions"}],
                "message": "Transferring you now.",
            },
            {"type": "send_dtmf"},
            {"type": "search_knowledge_base", "top_k": 3},
            {
                "type": "http",
                "name": "book_appointment",
                "description": "Book a slot for the caller",
                "url": "https://api.example.com/book",
                "method": "POST",
                "headers": {"X-Clinic": "smile"},
                "timeout_s": 5,
                "parameters": {
                    "type": "object",
                    "properties": {"date": {"type": "string"}, "name": {"type": "string"}},
                    "required": ["date"],
                },
            },
        ],
        "knowledge_base_ids": ["kb_01jabcdefghjkmnpqrstvwxyz0"],
        "end_call_phrases": ["have a nice day"],
        "max_duration_s": 600,
        "silence_timeout_s": 20,
        "recording": False,
        "analysis": {
            "summary": True,
            "structured_data_schema": {"type": "object", "properties": {"booked": {"type": "boolean"}}},
            "success_rubric": "The caller has an appointment.",
        },
        "webhook_url": "https://hooks.example.com/bvrai",
        "metadata": {"team": "front-desk", "priority": 2},
    }


@pytest.fixture
def spec() -> dict[str, Any]:
    return full_spec()


@pytest.fixture
def new_agent(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Create an agent as ``who`` (an Account or headers) and return its JSON."""

    async def _create(who: Any, spec: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = who if isinstance(who, dict) else who.headers
        r = await client.post("/v1/agents", headers=headers, json=spec or MINIMAL)
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    return _create


@pytest.fixture
def member_headers(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, str]]]:
    """Invite someone into the inviter's org with a role; return the headers they act with."""

    async def _invite(inviter: Any, role: str, email: str = "invitee@example.com") -> dict[str, str]:
        r = await client.post("/v1/invitations", headers=inviter.headers, json={"email": email, "role": role})
        assert r.status_code == 201, r.text
        body = {"token": r.json()["token"], "password": "invited user password", "name": "Invitee"}
        r = await client.post("/v1/invitations/accept", json=body)
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    return _invite


@pytest.fixture
def key_headers(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, str]]]:
    """Create an API key with the given scopes; return the headers that use it."""

    async def _key(owner: Any, scopes: list[str]) -> dict[str, str]:
        r = await client.post("/v1/api-keys", headers=owner.headers, json={"name": "key", "scopes": scopes})
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['key']}"}

    return _key


@pytest.fixture
def audit_actions(client: httpx.AsyncClient) -> Callable[..., Awaitable[list[str]]]:
    """The audit actions recorded against one target, oldest first."""

    async def _actions(owner: Any, target_id: str) -> list[str]:
        params: dict[str, Any] = {"target_id": target_id, "limit": 100}
        r = await client.get("/v1/audit-logs", headers=owner.headers, params=params)
        assert r.status_code == 200, r.text
        return [row["action"] for row in reversed(r.json()["data"])]

    return _actions
