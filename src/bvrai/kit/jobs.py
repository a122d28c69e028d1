"""Durable background jobs: the database row is the source of truth, taskiq carries the job ids.

The API, for domain code::

    from bvrai.kit import jobs

    @jobs.task("webhooks.deliver", max_attempts=1)
    async def deliver(ctx: AppContext, *, delivery_id: str) -> None:
        ...  # idempotent: a job runs at least once, rarely twice (a worker died after the work)

    # inside a request's (or any) transaction: a job row is added; it is handed to a worker only
    # after the transaction commits (a rolled-back transaction enqueues nothing)
    await jobs.enqueue(session, "webhooks.deliver", delivery_id=d.id)
    await jobs.enqueue(session, "campaigns.tick", key=f"campaign-tick:{c.id}", delay_s=1.0, campaign_id=c.id)

    @jobs.periodic("calls.sweep_queued", every_s=30)
    async def sweep(ctx: AppContext) -> None: ...  # runs in every worker process: keep it idempotent

A task ends in one of three ways: it returns (the job is ``done``), it raises ``RetryLater(delay_s)``
(the job waits and runs again, not counted as a failure: polling loops like a campaign's dialer
tick are written this way), or it raises anything else (retried with exponential backoff and jitter
up to ``max_attempts``, then ``failed`` with the error kept in ``last_error``). ``key`` makes a job
unique: enqueueing an existing key re-arms a finished job and leaves a waiting or running one alone.

How nothing is lost. A worker claims a job with a conditional UPDATE that gives it a lease
(``BVRAI_JOB_LEASE_S``); only the claim holder can settle it. The sweeper, in every process that
runs jobs, looks every ``BVRAI_JOB_POLL_S`` seconds for jobs that are due and were not handed out
lately (the after-commit kick was lost, or the job was delayed) and for running jobs whose lease
passed (their worker died), and kicks them again. Two workers kicking the same id is harmless: one
claim wins.

Brokers. Without ``BVRAI_REDIS_URL``, a process that runs jobs (``bvrai serve``, ``bvrai worker``)
uses taskiq's in-memory broker, and an API-only process just writes rows that a worker's sweeper
picks up. With it, every process kicks through taskiq-redis's list queue and every ``bvrai worker``
consumes from it, so N workers share the work. Task modules are listed in ``bvrai.app.JOB_MODULES``.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as SyncSession
from taskiq import AsyncBroker, InMemoryBroker
from taskiq.receiver import Receiver

from bvrai.kit.db import utcnow
from bvrai.kit.ids import new_id
from bvrai.kit.jobs_models import Job
from bvrai.kit.jobs_repository import JobRepository

if TYPE_CHECKING:
    from bvrai.kit.context import AppContext

log = structlog.get_logger(__name__)

TaskFn = Callable[..., Awaitable[None]]
PeriodicFn = Callable[["AppContext"], Awaitable[None]]
_PENDING_KEY = "bvrai.jobs.pending"
_LISTENING_KEY = "bvrai.jobs.listening"
_TASK_NAME = "bvrai.run_job"


class RetryLater(Exception):
    """Raised by a task: run it again in ``delay_s`` seconds (not counted as a failed attempt)."""

    def __init__(self, delay_s: float, reason: str = "") -> None:
        super().__init__(reason or f"retry in {delay_s:g} s")
        self.delay_s = delay_s


@dataclass(frozen=True)
class TaskDef:
    kind: str
    fn: TaskFn
    max_attempts: int
    backoff_s: float


@dataclass(frozen=True)
class PeriodicDef:
    name: str
    fn: PeriodicFn
    every_s: float
    setting: str | None = None  # a Settings field that, when present, gives the period instead


_TASKS: dict[str, TaskDef] = {}
_PERIODIC: dict[str, PeriodicDef] = {}


def task(kind: str, *, max_attempts: int = 5, backoff_s: float = 5.0) -> Callable[[TaskFn], TaskFn]:
    """Register ``fn(ctx, **payload)`` as the handler of jobs of ``kind``."""

    def register(fn: TaskFn) -> TaskFn:
        _TASKS[kind] = TaskDef(kind, fn, max_attempts, backoff_s)
        return fn

    return register


def periodic(name: str, *, every_s: float, setting: str | None = None) -> Callable[[PeriodicFn], PeriodicFn]:
    """Register ``fn(ctx)`` to run every ``every_s`` seconds in each process that runs jobs; with
    ``setting``, the period is that field of the process's settings (tests shorten it)."""

    def register(fn: PeriodicFn) -> PeriodicFn:
        _PERIODIC[name] = PeriodicDef(name, fn, every_s, setting)
        return fn

    return register


