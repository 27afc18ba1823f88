"""usage partitioned by month on PostgreSQL

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

Issue 16. usage_records, usage_daily_rollups and usage_monthly_rollups become PARTITION BY RANGE tables with one
partition per month (`<table>_pYYYY_MM`, FROM the first of the month TO the first of the next), so a one-month
read touches one partition and an old month can be detached as a whole (archive) and attached back. The monthly
rollup is partitioned too, though it is small (a thirtieth of the daily rows at most): reads of whole months come
from it, so a detached month must leave it as it leaves the other two, in the same statement-level way. A plain
monthly table would need its month deleted on detach and rebuilt on attach.

Every unique constraint of a partitioned table must hold the partition column. The natural key (subscription_id,
usage_date, meter_id) and both rollups' primary keys already do, so ON CONFLICT on them stays exact; only the
surrogate key of usage_records grows to (id, usage_date) (id stays unique: one sequence numbers every row).

Partitions are created by `usage_partitions_ensure(months date[])`, a SECURITY DEFINER function owned by the
migration owner, which the app role may EXECUTE: the gateway (DML only) calls it for a batch's months before it
writes, and the sweep for the months ahead. It creates the partition as a plain table and ATTACHes it, which
locks the parent in SHARE UPDATE EXCLUSIVE mode (reads and writes go on) where CREATE TABLE ... PARTITION OF would
take ACCESS EXCLUSIVE; cloning the foreign key still takes SHARE ROW EXCLUSIVE on subscriptions until the
transaction ends, which is why the months ahead are created outside ingests. A month whose partition exists
detached (archived) is refused: its rows are not where reads look, and a second partition for it could never be
attached back. No DEFAULT partition: rows there would be invisible to the archive commands, and creating or
attaching any month would scan it under an exclusive lock and fail once it held that month's rows.

The app role is granted on the parents only: PostgreSQL checks privileges on the table a statement names, so
reads and writes through the parent reach every partition, and a partition queried directly refuses the app role.

Rows are carried over: each table is renamed, an empty partitioned table takes its name, partitions are made for
every month holding data (and the current month with AHEAD_MONTHS ahead), the rows are copied, and the keys,
indexes and foreign keys are built on the filled partitions (one sort each, not a B-tree insert per row). The
downgrade copies them back into plain tables; it refuses while a month is archived (its rows would be lost).

SQLite keeps plain tables: nothing happens there.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "dpor_app"
AHEAD_MONTHS = 3
# (table, partition column, each partition's storage options, what 0007 granted the app role on it)
_TABLES = (
    ("usage_records", "usage_date", "", "SELECT, INSERT, UPDATE"),
    ("usage_daily_rollups", "usage_date", " WITH (fillfactor = 70)", "SELECT, INSERT, UPDATE, DELETE"),
    ("usage_monthly_rollups", "month", " WITH (fillfactor = 70)", "SELECT, INSERT, UPDATE, DELETE"),
)
_FOREIGN_KEY = "FOREIGN KEY (subscription_id) REFERENCES subscriptions (id) ON DELETE RESTRICT"
# Keys, indexes and foreign keys, under the names revisions 0001 and 0002 gave them, per table; the first entry is
# the primary key, which differs between the partitioned and the plain table.
_KEYS = {
    "usage_records": (
        ("pk_usage_records", "PRIMARY KEY (id, usage_date)", "PRIMARY KEY (id)"),
        ("uq_usage_records_natural_key", "UNIQUE (subscription_id, usage_date, meter_id)", None),
        ("fk_usage_records_subscription_id_subscriptions", _FOREIGN_KEY, None),
    ),
    "usage_daily_rollups": (
        ("pk_usage_daily_rollups", "PRIMARY KEY (subscription_id, usage_date, service_name, currency)", None),
        ("fk_usage_daily_rollups_subscription_id_subscriptions", _FOREIGN_KEY, None),
    ),
    "usage_monthly_rollups": (
        ("pk_usage_monthly_rollups", "PRIMARY KEY (subscription_id, month, service_name, currency)", None),
        ("fk_usage_monthly_rollups_subscription_id_subscriptions", _FOREIGN_KEY, None),
    ),
}
_INDEXES = {
    "usage_records": ("ix_usage_records_usage_date", "usage_date"),
    "usage_daily_rollups": ("ix_usage_daily_rollups_usage_date", "usage_date"),
    "usage_monthly_rollups": ("ix_usage_monthly_rollups_month", "month"),
}
ENSURE = "usage_partitions_ensure"
# SQLSTATE of a write to an archived month (class DP: ours, no standard class uses it); db/partitions.py reads it.
ARCHIVED_SQLSTATE = "DP001"


def _ensure_function(schema: str) -> str:
    storage = " ".join(f"WHEN '{table}' THEN '{options}'" for table, _column, options, _grants in _TABLES)
    parents = ", ".join(f"'{table}'" for table, *_rest in _TABLES)
    return f"""
