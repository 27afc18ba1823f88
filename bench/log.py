"""The benchmark's progress lines: timestamped, on stderr, so the report on stdout stays clean to pipe."""

from __future__ import annotations

import sys
from datetime import UTC, datetime


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)
