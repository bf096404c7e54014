# The two set-up commands are `make run` and `make test`; each builds .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
STAMP := $(VENV)/.installed

.PHONY: install run simulate test check fmt bench lock clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The demo: the four simulators on PORT+1 and the gateway on PORT, GraphiQL at /graphql.
run: install
	$(BIN)/crmgraph serve --host $(HOST) --port $(PORT)

simulate: install
	$(BIN)/crmgraph simulate --host $(HOST) --port $(PORT)

test: install
	$(BIN)/pytest

check: install
	$(BIN)/ruff check app schema tests
	$(BIN)/ruff format --check app schema tests
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff format app schema tests
	$(BIN)/ruff check --fix app schema tests

bench: install
	$(BIN)/python -m tests.benchmarks

# Re-resolve the pinned versions (needs uv on PATH or in the venv).
lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile --python-version 3.11 --no-header requirements.in -o requirements.lock
	$(BIN)/uv pip compile --python-version 3.11 --no-header requirements-dev.in -o requirements-dev.lock

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
