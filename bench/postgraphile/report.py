"""PostGraphile's figures in the benchmark's report: a Markdown section from the results document.

It reads what the harness records for PostGraphile (see the README's benchmark section):
- document["postgraphile"]: {"version", "workers", "pool_size_per_worker"};
- result["postgraphile"]: {variant: median run} beside result["gateway"] and result["floor"];
- document["checks"][key]["postgraphile"]: {variant: check.as_json(...) of the comparison with the gateway}.
A document without them (older results, a run of writes only) gets no section.
"""

from __future__ import annotations

from typing import Any

from bench.postgraphile.server import VARIANTS

_TITLES = {"no_auth": "PostGraphile 4, no authorization", "jwt_rls": "PostGraphile 4, JWT + row-level security"}


def _cell(run: dict[str, Any] | None) -> str:
    if run is None:
        return "-"
    return (
        f"{run['requests_per_second']:,.0f} ({run['p50_ms']:.1f} / {run['p99_ms']:.1f} ms,"
        f" {run['server_cpu_ms_per_request']:.2f} ms CPU)"
    )


def _ratio(numerator: dict[str, Any] | None, denominator: dict[str, Any] | None) -> str:
    if numerator is None or denominator is None or not denominator["requests_per_second"]:
        return "-"
    return f"{numerator['requests_per_second'] / denominator['requests_per_second']:.2f}x"


def _statements(document: dict[str, Any], key: str, side: str | None) -> str:
    found = document["checks"].get(key, {})
    counts = (
        found.get("statements", [])
        if side is None
        else found.get("postgraphile", {}).get(side, {}).get("statements", [])
    )
    return "/".join(map(str, sorted(set(counts)))) or "?"


def markdown(document: dict[str, Any]) -> list[str]:
    """The "PostGraphile 4 side by side" section's lines (empty when the run measured no PostGraphile)."""
    results = [result for result in document["results"] if result.get("postgraphile")]
    if not results:
        return []
    about = document.get("postgraphile", {})
    out = [
        "## PostGraphile 4 side by side",
        "",
        f"PostGraphile {about.get('version', '4')} (library mode, bench/postgraphile/server.js,"
        f" {about.get('workers', '?')} node:cluster workers, pool {about.get('pool_size_per_worker', '?')} per"
        " worker) over the same database through views and STABLE SQL functions (bench/postgraphile/schema.sql);"
        " its `data` was checked equal to the gateway's before the runs. no_auth: connected as the tables' owner,"
        " partner and tenant given as arguments (the unsecured ceiling). jwt_rls: the same RS256 tokens verified"
        " by PostGraphile, each request run as a role without BYPASSRLS under row-level security policies keyed"
        " on the token's claims.",
        "",
        "Each cell: req/s (p50 / p99, server CPU per request). Ratios: gateway req/s over PostGraphile's.",
        "",
        "| operation | c | gateway | floor | "
        + " | ".join(_TITLES[v] for v in VARIANTS)
        + " | gateway / "
        + " | gateway / ".join(VARIANTS)
        + " | SQL stmts/req gateway / "
        + " / ".join(VARIANTS)
        + " |",
        "|---|---:|---|---|" + "---|" * len(VARIANTS) + "---:|" * len(VARIANTS) + "---|",
    ]
    for result in results:
        gateway, by_variant = result["gateway"], result["postgraphile"]
        key = result["operation"]
        cells = [_cell(by_variant.get(variant)) for variant in VARIANTS]
        ratios = [_ratio(gateway, by_variant.get(variant)) for variant in VARIANTS]
        statements = [_statements(document, key, None), *(_statements(document, key, v) for v in VARIANTS)]
        out.append(
            f"| {result['title']} | {result['concurrency']} | {_cell(gateway)} | {_cell(result.get('floor'))} | "
            + " | ".join(cells)
            + " | "
            + " | ".join(ratios)
            + f" | {' / '.join(statements)} |"
        )
    return [*out, ""]
