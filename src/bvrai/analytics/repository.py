"""Aggregates over one organization's calls, per UTC day, each query confined to the org."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Select, and_, case, cast, func, select
from sqlalchemy.sql.elements import ColumnElement

from bvrai.calls.models import Call
from bvrai.kit.ids import id_floor
from bvrai.kit.repository import Repository
from bvrai.kit.tenancy import restrict


@dataclass(frozen=True)
class DayRow:
    day: str  # YYYY-MM-DD (UTC)
    calls: int
    seconds: float
    ended: int
    completed: int


class AnalyticsRepository(Repository):
    def _day(self) -> ColumnElement[str]:
        if self.session.get_bind().dialect.name == "postgresql":
            return func.to_char(func.timezone("UTC", Call.created_at), "YYYY-MM-DD")
        return func.strftime("%Y-%m-%d", Call.created_at)

    def _window(
        self, stmt: Select[Any], org_id: str, since: datetime, until: datetime, agent_id: str | None
    ) -> Select[Any]:
        # The id bounds repeat the time bounds so the (org_id, id) index narrows the scan to the window.
        stmt = restrict(stmt, Call, org_id).where(
            Call.created_at >= since,
            Call.created_at < until,
            Call.id >= id_floor("call", since),
            Call.id < id_floor("call", until),
        )
        return stmt.where(Call.agent_id == agent_id) if agent_id else stmt

    async def daily(self, org_id: str, since: datetime, until: datetime, agent_id: str | None = None) -> list[DayRow]:
        day = self._day().label("day")
        ended = Call.ended_at.is_not(None)
        stmt: Select[Any] = select(  # type: ignore[assignment]
            day,
            func.count().label("calls"),
            func.coalesce(func.sum(Call.duration_s), 0.0).label("seconds"),
            func.sum(case((ended, 1), else_=0)).label("ended"),
            func.sum(case((and_(ended, Call.status == "completed"), 1), else_=0)).label("completed"),
        )
        stmt = self._window(stmt, org_id, since, until, agent_id).group_by(day).order_by(day)
        rows = (await self.session.execute(stmt)).all()
        return [
            DayRow(r.day, int(r.calls), float(r.seconds or 0), int(r.ended or 0), int(r.completed or 0)) for r in rows
        ]

    async def latency_by_day(
        self, org_id: str, since: datetime, until: datetime, agent_id: str | None = None
    ) -> dict[str, tuple[float | None, float | None]]:
        """Per day: the median and 90th percentile of the calls' median voice-to-voice latency (ms)."""
        p50 = cast(Call.latency["p50_ms"].as_float(), Float)
        if self.session.get_bind().dialect.name == "postgresql":
            day = self._day().label("day")
            stmt = select(
                day,
                func.percentile_cont(0.5).within_group(p50).label("p50"),
                func.percentile_cont(0.9).within_group(p50).label("p90"),
            ).where(p50.is_not(None))
            stmt = self._window(stmt, org_id, since, until, agent_id)
            rows = (await self.session.execute(stmt.group_by(day))).all()
            return {r.day: (_num(r.p50), _num(r.p90)) for r in rows}
        day = self._day().label("day")
        stmt = self._window(select(day, p50.label("v")).where(p50.is_not(None)), org_id, since, until, agent_id)
        values: dict[str, list[float]] = defaultdict(list)
        for d, v in (await self.session.execute(stmt)).all():
            values[d].append(float(v))
        return {d: (percentile(vs, 0.5), percentile(vs, 0.9)) for d, vs in values.items()}


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks, as PostgreSQL's percentile_cont does."""
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
