"""The delivery job: sign with Standard Webhooks, POST through the SSRF guard, log the attempt, retry.

Success is any 2xx; 410 Gone disables the endpoint; everything else (3xx included: redirects are
not followed), timeouts and connection errors are failures, retried after 5 s, 5 min, 30 min, 2 h,
5 h, 8 h and 8 h (about a day, jitter added; ``Retry-After`` on 429/502/503/504 is honoured when
longer). An endpoint whose deliveries fail ``BVRAI_WEBHOOK_DISABLE_AFTER`` times in a row is
disabled, and the org's other endpoints get a ``webhook.disabled`` event.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import timedelta

import structlog
from standardwebhooks import Webhook

from bvrai.audit.service import Actor, record
from bvrai.identity.signing import org_signing_secret
from bvrai.kit import jobs
from bvrai.kit.context import AppContext
from bvrai.kit.db import utcnow
from bvrai.kit.ids import new_id
from bvrai.kit.safe_http import SafeHttpClient, SafeHttpError, SafeResponse
from bvrai.webhooks import service
from bvrai.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from bvrai.webhooks.repository import WebhookRepository

log = structlog.get_logger(__name__)

RETRY_SCHEDULE_S = (5, 300, 1800, 7200, 18000, 28800, 28800)
THROTTLED = {429, 502, 503, 504}
REPLY_KEPT = 1024


@dataclass
class Outcome:
    status_code: int | None
    latency_ms: int
    body: str | None
    error: str | None
    retry_after_s: float | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@jobs.task(service.DELIVER, max_attempts=3, backoff_s=5.0)
async def deliver(ctx: AppContext, *, delivery_id: str) -> None:
    async with ctx.sessions() as session:
        repo = WebhookRepository(session)
        delivery = await repo.delivery_unscoped(delivery_id)
        if delivery is None or delivery.status != "pending":
            return
        endpoint = await repo.endpoint_unscoped(delivery.endpoint_id) if delivery.endpoint_id else None
        if endpoint is not None and (not endpoint.enabled or endpoint.deleted_at is not None):
            delivery.status = "canceled"
            await session.commit()
            return
        message = await repo.message(delivery.message_id)
        assert message is not None
        if endpoint is not None:
            secret = service.endpoint_secret(ctx, endpoint)
        else:
            secret = org_signing_secret(ctx.secret_key, message.org_id)
        url, msg_id, body = delivery.url, message.id, json.dumps(message.body, separators=(",", ":"))

    outcome = await _send(ctx, url=url, msg_id=msg_id, body=body, secret=secret)

    async with ctx.sessions() as session:
        repo = WebhookRepository(session)
        delivery = await repo.delivery_unscoped(delivery_id)
        assert delivery is not None
        delivery.attempts += 1
        delivery.last_status_code = outcome.status_code
        repo.add(
            WebhookAttempt(
                id=new_id("wha"),
                delivery_id=delivery.id,
                org_id=delivery.org_id,
                number=delivery.attempts,
                status_code=outcome.status_code,
                latency_ms=outcome.latency_ms,
                response_body=outcome.body,
                error=outcome.error,
            )
        )
        endpoint = await repo.endpoint_unscoped(delivery.endpoint_id) if delivery.endpoint_id else None
        retry_in = await _settle(ctx, repo, delivery, endpoint, outcome)
        await session.commit()
    if retry_in is not None:
        raise jobs.RetryLater(retry_in, f"attempt {delivery.attempts} failed")


async def _send(ctx: AppContext, *, url: str, msg_id: str, body: str, secret: str) -> Outcome:
    now = utcnow()
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body),
    }
    started = time.monotonic()
    response: SafeResponse | None = None
    error: str | None = None
    async with SafeHttpClient(
        allow=ctx.settings.ssrf_allow, max_redirects=0, total_timeout=20.0, user_agent="bvrai-webhooks"
    ) as client:
        try:
            response = await client.request(
                "POST", url, headers=headers, content=body.encode(), max_response_bytes=65536
            )
        except SafeHttpError as exc:
            error = exc.reason
    latency = int((time.monotonic() - started) * 1000)
    if response is None:
        return Outcome(None, latency, None, error, None)
    retry_after = response.headers.get("retry-after", "")
    return Outcome(
        response.status_code,
        latency,
        response.content[:REPLY_KEPT].decode("utf-8", "replace"),
        None,
        float(retry_after) if retry_after.isdigit() and response.status_code in THROTTLED else None,
    )


async def _settle(
    ctx: AppContext,
    repo: WebhookRepository,
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint | None,
    outcome: Outcome,
) -> float | None:
    """Write the delivery's new state; the seconds until the next try, or None when it is over."""
    delivery.next_attempt_at = None
    if outcome.ok:
        delivery.status = "succeeded"
        if endpoint is not None:
            await repo.reset_failures(endpoint.id)
        return None
    if endpoint is not None:
        if outcome.status_code == 410:
            delivery.status = "failed"
            await _disable(repo, endpoint, reason="the endpoint answered 410 Gone")
            return None
        failures = await repo.count_failure(endpoint.id)
        if failures >= ctx.settings.webhook_disable_after:
            delivery.status = "failed"
            await _disable(repo, endpoint, reason=f"{failures} failed deliveries in a row")
            return None
    if delivery.attempts > len(RETRY_SCHEDULE_S):
        delivery.status = "failed"
        return None
    delay = RETRY_SCHEDULE_S[delivery.attempts - 1] * ctx.settings.webhook_retry_scale
    delay *= random.uniform(1.0, 1.2)  # noqa: S311 - jitter, not secrecy
    if outcome.retry_after_s is not None:
        delay = max(delay, outcome.retry_after_s)
    delivery.next_attempt_at = utcnow() + timedelta(seconds=delay)
    return delay


async def _disable(repo: WebhookRepository, endpoint: WebhookEndpoint, *, reason: str) -> None:
    # Deliveries to one endpoint run in parallel: the first failure past the threshold disables it
    # and tells the owner; the ones still in flight find it disabled and keep that first reason.
    if not await repo.disable_once(endpoint.id, reason=reason, now=utcnow()):
        return
    await repo.session.refresh(endpoint)
    log.warning("webhook_endpoint_disabled", endpoint_id=endpoint.id, reason=reason)
    await record(
        repo.session,
        actor=Actor(org_id=endpoint.org_id, actor_type="system", actor_id=None),
        action="webhook.disable",
        target_type="webhook",
        target_id=endpoint.id,
        changes={"reason": reason},
    )
    await service.emit_event(
        repo.session,
        org_id=endpoint.org_id,
        type="webhook.disabled",
        data={"webhook_id": endpoint.id, "url": endpoint.url, "reason": reason},
    )
