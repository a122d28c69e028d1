"""Dashboard page routes, and the static folder they load their scripts and styles from."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from bvrai import __version__

HERE = FilePath(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

# Pages authenticate in the browser (the token goes in the API calls the page makes), so the HTML
# itself is public and holds nothing but the id from its own URL.
router = APIRouter(include_in_schema=False)
router.mount("/app/static", StaticFiles(directory=HERE / "static"), name="web_static")

AgentId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/app/talk/{agent_id}", response_class=HTMLResponse)
async def talk_page(request: Request, agent_id: AgentId) -> HTMLResponse:
    """Talk to an agent from the browser: microphone in, the agent's voice out, the transcript live."""
    return templates.TemplateResponse(request, "talk.html", {"agent_id": agent_id, "version": __version__})
