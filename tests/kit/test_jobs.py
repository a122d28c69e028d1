"""Durable jobs: enqueued only when the transaction commits, run once per claim, and a job lost with
its worker (a crash after the claim, or a kick that never reached a broker) is handed out again."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bvrai.kit import jobs
from bvrai.kit.context import AppContext
from bvrai.kit.jobs_models import Job
from tests.conftest import make_settings, prepare_schema
from tests.polling import eventually

RAN: Counter[str] = Counter()


@jobs.task("test.count", max_attempts=3, backoff_s=0.05)
async def count(ctx: AppContext, *, name: str, fail_times: int = 0) -> None:
    RAN[name] += 1
    if RAN[name] <= fail_times:
        raise RuntimeError(f"failure {RAN[name]}")


@jobs.task("test.hang")
async def hang(ctx: AppContext, *, name: str) -> None:
    RAN[name] += 1
    if RAN[name] == 1:
        await asyncio.sleep(3600)  # the first worker "dies" while here


@jobs.task("test.poll")
async def poll(ctx: AppContext, *, name: str, until: int) -> None:
    RAN[name] += 1
    if RAN[name] < until:
        raise jobs.RetryLater(0.05)


@pytest.fixture
async def ctx(database_url: str, tmp_path: Path) -> Any:
    RAN.clear()  # both backends' runs of a test share this process
    await prepare_schema(database_url)
    context = AppContext.create(make_settings(database_url, tmp_path, job_poll_s=0.1, job_lease_s=1.0))
    yield context
    await context.close()


async def job(ctx: AppContext, job_id: str) -> Job:
    async with ctx.sessions() as session:
        row = await session.get(Job, job_id)
        assert row is not None
        return row


async def until_status(ctx: AppContext, job_id: str, status: str) -> None:
    async def reached() -> bool:
        return (await job(ctx, job_id)).status == status

    await eventually(reached)


async def test_a_job_runs_after_commit_and_a_rolled_back_one_never(ctx: AppContext) -> None:
    runner = jobs.JobRunner(ctx, consume=True)
    await runner.start()
    try:
        async with ctx.sessions() as session:
            kept = await jobs.enqueue(session, "test.count", name="kept")
            await session.commit()
        async with ctx.sessions() as session:
            await jobs.enqueue(session, "test.count", name="dropped")
            await session.rollback()
        await runner.wait_idle()
        assert RAN["kept"] == 1 and RAN["dropped"] == 0
        assert (await job(ctx, kept.id)).status == "done"
    finally:
        await runner.stop()


async def test_a_failing_job_is_retried_with_backoff_then_given_up(ctx: AppContext) -> None:
    runner = jobs.JobRunner(ctx, consume=True)
    await runner.start()
    try:
        async with ctx.sessions() as session:
            flaky = await jobs.enqueue(session, "test.count", name="flaky", fail_times=2)
            broken = await jobs.enqueue(session, "test.count", name="broken", fail_times=99)
            await session.commit()
        await until_status(ctx, flaky.id, "done")
        await until_status(ctx, broken.id, "failed")
        assert RAN["flaky"] == 3 and RAN["broken"] == 3
        assert (await job(ctx, broken.id)).last_error == "RuntimeError: failure 3"
    finally:
        await runner.stop()


async def test_a_job_lost_with_its_worker_is_run_again_by_the_sweeper(ctx: AppContext) -> None:
    first = jobs.JobRunner(ctx, consume=True)
    await first.start()
    async with ctx.sessions() as session:
        lost = await jobs.enqueue(session, "test.hang", name="lost")
        await session.commit()

    async def started() -> bool:
        return RAN["lost"] > 0

    await eventually(started)
    await first.stop()  # the worker dies mid-job: the row stays "running" under its lease
    assert (await job(ctx, lost.id)).status == "running"

    second = jobs.JobRunner(ctx, consume=True)
    await second.start()
    try:
        await until_status(ctx, lost.id, "done")
        assert RAN["lost"] == 2
        assert (await job(ctx, lost.id)).attempts == 2
    finally:
        await second.stop()


async def test_a_job_enqueued_where_no_broker_runs_is_found_by_a_workers_sweeper(ctx: AppContext) -> None:
    api_only = jobs.JobRunner(ctx, consume=False)
    await api_only.start()
    async with ctx.sessions() as session:
        orphan = await jobs.enqueue(session, "test.count", name="orphan")
        await session.commit()
    await asyncio.sleep(0.3)
    assert RAN["orphan"] == 0
    worker = jobs.JobRunner(ctx, consume=True)
    await worker.start()
    try:
        await worker.wait_idle()
        assert RAN["orphan"] == 1 and (await job(ctx, orphan.id)).status == "done"
    finally:
        await worker.stop()
        await api_only.stop()


async def test_a_keyed_polling_job_runs_until_done_and_can_be_rearmed(ctx: AppContext) -> None:
    runner = jobs.JobRunner(ctx, consume=True)
    await runner.start()
    try:
        async with ctx.sessions() as session:
            first = await jobs.enqueue(session, "test.poll", key="poll:a", name="poll", until=3)
            again = await jobs.enqueue(session, "test.poll", key="poll:a", name="poll", until=3)
            await session.commit()
        assert again.id == first.id
        await until_status(ctx, first.id, "done")
        assert RAN["poll"] == 3
        async with ctx.sessions() as session:
            rearmed = await jobs.enqueue(session, "test.poll", key="poll:a", name="poll", until=4)
            await session.commit()
        assert rearmed.id == first.id
        await until_status(ctx, first.id, "done")
        assert RAN["poll"] == 4
    finally:
        await runner.stop()


async def test_with_redis_two_workers_share_the_jobs_and_run_each_once(database_url: str, tmp_path: Path) -> None:
    RAN.clear()
    await prepare_schema(database_url)
    queue = f"bvrai-test:{tmp_path.name}:{id(RAN)}"
    contexts = [
        AppContext.create(
            make_settings(database_url, tmp_path, job_poll_s=0.2, redis_url="redis://127.0.0.1:6379/0", job_queue=queue)
        )
        for _ in range(3)
    ]
    api, *workers = [jobs.JobRunner(c, consume=i > 0) for i, c in enumerate(contexts)]
    for runner in (api, *workers):
        await runner.start()
    try:
        async with contexts[0].sessions() as session:
            for i in range(40):
                await jobs.enqueue(session, "test.count", name=f"shared-{i}")
            await session.commit()
        await workers[0].wait_idle(timeout_s=120)  # 40 jobs on a shared 2-core machine
        assert [RAN[f"shared-{i}"] for i in range(40)] == [1] * 40
    finally:
        for runner in (api, *workers):
            await runner.stop()
        for c in contexts:
            await c.close()
