"""/metrics with `serve --workers 2` counts the operations of every worker, whichever worker answers the scrape
(prometheus-client's multiprocess mode, gateway/metrics.py)."""

from __future__ import annotations

import json
import re
import socket
from collections import Counter
from pathlib import Path

from tests.serve_support import HOST, Served, exchange, serving, serving_pid

OPERATION = "WorkerProbe"
SAMPLE = re.compile(
    r'^dpor_graphql_operations_total\{operation="' + OPERATION + r'",outcome="ok"\} ([0-9.e+]+)$', re.MULTILINE
)
MAX_ATTEMPTS = 300


def on_new_connection(served: Served, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """The request's answer and the pid of the worker that gave it."""
    headers = {"authorization": f"Bearer {served.token()}", "content-type": "application/json"}
    with socket.create_connection((HOST, served.port), timeout=10) as connection:
        status, _headers, answer = exchange(connection, method, path, body, headers)
        assert status == 200, answer
        return serving_pid(served, connection), answer


def test_every_workers_operations_are_counted_in_one_scrape(tmp_path: Path) -> None:
    body = json.dumps({"query": f"query {OPERATION} {{ __typename }}", "operationName": OPERATION}).encode()
    with serving(tmp_path, "--workers", "2", DPOR_RATE_LIMIT_PER_PROCESS="true") as served:
        assert len(served.workers()) >= 2
        answered: Counter[int] = Counter()
        while len(answered) < 2 and sum(answered.values()) < MAX_ATTEMPTS:
            pid, _answer = on_new_connection(served, "POST", "/graphql", body)
            answered[pid] += 1
        assert len(answered) == 2, f"one worker answered all {sum(answered.values())} requests"
        sent = sum(answered.values())
        scraped_by: dict[int, float] = {}
        for _ in range(MAX_ATTEMPTS):
            pid, text = on_new_connection(served, "GET", "/metrics")
            (value,) = SAMPLE.findall(text.decode())
            scraped_by[pid] = float(value)
            if len(scraped_by) == 2:
                break
    # Each worker, asked, reports every worker's operations: its own and the other's.
    assert scraped_by == dict.fromkeys(answered, float(sent)), (answered, scraped_by)
