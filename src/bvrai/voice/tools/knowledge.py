"""Knowledge during a call: the ``search_knowledge_base`` tool's search, and automatic context.

Both search the knowledge bases the agent's spec names, confined to the call's own organization
(``knowledge.service.search_for_call`` drops ids of other orgs before the store is asked, and the
store filters by org again). The time a search takes is added to the turn's latency record as
``knowledge_ms``. A failing search (the embedding provider down) gives the LLM no passages rather than
breaking the call.

Automatic context (``mode: auto|both``): ``KnowledgeContext`` sits between the user aggregator and the
LLM. When a caller turn is complete it searches with the caller's words and, before the context
reaches the LLM, updates the LLM's system instruction to the agent's prompt followed by the passages
found. Small local models answer from passages in their instructions far more reliably than they
decide to call a tool.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog
from pipecat.frames.frames import Frame, LLMContextFrame, LLMUpdateSettingsFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.settings import LLMSettings

from bvrai.providers.base import ProviderError
from bvrai.voice.tools.builtin import KnowledgeSearch

if TYPE_CHECKING:
    from bvrai.voice.session import CallSession

log = structlog.get_logger(__name__)

Search = Callable[[str], Awaitable[list[dict[str, Any]]]]


def call_search(session: CallSession, *, top_k: int) -> KnowledgeSearch:
    """The search a call's tools use: ``await search(query=..., knowledge_base_ids=[...])``."""
    from bvrai.knowledge.service import search_for_call

    async def search(*, query: str, knowledge_base_ids: list[str]) -> list[dict[str, Any]]:
        started = time.monotonic()
        try:
            async with session.ctx.sessions() as db:
                return await search_for_call(
                    db,
                    ctx=session.ctx,
                    org_id=session.call.org_id,
                    kb_ids=knowledge_base_ids,
                    query=query,
                    top_k=top_k,
                )
        except ProviderError as exc:
            log.warning("knowledge_search_failed", call_id=session.call.id, error=str(exc))
            return []
        finally:
            session.tracker.add_extra("knowledge_ms", (time.monotonic() - started) * 1000)

    return search


def instructions_with(prompt: str, passages: list[dict[str, Any]]) -> str:
    if not passages:
        return prompt
    facts = "\n".join(f"- {p['text'].strip()}" for p in passages)
    return (
        f"{prompt}\n\nFacts from the company's documents that may answer the caller "
        f"(use them; do not mention where they come from):\n{facts}"
    )


def _last_user_text(frame: LLMContextFrame) -> str:
    for message in reversed(frame.context.get_messages()):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content.strip()
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict)).strip()
            return ""
    return ""


class KnowledgeContext(FrameProcessor):
    def __init__(self, *, search: Search, prompt: str) -> None:
        super().__init__()
        self._search, self._prompt = search, prompt
        self._query: str | None = None
        self._instructions = prompt

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame) and direction == FrameDirection.DOWNSTREAM:
            query = _last_user_text(frame)
            if query and query != self._query:
                # A speculative context and the confirmed one for the same words search once.
                self._query = query
                self._instructions = instructions_with(self._prompt, await self._search(query))
                delta = LLMSettings(system_instruction=self._instructions)
                await self.push_frame(LLMUpdateSettingsFrame(delta=delta), direction)
        await self.push_frame(frame, direction)
