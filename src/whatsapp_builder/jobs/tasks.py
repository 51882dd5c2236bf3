"""The tasks workers run, registered on the queue with the process's AppContext (no global state)."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import uuid

import procrastinate
from procrastinate import JobContext
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from procrastinate.worker import Worker

from whatsapp_builder.conversations.window_closing import announce_closed_windows
from whatsapp_builder.core.context import AppContext
from whatsapp_builder.flows import runner
from whatsapp_builder.flows.runner import RESUME_DELAY
from whatsapp_builder.jobs.health import JobLoopState
from whatsapp_builder.jobs.queue import MAINTENANCE_QUEUE
from whatsapp_builder.logging import get_logger
from whatsapp_builder.whatsapp import delivery, fast_path
from whatsapp_builder.whatsapp.inbound_service import PROCESS_INBOUND
from whatsapp_builder.whatsapp.outbox import DELIVER_MESSAGE, MARK_READ
from whatsapp_builder.whatsapp.rate_limit import prune_send_windows

log = get_logger(__name__)


class SendRetry(BaseRetryStrategy):
    """Retry a delivery when it raised RetryLater, after the delay it asked for (backoff with jitter)."""

    def get_retry_decision(self, *, exception: BaseException, job: procrastinate.jobs.Job) -> RetryDecision | None:
        if isinstance(exception, delivery.RetryLater):
            return RetryDecision(retry_in={"milliseconds": max(1, int(exception.delay * 1000))})
        return None


def register_tasks(context: AppContext) -> None:
    """Register the tasks on the context's queue (once: several apps may share one context in tests)."""
    app = context.jobs.app
    if DELIVER_MESSAGE in app.tasks:
        return

    @app.task(name=DELIVER_MESSAGE, pass_context=True, retry=SendRetry())
    async def deliver_message(job_context: JobContext, message_id: str) -> None:
        job = job_context.job
        await delivery.deliver_message(context, uuid.UUID(message_id), job.attempts)

    @app.task(name=MARK_READ, pass_context=True, retry=SendRetry())
    async def mark_read(job_context: JobContext, message_id: str) -> None:
        await delivery.mark_read(context, uuid.UUID(message_id), job_context.job.attempts)

    @app.task(name=PROCESS_INBOUND)
    async def process_inbound(conversation_id: str, message_ids: list[str]) -> None:
        await fast_path.run_flow_job(context, uuid.UUID(conversation_id), [uuid.UUID(m) for m in message_ids])

    # Timers that fire together share the hot-path pool with the fast path: a few at a time, so that a burst of
    # them cannot exhaust it (a job that times out waiting for a connection would fail).
    timers = asyncio.Semaphore(4)

    @app.task(name=RESUME_DELAY)
    async def resume_delay(conversation_id: str, context_id: str) -> None:
        async with timers:
            await runner.resume_delay(context, uuid.UUID(conversation_id), uuid.UUID(context_id))
        if context.inline.enabled:  # its replies were deferred for the fast path
            context.inline.submit(functools.partial(fast_path.deliver_soon, context, uuid.UUID(conversation_id)))

    @app.periodic(cron="* * * * *", periodic_id="maintenance")
    @app.task(name="maintenance", queue=MAINTENANCE_QUEUE, queueing_lock="maintenance")
    async def maintenance(timestamp: int) -> None:
        # The minute before this run's: each window that closed is announced by exactly one run.
        minute = dt.datetime.fromtimestamp(timestamp, dt.UTC)
        await announce_closed_windows(context, minute - dt.timedelta(minutes=1), minute)
        await prune_send_windows(context.engine)
        async with context.engine.begin() as connection:
            from sqlalchemy import text

            await connection.execute(
                text('DELETE FROM whatsapp_status_backlog WHERE "receivedAt" < :before'),
                {"before": dt.datetime.now(dt.UTC) - dt.timedelta(days=1)},
            )
        stalled = await app.job_manager.get_stalled_jobs()
        for job in stalled:
            log.warning("retrying a job whose worker stopped", job_id=job.id, task=job.task_name)
            await app.job_manager.retry_job(job)


class PromptWorker(Worker):
    """procrastinate's worker, looking for work again as soon as a job ends.

    A job held back by its lock (the next reply of a conversation waits for the previous one) becomes
    runnable when that job finishes, which sends no notification: without this it would wait for the next
    poll, adding up to a polling interval to every second reply.
    """

    async def _process_job(self, context: JobContext) -> None:
        try:
            await super()._process_job(context)
        finally:
            self._new_job_event.set()


async def run_worker(
    context: AppContext, *, concurrency: int | None = None, name: str = "worker", listen: bool = True
) -> None:
    """Run jobs until cancelled. Several workers, in any number of processes or hosts, may run at once.

    `listen=False` polls instead of waking on every new job: for the workers of a process whose fast path
    already does its own fresh jobs (they are there for what it leaves: retries, timers, other processes' jobs).
    """
    worker = PromptWorker(
        app=context.jobs.app,
        concurrency=concurrency or context.settings.worker_concurrency,
        name=name,
        wait=True,
        listen_notify=listen,
        fetch_job_polling_interval=context.settings.worker_poll_seconds,
        delete_jobs="successful",
        install_signal_handlers=False,
    )
    await worker.run()  # type: ignore[no-untyped-call]


# Waits between restarts of a worker that stopped on its own: doubling from the first, up to the last.
RESTART_SECONDS = (1.0, 30.0)
# A worker that ran this long before it stopped starts again after the shortest wait.
STEADY_SECONDS = 60.0


async def keep_worker_running(
    context: AppContext,
    *,
    concurrency: int | None = None,
    name: str = "worker",
    listen: bool = True,
    state: JobLoopState | None = None,
) -> None:
    """`run_worker` until cancelled, started again whenever it stops on its own.

    Procrastinate's worker stops itself when one of its side tasks fails: its listener (LISTEN for new jobs) does
    when the database goes away for a moment (a restart, a failover). The process would then carry on, or exit 0,
    with nobody doing jobs. So it is started again, after a wait that grows while it keeps failing."""
    wait, longest = RESTART_SECONDS
    current = asyncio.current_task()
    while True:
        started = asyncio.get_running_loop().time()
        if state is not None:
            state.running = True
        try:
            await run_worker(context, concurrency=concurrency, name=name, listen=listen)
            reason = "it stopped (its database connection failed)"
        except Exception as exc:  # the database unreachable as it starts or unregisters: same cure
            if current is not None and current.cancelling():
                # Asked to stop, while the database was gone: procrastinate's failure to unregister took the
                # place of the cancellation. Stopping is what was asked.
                raise asyncio.CancelledError from exc
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            if state is not None:
                state.running = False
        if current is not None and current.cancelling():
            raise asyncio.CancelledError
        if asyncio.get_running_loop().time() - started >= STEADY_SECONDS:
            wait = RESTART_SECONDS[0]
        log.warning("job worker stopped; starting it again", worker=name, reason=reason, in_seconds=wait)
        await asyncio.sleep(wait)
        wait = min(wait * 2, longest)
