"""Who the database is working for, told to PostgreSQL's row-level security per transaction.

The policies (alembic revisions 0012_rls_policies and 0014_rls_reach_once) read transaction-local settings,
`set_config(name, value, true)`:

- `dpor.caller`: `request` (a request's caller, with its ids and reach below) or `system` (work for nobody in
  particular: the sweep, the change sequencer, webhook delivery, seeding, migrations; `dpor.task` names which).
  Unset: every policy is false, so a transaction that says nothing sees no rows and writes none.
- `dpor.tenant_id`, `dpor.partner_id`: the caller's row ids (empty when its token named none).
- `dpor.reach`: what the caller reaches, as tokens `ENTITY.code` between spaces: `SUBSCRIPTION.t` (rows of its
  own tenant), `.d` (of its tenant through a delegated admin relationship, which the policy checks is active now),
  `.a` (attributed: of subscriptions its partner is or was associated with), `.p` (naming its partner), `.w`
  (usage of attributed subscriptions), `.*` (all), and `DPOR_INVITATION.c` (the one invitation whose code hash is
  `dpor.invitation_code`). auth/row_security.py derives them from auth/policy.py.
- `dpor.attributed_subscriptions`, `dpor.attributed_tenants`, `dpor.tenant_subscriptions`,
  `dpor.delegation_active` (read transactions only): the sets the caller's reach depends on, worked out by the
  database once as the transaction begins, so a statement naming a table a dozen times does not work them out a
  dozen times (revision 0014).

Setting them costs no extra round trip: one SQL function, `dpor_rls_tell`, takes them all. A read transaction
starts with one simple-protocol message `BEGIN; SELECT dpor_rls_tell(...)` whose values are validated here (uuids,
entity and role names, hex) so no text from outside reaches the SQL; a compiled read is one statement that tells
and reads (`told_statement`); a write transaction sends the settings as bind parameters. `Caller.begin_sql` is
built once per caller.

Why not session settings (`set_config(..., false)` at checkout): a pooled connection would carry one caller's
reach into the next request whenever a reset was skipped, and behind PgBouncer in transaction mode the next
transaction may run on another server connection altogether.
"""

from __future__ import annotations

import enum
import functools
import re
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.util.concurrency import await_

_TOKEN = re.compile(r"[A-Z_]+\.[a-z*]")
_HEX = re.compile(r"[0-9a-f]{64}")


class SystemTask(enum.Enum):
    """Work done for no caller, each named where it runs (grep for the member to find every path)."""

    RESOLVE_CALLER = "resolve_caller"  # auth.scope: the token's tenant and partner, and its delegation, by id
    SWEEP = "sweep"
    CHANGE_SEQUENCER = "change_sequencer"
    CHANGE_FEED = "change_feed"
    WEBHOOK_DELIVERY = "webhook_delivery"
    SEED = "seed"
    USAGE_FILE_INGEST = "usage_file_ingest"
    MIGRATION = "migration"
    BENCHMARK = "benchmark"


@dataclass(frozen=True, slots=True)
class Caller:
    """The settings of one transaction. Build request callers with `request_caller`, system ones with `system`."""

    kind: str
    reach: frozenset[str] = frozenset()
    # What its mutations' transactions reach: `reach` and what the operations it holds need beyond reading.
    write_reach: frozenset[str] = frozenset()
    tenant_id: uuid.UUID | None = None
    partner_id: uuid.UUID | None = None
    task: SystemTask | None = None
    invitation_code: str | None = None
    # What `dpor_rls_tell` is given: the values of `settings()`, in order, and the sets to work out (revision 0014).
    tell_arguments: tuple[str | tuple[str, ...], ...] = field(default=(), compare=False)
    set_sql: str = field(default="", compare=False)
    begin_sql: str = field(default="", compare=False)

    def settings(self, *, writing: bool = False) -> Mapping[str, str]:
        reach = self.write_reach if writing else self.reach
        return {
            "dpor.caller": self.kind,
            "dpor.task": self.task.value if self.task else "",
            "dpor.tenant_id": str(self.tenant_id) if self.tenant_id else "",
            "dpor.partner_id": str(self.partner_id) if self.partner_id else "",
            "dpor.reach": " " + " ".join(sorted(reach)) + " " if reach else "",
            "dpor.invitation_code": self.invitation_code or "",
        }


def _literal(value: str) -> str:
    # Every value was validated (uuid, tokens of [A-Z_.a-z*], hex, task names): no quote can occur.
    assert "'" not in value and "\\" not in value, value
    return f"'{value}'"


_TELL_ARGUMENTS = 7  # dpor_rls_tell(caller, task, tenant, partner, reach, invitation_code, work_out)


