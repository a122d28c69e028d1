"""Every webhook query; tenant-scoped through ``kit.tenancy`` except where a job knows the row by id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update

from bvrai.kit.pagination import PageParams, paginate
from bvrai.kit.repository import Repository
from bvrai.kit.tenancy import scoped
from bvrai.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage


class WebhookRepository(Repository):
    async def endpoint(self, org_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        stmt = scoped(WebhookEndpoint, org_id).where(WebhookEndpoint.id == endpoint_id)
        return (await self.session.scalars(stmt)).first()

    async def endpoints(self, org_id: str, params: PageParams) -> tuple[list[WebhookEndpoint], str | None]:
        return await paginate(self.session, scoped(WebhookEndpoint, org_id), WebhookEndpoint.id, params)

    async def enabled_endpoints(self, org_id: str) -> Sequence[WebhookEndpoint]:
        stmt = scoped(WebhookEndpoint, org_id).where(WebhookEndpoint.enabled.is_(True))
        return (await self.session.scalars(stmt)).all()

    async def deliveries(
        self, org_id: str, endpoint_id: str, params: PageParams, status: str | None
    ) -> tuple[list[WebhookDelivery], str | None]:
        stmt = scoped(WebhookDelivery, org_id).where(WebhookDelivery.endpoint_id == endpoint_id)
        if status:
            stmt = stmt.where(WebhookDelivery.status == status)
        return await paginate(self.session, stmt, WebhookDelivery.id, params)

    async def delivery(self, org_id: str, delivery_id: str) -> WebhookDelivery | None:
        stmt = scoped(WebhookDelivery, org_id).where(WebhookDelivery.id == delivery_id)
        return (await self.session.scalars(stmt)).first()

    async def attempts_of(self, delivery_ids: Sequence[str]) -> Sequence[WebhookAttempt]:
        stmt = (
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(delivery_ids))
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)
        )
        return (await self.session.scalars(stmt)).all()

    # --- for the delivery job, which knows the delivery by id ---

    async def delivery_unscoped(self, delivery_id: str) -> WebhookDelivery | None:
        return await self.session.get(WebhookDelivery, delivery_id)

    async def endpoint_unscoped(self, endpoint_id: str) -> WebhookEndpoint | None:
        return await self.session.get(WebhookEndpoint, endpoint_id)

    async def message(self, message_id: str) -> WebhookMessage | None:
        return await self.session.get(WebhookMessage, message_id)

    async def count_failure(self, endpoint_id: str) -> int:
        """Add one to the endpoint's run of consecutive failures (in SQL: deliveries run in parallel)."""
        stmt = (
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(consecutive_failures=WebhookEndpoint.consecutive_failures + 1)
            .returning(WebhookEndpoint.consecutive_failures)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def disable_once(self, endpoint_id: str, *, reason: str, now: datetime) -> bool:
        """Disable an enabled endpoint; False when a parallel delivery's failure already did."""
        stmt = (
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled.is_(True))
            .values(enabled=False, disabled_reason=reason, updated_at=now)
        )
        return bool((await self.session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def reset_failures(self, endpoint_id: str) -> None:
        stmt = update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(consecutive_failures=0)
        await self.session.execute(stmt)
