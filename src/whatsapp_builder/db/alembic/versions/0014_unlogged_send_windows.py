"""Extension: the per-second send counters are an UNLOGGED table.

A counter lost in a crash costs nothing (the next second starts afresh), and a transaction that only touches
unlogged tables does not wait for the write-ahead log to reach the disk: taking send slots becomes one
autocommitted statement instead of a transaction with `SET LOCAL synchronous_commit`.

Revision ID: 0014_unlogged_send_windows
Revises: 0013_job_lock_index
"""

from __future__ import annotations

from alembic import op

revision = "0014_unlogged_send_windows"
down_revision = "0013_job_lock_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE whatsapp_send_windows SET UNLOGGED")


def downgrade() -> None:
    op.execute("ALTER TABLE whatsapp_send_windows SET LOGGED")
