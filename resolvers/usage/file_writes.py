"""Writing one batch of a usage file in its own transaction: COPY on PostgreSQL, the API's write path on SQLite.

Here, not in file_batches.py, because it needs the database: a line naming a subscription that does not exist
or is DELETED is only known to be bad once the batch's external ids are resolved (one query per batch), and in
strict mode such a line rolls the whole batch back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import Database
from db.row_security import SystemTask, system
from resolvers.usage import bulk
from resolvers.usage.file_batches import Batch
from resolvers.usage.file_summary import ImportSummary
from resolvers.usage.ingestion import KnownSubscription, resolve_subscriptions, write_records
from resolvers.usage.text_record import TextRecord
from resolvers.usage.validation import ValidRecord, subscription_problem, validate_values


class _StrictStop(Exception):
    """Raised inside a batch's transaction to roll it back."""


async def write_batch(database: Database, batch: Batch, strict: bool, summary: ImportSummary, latest: date) -> bool:
    """Write one batch in its own transaction; False when strict mode must stop (nothing of it written)."""
    database = database.acting(system(SystemTask.USAGE_FILE_INGEST))  # the operator's file, for no caller
    try:
        async with database.write() as session:
            known = await resolve_subscriptions(session, batch.subscriptions)
            writable = {external for external, subscription in known.items() if not subscription.deleted}
            superseded = batch.superseded
            if len(writable) < len(batch.subscriptions):
                lines = [
                    *zip(batch.lines, batch.externals, strict=True),
                    *((line, external) for external, line in superseded),
                ]
                refused = sorted(
                    (
                        problem
                        for line, external in lines
                        if (problem := subscription_problem(line, known.get(external)))
                    ),
                    key=lambda problem: problem.index,
                )
                summary.reject(refused)
                if strict:
                    summary.stopped_at = refused[0].index
                    raise _StrictStop
                superseded = [(external, line) for external, line in superseded if external in writable]
            if batch.payload:  # PostgreSQL
                # COPY's joins leave out unknown subscriptions, not deleted ones: those leave the staging table.
                deleted = sorted(external for external in known if external not in writable)
                # The batch's own days make its partitions when every line is written; else SQL leaves out the
                # lines of unknown subscriptions first (a day of theirs in an archived month is no conflict).
                days = (
                    [date.fromisoformat(day) for day in batch.days]
                    if len(writable) == len(batch.subscriptions)
                    else None
                )
                written, replaced = await bulk.copy_text(
                    session, batch.payload, deleted, days=days, may_replace=_may_replace(batch, known, writable)
                )
            else:
                written, replaced = await _write_records(session, batch.records, known, latest)
            summary.inserted += written - replaced
            summary.replaced += replaced + len(superseded)
    except _StrictStop:
        return False
    return True


def _may_replace(batch: Batch, known: Mapping[str, KnownSubscription], writable: set[str]) -> bool:
    """Whether a record of the batch may replace a stored one: its day on or before the usage_data_as_of of some
    written subscription (the latest day stored for it; the subscriptions are locked). Dates are canonical text, so
    the batch's earliest day is compared as text."""
    stored = [as_of for external in writable if (as_of := known[external].usage_data_as_of) is not None]
    return bool(stored) and min(batch.days) <= max(stored).isoformat()


async def _write_records(
    session: AsyncSession, records: Iterable[TextRecord], known: Mapping[str, KnownSubscription], latest: date
) -> tuple[int, int]:
    """The API's write path (SQLite): the checked text records as ValidRecords again, then write_records."""
    valid = [
        result
        for record in records
        if (subscription := known.get(record[0])) is not None
        and not subscription.deleted
        and isinstance(result := validate_values(0, *record, latest=latest), ValidRecord)
    ]
    if not valid:
        return 0, 0
    written = await write_records(session, valid, known)
    return written.inserted + written.replaced, written.replaced