def _text_array(values: Sequence[str]) -> str:
    return "ARRAY[" + ", ".join(_literal(value) for value in values) + "]::text[]"


# The sets a read's policies depend on, worked out once as its transaction begins (alembic revision 0014), by the
# reach tokens that read them. Write transactions leave them unset: their own statements may add an association
# the policies must then see, so there the policies work them out at each statement.
_SETS_BY_TOKENS = {
    "attributed_subscriptions": ("SUBSCRIPTION.a", "USAGE.w"),
    "attributed_tenants": ("TENANT.a",),
    # Partner associations name their tenant (revision 0015): only usage rows reach a tenant through this set.
    "tenant_subscriptions": ("USAGE.t", "USAGE.d"),
}
_NEEDS = {
    "attributed_subscriptions": "partner_id",
    "attributed_tenants": "partner_id",
    "tenant_subscriptions": "tenant_id",
}


def _work_out(caller: Caller) -> tuple[str, ...]:
    if caller.kind != "request":
        return ()
    sets = [
        name
        for name, tokens in _SETS_BY_TOKENS.items()
        if getattr(caller, _NEEDS[name]) is not None and caller.reach & set(tokens)
    ]
    if caller.tenant_id and caller.partner_id and any(token.endswith(".d") for token in caller.reach):
        sets.append("delegation_active")
    return tuple(sets)


def _built(caller: Caller) -> Caller:
    for token in caller.reach | caller.write_reach:
        if not _TOKEN.fullmatch(token):
            raise ValueError(f"not a reach token: {token!r}")
    work_out = _work_out(caller)
    arguments = (*caller.settings().values(), work_out)
    assert len(arguments) == _TELL_ARGUMENTS, arguments
    values = ", ".join(_literal(value) for value in caller.settings().values())
    object.__setattr__(caller, "tell_arguments", arguments)
    object.__setattr__(caller, "set_sql", f"SELECT dpor_rls_tell({values}, {_text_array(work_out)})")
    object.__setattr__(caller, "begin_sql", "BEGIN; " + caller.set_sql)
    return caller


# Which tables' policies read each set (revision 0015's): a compiled read works out only the sets its own statement's
# tables read. A set its tables read but this misses is still right, only slower: the policies work out a set
# the tell left empty (revision 0014).
_USAGE_TABLES = frozenset({"usage_records", "usage_daily_rollups", "usage_monthly_rollups"})
_TABLES_READING = {
    "attributed_subscriptions": frozenset({"subscriptions"}) | _USAGE_TABLES,
    "attributed_tenants": frozenset({"tenants"}),
    "tenant_subscriptions": _USAGE_TABLES,
}
# Any mention counts (a column qualified by the table's name too): one too many only works out a set for nothing.
_NAMED_TABLE = re.compile(r"\b(" + "|".join(sorted(set().union(*_TABLES_READING.values()))) + r")\b")


@functools.lru_cache(maxsize=1024)
def _told(sql: str, argument_count: int) -> tuple[str, frozenset[str]]:
    tell = ", ".join(f"${argument_count + n}" for n in range(1, _TELL_ARGUMENTS + 1))
    tables = frozenset(_NAMED_TABLE.findall(sql))
    unread = frozenset(name for name, reading in _TABLES_READING.items() if not tables & reading)
    return f"SELECT CASE WHEN dpor_rls_tell({tell}) THEN ({sql}) END", unread


def told_statement(sql: str, arguments: Sequence[object], caller: Caller) -> tuple[str, tuple[object, ...]]:
    """One statement that tells the policies its caller and then runs `sql` (whose parameters are `arguments`,
    $1..$n; the caller's tell arguments follow), and its arguments: no BEGIN and COMMIT around it, the statement
    is its own transaction. The CASE runs `dpor_rls_tell` first and `sql`, a sub-select PostgreSQL evaluates only
    when the THEN branch asks for its value, after; the policies' own sub-selects inside it are evaluated when its
    scans first need them. Of the caller's sets, only those the statement's tables read are worked out (a node
    read of a tenant's subscription does not list the tenant's subscriptions for the usage policy).
    tests/service/test_row_security.py holds compiled reads told this way to the rows the policy table gives."""
    told, unread = _told(sql, len(arguments))
    *settings, work_out = caller.tell_arguments
    if unread:
        work_out = tuple(name for name in work_out if name not in unread)
    return told, (*arguments, *settings, work_out)


def request_caller(
    reach: frozenset[str],
    tenant_id: uuid.UUID | None,
    partner_id: uuid.UUID | None,
    write_reach: frozenset[str] = frozenset(),
) -> Caller:
    return _built(Caller("request", reach, reach | write_reach, tenant_id, partner_id))


