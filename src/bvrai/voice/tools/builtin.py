"""The built-in tools every agent may enable: end_call, transfer_call, send_dtmf, search_knowledge_base.

Each becomes a function the LLM can call. Their effects go through the session (ending the call
after the goodbye is spoken) or the line's ``CallControl`` (carrier actions).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema

from bvrai.voice.control import CallControl, CallControlUnsupported


class KnowledgeSearch(Protocol):
    async def __call__(self, *, query: str, knowledge_base_ids: list[str]) -> list[dict[str, Any]]: ...


Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def end_call_tool(end: Callable[[str], Awaitable[None]]) -> tuple[FunctionSchema, Handler]:
    schema = FunctionSchema(
        name="end_call",
        description="End the call after saying goodbye, when the caller is done or asks to hang up.",
        properties={"reason": {"type": "string", "description": "Why the call ends"}},
        required=[],
    )

    async def handler(args: dict[str, Any]) -> dict[str, Any]:
        await end(str(args.get("reason") or "end-call-tool"))
        return {"ok": True}

    return schema, handler


def transfer_call_tool(control: CallControl, destinations: list[dict[str, Any]]) -> tuple[FunctionSchema, Handler]:
    numbers = [d["number"] for d in destinations]
    described = "; ".join(f"{d['number']}: {d.get('description') or ''}" for d in destinations)
    schema = FunctionSchema(
        name="transfer_call",
        description=f"Transfer the caller to a person. Destinations: {described}",
        properties={"number": {"type": "string", "enum": numbers}},
        required=["number"],
    )

    async def handler(args: dict[str, Any]) -> dict[str, Any]:
        number = args.get("number")
        if number not in numbers:
            return {"error": f"unknown destination; use one of {numbers}"}
        try:
            await control.transfer(str(number))
        except CallControlUnsupported as exc:
            return {"error": str(exc)}
        return {"ok": True, "transferred_to": number}

    return schema, handler


def send_dtmf_tool(control: CallControl) -> tuple[FunctionSchema, Handler]:
    schema = FunctionSchema(
        name="send_dtmf",
        description="Press keys on the phone keypad, e.g. to navigate a phone menu.",
        properties={"digits": {"type": "string", "pattern": "^[0-9*#wW]{1,32}$"}},
        required=["digits"],
    )

    async def handler(args: dict[str, Any]) -> dict[str, Any]:
        try:
            await control.send_dtmf(str(args.get("digits", "")))
        except CallControlUnsupported as exc:
            return {"error": str(exc)}
        return {"ok": True}

    return schema, handler


def search_knowledge_tool(search: KnowledgeSearch, knowledge_base_ids: list[str]) -> tuple[FunctionSchema, Handler]:
    schema = FunctionSchema(
        name="search_knowledge_base",
        description="Search the company's documents for facts needed to answer the caller.",
        properties={"query": {"type": "string", "description": "What to look up"}},
        required=["query"],
    )

    async def handler(args: dict[str, Any]) -> dict[str, Any]:
        results = await search(query=str(args.get("query", "")), knowledge_base_ids=knowledge_base_ids)
        return {"results": results} if results else {"results": [], "note": "nothing found"}

    return schema, handler
