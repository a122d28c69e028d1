"""Call use cases for the API: start a browser call, read calls, transcripts, events, recordings."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.agents import service as agents
from bvrai.audit.service import record
from bvrai.calls import media_tokens
from bvrai.calls.models import Call, CallEvent, CallMessage
from bvrai.calls.repository import CallRepository
from bvrai.identity.principal import Principal
from bvrai.kit.context import AppContext
from bvrai.kit.db import utcnow
from bvrai.kit.errors import NotFound, Unauthorized
from bvrai.kit.ids import new_id
from bvrai.kit.pagination import PageParams
from bvrai.kit.tenancy import found


async def start_web_call(
    session: AsyncSession, *, ctx: AppContext, principal: Principal, agent_id: str, variables: dict[str, str]
) -> tuple[Call, media_tokens.MediaToken]:
    version = await agents.get_published_version(session, principal=principal, agent_id=agent_id)
    call = Call(
        id=new_id("call"),
        org_id=principal.org_id,
        agent_id=version.agent_id,
        agent_version=version.version,
        direction="web",
        status="queued",
        variables=variables,
    )
    token = media_tokens.issue(secret=ctx.secret_key, call_id=call.id)
    call.media_token_id = token.token_id
    repo = CallRepository(session)
    repo.add(call)
    await repo.flush()
    await record(
        session,
        actor=principal.actor,
        action="call.create",
        target_type="call",
        target_id=call.id,
        changes={"direction": "web", "agent_id": call.agent_id, "agent_version": call.agent_version},
    )
    return call, token


async def attach_media(session: AsyncSession, *, ctx: AppContext, token: str) -> Call:
    """Verify and spend a media token; the call it names, ready to run."""
    try:
        claims = media_tokens.verify(secret=ctx.secret_key, token=token)
    except media_tokens.InvalidMediaToken as exc:
        raise Unauthorized("invalid or expired media token") from exc
    repo = CallRepository(session)
    if not await repo.spend_media_token(claims.call_id, claims.token_id, utcnow()):
        raise Unauthorized("this media token was already used")
    call = await repo.call_unscoped(claims.call_id)
    if call is None:
        raise NotFound("call not found")
    return call


async def list_calls(
    session: AsyncSession, *, principal: Principal, params: PageParams, filters: dict[str, Any]
) -> tuple[list[Call], str | None]:
    return await CallRepository(session).calls(principal.org_id, params, **filters)


async def get_call(session: AsyncSession, *, principal: Principal, call_id: str) -> Call:
    return found(await CallRepository(session).call(principal.org_id, call_id), "call")


async def transcript(session: AsyncSession, *, principal: Principal, call_id: str) -> list[CallMessage]:
    call = await get_call(session, principal=principal, call_id=call_id)
    return list(await CallRepository(session).messages(principal.org_id, call.id))


async def events(session: AsyncSession, *, principal: Principal, call_id: str) -> list[CallEvent]:
    call = await get_call(session, principal=principal, call_id=call_id)
    return list(await CallRepository(session).events(principal.org_id, call.id))
