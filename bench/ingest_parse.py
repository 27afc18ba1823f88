"""The ingest's Python side alone: `python bench/ingest_parse.py FILE [BATCH]` reads, checks and encodes a usage
file for COPY exactly as `dpor-gateway ingest` does on PostgreSQL (file_batches.collect with bulk.copy_payload),
without a database, and prints its rows per second and CPU seconds as JSON.

Run as a script (not `-m`) so that `PYTHONPATH=<another tree>` measures that tree's parser: bench.ingest does so
for `--before`. It needs only the import's public parts, which both trees have.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from resolvers.usage import bulk
from resolvers.usage.file_batches import collect
from resolvers.usage.file_formats import csv_inputs
from resolvers.usage.file_lines import CountingLines
from resolvers.usage.text_record import TextChecker


def parse(path: Path, size: int) -> dict[str, float]:
    checker = TextChecker(date.today() + timedelta(days=1))
    rows = problems = 0
    wall, cpu = time.perf_counter(), time.process_time()
    with path.open("rb") as stream:
        lines = CountingLines(stream)
        inputs = csv_inputs(lines)
        while True:
            batch = collect(inputs, lines, size, False, checker, bulk.copy_payload)
            # An older tree's batch keeps its records; this one's, once encoded, their external ids.
            rows += len(getattr(batch, "externals", batch.records))
            problems += len(batch.problems)
            if batch.stop:
                break
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"rows": rows, "problems": problems, "seconds": wall, "cpu_seconds": cpu, "rows_per_second": rows / wall}


if __name__ == "__main__":
    print(json.dumps(parse(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 50_000)))
