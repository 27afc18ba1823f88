"""change events: NOTIFY on commit, and the app role may prune them

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

Issue 15, PostgreSQL only (SQLite: nothing).

1. A statement-level trigger on `change_events` runs `pg_notify('dpor_change_events', '')` after an INSERT (a
   mutation wrote an event) and after an UPDATE of `sequence` (the sequencer published some). The notification
   is sent when the transaction commits, and not at all when it rolls back; identical notifications of one
   transaction are sent once. Each gateway process LISTENs and polls at once (db/change_notifications.py). The
   payload is empty: it says "look", the pollers read what there is by sequence, so a lost notification costs
   only the poll interval.
2. Retention (resolvers/retention.py, both databases): the sweep prunes finished deliveries and published events
   past DPOR_CHANGE_EVENT_RETENTION_DAYS, oldest first, through an index on each table's instant; the app role
   may DELETE change events (it still cannot UPDATE any column but `sequence`: events stay append-only).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "dpor_app"
CHANNEL = "dpor_change_events"


def upgrade() -> None:
    op.create_index("ix_change_events_occurred_at", "change_events", ["occurred_at"])
    op.create_index("ix_webhook_deliveries_created_at", "webhook_deliveries", ["created_at"])
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION change_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER change_events_notify AFTER INSERT OR UPDATE OF sequence ON change_events"
        " FOR EACH STATEMENT EXECUTE FUNCTION change_events_notify()"
    )
    op.execute(f"GRANT DELETE ON change_events TO {ROLE}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"REVOKE DELETE ON change_events FROM {ROLE}")
        op.execute("DROP TRIGGER change_events_notify ON change_events")
        op.execute("DROP FUNCTION change_events_notify()")
    op.drop_index("ix_webhook_deliveries_created_at", "webhook_deliveries")
    op.drop_index("ix_change_events_occurred_at", "change_events")