async def enqueue(
    session: AsyncSession, kind: str, *, key: str | None = None, delay_s: float = 0.0, **payload: Any
) -> Job:
    """Add a job to the session's transaction; it is kicked to a worker once the transaction commits."""
    if kind not in _TASKS:
        raise LookupError(f"no task registered for job kind {kind!r}")
    repo = JobRepository(session)
    run_at = utcnow() + timedelta(seconds=delay_s)
    job = await repo.by_key(key) if key else None
    if job is None:
        job = Job(id=new_id("job"), kind=kind, key=key, payload=payload, run_at=run_at, status="pending")
        repo.add(job)
    elif job.status in ("done", "failed"):
        job.status, job.payload, job.run_at, job.attempts, job.last_error = "pending", payload, run_at, 0, None
        job.kicked_at = None
    else:
        return job  # already waiting or running
    await repo.flush()
    if delay_s <= 0:
        _after_commit(session, job.id)
    return job


# --- kicking after commit ----------------------------------------------------------------------------------------

_KICKERS: dict[Engine, JobRunner] = {}
_background: set[asyncio.Task[None]] = set()


def _after_commit(session: AsyncSession, job_id: str) -> None:
    sync = session.sync_session
    if not sync.info.get(_LISTENING_KEY):
        # Left in place for the session's life: removing a listener while it runs is not allowed.
        sync.info[_LISTENING_KEY] = True
        event.listen(sync, "after_commit", _kick_pending)
        event.listen(sync, "after_rollback", _drop_pending)
    sync.info.setdefault(_PENDING_KEY, []).append(job_id)


def _drop_pending(sync: SyncSession) -> None:
    sync.info.pop(_PENDING_KEY, None)


def _kick_pending(sync: SyncSession) -> None:
    ids: list[str] = sync.info.pop(_PENDING_KEY, [])
    bind = sync.get_bind()
    runner = _KICKERS.get(bind) if isinstance(bind, Engine) else None
    if runner is None or not ids:
        return  # no broker here: a worker's sweeper finds the rows
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    kick = loop.create_task(runner.kick(ids))
    _background.add(kick)
    kick.add_done_callback(_background.discard)


# --- the runner --------------------------------------------------------------------------------------------------


