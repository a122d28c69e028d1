from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from bvrai.identity.auth import require
from bvrai.identity.principal import Principal
from bvrai.kit.context import Ctx, Session
from bvrai.kit.errors import problem_responses
from bvrai.kit.pagination import Page, PageParams, page_params
from bvrai.webhooks import service
from bvrai.webhooks.models import WebhookDelivery
from bvrai.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    SecretOut,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
Reader = Annotated[Principal, Depends(require("webhooks:read"))]
Writer = Annotated[Principal, Depends(require("webhooks:write"))]
EndpointId = Annotated[str, Path(max_length=64)]
DeliveryId = Annotated[str, Path(max_length=64)]


@router.post("", response_model=EndpointCreated, status_code=201, responses=problem_responses(422))
async def create_endpoint(data: EndpointIn, ctx: Ctx, principal: Writer, session: Session) -> EndpointCreated:
    """Add an endpoint; the answer holds its `whsec_` signing secret. Loopback and private addresses are
    refused unless the server allow-lists them (BVRAI_SSRF_ALLOW)."""
    endpoint, secret = await service.create_endpoint(session, ctx=ctx, principal=principal, data=data)
    return EndpointCreated(**EndpointOut.model_validate(endpoint).model_dump(), secret=secret)


@router.get("", response_model=Page[EndpointOut])
async def list_endpoints(
    principal: Reader, session: Session, pages: Annotated[PageParams, Depends(page_params)]
) -> Page[EndpointOut]:
    rows, cursor = await service.list_endpoints(session, principal=principal, params=pages)
    return Page(data=[EndpointOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/{webhook_id}", response_model=EndpointOut)
async def get_endpoint(webhook_id: EndpointId, principal: Reader, session: Session) -> EndpointOut:
    return EndpointOut.model_validate(await service.get_endpoint(session, principal=principal, endpoint_id=webhook_id))


@router.patch("/{webhook_id}", response_model=EndpointOut)
async def update_endpoint(
    webhook_id: EndpointId, data: EndpointPatch, ctx: Ctx, principal: Writer, session: Session
) -> EndpointOut:
    """Change the URL, the event filter or the description; `enabled: true` re-enables a disabled endpoint."""
    endpoint = await service.update_endpoint(session, ctx=ctx, principal=principal, endpoint_id=webhook_id, data=data)
    return EndpointOut.model_validate(endpoint)


@router.delete("/{webhook_id}", status_code=204)
async def delete_endpoint(webhook_id: EndpointId, principal: Writer, session: Session) -> Response:
    await service.delete_endpoint(session, principal=principal, endpoint_id=webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/secret", response_model=SecretOut)
async def get_secret(webhook_id: EndpointId, ctx: Ctx, principal: Writer, session: Session) -> SecretOut:
    """The endpoint's signing secret (Standard Webhooks `whsec_`)."""
    return SecretOut(secret=await service.get_secret(session, ctx=ctx, principal=principal, endpoint_id=webhook_id))


async def _deliveries_out(session: Session, deliveries: list[WebhookDelivery]) -> list[DeliveryOut]:
    attempts, types = await service.attempts_and_types(session, deliveries=deliveries)
    return [
        DeliveryOut(
            id=d.id,
            message_id=d.message_id,
            event_type=types[d.message_id],
            url=d.url,
            status=d.status,
            attempts=[AttemptOut.model_validate(a) for a in attempts[d.id]],
            next_attempt_at=d.next_attempt_at,
            created_at=d.created_at,
        )
        for d in deliveries
    ]


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryOut])
async def list_deliveries(
    webhook_id: EndpointId,
    principal: Reader,
    session: Session,
    pages: Annotated[PageParams, Depends(page_params)],
    status: Annotated[Literal["pending", "succeeded", "failed", "canceled"] | None, Query()] = None,
) -> Page[DeliveryOut]:
    """Every delivery to this endpoint, newest first, with each attempt's status, latency and reply."""
    rows, cursor = await service.list_deliveries(
        session, principal=principal, endpoint_id=webhook_id, params=pages, status=status
    )
    return Page(data=await _deliveries_out(session, rows), next_cursor=cursor)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryOut,
    status_code=202,
    responses=problem_responses(409),
)
async def redeliver(
    webhook_id: EndpointId, delivery_id: DeliveryId, principal: Writer, session: Session
) -> DeliveryOut:
    """Send the delivery's event again (same `webhook-id`), as a new delivery."""
    delivery = await service.redeliver(session, principal=principal, endpoint_id=webhook_id, delivery_id=delivery_id)
    return (await _deliveries_out(session, [delivery]))[0]


@router.post("/{webhook_id}/test", response_model=DeliveryOut, status_code=202, responses=problem_responses(409))
async def send_test(webhook_id: EndpointId, principal: Writer, session: Session) -> DeliveryOut:
    """Send a `webhook.test` event to this endpoint, to check that it receives and verifies deliveries."""
    delivery = await service.send_test(session, principal=principal, endpoint_id=webhook_id)
    return (await _deliveries_out(session, [delivery]))[0]
