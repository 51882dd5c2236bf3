"""The plan for partitioning `messages` by month once it grows past tens of millions of rows.

`partition_messages_sql()` returns the DDL that turns the plain `messages` table into one partitioned by
RANGE ("timestamp"), keeping the seed's column names, its indexes (by name, now partitioned indexes), the
foreign keys and the lastMessageAt trigger. It is run by hand in a maintenance window (docs/schema.md) and
is exercised by tests/foundation/test_partitioning.py on a copy of the schema with data in it.

What changes, and why:
- The primary key becomes ("id", "timestamp"): PostgreSQL requires the partition key in every unique index.
- The unique WhatsApp id becomes unique per ("whatsappMessageId", "timestamp"). Meta redelivers an inbound
  message with the same id *and* the same timestamp, so a redelivery still conflicts; status updates find the
  message through the (non-unique) partitioned index on "whatsappMessageId".
"""

from __future__ import annotations

import datetime as dt


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def partition_name(month: dt.date) -> str:
    return f"messages_{month:%Y_%m}"


def create_month_partition_sql(month: dt.date) -> str:
    start = _month_start(month)
    end = _next_month(start)
    return (
        f'CREATE TABLE IF NOT EXISTS "{partition_name(start)}" PARTITION OF messages'
        f" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}');"
    )


def partition_messages_sql(first_month: dt.date, last_month: dt.date) -> str:
    """DDL converting `messages` into monthly partitions from `first_month` to `last_month` (inclusive),
    plus a default partition for anything outside them. One transaction; rows are copied, then names swap."""
    months: list[dt.date] = []
    month = _month_start(first_month)
    while month <= _month_start(last_month):
        months.append(month)
        month = _next_month(month)
    partitions = "\n".join(create_month_partition_sql(m) for m in months)
    return f"""
BEGIN;
LOCK TABLE messages IN ACCESS EXCLUSIVE MODE;
ALTER TABLE messages RENAME TO messages_unpartitioned;
ALTER TABLE messages_unpartitioned RENAME CONSTRAINT pk_messages TO pk_messages_unpartitioned;
ALTER TABLE messages_unpartitioned RENAME CONSTRAINT "uq_messages_whatsappMessageId"
  TO "uq_messages_unpartitioned_whatsappMessageId";
ALTER TABLE messages_unpartitioned RENAME CONSTRAINT "fk_messages_conversationId_conversations"
  TO "fk_messages_unpartitioned_conversationId";
ALTER TABLE messages_unpartitioned RENAME CONSTRAINT "fk_messages_senderId_users" TO "fk_messages_unpartitioned_senderId";
ALTER INDEX "idx_messages_conversationId_timestamp" RENAME TO "idx_messages_unpartitioned_conversationId_timestamp";
ALTER INDEX idx_messages_content_gin RENAME TO idx_messages_unpartitioned_content_gin;
ALTER INDEX "ix_messages_senderId" RENAME TO "ix_messages_unpartitioned_senderId";
DROP TRIGGER trg_messages_touch_conversation ON messages_unpartitioned;

CREATE TABLE messages (
  LIKE messages_unpartitioned INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS,
  CONSTRAINT pk_messages PRIMARY KEY ("id", "timestamp"),
  CONSTRAINT "uq_messages_whatsappMessageId" UNIQUE ("whatsappMessageId", "timestamp"),
  CONSTRAINT "fk_messages_conversationId_conversations" FOREIGN KEY ("conversationId")
    REFERENCES conversations (id) ON DELETE CASCADE,
  CONSTRAINT "fk_messages_senderId_users" FOREIGN KEY ("senderId") REFERENCES users (id)
) PARTITION BY RANGE ("timestamp");

{partitions}
CREATE TABLE IF NOT EXISTS messages_default PARTITION OF messages DEFAULT;

CREATE INDEX "idx_messages_conversationId_timestamp" ON messages ("conversationId", "timestamp" DESC);
CREATE INDEX idx_messages_content_gin ON messages USING gin (content);
CREATE INDEX "ix_messages_senderId" ON messages ("senderId");
CREATE INDEX "ix_messages_whatsappMessageId" ON messages ("whatsappMessageId");

INSERT INTO messages SELECT * FROM messages_unpartitioned;
DROP TABLE messages_unpartitioned;

CREATE TRIGGER trg_messages_touch_conversation
  AFTER INSERT ON messages
  REFERENCING NEW TABLE AS new_messages
  FOR EACH STATEMENT EXECUTE FUNCTION messages_touch_conversation();
COMMIT;
"""
