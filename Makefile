# Everything a newcomer needs: `make run` serves the gateway, `make test` runs the suite.
# Only python3 (3.11+) and make are assumed; the virtual environment is built from the hashed lock file.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-long lint typecheck bench lock schema clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	# The project itself: editable, no dependency resolution (the lock already installed everything).
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/dpor-gateway dev

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The long rounds of the generated tests (fuzz, compiled-vs-interpreted, load): on demand, not in CI.
test-long: $(STAMP)
	DPOR_TEST_FUZZ_EXAMPLES=2000 DPOR_TEST_COMPILED_EXAMPLES=5000 DPOR_TEST_LOAD_SECONDS=60 DPOR_TEST_EVERY_GROUPING=1 \
		$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

schema: $(STAMP)
	$(BIN)/dpor-gateway export-schema

# Re-resolve the lock after changing dependencies in pyproject.toml (needs uv, a dev-only tool).
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 --universal -o requirements.lock

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
