"""usage's subscription references checked per statement, not per row (PostgreSQL)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

Issue 16, ingest at 100,000 rows/s. A foreign key checks each inserted row on its own (one index probe and one
FOR KEY SHARE row lock through SPI per row): 3,000,000 of them for a large file's records, and as many again for
its daily rollup rows. usage_records and usage_daily_rollups keep the guarantee with two triggers instead:

- `usage_subscriptions_exist`, AFTER INSERT FOR EACH STATEMENT with the statement's rows as a transition table:
  one statement locks the distinct subscriptions they name FOR KEY SHARE (the lock a foreign key takes) and
  raises foreign_key_violation (23503) when fewer are found than named. Set-based: a 50,000-row batch costs one
  hash aggregate and one probe per subscription, not one per row. A row's subscription_id never changes (a
  BEFORE UPDATE OF subscription_id row trigger refuses it), so checking inserts is checking every row.
- `usage_subscription_restrict`, BEFORE DELETE OR UPDATE OF id on subscriptions, row by row: ON DELETE RESTRICT,
  refusing (23503) while usage_records or usage_daily_rollups hold rows of it.

Why that is as safe as the foreign key under concurrent writers. The inserting statement locks the subscriptions
FOR KEY SHARE before it counts them, in the same statement, so:
- a DELETE (or key UPDATE) already done but not committed makes the lock wait; if it commits, the deleted row is
  not found (READ COMMITTED re-reads it; REPEATABLE READ fails with a serialization error): the insert raises;
- a DELETE arriving after the lock waits for the inserting transaction, as with a foreign key. Its trigger then
  runs its probes on a snapshot taken after the wait (a plpgsql statement takes a new one in READ COMMITTED) and
  sees the committed usage: it raises. A REPEATABLE READ or SERIALIZABLE transaction keeps its older snapshot
  and could miss them (a foreign key uses a cross-check snapshot there, which plpgsql cannot), so the trigger
  refuses to delete a subscription or change its id outside READ COMMITTED. The gateway's role may not DELETE
  subscriptions at all (revision 0007) and never changes an id; an operator deletes in READ COMMITTED (psql's
  default) or not at all.
usage_monthly_rollups keeps its real foreign key: a batch writes one monthly row per subscription, service and
currency, too few to matter. SQLite keeps every foreign key (its path is the API's, not the bulk one). The models
keep the ForeignKey (the relationship and SQLite need it); tests/service/test_migrations.py knows these two are
triggers on PostgreSQL (db.usage.TRIGGER_CHECKED_FOREIGN_KEYS).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The foreign keys revision 0009 made, by table: dropped here, made again by the downgrade.
_FOREIGN_KEYS = {
    "usage_records": "fk_usage_records_subscription_id_subscriptions",
    "usage_daily_rollups": "fk_usage_daily_rollups_subscription_id_subscriptions",
}
_FOREIGN_KEY = "FOREIGN KEY (subscription_id) REFERENCES subscriptions (id) ON DELETE RESTRICT"
_VIOLATION = "foreign_key_violation"

_EXIST = """
CREATE FUNCTION usage_subscriptions_exist() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
DECLARE
    named bigint;
    found bigint;
BEGIN
    -- Locked and counted in one statement: a subscription deleted before the lock is granted is not counted.
    WITH wanted AS (SELECT DISTINCT subscription_id AS id FROM added)
    SELECT (SELECT count(*) FROM wanted),
           (SELECT count(*) FROM (
               SELECT 1 FROM subscriptions s WHERE s.id IN (SELECT id FROM wanted) FOR KEY SHARE OF s
           ) AS locked)
    INTO named, found;
    IF found < named THEN
        RAISE EXCEPTION 'insert into % names % subscription(s) that do not exist', TG_TABLE_NAME, named - found
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$"""

_FIXED = f"""
CREATE FUNCTION usage_subscription_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.subscription_id IS DISTINCT FROM OLD.subscription_id THEN
        RAISE EXCEPTION 'the subscription of a row of % never changes', TG_TABLE_NAME USING ERRCODE = '{_VIOLATION}';
    END IF;
    RETURN NEW;
END
$$"""

_RESTRICT = """
CREATE FUNCTION usage_subscription_restrict() RETURNS trigger LANGUAGE plpgsql {definer} AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'delete a subscription or change its id in READ COMMITTED (usage references it)'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF EXISTS (SELECT 1 FROM usage_records WHERE subscription_id = OLD.id)
       OR EXISTS (SELECT 1 FROM usage_daily_rollups WHERE subscription_id = OLD.id) THEN
        RAISE EXCEPTION 'subscription % still has usage', OLD.id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    schema = str(op.get_bind().exec_driver_sql("SELECT current_schema()").scalar_one())
    # As the owner, as a foreign key's checks run: the caller's privileges and row filters do not hide a row.
    definer = f'SECURITY DEFINER SET search_path = "{schema}", pg_temp'
    for statement in (_EXIST.format(definer=definer), _FIXED, _RESTRICT.format(definer=definer)):
        op.execute(statement)
    for table, constraint in _FOREIGN_KEYS.items():
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")
        op.execute(
            f"CREATE TRIGGER {table}_subscriptions_exist AFTER INSERT ON {table} REFERENCING NEW TABLE AS added"
            " FOR EACH STATEMENT EXECUTE FUNCTION usage_subscriptions_exist()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_subscription_fixed BEFORE UPDATE OF subscription_id ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION usage_subscription_fixed()"
        )
    op.execute(
        "CREATE TRIGGER subscriptions_usage_restrict BEFORE DELETE OR UPDATE OF id ON subscriptions"
        " FOR EACH ROW EXECUTE FUNCTION usage_subscription_restrict()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER subscriptions_usage_restrict ON subscriptions")
    for table, constraint in _FOREIGN_KEYS.items():
        op.execute(f"DROP TRIGGER {table}_subscription_fixed ON {table}")
        op.execute(f"DROP TRIGGER {table}_subscriptions_exist ON {table}")
        # Validated on every partition: a row the triggers let through without its subscription fails here.
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {constraint} {_FOREIGN_KEY}")
    for function in ("usage_subscription_restrict", "usage_subscription_fixed", "usage_subscriptions_exist"):
        op.execute(f"DROP FUNCTION {function}()")
