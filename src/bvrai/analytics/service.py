"""The overview: KPIs and daily series over the last N days of an organization's calls.

A day's figures stop changing once its last call can no longer change (calls last at most 4 hours;
a margin covers the writes that follow a call's end). Such finished days are computed once per
process and kept in a bounded in-memory cache; the recent days are always computed from the
database, so a new call shows at once. With 100k calls this keeps the overview's queries to the
last couple of days' rows (docs/dashboard.md, docs/benchmarks.md).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.analytics.repository import AnalyticsRepository, DayRow, percentile
from bvrai.identity.principal import Principal
from bvrai.kit.db import utcnow

MAX_DAYS = 365
FINAL_AFTER = timedelta(hours=6)  # after a day's end: longer than the longest call (max_duration_s <= 4 h)
CACHE_SIZE = 50_000  # (org, agent filter, day) entries; each is a few numbers


@dataclass(frozen=True)
class DayStats:
    row: DayRow
    p50: float | None
    p90: float | None


_finished: OrderedDict[tuple[str, str, str], DayStats] = OrderedDict()


def _remember(key: tuple[str, str, str], stats: DayStats) -> None:
    _finished[key] = stats
    _finished.move_to_end(key)
    while len(_finished) > CACHE_SIZE:
        _finished.popitem(last=False)


def forget_finished_days() -> None:
    """Drop the cache (tests, or after importing historical calls)."""
    _finished.clear()


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
    latency_p90_ms: float | None  # the median of the per-day 90th percentiles
    series: Series


def _start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def _days(
    repo: AnalyticsRepository, org_id: str, agent_id: str | None, first: date, last: date
) -> dict[str, DayStats]:
    """Stats of the days first..last (inclusive) straight from the database; days without calls are absent."""
    since, until = _start(first), _start(last) + timedelta(days=1)
    rows = {r.day: r for r in await repo.daily(org_id, since, until, agent_id)}
    latency = await repo.latency_by_day(org_id, since, until, agent_id)
    return {day: DayStats(row, *latency.get(day, (None, None))) for day, row in rows.items()}


async def overview(
    session: AsyncSession, *, principal: Principal, days: int = 30, agent_id: str | None = None
) -> Overview:
    """Every day of the window appears in the series, with zero calls where there were none."""
    principal.ensure("analytics:read")
    days = max(1, min(days, MAX_DAYS))
    now = utcnow()
    today = now.date()
    first = today - timedelta(days=days - 1)
    dates = [first + timedelta(days=n) for n in range(days)]
    final = [d for d in dates if _start(d) + timedelta(days=1) + FINAL_AFTER <= now]
    scope = agent_id or ""
    repo = AnalyticsRepository(session)

    stats: dict[str, DayStats] = {}
    missing = [d for d in final if (principal.org_id, scope, d.isoformat()) not in _finished]
    if missing:
        fetched = await _days(repo, principal.org_id, agent_id, missing[0], missing[-1])
        empty = DayStats(DayRow("", 0, 0.0, 0, 0), None, None)
        for d in missing:
            _remember((principal.org_id, scope, d.isoformat()), fetched.get(d.isoformat(), empty))
    for d in final:
        key = (principal.org_id, scope, d.isoformat())
        stats[d.isoformat()] = _finished[key]
        _finished.move_to_end(key)
    recent = [d for d in dates if d not in final]
    if recent:
        stats.update(await _days(repo, principal.org_id, agent_id, recent[0], recent[-1]))

    series = Series()
    total_calls, total_seconds, total_ended, total_completed = 0, 0.0, 0, 0
    for d in dates:
        day = d.isoformat()
        s = stats.get(day)
        row = s.row if s else DayRow(day, 0, 0.0, 0, 0)
        series.days.append(day)
        series.calls.append(row.calls)
        series.minutes.append(round(row.seconds / 60, 1))
        series.success_rate.append(round(row.completed / row.ended * 100, 1) if row.ended else None)
        series.latency_p50_ms.append(round(s.p50) if s and s.p50 is not None else None)
        series.latency_p90_ms.append(round(s.p90) if s and s.p90 is not None else None)
        total_calls += row.calls
        total_seconds += row.seconds
        total_ended += row.ended
        total_completed += row.completed
    p50s = [v for v in series.latency_p50_ms if v is not None]
    p90s = [v for v in series.latency_p90_ms if v is not None]
    return Overview(
        days=days,
        since=_start(first),
        calls=total_calls,
        minutes=round(total_seconds / 60, 1),
        success_rate=(total_completed / total_ended) if total_ended else None,
        latency_p50_ms=percentile(p50s, 0.5),
        latency_p90_ms=percentile(p90s, 0.5),
        series=series,
    )