def system(task: SystemTask) -> Caller:
    return _SYSTEM[task]


_SYSTEM = {task: _built(Caller("system", task=task)) for task in SystemTask}
# A request whose caller is not known (yet): its reach is empty, so it sees nothing.
NOBODY = request_caller(frozenset(), None, None)

_SET_CONFIG = text(
    "SELECT set_config('dpor.caller', :caller, true), set_config('dpor.task', :task, true),"
    " set_config('dpor.tenant_id', :tenant_id, true), set_config('dpor.partner_id', :partner_id, true),"
    " set_config('dpor.reach', :reach, true), set_config('dpor.invitation_code', :invitation_code, true)"
)


def _parameters(caller: Caller) -> dict[str, str]:
    return {name.removeprefix("dpor."): value for name, value in caller.settings(writing=True).items()}


async def apply_in_transaction(session: AsyncSession, caller: Caller) -> None:
    """Inside a transaction the session began (writes): the caller's settings, its write reach, as bind
    parameters."""
    await session.execute(_SET_CONFIG, _parameters(caller))


async def begin_on_driver(driver_connection: Any, caller: Caller) -> None:
    """BEGIN and the settings in one simple-protocol message, on an asyncpg connection in autocommit use."""
    await driver_connection.execute(caller.begin_sql)


async def end_on_driver(driver_connection: Any) -> None:
    """COMMIT what `begin_on_driver` began (a failed transaction's COMMIT rolls it back)."""
    if driver_connection.is_in_transaction():
        await driver_connection.execute("COMMIT")


def roll_back_what_was_left(dbapi_connection: Any, _record: Any, _state: Any) -> None:
    """Pool reset (every check-in): a read connection must not go back to the pool inside the transaction, and so
    with the caller, a request began on it (SQLAlchemy's own reset rolls back only transactions it began)."""
    driver = getattr(dbapi_connection, "_connection", None)
    if driver is not None and driver.is_in_transaction():
        await_(driver.execute("ROLLBACK"))


@asynccontextmanager
async def reading(session: AsyncSession, caller: Caller | None) -> AsyncIterator[AsyncSession]:
    """A read session (autocommit) whose statements run in one transaction as `caller` (as today when None)."""
    if caller is None:
        yield session
        return
    driver = await driver_of(session)
    await begin_on_driver(driver, caller)
    try:
        yield session
    finally:
        await end_on_driver(driver)


async def driver_of(session: AsyncSession) -> Any:
    """The session's asyncpg connection (checked out by this call if it held none)."""
    raw = await (await session.connection()).get_raw_connection()
    return raw.driver_connection


_PRESENT_CODE = text("SELECT set_config('dpor.invitation_code', :code_hash, true)")


async def present_invitation_code(session: AsyncSession, code_hash: str) -> None:
    """For the rest of this transaction the caller reaches the invitation with this code hash (if its reach has
    DPOR_INVITATION.c: a tenant's owner). PostgreSQL only; nothing to tell elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_PRESENT_CODE, {"code_hash": code_hash})


# Whether the connected role is subject to row-level security at all: a superuser or a BYPASSRLS role is not
# (FORCE binds only a table's owner), so telling it the caller would cost the round trips and guard nothing.
_SUBJECT_TO_ROW_SECURITY = "SELECT NOT (rolsuper OR rolbypassrls) FROM pg_roles WHERE rolname = current_user"


class Enforcement:
    """Whether a database's transactions tell the policies their caller: always (True), never (False), or, by
    default (None), exactly when the connected role is subject to row-level security. The server is asked on the
    engine's first connection, on the driver's own cursor (so no request counts the statement as its own). Shared
    by a Database and every copy of it (`acting`, a request's)."""

    def __init__(self, setting: bool | None, engine: AsyncEngine, *, postgresql: bool) -> None:
        self._known: bool | None = setting if postgresql else False
        if self._known is None:
            event.listen(engine.sync_engine, "first_connect", self._ask)

    def _ask(self, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(_SUBJECT_TO_ROW_SECURITY)
            self._known = bool(cursor.fetchone()[0])
        finally:
            cursor.close()

    async def enforced(self, engine: AsyncEngine) -> bool:
        if self._known is None:
            async with engine.connect():  # its first connection answers (`_ask`)
                pass
        if self._known is None:  # the engine had connected before this was made
            async with engine.connect() as connection:
                self._known = bool(await connection.scalar(text(_SUBJECT_TO_ROW_SECURITY)))
        return self._known
