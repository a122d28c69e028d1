"""The per-organization limit on simultaneous phone calls, held across every process.

A phone call (inbound or outbound) takes a slot when it is created and gives it back when it ends.
Where the slots live depends on the deployment:

- with Redis (``BVRAI_REDIS_URL``): one sorted set per org, ``call id -> lease expiry``; taking a
  slot is one Lua script (drop expired leases, count, add), so any number of api/media/worker
  processes share the count exactly. A lease outlives the longest call (``CALL_LEASE_S``), so the slot
  of a call whose process died comes back by itself;
- without Redis: the database is the count (calls of the org in a live state); on PostgreSQL a
  transaction-scoped advisory lock serialises the count and the insert across processes until the
  caller's transaction commits; on SQLite the database's write lock does.

Campaigns call ``check_and_take`` through ``telephony.service.place_outbound_call``; a dialer that
wants to pace itself reads ``limit_for`` and ``active_calls``.
"""

from __future__ import annotations

import time
from datetime import timedelta

from redis.asyncio import Redis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.calls.models import Call
from bvrai.kit.context import AppContext
from bvrai.kit.db import utcnow
from bvrai.kit.errors import RateLimited

LIVE = ("queued", "ringing", "in-progress")
PHONE = ("inbound", "outbound")
CALL_LEASE_S = 4 * 3600
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class CallLimitReached(RateLimited):
    slug, title = "concurrent-call-limit", "Concurrent call limit reached"


def limit_for(ctx: AppContext, org_id: str) -> int:
    """Simultaneous phone calls the org may have (``BVRAI_MAX_CONCURRENT_CALLS``)."""
    return ctx.settings.max_concurrent_calls


def _key(org_id: str) -> str:
    return f"bvrai:calls:live:{org_id}"


def _limit_problem(limit: int) -> CallLimitReached:
    return CallLimitReached(
        f"the organization already has {limit} live phone call(s), its limit; retry when one ends",
        headers={"Retry-After": "5"},
    )


async def active_calls(session: AsyncSession, *, ctx: AppContext, org_id: str) -> int:
    """Live phone calls of the org right now (Redis leases when configured, else the database)."""
    if ctx.settings.redis_url:
        async with Redis.from_url(ctx.settings.redis_url) as redis:
            await redis.zremrangebyscore(_key(org_id), "-inf", time.time())
            return int(await redis.zcard(_key(org_id)))
    return await _count_live(session, org_id)


async def check_and_take(session: AsyncSession, *, ctx: AppContext, org_id: str, call_id: str) -> None:
    """Take a slot for ``call_id`` or raise ``CallLimitReached`` (a 429 problem).

    Without Redis the slot is the call row itself: insert the call in the same transaction, after
    this returns and before it commits."""
    limit = limit_for(ctx, org_id)
    if ctx.settings.redis_url:
        now = time.time()
        async with Redis.from_url(ctx.settings.redis_url) as redis:
            args: list[str | int | float] = [now, limit, call_id, now + CALL_LEASE_S, CALL_LEASE_S + 60]
            taken = await redis.eval(_ACQUIRE, 1, _key(org_id), *args)
        if not taken:
            raise _limit_problem(limit)
        return
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"calls:{org_id}"})
    else:
        # SQLite: a write takes the database's write lock, held by this transaction until it commits.
        await session.execute(text("UPDATE organizations SET id = id WHERE id = :org"), {"org": org_id})
    if await _count_live(session, org_id) >= limit:
        raise _limit_problem(limit)


async def release(ctx: AppContext, *, org_id: str, call_id: str) -> None:
    """Give the call's slot back (a no-op without Redis: the ended call no longer counts)."""
    if not ctx.settings.redis_url:
        return
    async with Redis.from_url(ctx.settings.redis_url) as redis:
        await redis.zrem(_key(org_id), call_id)


async def _count_live(session: AsyncSession, org_id: str) -> int:
    # A call stuck in a live state past any call's length (a lost status callback) stops counting.
    since = utcnow() - timedelta(seconds=CALL_LEASE_S)
    stmt = select(func.count(Call.id)).where(
        Call.org_id == org_id, Call.status.in_(LIVE), Call.direction.in_(PHONE), Call.created_at > since
    )
    return int(await session.scalar(stmt) or 0)
