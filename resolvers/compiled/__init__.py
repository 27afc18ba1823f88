"""Compiled reads: a query document, for one shape of caller, served by one SQL statement that builds `data`.

The interpreter (Strawberry running the resolvers) is the reference and stays complete. Beside it, for the
documents the compiler knows, `CompiledReads` sends one statement whose JSON text PostgreSQL builds, with the same
row filters (auth.row_filters) and the same field policy (auth.policy.FIELDS). The choice is made per document,
operation, caller shape and plan inputs, never per field, so a response is all one or all the other.

- catalog.py: the compilable types and fields, and what each is in SQL.
- planner.py: document -> statement (or NotCompilable), compiled once for asyncpg.
- runner.py: the plan cache, binding, execution, and the fall-back rule.
- usage.py (with usage_arguments.py, usage_rows.py, usage_attributed.py): usage fields, from the interpreter's own
  usage statements (resolvers/usage/plan.py) wrapped as subqueries.

schema/extensions/compiled_reads.py plugs it into execution; tests/compiled/test_compiled_reads.py holds it to the
interpreter's answers with generated documents, every role, on PostgreSQL. SQLite always uses the interpreter.
"""
