"""The benchmark harness of issue 5: `python -m bench` (or `make bench`).

Seeds a dataset, starts the gateway with production settings and a bare Starlette + asyncpg "floor" app,
drives both with the same load generator and writes bench/results/<date>-<size>.md (and .json).
"""