CREATE FUNCTION {ENSURE}(months date[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = "{schema}", pg_temp AS $$
DECLARE
    first_day date;
    parent text;
    part text;
    attached boolean;
    created integer := 0;
BEGIN
    FOR first_day IN
        SELECT DISTINCT date_trunc('month', m)::date FROM unnest(months) AS m WHERE m IS NOT NULL ORDER BY 1
    LOOP
        FOREACH parent IN ARRAY ARRAY[{parents}] LOOP
            part := parent || to_char(first_day, '"_p"YYYY_MM');
            SELECT relispartition INTO attached FROM pg_class WHERE oid = to_regclass(part);
            IF attached THEN
                CONTINUE;  -- the common case: one catalog lookup, no lock
            END IF;
            -- Creators of one month queue here; the second finds the first's partition once it commits.
            EXECUTE format('LOCK TABLE %I IN SHARE UPDATE EXCLUSIVE MODE', parent);
            SELECT relispartition INTO attached FROM pg_class WHERE oid = to_regclass(part);
            IF attached THEN
                CONTINUE;
            ELSIF attached IS NOT NULL THEN
                RAISE EXCEPTION 'usage month % is archived (% is detached): attach it to write to it',
                    to_char(first_day, 'YYYY-MM'), part USING ERRCODE = '{ARCHIVED_SQLSTATE}';
            END IF;
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent)
                || CASE parent {storage} END;
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                parent, part, first_day, (first_day + interval '1 month')::date);
            created := created + 1;
        END LOOP;
    END LOOP;
    RETURN created;
END
$$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    schema = _schema()
    months: list[str] = []
    for table, column, _options, _grants in _TABLES:
        old = _set_aside(table, "unpartitioned")
        op.execute(
            f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE ({column})"
        )
        months.append(f"SELECT DISTINCT date_trunc('month', {column})::date FROM {old}")
    op.execute(_ensure_function(schema))
    ahead = f"SELECT generate_series(date_trunc('month', current_date), date_trunc('month', current_date) + interval '{AHEAD_MONTHS} months', interval '1 month')::date"
    op.execute(f"SELECT {ENSURE}(ARRAY({' UNION '.join([*months, ahead])}))")
    for table, _column, _options, grants in _TABLES:
        _move_rows(f"{table}_unpartitioned", table)
        _add_keys(table, partitioned=True)
        op.execute(f"GRANT {grants} ON {table} TO {ROLE}")
    op.execute(f"REVOKE ALL ON FUNCTION {ENSURE}(date[]) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {ENSURE}(date[]) TO {ROLE}")
    # Inserting a usage record draws its id from this sequence: 0007 missed it.
    op.execute(f"GRANT USAGE ON SEQUENCE usage_records_id_seq TO {ROLE}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    archived = (
        op.get_bind()
        .exec_driver_sql(
            "SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_class c"
            " WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND NOT c.relispartition"
            " AND c.relname ~ '^usage_(records|daily_rollups|monthly_rollups)_p[0-9]{4}_[0-9]{2}$'"
        )
        .scalar_one()
    )
    if archived:
        raise RuntimeError(
            f"archived usage months would be lost: attach them first (dpor-gateway partitions attach): {archived}"
        )
    op.execute(f"REVOKE ALL ON SEQUENCE usage_records_id_seq FROM {ROLE}")
    for table, _column, options, grants in _TABLES:
        old = _set_aside(table, "partitioned")
        op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS){options}")
        _move_rows(old, table)
        _add_keys(table, partitioned=False)
        op.execute(f"GRANT {grants} ON {table} TO {ROLE}")
    op.execute(f"DROP FUNCTION {ENSURE}(date[])")


def _set_aside(table: str, kind: str) -> str:
    """Rename `table` to `<table>_<kind>` without its keys and indexes, whose names its successor takes."""
    old = f"{table}_{kind}"
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    for name, *_definitions in _KEYS[table]:
        op.execute(f"ALTER TABLE {old} DROP CONSTRAINT {name}")
    op.execute(f"DROP INDEX {_INDEXES[table][0]}")
    return old


def _move_rows(source: str, target: str) -> None:
    # LIKE keeps the columns' order, so the rows copy as they are.
    op.execute(f"INSERT INTO {target} SELECT * FROM {source}")
    if target.startswith("usage_records"):
        # The id sequence belongs to the table keeping the name, or dropping the source would drop it.
        op.execute(f"ALTER SEQUENCE usage_records_id_seq OWNED BY {target}.id")
    op.execute(f"DROP TABLE {source}")


def _add_keys(table: str, *, partitioned: bool) -> None:
    for name, definition, plain in _KEYS[table]:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition if partitioned or plain is None else plain}")
    index, column = _INDEXES[table]
    op.execute(f"CREATE INDEX {index} ON {table} ({column})")


def _schema() -> str:
    return str(op.get_bind().exec_driver_sql("SELECT current_schema()").scalar_one())
