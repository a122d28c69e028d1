"""/v1/campaigns (campaigns, their contacts, start/pause/resume/cancel) and /v1/do-not-call."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from bvrai.campaigns import service
from bvrai.campaigns.models import Campaign
from bvrai.campaigns.schemas import (
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    CampaignStatus,
    ContactOut,
    ContactStatus,
    DoNotCallIn,
    DoNotCallOut,
    UploadReport,
)
from bvrai.identity.auth import require
from bvrai.identity.principal import Principal
from bvrai.kit.context import AppContext, Ctx, Session
from bvrai.kit.errors import PayloadTooLarge, UnsupportedMediaType, problem_responses
from bvrai.kit.multipart import file_part
from bvrai.kit.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])
dnc_router = APIRouter(prefix="/v1/do-not-call", tags=["campaigns"])

Reader = Annotated[Principal, Depends(require("campaigns:read"))]
Writer = Annotated[Principal, Depends(require("campaigns:write"))]
Pages = Annotated[PageParams, Depends(page_params)]
CampaignId = Annotated[str, Path(max_length=64)]
EntryId = Annotated[str, Path(max_length=64)]
LIST = problem_responses(400, 401, 403, 422, 429)
READ = problem_responses(400, 401, 403, 404, 422, 429)
WRITE = problem_responses(401, 403, 404, 409, 422, 429)

UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        }
    },
}


async def _out(session: Session, rows: list[Campaign]) -> list[CampaignOut]:
    done = await service.progress(session, campaign_ids=[r.id for r in rows])
    return [CampaignOut.of(r, done[r.id].counts, done[r.id].outcomes) for r in rows]


@router.post("", response_model=CampaignOut, status_code=201, responses=problem_responses(401, 403, 404, 422, 429))
async def create_campaign(data: CampaignIn, principal: Writer, session: Session) -> CampaignOut:
    """Create a campaign (``draft``): the agent that talks, the number it calls from, the calling window
    (in each contact's time zone), how many calls at once, and the retry policy. Then upload contacts
    and start it."""
    campaign = await service.create_campaign(session, principal=principal, data=data)
    return (await _out(session, [campaign]))[0]


@router.get("", response_model=Page[CampaignOut], responses=LIST)
async def list_campaigns(
    principal: Reader, session: Session, pages: Pages, status: Annotated[CampaignStatus | None, Query()] = None
) -> Page[CampaignOut]:
    rows, cursor = await service.list_campaigns(session, principal=principal, params=pages, status=status)
    return Page(data=await _out(session, rows), next_cursor=cursor)


@router.get("/{campaign_id}", response_model=CampaignOut, responses=READ)
async def get_campaign(campaign_id: CampaignId, principal: Reader, session: Session) -> CampaignOut:
    """The campaign with its live progress: contacts per status and finished calls per outcome."""
    campaign = await service.get_campaign(session, principal=principal, campaign_id=campaign_id)
    return (await _out(session, [campaign]))[0]


@router.patch("/{campaign_id}", response_model=CampaignOut, responses=WRITE)
async def update_campaign(
    campaign_id: CampaignId, data: CampaignPatch, principal: Writer, session: Session
) -> CampaignOut:
    """Change any setting until the campaign is completed or canceled; a running campaign's dialer uses
    the new window, limits and retry policy from its next tick."""
    campaign = await service.update_campaign(session, principal=principal, campaign_id=campaign_id, data=data)
    return (await _out(session, [campaign]))[0]


@router.delete("/{campaign_id}", status_code=204, responses=WRITE)
async def delete_campaign(campaign_id: CampaignId, principal: Writer, session: Session) -> Response:
    """Delete a campaign that is not running (a draft or paused one is canceled first)."""
    await service.delete_campaign(session, principal=principal, campaign_id=campaign_id)
    return Response(status_code=204)


async def _read_csv(request: Request, ctx: AppContext) -> bytes:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "multipart/form-data":
        raise UnsupportedMediaType("send multipart/form-data with the CSV in a part named 'file'")
    limit = ctx.settings.campaign_max_upload_bytes
    async with file_part(request, limit=limit) as upload:
        data = await upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"the file is over the {limit:,}-byte limit")
    return data


@router.post(
    "/{campaign_id}/contacts",
    response_model=UploadReport,
    responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429),
    openapi_extra={"requestBody": UPLOAD_BODY},
)
async def upload_contacts(
    campaign_id: CampaignId, request: Request, ctx: Ctx, principal: Writer, session: Session
) -> UploadReport:
    """Add contacts from a CSV (multipart part ``file``, UTF-8): a ``phone`` column in international
    format (+country code), an optional ``timezone`` column (IANA), and any other columns, which become
    the call's variables. The answer counts the accepted rows and lists each rejected one with its line
    and reason: ``invalid_number``, ``invalid_timezone``, ``duplicate`` (in the file or the campaign),
    ``do_not_call``, ``too_many_contacts``."""
    await service.get_campaign(session, principal=principal, campaign_id=campaign_id)
    data = await _read_csv(request, ctx)
    return await service.upload_contacts(session, ctx=ctx, principal=principal, campaign_id=campaign_id, data=data)


@router.get("/{campaign_id}/contacts", response_model=Page[ContactOut], responses=READ)
async def list_contacts(
    campaign_id: CampaignId,
    ctx: Ctx,
    principal: Reader,
    session: Session,
    pages: Pages,
    status: Annotated[ContactStatus | None, Query()] = None,
) -> Page[ContactOut]:
    """The campaign's contacts with their status, attempts, last outcome and next attempt."""
    rows, cursor = await service.list_contacts(
        session, principal=principal, campaign_id=campaign_id, params=pages, status=status
    )
    return Page(data=[service.contact_out(ctx, r) for r in rows], next_cursor=cursor)


@router.post("/{campaign_id}/start", response_model=CampaignOut, responses=WRITE)
async def start_campaign(campaign_id: CampaignId, principal: Writer, session: Session) -> CampaignOut:
    """Start dialing (``draft`` only; needs contacts and a published agent)."""
    campaign = await service.start_campaign(session, principal=principal, campaign_id=campaign_id)
    return (await _out(session, [campaign]))[0]


@router.post("/{campaign_id}/pause", response_model=CampaignOut, responses=WRITE)
async def pause_campaign(campaign_id: CampaignId, principal: Writer, session: Session) -> CampaignOut:
    """Stop new dials (from the dialer's next tick); calls in progress go on."""
    campaign = await service.pause_campaign(session, principal=principal, campaign_id=campaign_id)
    return (await _out(session, [campaign]))[0]


@router.post("/{campaign_id}/resume", response_model=CampaignOut, responses=WRITE)
async def resume_campaign(campaign_id: CampaignId, principal: Writer, session: Session) -> CampaignOut:
    campaign = await service.resume_campaign(session, principal=principal, campaign_id=campaign_id)
    return (await _out(session, [campaign]))[0]


@router.post("/{campaign_id}/cancel", response_model=CampaignOut, responses=WRITE)
async def cancel_campaign(campaign_id: CampaignId, principal: Writer, session: Session) -> CampaignOut:
    """Stop for good: contacts not yet called are canceled; calls in progress go on."""
    campaign = await service.cancel_campaign(session, principal=principal, campaign_id=campaign_id)
    return (await _out(session, [campaign]))[0]


# --- do-not-call ---------------------------------------------------------------------------------------------------


def _dnc_out(ctx: AppContext, entry: Any) -> DoNotCallOut:
    return DoNotCallOut(
        id=entry.id, number=service.dnc_number(ctx, entry), reason=entry.reason, created_at=entry.created_at
    )


@dnc_router.post("", response_model=DoNotCallOut, status_code=201, responses=problem_responses(401, 403, 409, 422, 429))
async def add_do_not_call(data: DoNotCallIn, ctx: Ctx, principal: Writer, session: Session) -> DoNotCallOut:
    """Never call this number from a campaign: uploads reject it, and contacts already in a campaign
    are skipped when their turn comes. Numbers are stored encrypted, looked up by a keyed hash."""
    return _dnc_out(ctx, await service.add_do_not_call(session, ctx=ctx, principal=principal, data=data))


@dnc_router.get("", response_model=Page[DoNotCallOut], responses=LIST)
async def list_do_not_call(
    ctx: Ctx,
    principal: Reader,
    session: Session,
    pages: Pages,
    number: Annotated[str | None, Query(max_length=32, description="Only this number (E.164)")] = None,
) -> Page[DoNotCallOut]:
    rows, cursor = await service.list_do_not_call(session, ctx=ctx, principal=principal, params=pages, number=number)
    return Page(data=[_dnc_out(ctx, r) for r in rows], next_cursor=cursor)


@dnc_router.delete("/{entry_id}", status_code=204, responses=WRITE)
async def remove_do_not_call(entry_id: EntryId, principal: Writer, session: Session) -> Response:
    await service.remove_do_not_call(session, principal=principal, entry_id=entry_id)
    return Response(status_code=204)
