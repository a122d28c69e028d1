"""The tools of one call: the agent's built-in and custom http tools, registered on its LLM service.

Every call the LLM makes is recorded in the transcript (role ``tool``: name, arguments, result,
latency) so a call's record shows why the agent did what it did.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.frames.frames import FunctionCallResultProperties
from pipecat.services.llm_service import FunctionCallParams

from bvrai.agents.spec import AgentSpec, EndCallTool, HttpTool, SearchKnowledgeBaseTool, SendDtmfTool, TransferCallTool
from bvrai.voice.control import CallControl
from bvrai.voice.tools import builtin
from bvrai.voice.tools.knowledge import KnowledgeContext, call_search

if TYPE_CHECKING:
    from bvrai.voice.session import CallSession


class SessionTools:
    def __init__(self, *, session: CallSession, spec: AgentSpec, control: CallControl) -> None:
        self.session, self.spec, self.control = session, spec, control
        self.schemas: list[FunctionSchema] = []
        self._handlers: dict[str, builtin.Handler] = {}
        self._ends_call: set[str] = set()

    def _add(self, pair: tuple[FunctionSchema, builtin.Handler], *, ends_call: bool = False) -> None:
        schema, handler = pair
        self.schemas.append(schema)
        self._handlers[schema.name] = handler
        if ends_call:
            self._ends_call.add(schema.name)

    async def register(self, llm: Any) -> None:
        for tool in self.spec.tools:
            if isinstance(tool, EndCallTool):
                self._add(builtin.end_call_tool(self._end_after_reply), ends_call=True)
            elif isinstance(tool, TransferCallTool):
                destinations = [d.model_dump() for d in tool.destinations]
                self._add(builtin.transfer_call_tool(self.control, destinations))
            elif isinstance(tool, SendDtmfTool):
                self._add(builtin.send_dtmf_tool(self.control))
            elif isinstance(tool, SearchKnowledgeBaseTool) and tool.mode in ("tool", "both"):
                search = call_search(self.session, top_k=tool.top_k)
                self._add(builtin.search_knowledge_tool(search, list(self.spec.knowledge_base_ids)))
            elif isinstance(tool, HttpTool):
                self._add(await self._http_tool(tool))
        for name in self._handlers:
            llm.register_function(name, self._dispatch)

    def knowledge_context(self, prompt: str) -> KnowledgeContext | None:
        """The automatic-context processor, when the agent's knowledge tool asks for it."""
        tool = next(
            (t for t in self.spec.tools if isinstance(t, SearchKnowledgeBaseTool) and t.mode in ("auto", "both")), None
        )
        if tool is None:
            return None
        search = call_search(self.session, top_k=tool.top_k)
        kb_ids = list(self.spec.knowledge_base_ids)

        async def by_query(query: str) -> list[dict[str, Any]]:
            return await search(query=query, knowledge_base_ids=kb_ids)

        return KnowledgeContext(search=by_query, prompt=prompt)

    async def _end_after_reply(self, reason: str) -> None:
        await self.session.end("end-call-tool")
        await self.session.add_event("tool.end_call", {"reason": reason})

    async def _http_tool(self, tool: Any) -> tuple[FunctionSchema, builtin.Handler]:
        from bvrai.voice.tools.http_setup import build_http_tool

        return await build_http_tool(
            self.session.ctx, org_id=self.session.call.org_id, call_id=self.session.call.id, tool=tool
        )

    async def _dispatch(self, params: FunctionCallParams) -> None:
        name, arguments = params.function_name, dict(params.arguments)
        started = time.monotonic()
        handler = self._handlers.get(name)
        result = await handler(arguments) if handler else {"error": f"unknown tool {name}"}
        elapsed_ms = round((time.monotonic() - started) * 1000)
        self.session.tracker.add_extra("tools_ms", elapsed_ms)
        await self.session.add_message(
            "tool", name, tool=name, arguments=arguments, result=result, latency_ms=elapsed_ms
        )
        # After end_call the goodbye was already said; asking the LLM again would talk over the hang-up.
        properties = FunctionCallResultProperties(run_llm=False) if name in self._ends_call else None
        await params.result_callback(result, properties=properties)
