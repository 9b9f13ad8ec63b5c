# Everyday commands. `make up` starts the whole system; `make test` runs the
# test suite; `make test-external` runs the end-to-end tests again on PostgreSQL,
# RabbitMQ, Redis and a moto S3 server; `make check` runs formatting, lint,
# types and contract checks.

VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: install up test test-external check gen format clean

$(BIN)/.installed: pyproject.toml package.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	npm install --no-audit --no-fund --loglevel=error
	touch $@

install: $(BIN)/.installed

up: install
	$(BIN)/portcert up

test: install
	$(BIN)/pytest

test-external: install
	E2E_BACKENDS=external $(BIN)/pytest tests/e2e

check: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy portcert_runtime portcert_cli verifier certifier gateway tools
	node_modules/.bin/buf lint
	node_modules/.bin/buf format --diff --exit-code
	# Contracts must stay compatible with what main already publishes.
	if git rev-parse --verify -q main >/dev/null; then \
		node_modules/.bin/buf breaking --against '.git#branch=main'; fi
	$(BIN)/python tools/gen_stubs.py --check

gen: install
	$(BIN)/python tools/gen_stubs.py

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	node_modules/.bin/buf format --write

clean:
	rm -rf $(VENV) node_modules build *.egg-info
