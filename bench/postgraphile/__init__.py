"""PostGraphile 4 beside the gateway in the benchmark: the peer a team would pick instead, on the same database.

What the harness calls (README, "Benchmarks"):
- install() -> Path: `npm ci` of the pinned PostGraphile into the cache, once (install.py);
- prepare_database(url): its schema in the benchmark database (schema.sql, database.py);
- server(variant, url, port, log, install_dir=..., jwks=...) -> bench.server.Server, variant in VARIANTS
  ("no_auth", "jwt_rls"), and running(...): every variant started, as a context manager (server.py, server.js);
- check_all(reads, gateway_url, url, work, ...) and compare(...): its answers equal to the gateway's (check.py);
- operation(gateway_operation, variant) -> Operation with PostGraphile's requests, for the load (check.py);
- requests / translate / to_gateway_data: the requests and the reshaping behind them (requests.py, answers.py);
- report.markdown(document): its section of the results (report.py).
`python -m bench.postgraphile check` runs the check on its own (__main__.py).
"""

from bench.postgraphile.answers import to_gateway_data
from bench.postgraphile.check import Compared, as_json, check_all, compare, operation
from bench.postgraphile.database import prepare_database
from bench.postgraphile.install import install, version
from bench.postgraphile.requests import OPERATIONS, requests, translate
from bench.postgraphile.server import JWT_RLS, NO_AUTH, VARIANTS, running, server

__all__ = [
    "JWT_RLS",
    "NO_AUTH",
    "OPERATIONS",
    "VARIANTS",
    "Compared",
    "as_json",
    "check_all",
    "compare",
    "install",
    "operation",
    "prepare_database",
    "requests",
    "running",
    "server",
    "to_gateway_data",
    "translate",
    "version",
]
