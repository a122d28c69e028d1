"""/v1/phone-numbers: numbers the org connects (imports, or buys at Twilio) and who answers them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from bvrai.identity.auth import require
from bvrai.identity.principal import Principal
from bvrai.kit.context import AppContext, Ctx, Session
from bvrai.kit.errors import problem_responses
from bvrai.kit.pagination import Page, PageParams, page_params
from bvrai.telephony import service
from bvrai.telephony.models import PhoneNumber
from bvrai.telephony.schemas import AvailableNumberOut, PhoneNumberIn, PhoneNumberOut, PhoneNumberPatch

router = APIRouter(prefix="/v1/phone-numbers", tags=["phone numbers"])
Reader = Annotated[Principal, Depends(require("phone_numbers:read"))]
Writer = Annotated[Principal, Depends(require("phone_numbers:write"))]
Pages = Annotated[PageParams, Depends(page_params)]
NumberId = Annotated[str, Path(max_length=64)]
READ = problem_responses(401, 403, 404, 422, 429)
WRITE = problem_responses(401, 403, 404, 409, 422, 429, 502)


def number_out(ctx: AppContext, row: PhoneNumber) -> PhoneNumberOut:
    return PhoneNumberOut(
        id=row.id,
        number=row.number,
        carrier=row.carrier,
        credential_id=row.credential_id,
        carrier_number_id=row.carrier_number_id,
        name=row.name,
        inbound_agent_id=row.inbound_agent_id,
        voice_url=service.voice_url(ctx, row.carrier),
        status_url=service.status_url(ctx, row.carrier),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@router.post("", response_model=PhoneNumberOut, status_code=201, responses=WRITE)
async def create_number(data: PhoneNumberIn, ctx: Ctx, principal: Writer, session: Session) -> PhoneNumberOut:
    """Connect a number: import one the org owns at its carrier, or buy it (Twilio, `buy: true`).

    A bought number's voice and status webhooks point at this deployment already; for an imported
    one, set the returned `voice_url` and `status_url` at the carrier.
    """
    row = await service.create_number(session, ctx=ctx, principal=principal, data=data.model_dump())
    return number_out(ctx, row)


@router.get("", response_model=Page[PhoneNumberOut], responses=READ)
async def list_numbers(ctx: Ctx, principal: Reader, session: Session, pages: Pages) -> Page[PhoneNumberOut]:
    rows, cursor = await service.list_numbers(session, principal=principal, params=pages)
    return Page(data=[number_out(ctx, r) for r in rows], next_cursor=cursor)


@router.get("/available", response_model=list[AvailableNumberOut], responses=WRITE)
async def available_numbers(
    ctx: Ctx,
    principal: Writer,
    session: Session,
    credential_id: Annotated[str, Query(max_length=64, description="The Twilio account's credential")],
    country: Annotated[str, Query(pattern=r"^[A-Z]{2}$")] = "US",
    area_code: Annotated[str | None, Query(pattern=r"^[0-9]{2,5}$")] = None,
    contains: Annotated[str | None, Query(pattern=r"^[0-9*]{1,16}$")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> list[AvailableNumberOut]:
    """Search numbers a Twilio account can buy (then `POST /v1/phone-numbers` with `buy: true`)."""
    found = await service.available_numbers(
        session,
        ctx=ctx,
        principal=principal,
        credential_id=credential_id,
        country=country,
        area_code=area_code,
        contains=contains,
        limit=limit,
    )
    return [
        AvailableNumberOut(
            number=str(n.get("phone_number")),
            friendly_name=n.get("friendly_name"),
            locality=n.get("locality"),
            region=n.get("region"),
            country=n.get("iso_country"),
        )
        for n in found
        if n.get("phone_number")
    ]


@router.get("/{number_id}", response_model=PhoneNumberOut, responses=READ)
async def get_number(number_id: NumberId, ctx: Ctx, principal: Reader, session: Session) -> PhoneNumberOut:
    return number_out(ctx, await service.get_number(session, principal=principal, number_id=number_id))


@router.patch("/{number_id}", response_model=PhoneNumberOut, responses=WRITE)
async def update_number(
    number_id: NumberId, patch: PhoneNumberPatch, ctx: Ctx, principal: Writer, session: Session
) -> PhoneNumberOut:
    """Rename the number or change the agent that answers it (`null`: calls are refused)."""
    changes = patch.model_dump(include=patch.model_fields_set)
    row = await service.update_number(session, principal=principal, number_id=number_id, changes=changes)
    return number_out(ctx, row)


@router.delete("/{number_id}", status_code=204, responses=WRITE)
async def delete_number(number_id: NumberId, principal: Writer, session: Session) -> Response:
    """Disconnect the number from BVRAI (it stays yours at the carrier)."""
    await service.delete_number(session, principal=principal, number_id=number_id)
    return Response(status_code=204)
