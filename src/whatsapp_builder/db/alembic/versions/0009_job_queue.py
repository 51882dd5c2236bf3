"""Extension: the job queue's tables (procrastinate), which carry flow steps, deliveries and delays.

Revision ID: 0009_job_queue
Revises: 0008_status_backlog
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0009_job_queue"
down_revision = "0008_status_backlog"
branch_labels = None
depends_on = None

SCHEMA_FILE = Path(__file__).with_name("0009_job_queue_procrastinate_3_10.sql")


def upgrade() -> None:
    # The driver substitutes parameters, so the schema's literal % signs are doubled.
    op.get_bind().exec_driver_sql(SCHEMA_FILE.read_text(encoding="utf-8").replace("%", "%%"))


def downgrade() -> None:
    op.execute(
        """
        DO $$
        DECLARE item record;
        BEGIN
          FOR item IN SELECT tablename FROM pg_tables
                       WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate%' LOOP
            EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.tablename);
          END LOOP;
          FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                        JOIN pg_namespace n ON n.oid = p.pronamespace
                       WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%' LOOP
            EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.signature);
          END LOOP;
          FOR item IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                       WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate%' AND t.typtype IN ('e', 'c')
                         AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid AND c.relkind <> 'c') LOOP
            EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
          END LOOP;
        END
        $$;
        """
    )
