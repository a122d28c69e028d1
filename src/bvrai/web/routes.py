"""The dashboard under /app: its pages, and the static folder they load scripts and styles from.

Pages are server-rendered (Jinja2, with htmx for partial updates) and authenticate with the session
cookies of ``bvrai.web.session``; each domain's pages live in their own module.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from bvrai.web import agent_pages, auth_pages, call_pages, knowledge_pages, settings_pages, webhook_pages
from bvrai.web.rendering import HERE, render
from bvrai.web.session import WebRoute

router = APIRouter(include_in_schema=False)
router.mount("/app/static", StaticFiles(directory=HERE / "static"), name="web_static")
for pages in (auth_pages, call_pages, agent_pages, knowledge_pages, webhook_pages, settings_pages):
    router.include_router(pages.router)

public = APIRouter(route_class=WebRoute, include_in_schema=False)
AgentId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


# Talk to an agent with an API key or access token pasted in the page (for a server without the
# dashboard's session, or to try a key). The HTML holds nothing but the id from its own URL.
@public.get("/app/talk/{agent_id}")
async def talk_page(request: Request, agent_id: AgentId) -> Response:
    """Talk to an agent from the browser: microphone in, the agent's voice out, the transcript live."""
    return await render(request, "talk.html", {"agent_id": agent_id})


router.include_router(public)
