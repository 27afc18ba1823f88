"""cheaper usage writes: no usage_date index on usage_records, room for heap-only updates, monthly checks per statement

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

Issue 16, ingest at 100,000 rows/s (bench/results/2026-12-04-ingest-large.md has the figures). Three changes to
what each written row costs PostgreSQL:

- `ix_usage_records_usage_date` goes, on both backends, as the model says. Every inserted record added an entry to
  it, and every replacing upsert that was not a heap-only update another. Nothing reads through it: aggregates read
  the rollups, never usage_records; the ingest paths and the subscriptions' restrict trigger (0011) look records up
  by the natural key or its subscription_id prefix; rebuild_rollups reads the whole table; a range of days is a
  range of monthly partitions first (0009).
- The usage tables' partitions get fillfactor 50 (usage_records had 100, the rollups 70): a re-sent record, and a
  rollup row moved by a later batch, is then a heap-only (HOT) update that touches no index, where a full page
  made each one a new row version elsewhere with an entry in every index. 50, because a re-sent batch replaces
  every row of a page in one transaction, so the page needs room for all their new versions at once (the old
  ones are pruned once no snapshot needs them, so the room serves every later correction too); at 70 fewer than
  half were HOT (measured). The cost is disk: a month that is never corrected takes up to twice the heap; one
  corrected once takes what a full page's non-HOT updates would have left behind anyway (old versions plus
  new, and the index entries too, until vacuum). usage_partitions_ensure makes new partitions so; partitions
  that exist (attached or archived) are altered, which applies to the pages they fill from now on.
- usage_monthly_rollups' foreign key becomes revision 0011's statement trigger, as usage_records' and
  usage_daily_rollups' did: a 200,000-row batch moves some 16,000 to 33,000 monthly rows, and checking each alone
  cost about 7 us a row (1 us per ingested record, measured). The subscriptions' restrict trigger now looks in
  the monthly rollups too. SQLite keeps its foreign keys.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_usage_records_usage_date"
_PARTITIONS = "^usage_(records|daily_rollups|monthly_rollups)_p[0-9]{4}_[0-9]{2}$"
# Each table's partitions' storage options: after this revision, and before it (0009's).
_FILLFACTOR = {"usage_records": 50, "usage_daily_rollups": 50, "usage_monthly_rollups": 50}
_FILLFACTOR_BEFORE = {"usage_records": None, "usage_daily_rollups": 70, "usage_monthly_rollups": 70}
_MONTHLY = "usage_monthly_rollups"
_MONTHLY_FOREIGN_KEY = "fk_usage_monthly_rollups_subscription_id_subscriptions"

# 0011's restrict function, looking in the three usage tables. It runs as system (0012): row-level security must
# not hide a row from it.
_RESTRICT = """
CREATE OR REPLACE FUNCTION usage_subscription_restrict() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = "{schema}", pg_temp SET dpor.caller = 'system' AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'delete a subscription or change its id in READ COMMITTED (usage references it)'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF EXISTS (SELECT 1 FROM usage_records WHERE subscription_id = OLD.id)
       OR EXISTS (SELECT 1 FROM usage_daily_rollups WHERE subscription_id = OLD.id){monthly} THEN
        RAISE EXCEPTION 'subscription % still has usage', OLD.id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$"""
_RESTRICT_MONTHLY = "\n       OR EXISTS (SELECT 1 FROM usage_monthly_rollups WHERE subscription_id = OLD.id)"


def upgrade() -> None:
    # On PostgreSQL the partitioned index: dropping it drops every partition's.
    op.drop_index(_INDEX, table_name="usage_records")
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_fillfactors(_FILLFACTOR)
    op.execute(f"ALTER TABLE {_MONTHLY} DROP CONSTRAINT {_MONTHLY_FOREIGN_KEY}")
    op.execute(
        f"CREATE TRIGGER {_MONTHLY}_subscriptions_exist AFTER INSERT ON {_MONTHLY} REFERENCING NEW TABLE AS added"
        " FOR EACH STATEMENT EXECUTE FUNCTION usage_subscriptions_exist()"
    )
    op.execute(
        f"CREATE TRIGGER {_MONTHLY}_subscription_fixed BEFORE UPDATE OF subscription_id ON {_MONTHLY}"
        " FOR EACH ROW EXECUTE FUNCTION usage_subscription_fixed()"
    )
    op.execute(_RESTRICT.format(schema=_schema(), monthly=_RESTRICT_MONTHLY))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_RESTRICT.format(schema=_schema(), monthly=""))
        op.execute(f"DROP TRIGGER {_MONTHLY}_subscription_fixed ON {_MONTHLY}")
        op.execute(f"DROP TRIGGER {_MONTHLY}_subscriptions_exist ON {_MONTHLY}")
        # Validated on every partition, as 0011's downgrade does.
        op.execute(
            f"ALTER TABLE {_MONTHLY} ADD CONSTRAINT {_MONTHLY_FOREIGN_KEY} FOREIGN KEY (subscription_id)"
            " REFERENCES subscriptions (id) ON DELETE RESTRICT"
        )
        _set_fillfactors(_FILLFACTOR_BEFORE)
    op.create_index(_INDEX, "usage_records", ["usage_date"])


def _set_fillfactors(fillfactors: dict[str, int | None]) -> None:
    """usage_partitions_ensure (as 0012 defined it) making new partitions with these options; existing ones altered."""
    revision_0009, revision_0012 = _revision("0009_partitioned_usage.py"), _revision("0012_rls_policies.py")
    revision_0009._TABLES = tuple(
        (table, column, _storage(fillfactors[table]), grants)
        for table, column, _options, grants in revision_0009._TABLES
    )
    # CREATE OR REPLACE keeps the function's owner and grants (0009's: the app role's EXECUTE only).
    function = revision_0009._ensure_function(_schema()).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    op.execute(revision_0012._ensure_with_rls(function))
    partitions = op.get_bind().exec_driver_sql(
        "SELECT c.relname FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
        f" AND c.relname ~ '{_PARTITIONS}' ORDER BY c.relname"
    )
    for (name,) in partitions.all():
        table = name.rsplit("_p", 1)[0]
        fillfactor = fillfactors[table]
        op.execute(
            f"ALTER TABLE {name} " + (f"SET (fillfactor = {fillfactor})" if fillfactor else "RESET (fillfactor)")
        )


def _storage(fillfactor: int | None) -> str:
    return f" WITH (fillfactor = {fillfactor})" if fillfactor else ""


def _revision(file_name: str) -> Any:
    """An earlier revision's module, for the definitions it built (a fresh copy: changing it changes no other)."""
    spec = importlib.util.spec_from_file_location(f"_revision_{file_name[:4]}", Path(__file__).with_name(file_name))
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _schema() -> str:
    return str(op.get_bind().exec_driver_sql("SELECT current_schema()").scalar_one())
