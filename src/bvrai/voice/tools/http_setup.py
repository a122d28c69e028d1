"""Build a call's custom http tool: the guarded client, the org's signing secret and bearer credential."""

from __future__ import annotations

from typing import Any

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema

from bvrai.identity.credential_service import reveal_by_id
from bvrai.identity.signing import org_signing_secret
from bvrai.kit.context import AppContext
from bvrai.kit.safe_http import SafeHttpClient
from bvrai.voice.tools.builtin import Handler
from bvrai.voice.tools.http_tool import HttpTool


async def build_http_tool(ctx: AppContext, *, org_id: str, call_id: str, tool: Any) -> tuple[FunctionSchema, Handler]:
    bearer = None
    if tool.credential_id:
        async with ctx.sessions() as db:
            bearer = await reveal_by_id(db, keyring=ctx.keyring, org_id=org_id, credential_id=tool.credential_id)
    client = SafeHttpClient(allow=ctx.settings.ssrf_allow)
    http_tool = HttpTool(
        tool, client=client, signing_secret=org_signing_secret(ctx.secret_key, org_id), bearer_secret=bearer
    )

    async def handler(arguments: dict[str, Any]) -> dict[str, Any]:
        result = await http_tool.invoke(arguments, call_id=call_id)
        content = result.content if isinstance(result.content, dict) else {"result": result.content}
        return content

    return http_tool.as_function_schema(), handler
