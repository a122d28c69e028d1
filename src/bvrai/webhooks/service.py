"""Webhook use cases: endpoints (CRUD, secret), emitting events, listing deliveries, redelivery.

For other domains, one function: ``emit_event(session, ctx=..., org_id=..., type=..., data=...)``.
It records the event in the caller's transaction and creates one delivery per enabled endpoint that
subscribes to the type (plus the agent's ``webhook_url`` when given); each delivery is a background
job that starts once the transaction commits (docs/webhooks.md).
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.audit.service import record
from bvrai.identity.principal import Principal
from bvrai.kit import jobs
from bvrai.kit.context import AppContext
from bvrai.kit.db import utcnow
from bvrai.kit.errors import Conflict, NotFound, ValidationFailed
from bvrai.kit.ids import new_id
from bvrai.kit.pagination import PageParams
from bvrai.kit.safe_http import BlockedDestination, FetchFailed, SafeHttpClient
from bvrai.kit.tenancy import found
from bvrai.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage
from bvrai.webhooks.repository import WebhookRepository
from bvrai.webhooks.schemas import EVENT_TYPES, OPT_IN_EVENTS, EndpointIn, EndpointPatch

DELIVER = "webhooks.deliver"


def secret_context(endpoint_id: str) -> str:
    return f"webhook-secret:{endpoint_id}"


def endpoint_secret(ctx: AppContext, endpoint: WebhookEndpoint) -> str:
    return ctx.keyring.decrypt(endpoint.secret, context=secret_context(endpoint.id))


async def _check_url(ctx: AppContext, url: str) -> None:
    """Refuse a URL the SSRF guard would refuse (loopback, private ranges) unless allow-listed."""
    async with SafeHttpClient(allow=ctx.settings.ssrf_allow) as client:
        try:
            await client.check_url(url)
        except BlockedDestination as exc:
            msg = f"the URL is refused: {exc.reason}"
            raise ValidationFailed(msg, errors=[{"loc": ["body", "url"], "msg": msg, "type": "value_error"}]) from exc
        except FetchFailed:
            pass  # the name does not resolve from here (yet): every delivery checks again


async def create_endpoint(
    session: AsyncSession, *, ctx: AppContext, principal: Principal, data: EndpointIn
) -> tuple[WebhookEndpoint, str]:
    url = str(data.url)
    await _check_url(ctx, url)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    endpoint = WebhookEndpoint(
        id=new_id("wh"),
        org_id=principal.org_id,
        url=url,
        events=sorted(set(data.events)),
        description=data.description,
        enabled=True,
        consecutive_failures=0,
    )
    endpoint.secret = ctx.keyring.encrypt(secret, context=secret_context(endpoint.id))
    repo = WebhookRepository(session)
    repo.add(endpoint)
    await repo.flush()
    await record(
        session,
        actor=principal.actor,
        action="webhook.create",
        target_type="webhook",
        target_id=endpoint.id,
        changes={"url": url, "events": endpoint.events},
    )
    return endpoint, secret


async def list_endpoints(
    session: AsyncSession, *, principal: Principal, params: PageParams
) -> tuple[list[WebhookEndpoint], str | None]:
    return await WebhookRepository(session).endpoints(principal.org_id, params)


async def get_endpoint(session: AsyncSession, *, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
    return found(await WebhookRepository(session).endpoint(principal.org_id, endpoint_id), "webhook")


async def update_endpoint(
    session: AsyncSession, *, ctx: AppContext, principal: Principal, endpoint_id: str, data: EndpointPatch
) -> WebhookEndpoint:
    endpoint = await get_endpoint(session, principal=principal, endpoint_id=endpoint_id)
    changes: dict[str, Any] = {}
    if data.url is not None:
        await _check_url(ctx, str(data.url))
        endpoint.url = changes["url"] = str(data.url)
    if data.events is not None:
        endpoint.events = changes["events"] = sorted(set(data.events))
    if "description" in data.model_fields_set:
        endpoint.description = changes["description"] = data.description
    if data.enabled is not None:
        endpoint.enabled = changes["enabled"] = data.enabled
        if data.enabled:
            endpoint.disabled_reason, endpoint.consecutive_failures = None, 0
        else:
            endpoint.disabled_reason = "disabled by a user"
    endpoint.updated_at = utcnow()
    await record(
        session,
        actor=principal.actor,
        action="webhook.update",
        target_type="webhook",
        target_id=endpoint.id,
        changes=changes,
    )
    return endpoint


async def delete_endpoint(session: AsyncSession, *, principal: Principal, endpoint_id: str) -> None:
    endpoint = await get_endpoint(session, principal=principal, endpoint_id=endpoint_id)
    endpoint.deleted_at = utcnow()
    endpoint.enabled = False
    await record(session, actor=principal.actor, action="webhook.delete", target_type="webhook", target_id=endpoint.id)


async def get_secret(session: AsyncSession, *, ctx: AppContext, principal: Principal, endpoint_id: str) -> str:
    return endpoint_secret(ctx, await get_endpoint(session, principal=principal, endpoint_id=endpoint_id))


def _body(type: str, data: dict[str, Any], occurred_at: datetime | None = None) -> dict[str, Any]:
    when = (occurred_at or utcnow()).astimezone(UTC)
    return {"type": type, "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"), "data": data}


async def send_test(session: AsyncSession, *, principal: Principal, endpoint_id: str) -> WebhookDelivery:
    """A ``webhook.test`` event to this endpoint alone, whatever its filter."""
    endpoint = await get_endpoint(session, principal=principal, endpoint_id=endpoint_id)
    if not endpoint.enabled:
        raise Conflict("the endpoint is disabled; enable it (PATCH enabled=true) first")
    repo = WebhookRepository(session)
    message = WebhookMessage(
        id=new_id("msg"),
        org_id=principal.org_id,
        type="webhook.test",
        body=_body("webhook.test", {"webhook_id": endpoint.id}),
    )
    repo.add(message)
    await repo.flush()
    return await _new_delivery(
        session, org_id=principal.org_id, message_id=message.id, endpoint_id=endpoint.id, url=endpoint.url
    )


def subscribed(endpoint: WebhookEndpoint, type: str) -> bool:
    if endpoint.events:
        return type in endpoint.events
    return type not in OPT_IN_EVENTS


async def emit_event(
    session: AsyncSession,
    *,
    org_id: str,
    type: str,
    data: dict[str, Any],
    agent_webhook_url: str | None = None,
    occurred_at: datetime | None = None,
) -> WebhookMessage | None:
    """Record an event and queue its deliveries (after the caller's commit); None when nobody listens.

    ``type`` is one of ``schemas.EVENT_TYPES``; ``data`` is kept thin (ids, statuses): receivers fetch
    the rest from the API. ``agent_webhook_url`` (an agent spec's ``webhook_url``) gets the event too,
    signed with the organization's signing secret (``GET /v1/organization/signing-secret``).
    """
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {type!r}")
    repo = WebhookRepository(session)
    endpoints = await repo.enabled_endpoints(org_id)
    urls: list[tuple[str | None, str]] = [(e.id, e.url) for e in endpoints if subscribed(e, type)]
    if agent_webhook_url and type not in OPT_IN_EVENTS:
        urls.append((None, agent_webhook_url))
    if not urls:
        return None
    message = WebhookMessage(id=new_id("msg"), org_id=org_id, type=type, body=_body(type, data, occurred_at))
    repo.add(message)
    await repo.flush()
    for endpoint_id, url in urls:
        await _new_delivery(session, org_id=org_id, message_id=message.id, endpoint_id=endpoint_id, url=url)
    return message


async def _new_delivery(
    session: AsyncSession, *, org_id: str, message_id: str, endpoint_id: str | None, url: str
) -> WebhookDelivery:
    repo = WebhookRepository(session)
    delivery = WebhookDelivery(
        id=new_id("whd"),
        org_id=org_id,
        endpoint_id=endpoint_id,
        message_id=message_id,
        url=url,
        status="pending",
        attempts=0,
    )
    repo.add(delivery)
    await repo.flush()
    await jobs.enqueue(session, DELIVER, delivery_id=delivery.id)
    return delivery


async def list_deliveries(
    session: AsyncSession, *, principal: Principal, endpoint_id: str, params: PageParams, status: str | None
) -> tuple[list[WebhookDelivery], str | None]:
    await get_endpoint(session, principal=principal, endpoint_id=endpoint_id)
    return await WebhookRepository(session).deliveries(principal.org_id, endpoint_id, params, status)


async def attempts_and_types(
    session: AsyncSession, *, deliveries: list[WebhookDelivery]
) -> tuple[dict[str, list[WebhookAttempt]], dict[str, str]]:
    repo = WebhookRepository(session)
    by_delivery: dict[str, list[WebhookAttempt]] = {d.id: [] for d in deliveries}
    for attempt in await repo.attempts_of([d.id for d in deliveries]):
        by_delivery[attempt.delivery_id].append(attempt)
    types: dict[str, str] = {}
    for d in deliveries:
        if d.message_id not in types:
            message = await repo.message(d.message_id)
            types[d.message_id] = message.type if message else ""
    return by_delivery, types


async def redeliver(
    session: AsyncSession, *, principal: Principal, endpoint_id: str, delivery_id: str
) -> WebhookDelivery:
    """Send a delivery's message to the endpoint again, as a new delivery with the same webhook-id."""
    endpoint = await get_endpoint(session, principal=principal, endpoint_id=endpoint_id)
    earlier = found(await WebhookRepository(session).delivery(principal.org_id, delivery_id), "delivery")
    if earlier.endpoint_id != endpoint.id:
        raise NotFound("delivery not found")
    if not endpoint.enabled:
        raise Conflict("the endpoint is disabled; enable it (PATCH enabled=true) first")
    delivery = await _new_delivery(
        session, org_id=principal.org_id, message_id=earlier.message_id, endpoint_id=endpoint.id, url=endpoint.url
    )
    await record(
        session,
        actor=principal.actor,
        action="webhook.redeliver",
        target_type="webhook",
        target_id=endpoint.id,
        changes={"message_id": earlier.message_id},
    )
    return delivery
