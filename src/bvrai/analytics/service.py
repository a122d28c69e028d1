"""The overview: KPIs and daily series over the last N days of an organization's calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.analytics.repository import AnalyticsRepository, percentile
from bvrai.identity.principal import Principal
from bvrai.kit.db import utcnow

MAX_DAYS = 365


@dataclass
class Series:
    days: list[str] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    minutes: list[float] = field(default_factory=list)
    success_rate: list[float | None] = field(default_factory=list)
    latency_p50_ms: list[float | None] = field(default_factory=list)
    latency_p90_ms: list[float | None] = field(default_factory=list)


@dataclass
class Overview:
    days: int
    since: datetime
    calls: int
    minutes: float
    success_rate: float | None  # completed / ended, 0..1; None before any call ended
    latency_p50_ms: float | None  # the median of the per-day medians
    latency_p90_ms: float | None
    series: Series


async def overview(
    session: AsyncSession, *, principal: Principal, days: int = 30, agent_id: str | None = None
) -> Overview:
    """Every day of the window appears in the series, with zero calls where there were none."""
    principal.ensure("analytics:read")
    days = max(1, min(days, MAX_DAYS))
    today = utcnow().date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    repo = AnalyticsRepository(session)
    rows = {r.day: r for r in await repo.daily(principal.org_id, since, agent_id)}
    latency = await repo.latency_by_day(principal.org_id, since, agent_id)

    series = Series()
    total_calls, total_seconds, total_ended, total_completed = 0, 0.0, 0, 0
    for offset in range(days):
        day = (first + timedelta(days=offset)).isoformat()
        row = rows.get(day)
        calls, seconds = (row.calls, row.seconds) if row else (0, 0.0)
        ended, completed = (row.ended, row.completed) if row else (0, 0)
        p50, p90 = latency.get(day, (None, None))
        series.days.append(day)
        series.calls.append(calls)
        series.minutes.append(round(seconds / 60, 1))
        series.success_rate.append(round(completed / ended * 100, 1) if ended else None)
        series.latency_p50_ms.append(round(p50) if p50 is not None else None)
        series.latency_p90_ms.append(round(p90) if p90 is not None else None)
        total_calls += calls
        total_seconds += seconds
        total_ended += ended
        total_completed += completed
    p50s = [v for v in series.latency_p50_ms if v is not None]
    p90s = [v for v in series.latency_p90_ms if v is not None]
    return Overview(
        days=days,
        since=since,
        calls=total_calls,
        minutes=round(total_seconds / 60, 1),
        success_rate=(total_completed / total_ended) if total_ended else None,
        latency_p50_ms=percentile(p50s, 0.5),
        latency_p90_ms=percentile(p90s, 0.5),
        series=series,
    )
