"""Before measuring: every operation's answer and statement count on a development-mode gateway, against the
floor's, and the statements of a page at three sizes and of a DPOR mutation.

The figures go into the report's checks table; a wrong answer stops the benchmark (bench.check.CheckFailed)
before a single measured request.
"""

from __future__ import annotations

from typing import Any

import orjson

from bench import check, dataset, operations, report
from bench.operations import Operation, Request
from bench.server import Server
from bench.tokens import TokenIssuer


def checks(
    dev: Server,
    floor: Server,
    reads: list[Operation],
    writes: list[Operation],
    sample: dataset.Sample,
    issuer: TokenIssuer,
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for operation in reads:
        compared = check.compare(operation, dev.base_url, floor.base_url)
        found[operation.key] = {
            "compared_with_floor": compared.compared,
            "statements": sorted(set(compared.statements)),
            "nesting_depth": report.nesting_depth(operation.document),
        }
    if "attributed" in found:
        found["attributed"]["statements_by_page_size"] = _statements_by_page(dev, sample, issuer)
    for operation in writes:
        found.update(_mutation_statements(dev, operation))
    return found


def _statements_by_page(dev: Server, sample: dataset.Sample, issuer: TokenIssuer) -> dict[str, int]:
    """Statements must not grow with the page: the same partner at 1, 10 and 50 items."""
    partner = sample.partners[0]
    by_page: dict[str, int] = {}
    for first in (1, 10, 50):
        request = operations.attributed_subscriptions(dataset.Sample([partner], []), issuer, first=first).graphql[0]
        by_page[str(first)] = check.steady_statements(dev.base_url, request)[0]
    return by_page


def _mutation_statements(dev: Server, operation: Operation) -> dict[str, Any]:
    """Read the version, set a DPOR with it, and count the statements of each."""
    request = operation.graphql[0]
    variables = orjson.loads(request.body)
    del variables["partnerIds"]
    read = Request(
        "/graphql",
        orjson.dumps({"query": operations.SUBSCRIPTION_VERSION, "variables": {"id": variables["subscriptionId"]}}),
        request.token,
    )
    version = check.statements_of(dev.base_url, read)[1]["data"]["node"]["version"]
    body = orjson.dumps(
        {"query": operations.SET_DPOR, "variables": {"input": {**variables, "expectedVersion": version}}}
    )
    return {
        operation.key: {
            "statements": [check.statements_of(dev.base_url, request, body)[0]],
            "nesting_depth": report.nesting_depth(operation.document),
        },
        "version_read": {"statements": [check.statements_of(dev.base_url, read)[0]]},
    }
