"""Usage: ingestion, exact rollups, partner attribution and aggregates.

Plain functions `(session, ...) -> result` over plain dataclasses; the GraphQL layer wraps them thinly.
- currencies.py: ISO 4217 codes and minor units, rounding for presentation.
- validation.py: the input record, its checks, and the typed error listing every bad record.
- rollups.py: moving the daily and monthly rollups by a delta; rebuilding them from usage_records.
- ingestion.py: `ingest_usage`, an all-or-nothing batch of at most 5,000 records.
- file_import.py: reading a CSV or JSON Lines file in batches, for `dpor-gateway ingest`; its parts:
  file_lines.py (bytes to counted text lines), file_formats.py (CSV and JSON Lines to values), file_batches.py
  (a batch, built in the worker thread), file_writes.py (a batch's transaction), file_summary.py (the summary).
- text_record.py: the file import's fast check of a line as canonical text (rules stay in validation.py).
- bulk.py: the PostgreSQL COPY path file_writes.py writes batches through.
- attribution.py: the rule that shares a subscription's usage between partners, and its interval arithmetic.
- month_span.py: how a window is split between the monthly and the daily rollups.
- aggregates.py: `usage_aggregates`, grouped sums served from the rollups; its parts:
  aggregate_types.py (what is asked and answered), window.py (the window's limits), plan.py (which statements a
  read sends, with their values), statements.py (the statements, pure, built once per shape), conditions.py (the
  filter and the caller's usage filter as SQL), sums.py (adding up what the statements return).
- by_parent.py, loaders.py: the nested usage fields' batches; reads.py: the API's usage reads.
"""
