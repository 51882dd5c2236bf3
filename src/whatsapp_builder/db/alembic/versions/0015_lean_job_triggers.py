"""Extension: the job queue's per-row triggers do only what a worker needs.

Procrastinate's schema writes a history row into `procrastinate_events` for every deferred job and another for
every scheduled one, and notifies listening workers of every inserted job, even one that may not run before its
`scheduled_at`. Each inbound message makes about four jobs, most of which the in-process fast path runs and
deletes within milliseconds: the bench measured these triggers among PostgreSQL's largest costs.

- The `deferred` and `scheduled` history rows are no longer written. The `started`, `succeeded`, `failed`,
  `retried` and `cancelled` rows still are (procrastinate's stalled-job recovery reads `started`).
- Listening workers are notified only of jobs that can run now; a worker finds a job scheduled later by its
  periodic poll, as it always did (a notification of such a job found nothing to fetch).

Revision ID: 0015_lean_job_triggers
Revises: 0014_unlogged_send_windows
"""

from __future__ import annotations

from alembic import op

revision = "0015_lean_job_triggers"
down_revision = "0014_unlogged_send_windows"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP TRIGGER procrastinate_trigger_status_events_insert_v1 ON procrastinate_jobs")
    op.execute("DROP TRIGGER procrastinate_trigger_scheduled_events_v1 ON procrastinate_jobs")
    op.execute("DROP TRIGGER procrastinate_jobs_notify_queue_job_inserted_v1 ON procrastinate_jobs")
    op.execute(
        "CREATE TRIGGER procrastinate_jobs_notify_queue_job_inserted_v1 AFTER INSERT ON procrastinate_jobs"
        " FOR EACH ROW WHEN (new.status = 'todo'::procrastinate_job_status"
        " AND (new.scheduled_at IS NULL OR new.scheduled_at <= now()))"
        " EXECUTE PROCEDURE procrastinate_notify_queue_job_inserted_v1()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER procrastinate_jobs_notify_queue_job_inserted_v1 ON procrastinate_jobs")
    op.execute(
        "CREATE TRIGGER procrastinate_jobs_notify_queue_job_inserted_v1 AFTER INSERT ON procrastinate_jobs"
        " FOR EACH ROW WHEN ((new.status = 'todo'::procrastinate_job_status))"
        " EXECUTE PROCEDURE procrastinate_notify_queue_job_inserted_v1()"
    )
    op.execute(
        "CREATE TRIGGER procrastinate_trigger_scheduled_events_v1 AFTER UPDATE OR INSERT ON procrastinate_jobs"
        " FOR EACH ROW WHEN ((new.scheduled_at IS NOT NULL AND new.status = 'todo'::procrastinate_job_status))"
        " EXECUTE PROCEDURE procrastinate_trigger_function_scheduled_events_v1()"
    )
    op.execute(
        "CREATE TRIGGER procrastinate_trigger_status_events_insert_v1 AFTER INSERT ON procrastinate_jobs"
        " FOR EACH ROW WHEN ((new.status = 'todo'::procrastinate_job_status))"
        " EXECUTE PROCEDURE procrastinate_trigger_function_status_events_insert_v1()"
    )
