"""row-level security: partner associations name their tenant; the monthly rollups lose their month index

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

Two costs that 0014 left in the policies' way (issue 16: row-level security costs at most 15% per request;
bench/results/2026-12-07-rls.md has the figures):

- `ix_usage_monthly_rollups_month` led PostgreSQL away from the primary key. A generic plan (the compiled path
  runs on them) guesses that a range over parameters keeps 0.5% of the rows, so "scan the month index of each
  partition, filter by the policy, join the tenant's subscriptions" looked cheaper than "for each of the tenant's
  subscriptions, its rows by the primary key" once the policy's filter was priced in. But a month partition of
  monthly rollups holds a single month: that index orders every row of it by one value, and the plan read all
  the tenant rows of every tenant. Read (2), a tenant's 12 months, took 1.24 ms as the app role against 0.54 as
  the owner; without the index 0.90 against 0.66. Partition pruning already picks the months, and on SQLite (one
  table) a scan over all subscriptions' months is an admin's platform-wide read only. Every rollup insert paid
  for the index too. The daily rollups keep theirs: a day range inside a month partition is a real range.
- The tenant branch of `partner_associations`' policy asked whether the row's subscription is in the tenant's
  subscription set, which the caller's transaction had to work out first (`dpor_rls_tenant_subscriptions_now`, a
  PL/pgSQL query with a SET clause, on every tenant role's read: 25-40 us of a node read's 100 us of policy cost)
  and then probed through a hashed sub-plan. The rows now carry `tenant_id`, so the branch is a column comparison.
  The column is PostgreSQL's and the policies' alone: the models do not map it (SQLite has no policies), and a
  trigger fills it from the subscription on every insert, whoever inserts (resolvers, seeds, tests, raw SQL), so
  no writer can get it wrong. It is kept right because a subscription never changes tenant: a second trigger
  refuses that update (no mutation does it; usage rollups and audit rows already assume it).

Usage rows still reach a tenant through its subscription set: a column on them would have to be written by the
bulk ingest's every row, whose rate is issue 16's other target.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POLICY = "dpor_caller"
_MONTH_INDEX = "ix_usage_monthly_rollups_month"
# SQLSTATE of a row whose subscription or tenant changed (0011_usage_subscription_checks uses it the same way).
_VIOLATION = "23514"

_FILL = """
CREATE FUNCTION partner_associations_tenant() RETURNS trigger
LANGUAGE plpgsql SET dpor.caller = 'system' AS $$
BEGIN
    -- A system read: the subscription may lie outside the inserting caller's read reach (a partner's own link).
    -- No subscription (a dangling id): NULL, and the foreign key refuses the row with its own error.
    NEW.tenant_id := (SELECT s.tenant_id FROM subscriptions s WHERE s.id = NEW.subscription_id);
    RETURN NEW;
END
$$"""

_TENANT_FIXED = f"""
CREATE FUNCTION subscriptions_tenant_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN
        RAISE EXCEPTION 'a subscription never changes tenant' USING ERRCODE = '{_VIOLATION}';
    END IF;
    RETURN NEW;
END
$$"""

_ASSOCIATIONS_REACH = (
    "(SELECT dpor_rls_unbounded('PARTNER_ASSOCIATION'))"
    " OR ((SELECT dpor_rls_reaches_tenant('PARTNER_ASSOCIATION')) AND tenant_id = (SELECT dpor_rls_tenant()))"
    " OR ((SELECT dpor_rls_reaches('PARTNER_ASSOCIATION.p')) AND partner_id = (SELECT dpor_rls_partner()))"
)


def _alter_associations_policy(reach: str) -> None:
    op.execute(f"ALTER POLICY {POLICY} ON partner_associations USING ({reach}) WITH CHECK ({reach})")


def upgrade() -> None:
    op.drop_index(_MONTH_INDEX, table_name="usage_monthly_rollups")
    if op.get_bind().dialect.name != "postgresql":
        return
    op.add_column("partner_associations", sa.Column("tenant_id", sa.Uuid(), nullable=True))
    # Filled before the trigger exists, as the owner, whom FORCE binds too: a system transaction. Ended rows are
    # history that 0007's trigger keeps from being rewritten; the one column added here is not a rewrite of it.
    op.execute("SELECT set_config('dpor.caller', 'system', true)")
    op.execute("ALTER TABLE partner_associations DISABLE TRIGGER partner_associations_history_is_immutable")
    op.execute(
        "UPDATE partner_associations a SET tenant_id = s.tenant_id FROM subscriptions s WHERE s.id = a.subscription_id"
    )
    op.execute("ALTER TABLE partner_associations ENABLE TRIGGER partner_associations_history_is_immutable")
    op.execute(_FILL)
    op.execute(
        "CREATE TRIGGER partner_associations_tenant BEFORE INSERT OR UPDATE OF subscription_id"
        " ON partner_associations FOR EACH ROW EXECUTE FUNCTION partner_associations_tenant()"
    )
    op.execute(_TENANT_FIXED)
    op.execute(
        "CREATE TRIGGER subscriptions_tenant_fixed BEFORE UPDATE OF tenant_id ON subscriptions"
        " FOR EACH ROW EXECUTE FUNCTION subscriptions_tenant_fixed()"
    )
    _alter_associations_policy(_ASSOCIATIONS_REACH)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        spec = importlib.util.spec_from_file_location(
            "_revision_0014", Path(__file__).with_name("0014_rls_reach_once.py")
        )
        assert spec is not None and spec.loader is not None
        revision_0014: Any = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(revision_0014)
        _alter_associations_policy(revision_0014._REACH["partner_associations"])
        op.execute("DROP TRIGGER subscriptions_tenant_fixed ON subscriptions")
        op.execute("DROP FUNCTION subscriptions_tenant_fixed()")
        op.execute("DROP TRIGGER partner_associations_tenant ON partner_associations")
        op.execute("DROP FUNCTION partner_associations_tenant()")
        op.drop_column("partner_associations", "tenant_id")
    op.create_index(_MONTH_INDEX, "usage_monthly_rollups", ["month"])