class JobRunner:
    """One per process: kicks jobs into the broker and, when ``consume``, runs them and sweeps."""

    def __init__(self, ctx: AppContext, *, consume: bool, modules: Sequence[str] = ()) -> None:
        for module in modules:
            import_module(module)
        self.ctx = ctx
        self.consume = consume
        settings = ctx.settings
        self.poll_s = settings.job_poll_s
        self.lease_s = settings.job_lease_s
        self.broker: AsyncBroker | None
        if settings.redis_url:
            from taskiq_redis import ListQueueBroker

            self.broker = ListQueueBroker(settings.redis_url, queue_name=settings.job_queue)
        elif consume:
            self.broker = InMemoryBroker(max_async_tasks=settings.job_concurrency)
        else:
            self.broker = None
        if self.broker is not None:

            async def run_job(job_id: str) -> None:
                await self.run_job(job_id)

            self.broker.register_task(run_job, task_name=_TASK_NAME)
        self._loops: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self.broker is not None:
            if self.consume and self.ctx.settings.redis_url:
                self.broker.is_worker_process = True
            await self.broker.startup()
            _KICKERS[self.ctx.engine.sync_engine] = self
        if not self.consume:
            return
        self._loops.append(asyncio.create_task(self._sweep_loop()))
        for spec in _PERIODIC.values():
            self._loops.append(asyncio.create_task(self._periodic_loop(spec)))
        if self.ctx.settings.redis_url and self.broker is not None:
            receiver = Receiver(self.broker, max_async_tasks=self.ctx.settings.job_concurrency, run_startup=False)
            self._loops.append(asyncio.create_task(receiver.listen(self._stop)))

    async def stop(self, *, drain_s: float = 2.0) -> None:
        """Stop taking jobs, give running ones ``drain_s`` to finish, cancel the rest (their leases
        bring them back later), then close the broker."""
        self._stop.set()
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        _KICKERS.pop(self.ctx.engine.sync_engine, None)
        running: set[asyncio.Task[Any]] = set(_background)
        if isinstance(self.broker, InMemoryBroker):
            running |= set(self.broker._running_tasks)
        if running:
            _, pending = await asyncio.wait(running, timeout=drain_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=drain_s)
        if self.broker is not None:
            await self.broker.shutdown()

    async def kick(self, job_ids: Sequence[str]) -> None:
        if self.broker is None:
            return
        kicker = self.broker.find_task(_TASK_NAME)
        assert kicker is not None
        for job_id in job_ids:
            try:
                await kicker.kiq(job_id)
            except Exception:
                log.warning("job_kick_failed", job_id=job_id, exc_info=True)  # the sweeper retries

    async def sweep_once(self) -> int:
        """Kick every owed job once; the number kicked."""
        now = utcnow()
        async with self.ctx.sessions() as session:
            repo = JobRepository(session)
            ids = list(await repo.owed(now=now, kick_grace_s=max(self.poll_s * 5, 5.0), limit=200))
            await repo.mark_kicked(ids, now)
            await session.commit()
        await self.kick(ids)
        return len(ids)

    async def _sweep_loop(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception:
                log.warning("job_sweep_failed", exc_info=True)
            await asyncio.sleep(self.poll_s)

    async def _periodic_loop(self, spec: PeriodicDef) -> None:
        """First run at start (what piled up while no worker ran), then every ``every_s``."""
        while True:
            try:
                await spec.fn(self.ctx)
            except Exception:
                log.warning("periodic_job_failed", name=spec.name, exc_info=True)
            every_s = float(getattr(self.ctx.settings, spec.setting)) if spec.setting else spec.every_s
            await asyncio.sleep(every_s * random.uniform(0.9, 1.1))  # noqa: S311 - spreading, not secrecy

    async def run_job(self, job_id: str) -> None:
        """Claim, run and settle one job; a job someone else holds, or not yet due, is left alone."""
        claim = secrets.token_hex(8)
        async with self.ctx.sessions() as session:
            repo = JobRepository(session)
            if not await repo.claim(job_id, claim=claim, now=utcnow(), lease_s=self.lease_s):
                return
            job = await repo.get(job_id)
            await session.commit()
        assert job is not None
        spec = _TASKS.get(job.kind)
        values: dict[str, Any]
        try:
            if spec is None:
                raise LookupError(f"no task registered for job kind {job.kind!r}")
            await spec.fn(self.ctx, **job.payload)
            values = {"status": "done", "last_error": None}
        except RetryLater as later:
            values = {"status": "pending", "run_at": utcnow() + timedelta(seconds=later.delay_s), "attempts": 0}
        except Exception as exc:
            log.warning("job_failed", job_id=job_id, kind=job.kind, attempt=job.attempts, exc_info=True)
            error = f"{type(exc).__name__}: {exc}"[:2000]
            if spec is not None and job.attempts < spec.max_attempts:
                delay = spec.backoff_s * 2 ** (job.attempts - 1) * random.uniform(1.0, 1.25)  # noqa: S311
                values = {"status": "pending", "run_at": utcnow() + timedelta(seconds=delay), "last_error": error}
            else:
                values = {"status": "failed", "last_error": error}
        values |= {"lease_until": None, "claim": None, "kicked_at": None, "updated_at": utcnow()}
        async with self.ctx.sessions() as session:
            settled = await JobRepository(session).settle(job_id, claim=claim, values=values)
            await session.commit()
        if not settled:
            log.warning("job_lease_lost", job_id=job_id, kind=job.kind)
        elif values["status"] == "pending" and values["run_at"] <= utcnow():
            await self.kick([job_id])

    async def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Tests: wait until no job is pending-and-due or running."""
        async with asyncio.timeout(timeout_s):
            while True:
                if not await self._busy():
                    return
                await asyncio.sleep(0.05)

    async def _busy(self) -> bool:
        async with self.ctx.sessions() as session:
            return await JobRepository(session).busy(utcnow())
