"""Extension: an index on the job queue's waiting jobs by lock.

The in-process fast path takes a conversation's waiting jobs by their lock, and the queue's own fetch checks,
for every candidate, whether an earlier job with the same lock waits: both become index lookups.

Revision ID: 0013_job_lock_index
Revises: 0012_unread_index
"""

from __future__ import annotations

from alembic import op

revision = "0013_job_lock_index"
down_revision = "0012_unread_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_procrastinate_jobs_waiting_lock ON procrastinate_jobs (lock, id)"
        " WHERE status IN ('todo', 'doing')"
    )
    # The queue's table churns (a row per job, deleted when done): vacuum it often so that dead rows do not
    # slow down every fetch.
    op.execute(
        "ALTER TABLE procrastinate_jobs SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500,"
        " autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 500)"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE procrastinate_jobs RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold,"
        " autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)"
    )
    op.execute("DROP INDEX ix_procrastinate_jobs_waiting_lock")
